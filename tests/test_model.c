// The encoder against transformers: forward goldens of the default model,
// gradient goldens from PyTorch autograd on a tiny random checkpoint (every
// attention map), and batch independence.  Goldens: tests/golden/
// gen_model_goldens.py.
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/bert.h"
#include "tests/testutil.h"
#include "tokenizer/tokenizer.h"
#include "util/rng.h"
#include "weights/hf_model.h"
#include "weights/safetensors.h"

static Bert *load_model(const char *dir, int max_batch, int max_seq) {
    Err err;
    HfConfig cfg;
    if (hf_config_load(dir, &cfg, &err) != 0) ck_abort_msg("%s", err.msg);
    Bert *m = hf_load_model(dir, &cfg, 0, max_batch, max_seq, 1, NULL, &err);
    if (!m) ck_abort_msg("%s", err.msg);
    return m;
}

// The encoder's tensor-name prefix of the checkpoint's family.
static const char *family_prefix(const char *dir) {
    Err err;
    HfConfig cfg;
    if (hf_config_load(dir, &cfg, &err) != 0) ck_abort_msg("%s", err.msg);
    return cfg.family->tensor_prefix;
}

// Copies one golden head tensor (classifier.*: never prefixed) into the
// model's parameter buffer by HF name.
static void set_param(Bert *m, const StFile *golden, const char *name) {
    HfTensorRef *refs;
    Err err;
    int n = hf_tensor_refs(m, "", &refs, &err);
    ck_assert_int_gt(n, 0);
    size_t numel;
    float *values = golden_f32(golden, name, &numel);
    int found = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(refs[i].name, name) != 0) continue;
        ck_assert_uint_eq(numel, (size_t)refs[i].rows * (refs[i].cols ? refs[i].cols : 1));
        memcpy(bert_params(m, NULL) + refs[i].offset, values, sizeof(float) * numel);
        found = 1;
    }
    ck_assert_msg(found, "no parameter named %s", name);
    free(values);
    free(refs);
}

typedef struct {
    int B, T;
    int *ids, *types, *lengths;
} GoldenBatch;

static GoldenBatch golden_batch(const StFile *f) {
    GoldenBatch g;
    size_t n;
    g.lengths = golden_i32(f, "lengths", &n);
    g.B = (int)n;
    g.ids = golden_i32(f, "input_ids", &n);
    g.T = (int)n / g.B;
    g.types = golden_i32(f, "token_type_ids", NULL);
    return g;
}

static void golden_batch_free(GoldenBatch *g) {
    free(g->ids);
    free(g->types);
    free(g->lengths);
}

// Asserts hidden states on real positions only: padded query rows are not
// computed (their outputs never reach anything real).
static void assert_hidden_real(const char *what, const float *got, const float *want,
                               const int *lengths, int B, int T, int H, double atol) {
    for (int b = 0; b < B; b++) {
        char label[96];
        snprintf(label, sizeof label, "%s row %d", what, b);
        assert_allclose(label, got + (size_t)b * T * H, want + (size_t)b * T * H,
                        (size_t)lengths[b] * H, atol, 0.0);
    }
}

START_TEST(forward_matches_transformers) {
    StFile *f = golden_open(TEST_GOLDEN_DIR "/forward_minilm.safetensors");
    GoldenBatch g = golden_batch(f);
    Bert *m = load_model(TEST_MODEL_DIR, g.B, g.T);
    const BertConfig *c = bert_config(m);
    ck_assert_int_eq(c->num_labels, 2);  // the fixture's head has 2 outputs
    set_param(m, f, "classifier.weight");
    set_param(m, f, "classifier.bias");
    bert_output_all_tokens(m, 1);
    Err err;
    BertInput in = {g.B, g.T, g.ids, g.types, g.lengths};
    if (bert_forward(m, &in, NULL, &err) != 0) ck_abort_msg("%s", err.msg);
    float *hidden = golden_f32(f, "hidden", NULL), *pooled = golden_f32(f, "pooled", NULL),
          *logits = golden_f32(f, "logits", NULL);
    assert_hidden_real("hidden", bert_hidden(m), hidden, g.lengths, g.B, g.T, c->hidden_size, 1e-4);
    assert_allclose("pooled", bert_pooled(m), pooled, (size_t)g.B * c->hidden_size, 1e-4, 0);
    assert_allclose("logits", bert_logits(m), logits, (size_t)g.B * 2, 1e-4, 0);
    free(hidden);
    free(pooled);
    free(logits);
    bert_free(m);
    golden_batch_free(&g);
    st_close(f);
}
END_TEST

