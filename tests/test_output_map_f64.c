// Multi-label output maps in the double build (-DMODEL_DOUBLE): torch
// float64 goldens, and every map's loss gradient against central finite
// differences of its loss on random rows.
//
// The Fenchel-Young losses (softmax, sparsemax, entmax-1.5) and BCE are
// differentiable everywhere (the FY gradient p - q is continuous even where
// the support changes), so random rows need no care.  r-softmax's squared
// loss is differentiated with the threshold t a constant (as its backward
// is, docs/attention-math.md): the differences move z under t-softmax at
// the forward's t0, on rows drawn away from the relu kinks.
#include "model/attention_tsoftmax.h"
#include "tests/output_map_golden.h"
#include "util/rng.h"

#define FD_STEP 1e-5
#define C_MAX 12

START_TEST(test_torch_golden_f64) {
    ck_assert_int_eq(check_output_map_golden("f64", 1e-12, 1e-10), 6 * 6 + 1);
}
END_TEST

static double squared_loss_fixed_t(const real *z, const real *q, int C, real t) {
    real p[C_MAX];
    tsoftmax_row_forward(z, p, C, attn_max(z, C), t);
    double l = 0;
    for (int k = 0; k < C; k++) l += 0.5 * (p[k] - q[k]) * (p[k] - q[k]);
    return l;
}

static double loss_at(OutputMap map, const real *z, const real *y, int C, real t) {
    real dz[C_MAX], scratch[4 * C_MAX], q[C_MAX];
    if (map.kind != OUT_RSOFTMAX) return output_map_loss(map, z, y, dz, C, 1.0f, scratch);
    real count = 0;
    for (int k = 0; k < C; k++) count += y[k];
    for (int k = 0; k < C; k++) q[k] = y[k] / count;
    return squared_loss_fixed_t(z, q, C, t);
}

START_TEST(test_fd_losses) {
    Rng rng;
    rng_seed(&rng, 15);
    int checked = 0;
    for (int trial = 0; trial < 200; trial++) {
        int C = 2 + (int)rng_below(&rng, C_MAX - 1);
        OutputMap map;
        Err err;
        OutputKind kind = (OutputKind)(trial % output_map_count());
        ck_assert_int_eq(output_map_parse(output_map_name(kind), (float)rng_uniform(&rng), &map,
                                          &err), 0);
        real z[C_MAX], y[C_MAX], dz[C_MAX], p[C_MAX], scratch[4 * C_MAX];
        int labels = 0;
        for (int k = 0; k < C; k++) {
            z[k] = 2.0 * rng_normal(&rng);
            y[k] = rng_uniform(&rng) < 0.3;
            labels += y[k] > 0;
        }
        if (labels == 0) y[rng_below(&rng, (uint64_t)C)] = 1;
        real t = 0;
        if (kind == OUT_RSOFTMAX) {
            // t0 from the forward; skip rows with a key within 1e-3 of the
            // kink w = u + t = 0 or a tied max.
            t = attn_row_forward((AttnMap){ATTN_RSOFTMAX, map.r}, z, p, C, scratch);
            real m = attn_max(z, C);
            int near = 0, maxes = 0;
            for (int k = 0; k < C; k++) {
                near |= fabs(z[k] - m + t) < 1e-3;
                maxes += z[k] == m;
            }
            if (near || maxes > 1) continue;
        }
        output_map_loss(map, z, y, dz, C, 1.0f, scratch);
        for (int k = 0; k < C; k++) {
            real z0 = z[k];
            z[k] = z0 + FD_STEP;
            double up = loss_at(map, z, y, C, t);
            z[k] = z0 - FD_STEP;
            double down = loss_at(map, z, y, C, t);
            z[k] = z0;
            double want = (up - down) / (2 * FD_STEP);
            if (!(fabs(dz[k] - want) <= 1e-7 + 1e-6 * fabs(want)))
                ck_abort_msg("%s r=%g C=%d trial %d: dz[%d] = %.12g, finite difference %.12g",
                             output_map_name(kind), (double)map.r, C, trial, k, dz[k], want);
        }
        checked++;
    }
    ck_assert_int_ge(checked, 150);
}
END_TEST

Suite *output_map_f64_suite(void) {
    Suite *s = suite_create("output_map_f64");
    TCase *tc = tcase_create("finite_differences");
    tcase_add_test(tc, test_torch_golden_f64);
    tcase_add_test(tc, test_fd_losses);
    suite_add_tcase(s, tc);
    return s;
}
