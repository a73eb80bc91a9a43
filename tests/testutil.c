#define _GNU_SOURCE  // asprintf
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fileio.h"
#include "weights/safetensors.h"

// Not inlined: GCC's -Wdangling-pointer otherwise takes a returned buffer
// for the address of the local it was read through.
__attribute__((noinline)) char *path_in(const char *dir, const char *name) {
    char *path;
    ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
    return path;
}

__attribute__((noinline)) char *read_text(const char *path) {
    char *text;
    Err err;
    if (file_read_all(path, &text, NULL, &err) != 0) ck_abort_msg("%s", err.msg);
    return text;
}

cJSON *read_json(const char *path) {
    char *text = read_text(path);
    cJSON *json = cJSON_Parse(text);
    free(text);
    ck_assert_msg(json != NULL, "%s: not valid JSON", path);
    return json;
}

void assert_allclose(const char *what, const float *got, const float *want, size_t n, double atol,
                     double rtol) {
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        double tol = atol + rtol * fabs(w);
        if (!(fabs(g - w) <= tol))
            ck_abort_msg("%s[%zu]: got %.9g, want %.9g (|diff| %.3g > tol %.3g)", what, i, g, w,
                         fabs(g - w), tol);
    }
}

void assert_allclose_d(const char *what, const double *got, const double *want, size_t n,
                       double atol, double rtol) {
    for (size_t i = 0; i < n; i++) {
        double tol = atol + rtol * fabs(want[i]);
        if (!(fabs(got[i] - want[i]) <= tol))
            ck_abort_msg("%s[%zu]: got %.12g, want %.12g (|diff| %.3g > tol %.3g)", what, i, got[i],
                         want[i], fabs(got[i] - want[i]), tol);
    }
}

char *test_tmpdir(void) {
    char *path = strdup("/tmp/engine-test-XXXXXX");
    ck_assert_ptr_nonnull(path);
    ck_assert_ptr_nonnull(mkdtemp(path));
    return path;
}

void test_tmpdir_remove(char *path) {
    Err err;
    if (path && dir_remove_tree(path, &err) != 0) fprintf(stderr, "warning: %s\n", err.msg);
    free(path);
}

void test_write_file(const char *dir, const char *name, const void *data, size_t len) {
    char path[4096];
    Err err;
    ck_assert_int_eq(path_join(path, sizeof path, dir, name, &err), 0);
    if (file_write_atomic(path, data, len, &err) != 0) ck_abort_msg("%s", err.msg);
}

StFile *golden_open(const char *path) {
    Err err;
    StFile *file = st_open(path, &err);
    if (!file) ck_abort_msg("%s", err.msg);
    return file;
}

static const StTensor *golden_find(const StFile *file, const char *name) {
    const StTensor *t = st_find(file, name);
    if (!t) ck_abort_msg("%s: golden tensor %s missing", st_path(file), name);
    return t;
}

float *golden_f32(const StFile *file, const char *name, size_t *numel) {
    const StTensor *t = golden_find(file, name);
    float *out = malloc(sizeof(float) * (t->numel ? t->numel : 1));
    ck_assert_ptr_nonnull(out);
    Err err;
    if (st_to_f32(file, t, out, t->numel, &err) != 0) ck_abort_msg("%s", err.msg);
    if (numel) *numel = t->numel;
    return out;
}

int *golden_i32(const StFile *file, const char *name, size_t *numel) {
    const StTensor *t = golden_find(file, name);
    if (t->dtype != ST_I32) ck_abort_msg("%s: golden tensor %s is not I32", st_path(file), name);
    int *out = malloc(sizeof(int) * (t->numel ? t->numel : 1));
    ck_assert_ptr_nonnull(out);
    memcpy(out, t->data, sizeof(int) * t->numel);
    if (numel) *numel = t->numel;
    return out;
}

double *golden_f64(const StFile *file, const char *name, size_t *numel) {
    const StTensor *t = golden_find(file, name);
    if (t->dtype != ST_F64) ck_abort_msg("%s: golden tensor %s is not F64", st_path(file), name);
    double *out = malloc(sizeof(double) * (t->numel ? t->numel : 1));
    ck_assert_ptr_nonnull(out);
    memcpy(out, t->data, sizeof(double) * t->numel);
    if (numel) *numel = t->numel;
    return out;
}

char *test_tiny_with_value(const char *tensor, float value) {
    char *dir = test_tmpdir();
    static const char *const files[] = {"config.json", "vocab.txt", "tokenizer_config.json",
                                        "special_tokens_map.json"};
    for (int i = 0; i < 4; i++) {
        char src[512], dst[512];
        Err err;
        snprintf(src, sizeof src, TEST_GOLDEN_DIR "/tiny_bert/%s", files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        if (file_copy(src, dst, &err) != 0) ck_abort_msg("%s", err.msg);
    }
    StFile *src = golden_open(TEST_GOLDEN_DIR "/tiny_bert/model.safetensors");
    int n = st_count(src);
    StWriteTensor *t = calloc((size_t)n, sizeof *t);
    float *patched = NULL;
    ck_assert_ptr_nonnull(t);
    for (int i = 0; i < n; i++) {
        const StTensor *s = st_tensor_at(src, i);
        t[i] = (StWriteTensor){.name = s->name, .dtype = s->dtype, .ndim = s->ndim, .data = s->data};
        memcpy(t[i].shape, s->shape, sizeof s->shape);
        if (strcmp(s->name, tensor) == 0) {
            ck_assert_int_eq(s->dtype, ST_F32);
            patched = golden_f32(src, s->name, NULL);
            patched[s->numel / 2] = value;
            t[i].data = patched;
        }
    }
    ck_assert_msg(patched != NULL, "no tensor %s in tiny_bert", tensor);
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    Err err;
    if (st_write(path, t, n, NULL, 0, &err) != 0) ck_abort_msg("%s", err.msg);
    free(patched);
    free(t);
    st_close(src);
    return dir;
}

int test_tiny_params(const char *dir, double **params, size_t *count, HfTensorRef **refs) {
    Err err;
    HfConfig cfg;
    if (hf_config_load(dir, &cfg, &err) != 0) ck_abort_msg("%s", err.msg);
    Bert *m = hf_load_model(dir, &cfg, 0, 1, 8, 1, NULL, &err);
    if (!m) ck_abort_msg("%s", err.msg);
    size_t n;
    const float *p = bert_params(m, &n);
    *params = malloc(sizeof(double) * n);
    ck_assert_ptr_nonnull(*params);
    for (size_t i = 0; i < n; i++) (*params)[i] = p[i];
    *count = n;
    int nrefs = hf_tensor_refs(m, cfg.family->tensor_prefix, refs, &err);
    if (nrefs < 0) ck_abort_msg("%s", err.msg);
    bert_free(m);
    return nrefs;
}

Batch golden_step_batch(void) {
    StFile *f = golden_open(TEST_GOLDEN_DIR "/grad_softmax_pair.safetensors");
    size_t B, BT;
    Batch b = {.lengths = golden_i32(f, "lengths", &B), .ids = golden_i32(f, "input_ids", &BT),
               .type_ids = golden_i32(f, "token_type_ids", NULL),
               .labels = golden_i32(f, "labels", NULL)};
    b.size = (int)B;
    b.T = (int)(BT / B);
    st_close(f);
    return b;
}

void golden_step_batch_free(Batch *b) {
    free(b->lengths);
    free(b->ids);
    free(b->type_ids);
    free(b->labels);
}