// A text alone (unpadded) and inside the padded batch give the same outputs.
static void check_alone_equals_batched(AttnMap map) {
    StFile *f = golden_open(TEST_GOLDEN_DIR "/forward_minilm.safetensors");
    GoldenBatch g = golden_batch(f);
    Bert *batch = load_model(TEST_MODEL_DIR, g.B, g.T);
    Bert *alone = load_model(TEST_MODEL_DIR, 1, g.T);
    bert_set_attn(batch, map);
    bert_set_attn(alone, map);
    bert_output_all_tokens(batch, 1);
    bert_output_all_tokens(alone, 1);
    const int H = bert_config(batch)->hidden_size;
    // The GEMMs of a lone row and of a batch round differently in the last
    // bit (OpenBLAS picks kernels by size).  Softmax passes that on as is;
    // r-softmax's threshold t can be small, and p = w exp(u) / S with S ~ t
    // scales a perturbation of u by about 1/t, so the sparse maps get 5e-5.
    const double tol = map.kind == ATTN_SOFTMAX ? 1e-5 : 5e-5;
    Err err;
    BertInput in = {g.B, g.T, g.ids, g.types, g.lengths};
    ck_assert_int_eq(bert_forward(batch, &in, NULL, &err), 0);
    for (int b = 0; b < g.B; b++) {
        int len = g.lengths[b];
        BertInput one = {1, len, g.ids + (size_t)b * g.T, g.types + (size_t)b * g.T, &len};
        ck_assert_int_eq(bert_forward(alone, &one, NULL, &err), 0);
        char what[64];
        snprintf(what, sizeof what, "%s row %d hidden", attn_kind_name(map.kind), b);
        assert_allclose(what, bert_hidden(alone), bert_hidden(batch) + (size_t)b * g.T * H,
                        (size_t)len * H, tol, 0);
        snprintf(what, sizeof what, "%s row %d logits", attn_kind_name(map.kind), b);
        assert_allclose(what, bert_logits(alone), bert_logits(batch) + 2 * b, 2, tol, 0);
    }
    bert_free(batch);
    bert_free(alone);
    golden_batch_free(&g);
    st_close(f);
}

START_TEST(alone_equals_batched) {
    static const AttnMap maps[] = {{ATTN_SOFTMAX, 0}, {ATTN_RSOFTMAX, 0.5f}, {ATTN_SPARSEMAX, 0},
                                   {ATTN_ENTMAX15, 0}};
    check_alone_equals_batched(maps[_i]);
}
END_TEST

// Measured sparsity against the doc's count, floor(r (n - 1)) + 1 zeros in a
// row of n real keys (capped at n - 1).  The count is exact when r (n - 1) is
// not within float rounding of a whole number (model/attention.h explains the
// one-key departures there), so each r keeps its fractional part in
// (0.01, 0.99) for the lengths used, and the test checks that it does.
static uint64_t formula_zeros(float r, const int *lengths, int B) {
    uint64_t zeros = 0;
    for (int b = 0; b < B; b++) {
        int n = lengths[b];
        double rank = (double)r * (n - 1), frac = rank - floor(rank);
        ck_assert_msg(n == 1 || (frac > 0.01 && frac < 0.99),
                      "r %g n %d: rank %.9g too near a whole number", r, n, rank);
        zeros += (uint64_t)n * rsoftmax_expected_zeros(r, n);  // n query rows
    }
    return zeros;
}

// Runs r-softmax over a batch and returns the per-layer zero counters after
// checking that every real (query, key) pair was counted.
static const uint64_t *count_zeros(Bert *m, float r, const BertInput *in) {
    const BertConfig *c = bert_config(m);
    bert_set_attn(m, (AttnMap){ATTN_RSOFTMAX, r});
    bert_count_zeros(m, 1);
    bert_reset_zero_counts(m);
    Err err;
    ck_assert_int_eq(bert_forward(m, in, NULL, &err), 0);
    const uint64_t *zeros, *total;
    bert_zero_counts(m, &zeros, &total);
    uint64_t pairs = 0;
    for (int b = 0; b < in->batch; b++) pairs += (uint64_t)in->lengths[b] * in->lengths[b];
    for (int l = 0; l < c->num_layers; l++)
        ck_assert_msg(total[l] == pairs * c->num_heads, "layer %d: %llu probabilities counted, want %llu",
                      l, (unsigned long long)total[l], (unsigned long long)(pairs * c->num_heads));
    return zeros;
}

