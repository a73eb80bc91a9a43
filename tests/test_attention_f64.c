// Attention maps in the double build (-DMODEL_DOUBLE): every backward against
// finite differences of L(x) = sum_i v_i p_i(x).
//
// r-softmax: the doc treats t as a constant (no gradient through the
// quantile).  An FD of the full r-softmax would also move the quantile with
// x, so it is not what the backward computes.  Instead, at each test point
// x0 we take t0 = the forward's aux (checked against a sort-based quantile
// here), differentiate the map x -> t-softmax(x, t0) by FD, and compare with
// r-softmax's backward at x0.  That map equals r-softmax at x0 (checked) and
// has exactly the derivative the doc defines.
//
// Kinks.  t-softmax is not differentiable where a key sits at w = u + t = 0,
// and the max term depends on which key is the max.  Random rows are drawn
// away from both (resampled otherwise); the tests that place keys on a kink
// on purpose use the one-sided difference that the doc's formula describes:
//  - the quantile key of a whole rank has w = 1e-8 (1e-8 survives in double),
//    so it is inside A: the derivative from the right (w growing);
//  - with tied maxima the doc takes the FIRST max a, i.e. m = x_a: the
//    derivative for a from the right, for the other tied maxima from the
//    left (both keep a the max);
//  - the max key also moves every u_i; if a key sits at the kink with w > 0
//    it is differentiated from the left (lowering m raises that key's w).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/attention.h"
#include "model/attention_tsoftmax.h"
#include "tests/testutil.h"
#include "util/rng.h"

#define MAXN 64
#define FD_STEP 1e-5
#define KINK_MARGIN 1e-3

typedef struct {
    AttnMap map;
    int fixed_t;  // 1: t-softmax at t instead of map
    real t;
} Probe;

static AttnMap map_of(AttnKind kind, float r) { return (AttnMap){.kind = kind, .r = r}; }

static double loss(const Probe *pr, const real *x, const real *v, int n) {  // x[n], v[n]
    real p[MAXN], scratch[MAXN];
    if (pr->fixed_t)
        tsoftmax_row_forward(x, p, n, attn_max(x, n), pr->t);
    else
        attn_row_forward(pr->map, x, p, n, scratch);
    double l = 0;
    for (int i = 0; i < n; i++) l += v[i] * p[i];
    return l;
}

// dL/dx_k by differences: dir 0 central, +1 from the right, -1 from the
// left (second order one-sided: (-3 f0 + 4 f1 - f2) / 2h).
static double fd(const Probe *pr, real *x, const real *v, int n, int k, int dir) {
    // x[n] (restored), v[n]
    real x0 = x[k];
    double f[5];  // f[2 + s] = L(x0 + s h)
    for (int s = -2; s <= 2; s++) {
        x[k] = x0 + s * FD_STEP;
        f[2 + s] = loss(pr, x, v, n);
    }
    x[k] = x0;
    if (dir > 0) return (-3 * f[2] + 4 * f[3] - f[4]) / (2 * FD_STEP);
    if (dir < 0) return (3 * f[2] - 4 * f[1] + f[0]) / (2 * FD_STEP);
    return (f[3] - f[1]) / (2 * FD_STEP);
}

static void check_fd(const char *what, const Probe *pr, real *x, const real *v, const real *dx,
                     int n, const int *dir) {
    // x[n], v[n], dx[n], dir[n] or NULL (central everywhere)
    for (int k = 0; k < n; k++) {
        double want = fd(pr, x, v, n, k, dir ? dir[k] : 0);
        if (!(fabs(dx[k] - want) <= 1e-7 + 1e-6 * fabs(want)))
            ck_abort_msg("%s n=%d: dx[%d] = %.12g, finite difference (dir %d) %.12g", what, n, k,
                         dx[k], dir ? dir[k] : 0, want);
    }
}

