// Multi-label tasks: the metrics against scikit-learn
// (tests/golden/gen_multilabel_metrics_golden.py) and threshold tuning
// against a brute-force search over every threshold.
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>

#include "tasks/metrics.h"
#include "tests/testutil.h"
#include "util/fileio.h"

static cJSON *load_json(const char *path) {
    char *text;
    size_t len;
    Err err;
    if (file_read_all(path, &text, &len, &err) != 0) ck_abort_msg("%s", err.msg);
    cJSON *root = cJSON_Parse(text);
    free(text);
    ck_assert_ptr_nonnull(root);
    return root;
}

static double field(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    ck_assert_msg(cJSON_IsNumber(v), "golden: no number '%s'", key);
    return v->valuedouble;
}

static void *read_array(const cJSON *obj, const char *key, int n, int as_float) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key);
    ck_assert_int_eq(cJSON_GetArraySize(arr), n);
    void *out = malloc((size_t)n * (as_float ? sizeof(float) : 1));
    ck_assert_ptr_nonnull(out);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (as_float)
            ((float *)out)[i++] = (float)e->valuedouble;
        else
            ((unsigned char *)out)[i++] = (unsigned char)e->valueint;
    }
    return out;
}

START_TEST(test_metrics_sklearn) {
    cJSON *root = load_json(TEST_GOLDEN_DIR "/multilabel_metrics_golden.json");
    const cJSON *c;
    int cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cases")) {
        int n = (int)field(c, "n"), C = (int)field(c, "C");
        unsigned char *pred = read_array(c, "pred", n * C, 0), *gold = read_array(c, "gold", n * C, 0);
        MultiLabelScores s;
        Err err;
        ck_assert_int_eq(metric_multilabel(pred, gold, n, C, &s, &err), 0);
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(c, "scores");
        double got[5] = {s.micro_f1, s.macro_f1, s.exact, s.mean_set_size, s.mean_true_size};
        double ref[5] = {field(want, "micro_f1"), field(want, "macro_f1"), field(want, "exact"),
                         field(want, "mean_set_size"), field(want, "mean_true_size")};
        assert_allclose_d("multi-label scores", got, ref, 5, 1e-12, 1e-12);
        free(pred);
        free(gold);
        cases++;
    }
    ck_assert_int_eq(cases, 3);
    cJSON_Delete(root);
}
END_TEST

// The tuned threshold reaches the best micro-F1 of any threshold.
START_TEST(test_tune_threshold) {
    cJSON *root = load_json(TEST_GOLDEN_DIR "/multilabel_metrics_golden.json");
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cases")) {
        int n = (int)field(c, "n"), C = (int)field(c, "C");
        unsigned char *gold = read_array(c, "gold", n * C, 0), *pred = malloc((size_t)n * C);
        float *probs = read_array(c, "probs", n * C, 1);
        ck_assert_ptr_nonnull(pred);
        float t;
        Err err;
        ck_assert_int_eq(metric_tune_threshold(probs, gold, n, C, &t, &err), 0);
        for (int i = 0; i < n * C; i++) pred[i] = probs[i] > t;
        MultiLabelScores s;
        ck_assert_int_eq(metric_multilabel(pred, gold, n, C, &s, &err), 0);
        double want = field(c, "best_micro_f1");
        assert_allclose_d("micro-F1 at the tuned threshold", &s.micro_f1, &want, 1, 1e-12, 0);
        free(gold);
        free(pred);
        free(probs);
    }
    cJSON_Delete(root);
}
END_TEST

Suite *multilabel_suite(void) {
    Suite *s = suite_create("multilabel");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, test_metrics_sklearn);
    tcase_add_test(tc, test_tune_threshold);
    suite_add_tcase(s, tc);
    return s;
}