// Every row length from 1 to 64 (tiny checkpoint, random tokens, pairs):
// the count is exact.
START_TEST(rsoftmax_sparsity_every_length) {
    static const float rs[] = {0.1414f, 0.2718f, 0.618f, 0.8415f};
    enum { B = 64, T = 64 };
    Bert *m = load_model(TEST_GOLDEN_DIR "/tiny_bert", B, T);
    const BertConfig *c = bert_config(m);
    int *ids = calloc(B * T, sizeof(int)), *types = calloc(B * T, sizeof(int)), lengths[B];
    ck_assert(ids && types);
    Rng rng;
    rng_seed(&rng, 99);
    for (int b = 0; b < B; b++) {
        lengths[b] = b + 1;
        for (int t = 0; t < lengths[b]; t++) {
            ids[b * T + t] = 5 + (int)rng_below(&rng, (uint64_t)c->vocab_size - 5);
            types[b * T + t] = t >= lengths[b] / 2;
        }
    }
    BertInput in = {B, T, ids, types, lengths};
    for (size_t k = 0; k < sizeof rs / sizeof rs[0]; k++) {
        uint64_t want = formula_zeros(rs[k], lengths, B) * c->num_heads;
        const uint64_t *zeros = count_zeros(m, rs[k], &in);
        for (int l = 0; l < c->num_layers; l++)
            ck_assert_msg(zeros[l] == want, "r %g layer %d: %llu zeros, formula %llu", rs[k], l,
                          (unsigned long long)zeros[l], (unsigned long long)want);
    }
    free(ids);
    free(types);
    bert_free(m);
}
END_TEST

// Real sentences through the pretrained model: the formula's zeros, plus the
// keys so far below their row's max (u < -104) that exp underflows to 0, as
// it does in softmax; those are a handful in a deep layer.
START_TEST(rsoftmax_sparsity_pretrained) {
    static const float rs[] = {0.13f, 0.38f, 0.62f, 0.87f};
    StFile *f = golden_open(TEST_GOLDEN_DIR "/forward_minilm.safetensors");
    GoldenBatch g = golden_batch(f);
    Bert *m = load_model(TEST_MODEL_DIR, g.B, g.T);
    const BertConfig *c = bert_config(m);
    BertInput in = {g.B, g.T, g.ids, g.types, g.lengths};
    uint64_t pairs = 0;
    for (int b = 0; b < g.B; b++) pairs += (uint64_t)g.lengths[b] * g.lengths[b];
    for (size_t k = 0; k < sizeof rs / sizeof rs[0]; k++) {
        uint64_t want = formula_zeros(rs[k], g.lengths, g.B) * c->num_heads;
        const uint64_t *zeros = count_zeros(m, rs[k], &in);
        for (int l = 0; l < c->num_layers; l++)
            ck_assert_msg(zeros[l] >= want && zeros[l] - want <= pairs * c->num_heads / 10000,
                          "r %g layer %d: %llu zeros, formula %llu", rs[k], l,
                          (unsigned long long)zeros[l], (unsigned long long)want);
    }
    bert_free(m);
    golden_batch_free(&g);
    st_close(f);
}
END_TEST

// ------------------------------------------------------------ gradients

typedef struct {
    const char *file;  // under tests/golden/
    const char *model; // checkpoint dir
    AttnMap map;
} GradCase;

static const GradCase grad_cases[] = {
    {"grad_softmax_single", "tiny_bert", {ATTN_SOFTMAX, 0}},
    {"grad_softmax_pair", "tiny_bert", {ATTN_SOFTMAX, 0}},
    {"grad_rsoftmax_r0_single", "tiny_bert", {ATTN_RSOFTMAX, 0}},
    {"grad_rsoftmax_r0_pair", "tiny_bert", {ATTN_RSOFTMAX, 0}},
    {"grad_rsoftmax_r0.25_single", "tiny_bert", {ATTN_RSOFTMAX, 0.25f}},
    {"grad_rsoftmax_r0.25_pair", "tiny_bert", {ATTN_RSOFTMAX, 0.25f}},
    {"grad_rsoftmax_r0.5_single", "tiny_bert", {ATTN_RSOFTMAX, 0.5f}},
    {"grad_rsoftmax_r0.5_pair", "tiny_bert", {ATTN_RSOFTMAX, 0.5f}},
    {"grad_rsoftmax_r0.9_single", "tiny_bert", {ATTN_RSOFTMAX, 0.9f}},
    {"grad_rsoftmax_r0.9_pair", "tiny_bert", {ATTN_RSOFTMAX, 0.9f}},
    {"grad_rsoftmax_r1_single", "tiny_bert", {ATTN_RSOFTMAX, 1.0f}},
    {"grad_rsoftmax_r1_pair", "tiny_bert", {ATTN_RSOFTMAX, 1.0f}},
    {"grad_sparsemax_single", "tiny_bert", {ATTN_SPARSEMAX, 0}},
    {"grad_sparsemax_pair", "tiny_bert", {ATTN_SPARSEMAX, 0}},
    {"grad_entmax15_single", "tiny_bert", {ATTN_ENTMAX15, 0}},
    {"grad_entmax15_pair", "tiny_bert", {ATTN_ENTMAX15, 0}},
    {"grad_mse_softmax_single", "tiny_bert_stsb", {ATTN_SOFTMAX, 0}},
    {"grad_mse_softmax_pair", "tiny_bert_stsb", {ATTN_SOFTMAX, 0}},
};
enum { GRAD_CASES = sizeof grad_cases / sizeof grad_cases[0] };

