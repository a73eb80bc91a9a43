// Multi-label output maps (model/output_map.c) in the float build: torch
// float32 goldens for every map's probabilities, loss and gradient, the
// parse errors, r from the expected label count, and the prediction rule.
#include <string.h>

#include "model/attention.h"
#include "tests/output_map_golden.h"

START_TEST(test_torch_golden_f32) {
    // Every map x every golden row, plus sigmoid on a row with no label.
    ck_assert_int_eq(check_output_map_golden("f32", 1e-6, 1e-5), 6 * 6 + 1);
}
END_TEST

START_TEST(test_parse) {
    OutputMap map;
    Err err;
    for (int k = 0; k < output_map_count(); k++) {
        const OutputMapInfo *info = output_map_info((OutputKind)k);
        ck_assert_int_eq(output_map_parse(info->name, 0.5f, &map, &err), 0);
        ck_assert_int_eq(map.kind, k);
        ck_assert(map.threshold == info->threshold_default);
        ck_assert(map.r == (info->has_r ? 0.5f : 0.0f));
    }
    ck_assert_int_ne(output_map_parse("softplus", 0, &map, &err), 0);
    ck_assert_msg(strstr(err.msg, "'softplus'") && strstr(err.msg, "sigmoid, softmax, sparsemax"),
                  "%s", err.msg);
    ck_assert_int_ne(output_map_parse("rsoftmax", 1.5f, &map, &err), 0);
    ck_assert_msg(strstr(err.msg, "[0, 1]"), "%s", err.msg);
    ck_assert_str_eq(output_map_name(OUT_ENTMAX15), "entmax15");
    ck_assert_str_eq(output_map_name((OutputKind)99), "unknown");
}
END_TEST

// r from the mean label count: r-softmax then keeps round(k) labels
// non-zero, by the attention map's own zero-count formula and by the map
// itself on rows of distinct logits spread like a trained head's (tens of
// units below the max, where float rounding of the quantile matters).
START_TEST(test_r_for_labels) {
    const int sizes[] = {2, 5, 10, 107, 300};
    real z[300], p[300];
    real *scratch = calloc((size_t)output_map_scratch(300), sizeof(real));
    ck_assert_ptr_nonnull(scratch);
    uint64_t state = 12345;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int C = sizes[s];
        for (double k = 0.6; k < C; k += 0.7) {
            float r = output_map_r_for_labels(k, C);
            int keep = (int)floor(k + 0.5);
            if (keep < 1) keep = 1;
            if (keep > C - 1) keep = C - 1;
            ck_assert_msg(C - rsoftmax_expected_zeros(r, C) == keep,
                          "C=%d k=%g: r=%.9g keeps %d labels, want %d", C, k, (double)r,
                          C - rsoftmax_expected_zeros(r, C), keep);
            OutputMap map = {OUT_RSOFTMAX, r, 0.0f};
            for (int row = 0; row < 20; row++) {
                for (int i = 0; i < C; i++) {  // distinct: i plus a fraction, shuffled by scale
                    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
                    z[i] = -30.0f * (real)(state >> 40) / (real)(1 << 24) - 1e-3f * (real)i;
                }
                output_map_probs(map, z, p, C, scratch);
                int kept = 0;
                for (int i = 0; i < C; i++) kept += p[i] > 0;
                ck_assert_msg(kept == keep, "C=%d k=%g row %d: r=%.9g: the map keeps %d labels, "
                              "want %d", C, k, row, (double)r, kept, keep);
            }
        }
    }
    free(scratch);
}
END_TEST

START_TEST(test_predict) {
    OutputMap map;
    Err err;
    real p[5] = {0.7f, 0.5f, 0.0f, 0.2f, 0.51f};
    unsigned char in[5];
    ck_assert_int_eq(output_map_parse("sigmoid", 0, &map, &err), 0);
    ck_assert_int_eq(output_map_predict(map, p, 5, in), 2);  // strictly above 0.5
    ck_assert(in[0] && !in[1] && !in[2] && !in[3] && in[4]);
    ck_assert_int_eq(output_map_parse("sparsemax", 0, &map, &err), 0);
    ck_assert_int_eq(output_map_predict(map, p, 5, in), 4);  // the support
    ck_assert(!in[2]);
}
END_TEST

// The gradient is scaled by `scale` (bert_loss_multilabel passes 1/B) and a
// simplex map gives a row with no true label loss 0 and gradient 0.
START_TEST(test_scale_and_empty_rows) {
    real z[4] = {0.3f, -1.2f, 2.1f, 0.7f}, y[4] = {0, 1, 1, 0}, none[4] = {0};
    real d1[4], d4[4], scratch[16];
    for (int k = 0; k < output_map_count(); k++) {
        OutputMap map;
        Err err;
        ck_assert_int_eq(output_map_parse(output_map_info((OutputKind)k)->name, 0.5f, &map, &err), 0);
        double l1 = output_map_loss(map, z, y, d1, 4, 1.0f, scratch);
        double l4 = output_map_loss(map, z, y, d4, 4, 0.25f, scratch);
        ck_assert(l1 == l4 && l1 > 0);
        for (int i = 0; i < 4; i++) ck_assert(fabs(d4[i] - 0.25f * d1[i]) <= 1e-7);
        if (k == OUT_SIGMOID) continue;
        ck_assert(output_map_loss(map, z, none, d1, 4, 1.0f, scratch) == 0);
        for (int i = 0; i < 4; i++) ck_assert(d1[i] == 0);
    }
}
END_TEST

Suite *output_map_suite(void) {
    Suite *s = suite_create("output_map");
    TCase *tc = tcase_create("maps");
    tcase_add_test(tc, test_torch_golden_f32);
    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_r_for_labels);
    tcase_add_test(tc, test_predict);
    tcase_add_test(tc, test_scale_and_empty_rows);
    suite_add_tcase(s, tc);
    return s;
}