// Directions for t-softmax at (x, t) per the rules at the top; returns 0 if
// some key needs both sides (the caller then resamples or must not build
// such a row).
static int tsoftmax_dirs(const real *x, int n, real t, int *dir) {  // x[n], dir[n] (out)
    real m = attn_max(x, n);
    int a = attn_first_index(x, n, m);
    int ties = 0, kink_pos = 0, kink_neg = 0;
    for (int i = 0; i < n; i++) {
        dir[i] = 0;
        real w = (x[i] - m) + t;
        if (i != a && x[i] == m) {
            dir[i] = -1;
            ties = 1;
        } else if (i != a && fabs(w) < KINK_MARGIN) {
            dir[i] = w > 0 ? 1 : -1;
            kink_pos += w > 0;
            kink_neg += w <= 0;
        }
    }
    if (ties) dir[a] = 1;
    if (kink_pos)
        dir[a] = dir[a] > 0 || kink_neg ? 2 : -1;
    else if (kink_neg)
        dir[a] = 1;
    return dir[a] != 2;
}

// The doc's quantile with a full sort, for t = -Q + 1e-8.
static int cmp_real(const void *a, const void *b) {
    real x = *(const real *)a, y = *(const real *)b;
    return (x > y) - (x < y);
}

static real t_by_sorting(const real *x, int n, float r) {  // x[n]
    real s[MAXN], m = attn_max(x, n);
    for (int i = 0; i < n; i++) s[i] = x[i] - m;
    qsort(s, (size_t)n, sizeof s[0], cmp_real);
    double rank = (double)r * (n - 1);
    int lo = (int)floor(rank), hi = (int)ceil(rank);
    real w = (real)(rank - lo);
    real q = w < 0.5 ? s[lo] + w * (s[hi] - s[lo]) : s[hi] - (s[hi] - s[lo]) * (1 - w);
    return -q + 1e-8;
}

// r-softmax at x: t0 from the forward, then the FD of t-softmax(., t0)
// against r-softmax's backward.  Returns 0 (nothing checked) if the row has
// a key on a kink that no one-sided difference can handle.
static int check_rsoftmax_row(const char *what, float r, real *x, const real *v, int n) {
    // x[n], v[n]
    real p[MAXN], pt[MAXN], dx[MAXN], dxt[MAXN], scratch[MAXN];
    int dir[MAXN];
    AttnMap map = map_of(ATTN_RSOFTMAX, r);
    real t0 = attn_row_forward(map, x, p, n, scratch);
    if (!tsoftmax_dirs(x, n, t0, dir)) return 0;
    ck_assert_msg(fabs(t0 - t_by_sorting(x, n, r)) <= 1e-12 * fmax(1, fabs(t0)), "%s: t", what);
    tsoftmax_row_forward(x, pt, n, attn_max(x, n), t0);
    for (int i = 0; i < n; i++)
        ck_assert_msg(pt[i] == p[i], "%s: t-softmax(x, t0) != r-softmax", what);
    attn_row_backward(map, x, p, t0, v, dx, n, scratch);
    if (n > 1) {  // the composition, stated: r-softmax's backward is t-softmax's at t0
        tsoftmax_row_backward(x, p, t0, v, dxt, n);
        for (int i = 0; i < n; i++) ck_assert(dx[i] == dxt[i]);
    }
    Probe pr = {.fixed_t = 1, .t = t0};
    check_fd(what, &pr, x, v, dx, n, dir);
    return 1;
}

static void random_row(Rng *rng, real *x, real *v, int n, double scale) {  // x[n], v[n] (out)
    for (int i = 0; i < n; i++) {
        x[i] = rng_normal(rng) * scale;
        v[i] = rng_normal(rng);
    }
}

// No two keys within KINK_MARGIN of the max (a max switch is a kink).
static int max_is_clear(const real *x, int n) {  // x[n]
    real m = attn_max(x, n);
    int at_max = 0;
    for (int i = 0; i < n; i++) {
        at_max += x[i] == m;
        if (x[i] != m && m - x[i] < KINK_MARGIN) return 0;
    }
    return at_max == 1;
}

// ---- softmax, sparsemax, entmax-1.5 -------------------------------------

// Away from the support boundary: |z_i - tau| (sparsemax) or |X_i - tau|
// (entmax) above KINK_MARGIN for every key.
static int off_boundary(AttnKind kind, const real *x, int n, real tau) {  // x[n]
    real m = attn_max(x, n);
    for (int i = 0; i < n; i++) {
        real z = kind == ATTN_ENTMAX15 ? (x[i] - m) * 0.5 : x[i] - m;
        if (kind != ATTN_SOFTMAX && fabs(z - tau) < KINK_MARGIN) return 0;
    }
    return 1;
}

