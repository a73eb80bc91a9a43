// The encoder's backward in double precision (model/ compiled with
// -DMODEL_DOUBLE): central finite differences of the loss for every
// parameter tensor, with dropout on, and float64 autograd goldens.
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/bert.h"
#include "tests/testutil.h"
#include "util/rng.h"
#include "weights/hf_model.h"
#include "weights/safetensors.h"

#define TINY_DIR TEST_GOLDEN_DIR "/tiny_bert"

static Bert *tiny_model(const char *dir, int B, int T, AttnMap map, HfTensorRef **refs,
                        int *nrefs) {
    Err err;
    HfConfig cfg;
    if (hf_config_load(dir, &cfg, &err) != 0) ck_abort_msg("%s", err.msg);
    cfg.bert.attn = map;
    Bert *m = bert_build(&cfg.bert, B, T, &err);
    if (!m) ck_abort_msg("%s", err.msg);
    double *params;
    size_t n, have;
    *nrefs = test_tiny_params(dir, &params, &n, refs);
    bert_params(m, &have);
    ck_assert_uint_eq(n, have);
    memcpy(bert_params(m, NULL), params, sizeof(double) * n);
    free(params);
    ck_assert_int_eq(bert_enable_grads(m, &err), 0);
    return m;
}

// A padded batch with pairs: row b has lengths[b] real tokens.
enum { FD_B = 3, FD_T = 9 };
static const int fd_lengths[FD_B] = {9, 6, 2};

static double loss_at(Bert *m, const BertInput *in, const Dropout *drop, const int *labels) {
    Err err;
    if (bert_forward(m, in, drop, &err) != 0) ck_abort_msg("%s", err.msg);
    return bert_loss(m, labels, NULL);
}

static const AttnMap fd_maps[] = {{ATTN_SOFTMAX, 0}, {ATTN_SPARSEMAX, 0}, {ATTN_ENTMAX15, 0}};

// r-softmax is left out here on purpose: its gradient holds the quantile
// threshold constant (docs/attention-math.md), so it is not the derivative
// of the loss; its references are the autograd goldens and the row-level
// checks in tests/test_attention_f64.c.
START_TEST(finite_differences_every_tensor) {
    HfTensorRef *refs;
    int nrefs;
    Bert *m = tiny_model(TINY_DIR, FD_B, FD_T, fd_maps[_i], &refs, &nrefs);
    const BertConfig *c = bert_config(m);
    Rng rng;
    rng_seed(&rng, 1234 + _i);
    int ids[FD_B * FD_T], types[FD_B * FD_T], labels[FD_B];
    for (int b = 0; b < FD_B; b++) {
        labels[b] = (int)rng_below(&rng, (uint64_t)c->num_labels);
        for (int t = 0; t < FD_T; t++) {
            int n = b * FD_T + t;
            ids[n] = t < fd_lengths[b] ? 5 + (int)rng_below(&rng, (uint64_t)c->vocab_size - 5) : 0;
            types[n] = t < fd_lengths[b] && t >= fd_lengths[b] / 2 ? 1 : 0;
        }
    }
    BertInput in = {FD_B, FD_T, ids, types, fd_lengths};
    Dropout drop = {0.1f, 0.1f, 0.1f, 77};
    Err err;
    loss_at(m, &in, &drop, labels);
    bert_zero_grads(m);
    ck_assert_int_eq(bert_backward(m, &err), 0);
    size_t n;
    bert_params(m, &n);
    double *grads = malloc(sizeof(double) * n);
    ck_assert_ptr_nonnull(grads);
    memcpy(grads, bert_grads(m, NULL), sizeof(double) * n);
    double *params = bert_params(m, NULL);
    const double h = 1e-5;
    for (int r = 0; r < nrefs; r++) {
        size_t numel = (size_t)refs[r].rows * (refs[r].cols ? refs[r].cols : 1);
        for (int k = 0; k < 4; k++) {
            size_t at = refs[r].offset + (size_t)rng_below(&rng, numel);
            // Word embeddings: probe rows the batch uses, else the gradient is 0.
            if (strstr(refs[r].name, "word_embeddings"))
                at = refs[r].offset + (size_t)ids[rng_below(&rng, 6)] * c->hidden_size +
                     rng_below(&rng, (uint64_t)c->hidden_size);
            double saved = params[at];
            params[at] = saved + h;
            double up = loss_at(m, &in, &drop, labels);
            params[at] = saved - h;
            double down = loss_at(m, &in, &drop, labels);
            params[at] = saved;
            double fd = (up - down) / (2 * h);
            char what[256];
            snprintf(what, sizeof what, "%s %s[%zu] analytic vs finite difference",
                     attn_kind_name(fd_maps[_i].kind), refs[r].name, at - refs[r].offset);
            assert_allclose_d(what, &grads[at], &fd, 1, 1e-8, 1e-5);
        }
    }
    free(grads);
    free(refs);
    bert_free(m);
}
END_TEST

static const struct {
    const char *file;
    AttnMap map;
} f64_cases[] = {
    {"grad_softmax_pair_f64", {ATTN_SOFTMAX, 0}},
    {"grad_rsoftmax_r0.5_pair_f64", {ATTN_RSOFTMAX, 0.5f}},
    {"grad_sparsemax_pair_f64", {ATTN_SPARSEMAX, 0}},
};

START_TEST(gradients_match_autograd_f64) {
    char path[512];
    snprintf(path, sizeof path, TEST_GOLDEN_DIR "/%s.safetensors", f64_cases[_i].file);
    StFile *f = golden_open(path);
    size_t nb, nt;
    int *lengths = golden_i32(f, "lengths", &nb), *ids = golden_i32(f, "input_ids", &nt);
    int *types = golden_i32(f, "token_type_ids", NULL), *labels = golden_i32(f, "labels", NULL);
    int B = (int)nb, T = (int)(nt / nb);
    HfTensorRef *refs;
    int nrefs;
    Bert *m = tiny_model(TINY_DIR, B, T, f64_cases[_i].map, &refs, &nrefs);
    BertInput in = {B, T, ids, types, lengths};
    Err err;
    ck_assert_int_eq(bert_forward(m, &in, NULL, &err), 0);
    double loss = bert_loss(m, labels, NULL);
    double *want_loss = golden_f64(f, "loss", NULL);
    assert_allclose_d("loss", &loss, want_loss, 1, 1e-12, 1e-10);
    bert_zero_grads(m);
    ck_assert_int_eq(bert_backward(m, &err), 0);
    for (int r = 0; r < nrefs; r++) {
        char name[200];
        snprintf(name, sizeof name, "grad.%s", refs[r].name);
        size_t numel;
        double *want = golden_f64(f, name, &numel);
        char what[256];
        snprintf(what, sizeof what, "%s %s", f64_cases[_i].file, name);
        assert_allclose_d(what, bert_grads(m, NULL) + refs[r].offset, want, numel, 1e-12, 1e-9);
        free(want);
    }
    free(want_loss);
    free(refs);
    free(lengths);
    free(ids);
    free(types);
    free(labels);
    bert_free(m);
    st_close(f);
}
END_TEST

Suite *model_f64_suite(void) {
    Suite *s = suite_create("model_f64");
    TCase *tc = tcase_create("finite_differences");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, finite_differences_every_tensor, 0, 3);
    suite_add_tcase(s, tc);
    tc = tcase_create("autograd_f64");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, gradients_match_autograd_f64, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}