// Even loop indices: the default last layer ([CLS] rows only); odd: every
// token through the last layer.  Both must give autograd's gradients.
// Every parameter's gradient against the golden's "grad.<HF name>", to
// 1e-4 relative (1e-6 absolute for tiny values).
static void assert_grads_match(Bert *m, const char *prefix, const StFile *f, const char *label) {
    HfTensorRef *refs;
    Err err;
    int n = hf_tensor_refs(m, prefix, &refs, &err);
    ck_assert_int_gt(n, 0);
    for (int i = 0; i < n; i++) {
        char name[200], what[400];
        snprintf(name, sizeof name, "grad.%s", refs[i].name);
        snprintf(what, sizeof what, "%s %s", label, name);
        size_t numel;
        float *want = golden_f32(f, name, &numel);
        ck_assert_uint_eq(numel, (size_t)refs[i].rows * (refs[i].cols ? refs[i].cols : 1));
        assert_allclose(what, bert_grads(m, NULL) + refs[i].offset, want, numel, 1e-6, 1e-4);
        free(want);
    }
    free(refs);
}

START_TEST(gradients_match_autograd) {
    const GradCase *gc = &grad_cases[_i / 2];
    char path[512], dir[512];
    snprintf(path, sizeof path, TEST_GOLDEN_DIR "/%s.safetensors", gc->file);
    snprintf(dir, sizeof dir, TEST_GOLDEN_DIR "/%s", gc->model);
    StFile *f = golden_open(path);
    GoldenBatch g = golden_batch(f);
    Bert *m = load_model(dir, g.B, g.T);
    bert_set_attn(m, gc->map);
    bert_output_all_tokens(m, _i % 2);
    Err err;
    ck_assert_int_eq(bert_enable_grads(m, &err), 0);
    BertInput in = {g.B, g.T, g.ids, g.types, g.lengths};
    ck_assert_int_eq(bert_forward(m, &in, NULL, &err), 0);
    const int C = bert_config(m)->num_labels;
    int *labels = C > 1 ? golden_i32(f, "labels", NULL) : NULL;
    float *targets = C == 1 ? golden_f32(f, "targets", NULL) : NULL;
    float loss = bert_loss(m, labels, targets);
    float *want_loss = golden_f32(f, "loss", NULL), *want_logits = golden_f32(f, "logits", NULL);
    assert_allclose("logits", bert_logits(m), want_logits, (size_t)g.B * C, 1e-6, 1e-4);
    assert_allclose("loss", &loss, want_loss, 1, 1e-6, 1e-4);
    bert_zero_grads(m);
    ck_assert_int_eq(bert_backward(m, &err), 0);

    char label[128];
    snprintf(label, sizeof label, "%s%s", gc->file, _i % 2 ? " (all tokens)" : "");
    assert_grads_match(m, family_prefix(dir), f, label);
    free(labels);
    free(targets);
    free(want_loss);
    free(want_logits);
    bert_free(m);
    golden_batch_free(&g);
    st_close(f);
}
END_TEST