START_TEST(test_fd_smooth_maps) {
    real x[MAXN], v[MAXN], p[MAXN], dx[MAXN], scratch[MAXN];
    Rng rng;
    rng_seed(&rng, 5);
    const AttnKind kinds[] = {ATTN_SOFTMAX, ATTN_SPARSEMAX, ATTN_ENTMAX15};
    const int ns[] = {1, 2, 2, 3, 5, 8, 17, 33, 64};
    for (int kk = 0; kk < 3; kk++)
        for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
            for (int trial = 0; trial < 4; trial++) {
                int n = ns[a];
                AttnMap map = map_of(kinds[kk], 0);
                real tau;
                do {
                    random_row(&rng, x, v, n, (double[]){0.3, 1, 3, 0.05}[trial]);
                    tau = attn_row_forward(map, x, p, n, scratch);
                } while (!off_boundary(kinds[kk], x, n, tau));
                attn_row_backward(map, x, p, tau, v, dx, n, scratch);
                Probe pr = {.map = map};
                check_fd(attn_kind_name(kinds[kk]), &pr, x, v, dx, n, NULL);
            }
}
END_TEST

// Ties, including tied maxima, are smooth points of these three maps (they
// are invariant to the shift by the max).
START_TEST(test_fd_smooth_maps_ties) {
    real p[8], dx[8], scratch[8];
    real x[8] = {1.2, 0.3, 1.2, -0.5, 0.3, 1.2, 0.9, -2.0};
    const real v[8] = {0.5, -1.2, 2.0, 0.7, -0.3, 1.1, -0.8, 0.4};
    const AttnKind kinds[] = {ATTN_SOFTMAX, ATTN_SPARSEMAX, ATTN_ENTMAX15};
    for (int kk = 0; kk < 3; kk++) {
        AttnMap map = map_of(kinds[kk], 0);
        real tau = attn_row_forward(map, x, p, 8, scratch);
        ck_assert(off_boundary(kinds[kk], x, 8, tau));
        attn_row_backward(map, x, p, tau, v, dx, 8, scratch);
        Probe pr = {.map = map};
        check_fd(attn_kind_name(kinds[kk]), &pr, x, v, dx, 8, NULL);
    }
}
END_TEST

// ---- t-softmax and r-softmax ---------------------------------------------

// No key within KINK_MARGIN of w = 0 and a clear max: central differences
// are valid everywhere.
static int tsoftmax_clear(const real *x, int n, real t) {  // x[n]
    real m = attn_max(x, n);
    for (int i = 0; i < n; i++)
        if (x[i] != m && fabs((x[i] - m) + t) < KINK_MARGIN) return 0;
    return max_is_clear(x, n);
}

START_TEST(test_fd_tsoftmax) {
    real x[MAXN], v[MAXN], p[MAXN], dx[MAXN];
    Rng rng;
    rng_seed(&rng, 6);
    for (int n = 1; n <= MAXN; n += (n < 8 ? 1 : 7))
        for (int trial = 0; trial < 4; trial++) {
            real t = 0.05 + 3 * rng_uniform(&rng);
            do random_row(&rng, x, v, n, (double[]){0.3, 1, 2, 0.1}[trial]);
            while (!tsoftmax_clear(x, n, t));
            tsoftmax_row_forward(x, p, n, attn_max(x, n), t);
            tsoftmax_row_backward(x, p, t, v, dx, n);
            Probe pr = {.fixed_t = 1, .t = t};
            check_fd("tsoftmax", &pr, x, v, dx, n, NULL);
        }
}
END_TEST

// Tied maxima at indices 1 and 3: the max term goes to index 1, the first.
START_TEST(test_fd_tsoftmax_tied_max) {
    real x[6] = {0.5, 2.0, -1.0, 2.0, 1.0, 0.0};
    const real v[6] = {0.5, -1.2, 2.0, 0.7, -0.3, 1.1};
    real p[6], dx[6];
    int dir[6];
    const real t = 1.3;
    ck_assert(tsoftmax_dirs(x, 6, t, dir));
    ck_assert(dir[1] == 1 && dir[3] == -1);
    tsoftmax_row_forward(x, p, 6, 2.0, t);
    tsoftmax_row_backward(x, p, t, v, dx, 6);
    Probe pr = {.fixed_t = 1, .t = t};
    check_fd("tsoftmax tied max", &pr, x, v, dx, 6, dir);
    // The point is a real kink: taking index 3 as the max (its derivative
    // from the right) gives something else, so the convention is tested.
    ck_assert(fabs(fd(&pr, x, v, 6, 3, 1) - dx[3]) > 1e-3);  // the max term here: -0.005
}
END_TEST

