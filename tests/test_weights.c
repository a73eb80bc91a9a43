// Loading Hugging Face checkpoints in the layouts people ship: legacy
// LayerNorm gamma/beta names, no `bert.` prefix, sharded files, F16 weights,
// a missing pooler or head.  The reference is the tiny checkpoint's own
// tensors (tests/golden/tiny_bert, written by transformers), rewritten here
// under the other layout and loaded back.
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/bert.h"
#include "tests/testutil.h"
#include "tokenizer/tokenizer.h"
#include "util/fileio.h"
#include "weights/hf_model.h"
#include "weights/safetensors.h"

#define TINY TEST_GOLDEN_DIR "/tiny_bert"

static Bert *load(const char *dir, int num_labels, HfLoadReport *report) {
    Err err;
    HfConfig cfg;
    if (hf_config_load(dir, &cfg, &err) != 0) ck_abort_msg("%s", err.msg);
    Bert *m = hf_load_model(dir, &cfg, num_labels, 1, 8, 7, report, &err);
    if (!m) ck_abort_msg("%s", err.msg);
    return m;
}

// Copies tiny_bert's config and tokenizer into a fresh dir.
static char *tiny_copy(void) {
    char *dir = test_tmpdir();
    static const char *const files[] = {"config.json", "vocab.txt", "tokenizer_config.json"};
    for (int i = 0; i < 3; i++) {
        char src[512], dst[512];
        Err err;
        snprintf(src, sizeof src, TINY "/%s", files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        if (file_copy(src, dst, &err) != 0) ck_abort_msg("%s", err.msg);
    }
    return dir;
}

typedef enum { KEEP, DROP, RENAME } Edit;
typedef Edit (*EditFn)(const char *name, char *renamed, size_t cap);

// Rewrites tiny_bert's tensors into dir/file through `edit`, in `dtype`
// (F32 or F16: values converted with round-to-nearest-even via _Float16).
static void rewrite(const char *dir, const char *file, EditFn edit, StDtype dtype, int first,
                    int count) {
    StFile *src = golden_open(TINY "/model.safetensors");
    int n = st_count(src);
    if (count < 0) count = n - first;
    StWriteTensor *out = calloc((size_t)n, sizeof *out);
    char (*names)[160] = calloc((size_t)n, sizeof *names);
    void **data = calloc((size_t)n, sizeof *data);
    ck_assert(out && names && data);
    int k = 0;
    for (int i = first; i < first + count; i++) {
        const StTensor *t = st_tensor_at(src, i);
        Edit e = edit ? edit(t->name, names[k], sizeof names[k]) : KEEP;
        if (e == DROP) continue;
        if (e == KEEP) snprintf(names[k], sizeof names[k], "%s", t->name);
        out[k] = (StWriteTensor){.name = names[k], .dtype = t->dtype, .ndim = t->ndim, .data = t->data};
        memcpy(out[k].shape, t->shape, sizeof t->shape);
        if (dtype == ST_F16 && t->dtype == ST_F32) {
            _Float16 *h = malloc(sizeof(_Float16) * (t->numel ? t->numel : 1));
            ck_assert_ptr_nonnull(h);
            for (size_t j = 0; j < t->numel; j++) {
                float v;
                memcpy(&v, (const char *)t->data + 4 * j, 4);
                h[j] = (_Float16)v;
            }
            out[k].dtype = ST_F16;
            out[k].data = data[k] = h;
        }
        k++;
    }
    char path[512];
    Err err;
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (st_write(path, out, k, NULL, 0, &err) != 0) ck_abort_msg("%s", err.msg);
    for (int i = 0; i < n; i++) free(data[i]);
    free(data);
    free(names);
    free(out);
    st_close(src);
}

static void assert_same_params(Bert *a, Bert *b, double atol) {
    size_t na, nb;
    const float *pa = bert_params(a, &na), *pb = bert_params(b, &nb);
    ck_assert_uint_eq(na, nb);
    assert_allclose("parameters", pa, pb, na, atol, 0);
}

static Edit legacy_names(const char *name, char *out, size_t cap) {
    // TF-converted checkpoints: LayerNorm.gamma / .beta, no prefix.
    const char *base = strncmp(name, "bert.", 5) == 0 ? name + 5 : name;
    size_t n = strlen(base);
    if (n > 17 && strcmp(base + n - 17, ".LayerNorm.weight") == 0)
        snprintf(out, cap, "%.*s.LayerNorm.gamma", (int)(n - 17), base);
    else if (n > 15 && strcmp(base + n - 15, ".LayerNorm.bias") == 0)
        snprintf(out, cap, "%.*s.LayerNorm.beta", (int)(n - 15), base);
    else
        snprintf(out, cap, "%s", base);
    return RENAME;
}

START_TEST(legacy_names_without_prefix) {
    char *dir = tiny_copy();
    rewrite(dir, "model.safetensors", legacy_names, ST_F32, 0, -1);
    Bert *ref = load(TINY, 0, NULL), *got = load(dir, 0, NULL);
    assert_same_params(got, ref, 0);
    bert_free(ref);
    bert_free(got);
    test_tmpdir_remove(dir);
}
END_TEST

START_TEST(sharded_checkpoint) {
    char *dir = tiny_copy();
    StFile *src = golden_open(TINY "/model.safetensors");
    int n = st_count(src);
    rewrite(dir, "model-00001-of-00002.safetensors", NULL, ST_F32, 0, n / 2);
    rewrite(dir, "model-00002-of-00002.safetensors", NULL, ST_F32, n / 2, -1);
    // model.safetensors.index.json: weight_map name -> shard
    size_t cap = 64 * 1024, used = 0;
    char *index = malloc(cap);
    ck_assert_ptr_nonnull(index);
    used += (size_t)snprintf(index + used, cap - used, "{\"metadata\": {}, \"weight_map\": {");
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(index + used, cap - used, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"",
                                 i ? ", " : "", st_tensor_at(src, i)->name, i < n / 2 ? 1 : 2);
    used += (size_t)snprintf(index + used, cap - used, "}}");
    test_write_file(dir, "model.safetensors.index.json", index, used);
    Bert *ref = load(TINY, 0, NULL), *got = load(dir, 0, NULL);
    assert_same_params(got, ref, 0);
    free(index);
    bert_free(ref);
    bert_free(got);
    st_close(src);
    test_tmpdir_remove(dir);
}
END_TEST

START_TEST(f16_checkpoint) {
    char *dir = tiny_copy();
    rewrite(dir, "model.safetensors", NULL, ST_F16, 0, -1);
    Bert *ref = load(TINY, 0, NULL), *got = load(dir, 0, NULL);
    size_t n;
    const float *pr = bert_params(ref, &n), *pg = bert_params(got, NULL);
    for (size_t i = 0; i < n; i++)  // exactly the F32 value rounded to half precision
        ck_assert_msg(pg[i] == (float)(_Float16)pr[i], "parameter %zu: %g, want %g", i, pg[i],
                      (float)(_Float16)pr[i]);
    bert_free(ref);
    bert_free(got);
    test_tmpdir_remove(dir);
}
END_TEST

static Edit drop_pooler_and_head(const char *name, char *out, size_t cap) {
    return strstr(name, "pooler.") || strncmp(name, "classifier.", 11) == 0 ? DROP : KEEP;
}

// A bare encoder: the pooler and a head are initialised as transformers
// does, normal(0, initializer_range) weights and zero biases, and the
// report says so; a head of another size is replaced likewise.
START_TEST(missing_pooler_and_head) {
    char *dir = tiny_copy();
    rewrite(dir, "model.safetensors", drop_pooler_and_head, ST_F32, 0, -1);
    HfLoadReport report;
    Bert *m = load(dir, 3, &report);
    ck_assert(report.pooler_initialised && report.classifier_initialised);
    ck_assert_int_eq(report.checkpoint_labels, 0);
    const BertConfig *c = bert_config(m);
    const int H = c->hidden_size;
    const float *w = bert_param(m, PT_POOL_W);
    double sum = 0, sq = 0;
    for (int i = 0; i < H * H; i++) sum += w[i], sq += (double)w[i] * w[i];
    double mean = sum / (H * H), std = sqrt(sq / (H * H) - mean * mean);
    // 1024 draws: the sample std of normal(0, 0.02) is within 10% with
    // overwhelming probability; the mean within 4 standard errors.
    ck_assert_msg(fabs(std - 0.02) < 0.002 && fabs(mean) < 4 * 0.02 / 32, "pooler std %g mean %g", std, mean);
    for (int i = 0; i < H; i++) ck_assert(bert_param(m, PT_POOL_B)[i] == 0);
    for (int i = 0; i < 3; i++) ck_assert(bert_param(m, PT_CLS_B)[i] == 0);
    bert_free(m);
    HfLoadReport other;
    m = load(TINY, 3, &other);  // tiny_bert's head has 2 labels
    ck_assert(!other.pooler_initialised && other.classifier_initialised);
    ck_assert_int_eq(other.checkpoint_labels, 2);
    bert_free(m);
    test_tmpdir_remove(dir);
}
END_TEST

// Model families: a model_type without a row is refused with the table's
// list; each checkpoint's family names the tensor prefix transformers wrote
// (the tensors in its model.safetensors) and the tokenizer engine whose
// files it ships; the other engine is refused with what it expects.
START_TEST(model_families) {
    char *dir = test_tmpdir();
    const char *roberta = "{\"model_type\": \"roberta\"}";
    test_write_file(dir, "config.json", roberta, strlen(roberta));
    Err err;
    HfConfig cfg;
    ck_assert_int_eq(hf_config_load(dir, &cfg, &err), -1);
    ck_assert_ptr_nonnull(
        strstr(err.msg, "model_type \"roberta\" is not supported (\"bert\", \"xlm-roberta\")"));
    test_tmpdir_remove(dir);

    static const struct {
        const char *dir, *first_tensor;
        TokenizerKind tokenizer, other;
        const char *other_error;
    } cases[] = {
        {TINY, "bert.embeddings.word_embeddings.weight", TOK_WORDPIECE, TOK_SENTENCEPIECE,
         "no SentencePiece tokenizer (expected a SentencePiece *.model file)"},
        {TEST_GOLDEN_DIR "/tiny_xlmr", "roberta.embeddings.word_embeddings.weight",
         TOK_SENTENCEPIECE, TOK_WORDPIECE,
         "no WordPiece tokenizer (expected vocab.txt or a WordPiece tokenizer.json)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (hf_config_load(cases[i].dir, &cfg, &err) != 0) ck_abort_msg("%s", err.msg);
        char path[512], name[200];
        snprintf(path, sizeof path, "%s/model.safetensors", cases[i].dir);
        snprintf(name, sizeof name, "%sembeddings.word_embeddings.weight",
                 cfg.family->tensor_prefix);
        ck_assert_str_eq(name, cases[i].first_tensor);
        StFile *f = golden_open(path);
        ck_assert_ptr_nonnull(st_find(f, name));
        st_close(f);
        ck_assert_int_eq(cfg.family->tokenizer, cases[i].tokenizer);
        Tokenizer *tok = tok_load_kind(cases[i].dir, cfg.family->tokenizer, &err);
        if (!tok) ck_abort_msg("%s", err.msg);
        ck_assert_int_eq(tok_kind(tok), cases[i].tokenizer);
        tok_free(tok);
        ck_assert_ptr_null(tok_load_kind(cases[i].dir, cases[i].other, &err));
        ck_assert_ptr_nonnull(strstr(err.msg, cases[i].other_error));
    }
}
END_TEST

// --random-init (build/bench): a model of tiny_bert's config with no
// checkpoint.  Its parameter count is the BERT formula for that config and
// the element count of the checkpoint transformers wrote for it
// (tiny_bert/model.safetensors, BertForSequenceClassification); the values
// follow transformers' _init_weights (matrices normal(0, 0.02), the padding
// row zero, LayerNorm weights one, biases zero), the same seed gives the same
// model, and a forward is finite.
START_TEST(random_init_from_config) {
    Err err;
    HfConfig cfg;
    if (hf_config_load_file(TINY "/config.json", &cfg, &err) != 0) ck_abort_msg("%s", err.msg);
    Bert *m = hf_random_model(&cfg, 0, 2, 8, 7, &err);
    if (!m) ck_abort_msg("%s", err.msg);
    const BertConfig *c = bert_config(m);
    const size_t V = c->vocab_size, H = c->hidden_size, L = c->num_layers,
                 F = c->intermediate_size, P = c->max_position, TV = c->type_vocab_size,
                 C = c->num_labels;
    ck_assert(V == 121 && H == 32 && F == 37 && C == 2);  // tiny_bert's config.json
    const size_t formula = (V + P + TV) * H + 2 * H                // embeddings, LayerNorm
                           + L * (4 * H * H + 4 * H                // Q, K, V, output projection
                                  + 2 * F * H + F + H              // FFN in and out
                                  + 4 * H)                         // two LayerNorms
                           + H * H + H + C * H + C;                // pooler, classifier
    size_t count, in_checkpoint = 0;
    real *p = bert_params(m, &count);
    StFile *st = golden_open(TINY "/model.safetensors");
    for (int i = 0; i < st_count(st); i++) in_checkpoint += st_tensor_at(st, i)->numel;
    st_close(st);
    ck_assert_uint_eq(count, formula);
    ck_assert_uint_eq(count, in_checkpoint);

    HfTensorRef *refs;
    int n = hf_tensor_refs(m, "", &refs, &err);
    ck_assert_int_gt(n, 0);
    double sum = 0, sum_sq = 0;
    size_t matrix_values = 0;
    for (int i = 0; i < n; i++) {
        const real *t = p + refs[i].offset;
        size_t numel = (size_t)refs[i].rows * (refs[i].cols ? refs[i].cols : 1);
        int layernorm_weight = strstr(refs[i].name, "LayerNorm.weight") != NULL;
        for (size_t k = 0; k < numel; k++) {
            if (refs[i].cols) {
                sum += t[k], sum_sq += (double)t[k] * t[k];
                continue;
            }
            ck_assert_msg(t[k] == (layernorm_weight ? 1.0f : 0.0f), "%s[%zu] = %g", refs[i].name,
                          k, (double)t[k]);
        }
        if (refs[i].cols) matrix_values += numel;
    }
    free(refs);
    // The padding row (pad_token_id 0) is zero; the other 120 rows of the
    // word embeddings are drawn: (V - 1) x H values of the matrices are not.
    for (size_t k = 0; k < H; k++) ck_assert(bert_param(m, PT_WORD_EMB)[k] == 0.0f);
    const double drawn = (double)(matrix_values - H);
    const double mean = sum / drawn, sd = sqrt(sum_sq / drawn - mean * mean);
    // ~20k draws: the sample std's own spread is 0.02 / sqrt(2 x 20k) = 1e-4.
    ck_assert_msg(fabs(sd - 0.02) < 0.0005 && fabs(mean) < 0.0005, "mean %g, std %g", mean, sd);

    Bert *again = hf_random_model(&cfg, 0, 2, 8, 7, &err), *other = hf_random_model(&cfg, 0, 2, 8, 8, &err);
    ck_assert(again && other);
    ck_assert(memcmp(bert_params(again, NULL), p, count * sizeof(real)) == 0);
    ck_assert(memcmp(bert_params(other, NULL), p, count * sizeof(real)) != 0);

    const int ids[16] = {2, 17, 40, 99, 120, 5, 3, 0, 2, 64, 80, 3, 0, 0, 0, 0};
    const int types[16] = {0}, lengths[2] = {7, 4};
    const BertInput in = {2, 8, ids, types, lengths};
    if (bert_forward(m, &in, NULL, &err) != 0) ck_abort_msg("%s", err.msg);
    const real *logits = bert_logits(m);
    for (int i = 0; i < 2 * (int)C; i++) ck_assert_msg(isfinite(logits[i]), "logit %d", i);
    ck_assert(logits[0] != logits[2]);  // two different inputs, two different outputs
    bert_free(m), bert_free(again), bert_free(other);
}
END_TEST

// A config.json that cannot make a model: one line naming the file and the
// field, at hf_config_load_file (before anything is allocated).
START_TEST(random_init_bad_config) {
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{\"hidden_size\": 30, \"num_attention_heads\": 4}",
         "field num_attention_heads: 4 does not divide hidden_size 30"},
        {"{\"num_hidden_layers\": 0}", "field num_hidden_layers: 0 is not a positive size"},
        {"{\"intermediate_size\": -5}", "field intermediate_size: -5 is not a positive size"},
        {"{\"vocab_size\": \"big\"}", "field vocab_size: expected an integer"},
        {"{\"hidden_size\": 64, \"num_attention_heads\": 4, \"vocab_size\": 40000000}",
         "field hidden_size: vocab_size 40000000 x hidden_size 64 is too large"},
    };
    char *dir = test_tmpdir();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        test_write_file(dir, "shape.json", cases[i].json, strlen(cases[i].json));
        char *path = path_in(dir, "shape.json");
        Err err;
        HfConfig cfg;
        ck_assert_int_eq(hf_config_load_file(path, &cfg, &err), -1);
        ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0 && strstr(err.msg, cases[i].want) &&
                          !strchr(err.msg, '\n'),
                      "%s: got \"%s\"", cases[i].json, err.msg);
        free(path);
    }
    test_tmpdir_remove(dir);
}
END_TEST

Suite *weights_suite(void) {
    Suite *s = suite_create("weights");
    TCase *tc = tcase_create("layouts");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, legacy_names_without_prefix);
    tcase_add_test(tc, sharded_checkpoint);
    tcase_add_test(tc, f16_checkpoint);
    tcase_add_test(tc, missing_pooler_and_head);
    tcase_add_test(tc, model_families);
    tcase_add_test(tc, random_init_from_config);
    tcase_add_test(tc, random_init_bad_config);
    suite_add_tcase(s, tc);
    return s;
}