// XLM-R: our SentencePiece tokenizer gives transformers' ids for the pairs,
// and loss, logits and every gradient match autograd (padded batch).
START_TEST(xlmr_tokens_and_gradients) {
    StFile *f = golden_open(TEST_GOLDEN_DIR "/xlmr_grads.safetensors");
    size_t nb, nt;
    int *lengths = golden_i32(f, "lengths", &nb), *ids = golden_i32(f, "input_ids", &nt);
    int *labels = golden_i32(f, "labels", NULL);
    const int B = (int)nb, T = (int)(nt / nb);
    static const char *const pairs[][2] = {
        {"The cat sat on the mat.", "A cat is sitting."},
        {"Paris is the capital of France.", "Berlin is in France."},
        {"Der Hund schläft im Garten.", "Ein Tier schläft."},
        {"It rained all day in the city.", "The weather was dry."},
        {"Le chat mange du poisson frais tous les jours.", "Le chat mange."},
        {"Numbers like 3.14 and 2,718 appear here.", "No numbers appear."},
    };
    ck_assert_int_eq(B, 6);
    Err err;
    Tokenizer *tok = tok_load(TEST_GOLDEN_DIR "/tiny_xlmr", &err);
    if (!tok) ck_abort_msg("%s", err.msg);
    int got[64], types[64 * 6] = {0};
    for (int b = 0; b < B; b++) {
        int len = tok_encode(tok, pairs[b][0], pairs[b][1], 64, got, NULL, &err);
        ck_assert_int_eq(len, lengths[b]);
        for (int t = 0; t < len; t++)
            ck_assert_msg(got[t] == ids[b * T + t], "pair %d token %d: id %d, transformers %d", b, t,
                          got[t], ids[b * T + t]);
    }
    tok_free(tok);
    Bert *m = load_model(TEST_GOLDEN_DIR "/tiny_xlmr", B, T);
    ck_assert_int_eq(bert_enable_grads(m, &err), 0);
    BertInput in = {B, T, ids, types, lengths};
    ck_assert_int_eq(bert_forward(m, &in, NULL, &err), 0);
    float loss = bert_loss(m, labels, NULL);
    float *want_loss = golden_f32(f, "loss", NULL), *want_logits = golden_f32(f, "logits", NULL);
    assert_allclose("xlmr logits", bert_logits(m), want_logits, (size_t)B * 2, 1e-6, 1e-4);
    assert_allclose("xlmr loss", &loss, want_loss, 1, 1e-6, 1e-4);
    bert_zero_grads(m);
    ck_assert_int_eq(bert_backward(m, &err), 0);
    assert_grads_match(m, family_prefix(TEST_GOLDEN_DIR "/tiny_xlmr"), f, "xlmr");
    free(want_loss);
    free(want_logits);
    free(lengths);
    free(ids);
    free(labels);
    bert_free(m);
    st_close(f);
}
END_TEST

// bert_backward starts from the loss's gradient: it refuses to run unless
// bert_loss ran after the last forward (and then leaves the gradients alone).
START_TEST(backward_needs_loss_after_forward) {
    StFile *f = golden_open(TEST_GOLDEN_DIR "/grad_softmax_pair.safetensors");
    GoldenBatch g = golden_batch(f);
    int *labels = golden_i32(f, "labels", NULL);
    Bert *m = load_model(TEST_GOLDEN_DIR "/tiny_bert", g.B, g.T);
    Err err;
    ck_assert_int_eq(bert_enable_grads(m, &err), 0);
    size_t n;
    bert_grads(m, &n);
    BertInput in = {g.B, g.T, g.ids, g.types, g.lengths};
    int fwd_only = 0;
    for (int round = 0; round < 4; round++) {
        // 0: nothing ran yet; 1: forward only; 2: forward + loss; 3: a new forward.
        if (round == 1 || round == 3) ck_assert_int_eq(bert_forward(m, &in, NULL, &err), 0);
        if (round == 2) bert_loss(m, labels, NULL);
        bert_zero_grads(m);
        int rc = bert_backward(m, &err);
        const float *grads = bert_grads(m, NULL);
        size_t nonzero = 0;
        for (size_t i = 0; i < n; i++) nonzero += grads[i] != 0;
        if (round == 2) {
            ck_assert_int_eq(rc, 0);
            ck_assert_uint_gt(nonzero, n / 2);
            continue;
        }
        fwd_only += round != 0;
        ck_assert_int_eq(rc, -1);
        ck_assert_msg(strstr(err.msg, "bert_loss after the last forward"), "round %d: %s", round,
                      err.msg);
        ck_assert_msg(nonzero == 0, "round %d: a refused backward wrote %zu gradients", round,
                      nonzero);
    }
    ck_assert_int_eq(fwd_only, 2);
    free(labels);
    bert_free(m);
    golden_batch_free(&g);
    st_close(f);
}
END_TEST

Suite *model_suite(void) {
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("forward");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, forward_matches_transformers);
    tcase_add_loop_test(tc, alone_equals_batched, 0, 4);
    tcase_add_test(tc, rsoftmax_sparsity_every_length);
    tcase_add_test(tc, rsoftmax_sparsity_pretrained);
    suite_add_tcase(s, tc);
    tc = tcase_create("gradients");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, gradients_match_autograd, 0, 2 * GRAD_CASES);
    tcase_add_test(tc, xlmr_tokens_and_gradients);
    tcase_add_test(tc, backward_needs_loss_after_forward);
    suite_add_tcase(s, tc);
    return s;
}