// A key near w = 0 that is not the structural one (the quantile key of a
// whole rank, w = 1e-8) would make the row's differences fragile.
static int accidental_kink(const real *x, int n, real t) {  // x[n]
    real m = attn_max(x, n);
    for (int i = 0; i < n; i++) {
        real w = (x[i] - m) + t;
        if (x[i] != m && fabs(w) < KINK_MARGIN && fabs(w) > 1e-7) return 1;
    }
    return !max_is_clear(x, n);
}

START_TEST(test_fd_rsoftmax) {
    real x[MAXN], v[MAXN], p[MAXN], scratch[MAXN];
    Rng rng;
    rng_seed(&rng, 8);
    int whole = 0, checked = 0;
    for (int n = 1; n <= MAXN; n += (n < 9 ? 1 : 5))
        for (int k = 0; k < 6; k++) {
            float r = k < 5 ? (float[]){0, 0.3f, 0.5f, 0.7f, 1}[k] : (float)rng_uniform(&rng);
            real t;
            do {
                random_row(&rng, x, v, n, k % 2 ? 1.0 : 0.4);
                t = attn_row_forward(map_of(ATTN_RSOFTMAX, r), x, p, n, scratch);
            } while (accidental_kink(x, n, t));
            char what[64];
            snprintf(what, sizeof what, "rsoftmax r=%g", r);
            checked += check_rsoftmax_row(what, r, x, v, n);
            double rank = (double)r * (n - 1);
            whole += n > 1 && r < 1 && rank == floor(rank);
        }
    ck_assert_int_ge(whole, 20);  // the one-sided path was exercised
    ck_assert_int_ge(checked, 6 * 20);
}
END_TEST

START_TEST(test_fd_rsoftmax_ties_and_corners) {
    const real v[6] = {0.5, -1.2, 2.0, 0.7, -0.3, 1.1};
    // tied maxima, rank 1.5 (not whole): u sorted -3 -2 -1.5 -1 0 0, t = 1.75
    real tied_max[6] = {0.5, 2.0, -1.0, 2.0, 1.0, 0.0};
    ck_assert(check_rsoftmax_row("rsoftmax tied max", 0.3f, tied_max, v, 6));
    // tied at the quantile (rank 1 of 5): both keys at -4 get w = 1e-8
    real tied_q[5] = {0.0, -1.0, 3.0, -1.0, 1.0};
    ck_assert(check_rsoftmax_row("rsoftmax tied quantile", 0.25f, tied_q, v, 5));
    // r = 0: the minimum gets w = 1e-8; the max is differenced from the left
    real r0[6] = {0.3, 1.7, -0.4, 1.1, 0.9, -2.0};
    ck_assert(check_rsoftmax_row("rsoftmax r=0", 0.0f, r0, v, 6));
    // r = 1: one-hot on the max, dx = 0 (checked against the differences)
    ck_assert(check_rsoftmax_row("rsoftmax r=1", 1.0f, r0, v, 6));
    // single key: p = 1, dx = 0 for any r
    for (int k = 0; k <= 4; k++) {
        real one[1] = {-0.7};
        ck_assert(check_rsoftmax_row("rsoftmax n=1", (float)k / 4, one, v, 1));
    }
}
END_TEST

Suite *attention_f64_suite(void) {
    Suite *s = suite_create("attention_f64");
    TCase *tc = tcase_create("finite_differences");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_fd_smooth_maps);
    tcase_add_test(tc, test_fd_smooth_maps_ties);
    tcase_add_test(tc, test_fd_tsoftmax);
    tcase_add_test(tc, test_fd_tsoftmax_tied_max);
    tcase_add_test(tc, test_fd_rsoftmax);
    tcase_add_test(tc, test_fd_rsoftmax_ties_and_corners);
    suite_add_tcase(s, tc);
    return s;
}
