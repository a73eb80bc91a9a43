// Attention maps, float32 build: the doc's test vectors, option parsing, the
// exact zero count of r-softmax, sanity on hostile rows, and a torch golden
// (tests/golden/gen_attention_golden.py).
#include <cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/attention.h"
#include "model/attention_tsoftmax.h"
#include "tests/testutil.h"
#include "util/fileio.h"
#include "util/rng.h"

#define MAXN 4096

static AttnMap map_of(AttnKind kind, float r) { return (AttnMap){.kind = kind, .r = r}; }

// Row `kind` of the map table with its parameter at `frac` of its range
// (r-softmax: r = frac exactly); maps without a parameter get 0.
static AttnMap map_at(int kind, float frac) {
    const AttnMapInfo *info = attn_map_info((AttnKind)kind);
    ck_assert_ptr_nonnull(info);
    float r = info->param_help ? info->param_min + frac * (info->param_max - info->param_min) : 0;
    return map_of((AttnKind)kind, r);
}

// How many parameter values a test tries for row `kind`: `want` for maps
// that take a parameter, 1 for the others.
static int param_values(int kind, int want) {
    return attn_map_has_param(map_of((AttnKind)kind, 0)) ? want : 1;
}

enum { MAX_MAPS = 16 };  // room for the table's rows in per-map arrays

// want[] are the doc's numbers as printed: each is checked to half a unit of
// its last printed digit, plus a few float32 ulps for our own rounding.
static void check_printed(const char *what, const real *got, const char *const *want, int n) {
    // got[n], want[n]
    for (int i = 0; i < n; i++) {
        const char *dot = strchr(want[i], '.');
        int digits = dot ? (int)strlen(dot + 1) : 0;
        double w = strtod(want[i], NULL);
        double tol = 0.5 * pow(10.0, -digits) + 4 * FLT_EPSILON * fmax(1.0, fabs(w));
        if (!(fabs(got[i] - w) <= tol))
            ck_abort_msg("%s[%d]: got %.9g, doc prints %s (tol %.2g)", what, i, got[i], want[i],
                         tol);
    }
}

// ---- option parsing -----------------------------------------------------

START_TEST(test_parse) {
    AttnMap m;
    Err err;
    const char *names[] = {"softmax", "rsoftmax", "sparsemax", "entmax15"};
    for (int k = 0; k < 4; k++) {
        int rs = k == ATTN_RSOFTMAX;
        ck_assert_int_eq(attn_map_parse(names[k], rs, rs ? 0.25f : 0.0f, &m, &err), 0);
        ck_assert_int_eq(m.kind, k);
        ck_assert_str_eq(attn_kind_name(m.kind), names[k]);
    }
    ck_assert_float_eq(m.r, 0.0f);
    ck_assert_int_eq(attn_map_parse("rsoftmax", 1, 0.0f, &m, &err), 0);
    ck_assert_int_eq(attn_map_parse("rsoftmax", 1, 1.0f, &m, &err), 0);
    ck_assert_float_eq(m.r, 1.0f);

    // Without --r, rsoftmax takes the README's chosen r = 0.25.
    ck_assert_int_eq(attn_map_parse("rsoftmax", 0, 0.5f, &m, &err), 0);
    ck_assert_int_eq(m.kind, ATTN_RSOFTMAX);
    ck_assert_float_eq(m.r, 0.25f);
    ck_assert_int_eq(attn_map_parse("softmax", 1, 0.5f, &m, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "--r is only valid with rsoftmax"));
    ck_assert_int_eq(attn_map_parse("entmax15", 1, 0.0f, &m, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "entmax15"));
    float bad[] = {-0.01f, 1.0001f, NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(attn_map_parse("rsoftmax", 1, bad[i], &m, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "must be a number in [0, 1]"));
    }
    const char *unknown[] = {"Softmax", "entmax", "", "rsoftmax "};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(attn_map_parse(unknown[i], 0, 0.0f, &m, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "valid: softmax, rsoftmax, sparsemax, entmax15"));
    }
    ck_assert_int_eq(attn_map_parse(NULL, 0, 0.0f, &m, &err), -1);
    ck_assert_str_eq(attn_kind_name((AttnKind)attn_map_count()), "unknown");
    ck_assert_ptr_null(attn_map_info((AttnKind)attn_map_count()));
}
END_TEST

// Every row of the table: its name parses back to it, with its default
// parameter when none is given, and attn_map_format's text parses back to
// the same map (kind and the float r, bit for bit) over the parameter's
// range.  The unknown-name error lists every row.
START_TEST(test_table_format_parse_round_trip) {
    Err err;
    char text[64], all[256];
    attn_map_names(all, sizeof all, ", ");
    ck_assert_int_ge(attn_map_count(), 4);
    ck_assert_int_le(attn_map_count(), MAX_MAPS);
    const float fracs[] = {0, 0.1f, 0.25f, 1.0f / 3, 0.9f, 0.999f, 1};
    for (int k = 0; k < attn_map_count(); k++) {
        const AttnMapInfo *info = attn_map_info((AttnKind)k);
        ck_assert_ptr_nonnull(strstr(all, info->name));
        ck_assert(info->help && info->help[0]);
        AttnMap m;
        ck_assert_int_eq(attn_map_parse(info->name, 0, 0, &m, &err), 0);
        ck_assert_int_eq(m.kind, k);
        ck_assert_float_eq(m.r, info->param_help ? info->param_default : 0);
        ck_assert(m.kind == attn_map_default((AttnKind)k).kind &&
                  m.r == attn_map_default((AttnKind)k).r);
        for (int f = 0; f < param_values(k, (int)(sizeof fracs / sizeof fracs[0])); f++) {
            AttnMap want = map_at(k, fracs[f]);
            attn_map_format(text, sizeof text, want);
            // "NAME" or "NAME r=R": split, parse, compare.
            char *space = strchr(text, ' ');
            int r_given = space != NULL;
            float r = 0;
            if (space) {
                ck_assert_msg(strncmp(space, " r=", 3) == 0, "%s: no \" r=\"", text);
                r = strtof(space + 3, NULL);
                *space = '\0';
            }
            ck_assert_int_eq(r_given, info->param_help != NULL);
            ck_assert_int_eq(attn_map_parse(text, r_given, r, &m, &err), 0);
            ck_assert_int_eq(m.kind, want.kind);
            ck_assert_msg(m.r == want.r, "%s: r %.9g, formatted from %.9g", info->name, m.r,
                          want.r);
        }
        // Outside the range (NaN included), a parameter is refused, naming --r.
        if (info->param_help) {
            const float bad[] = {info->param_min - 0.5f, info->param_max + 0.5f, NAN};
            for (int i = 0; i < 3; i++) {
                ck_assert_int_eq(attn_map_parse(info->name, 1, bad[i], &m, &err), -1);
                ck_assert_ptr_nonnull(strstr(err.msg, "--r"));
            }
        }
    }
    AttnMap m;
    ck_assert_int_eq(attn_map_parse("no-such-map", 0, 0, &m, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, all));
    ck_assert_str_eq(attn_map_format(text, sizeof text, map_of(ATTN_RSOFTMAX, 0.25f)),
                     "rsoftmax r=0.25");
    ck_assert_str_eq(attn_map_format(text, sizeof text, map_of(ATTN_SPARSEMAX, 0)), "sparsemax");
}
END_TEST

// ---- the doc's test vectors --------------------------------------------

START_TEST(test_doc_rsoftmax_vectors) {
    static const struct {
        int n;
        float r, x[4];
        const char *p[4];
    } cases[] = {
        {4, 0.5f, {3, 2, 1, 1}, {"0.8908", "0.1092", "0", "0"}},
        {4, 0.5f, {4, 6, 6, 5}, {"0", "0.5", "0.5", "0"}},
        {3, 0.5f, {3, 2, 1}, {"1", "0", "0"}},
        {4, 0.75f, {3, 2, 1, 1}, {"1", "0", "0", "0"}},
        {4, 0.25f, {4, 6, 5, 5}, {"0", "0.8717", "0.0641", "0.0641"}},
    };
    real scratch[8], p[4];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        attn_row_forward(map_of(ATTN_RSOFTMAX, cases[c].r), cases[c].x, p, cases[c].n, scratch);
        check_printed("rsoftmax p", p, cases[c].p, cases[c].n);
        for (int i = 0; i < cases[c].n; i++)  // printed 0 means switched off: exactly 0
            if (strcmp(cases[c].p[i], "0") == 0) ck_assert(p[i] == 0.0f);
    }
}
END_TEST

START_TEST(test_doc_tsoftmax_gradient) {
    // Through the static inline t-softmax: the doc gives this case for a
    // fixed t, which no r reproduces exactly.
    const real x[6] = {0.3f, 1.7f, -0.4f, 1.1f, 0.9f, -2.0f};
    const real v[6] = {0.5f, -1.2f, 2.0f, 0.7f, -0.3f, 1.1f};
    const char *want_p[6] = {"0", ".681045", "0", ".201258", ".117697", "0"};
    const char *want_dx[6] = {"0", "-.835349", "0", ".689988", ".145362", "0"};
    real p[6], dx[6];
    tsoftmax_row_forward(x, p, 6, attn_max(x, 6), 1.3f);
    check_printed("tsoftmax p", p, want_p, 6);
    tsoftmax_row_backward(x, p, 1.3f, v, dx, 6);
    check_printed("tsoftmax dx", dx, want_dx, 6);
}
END_TEST

START_TEST(test_doc_sparsemax_entmax) {
    const real v[6] = {0.5f, -1.2f, 2.0f, 0.7f, -0.3f, 1.1f};
    real scratch[8], p[6], dx[6];
    const real xs[6] = {0.3f, 1.7f, -0.4f, 1.1f, 1.0f, -2.0f};
    const char *sp_p[6] = {"0", ".766667", "0", ".166667", ".066667", "0"};
    const char *sp_dx[6] = {"0", "-.933333", "0", ".966667", "-.033333", "0"};
    AttnMap sm = map_of(ATTN_SPARSEMAX, 0);
    real tau = attn_row_forward(sm, xs, p, 6, scratch);
    check_printed("sparsemax p", p, sp_p, 6);
    attn_row_backward(sm, xs, p, tau, v, dx, 6, scratch);
    check_printed("sparsemax dx", dx, sp_dx, 6);

    const real xe[6] = {0.3f, 1.7f, -0.4f, 1.1f, 0.9f, -2.0f};
    const char *en_p[6] = {".006891", ".613109", "0", ".233301", ".146699", "0"};
    const char *en_dx[6] = {".073853", "-.63451", "0", ".526318", ".034339", "0"};
    AttnMap em = map_of(ATTN_ENTMAX15, 0);
    tau = attn_row_forward(em, xe, p, 6, scratch);
    check_printed("entmax15 p", p, en_p, 6);
    attn_row_backward(em, xe, p, tau, v, dx, 6, scratch);
    check_printed("entmax15 dx", dx, en_dx, 6);
}
END_TEST

// All-equal rows give the uniform distribution under every map (the doc's
// "all zeros | any | uniform" for r-softmax; by symmetry for the others), and
// a single key gets p = 1 and dx = 0.
START_TEST(test_uniform_and_single_key) {
    real x[600], p[600], dx[600], v[600], scratch[600];
    const float rs[] = {0, 0.1f, 0.5f, 0.9f, 1};
    for (int n = 1; n <= 600; n += (n < 10 ? 1 : 97)) {
        for (int i = 0; i < n; i++) v[i] = (real)(i % 7) - 3.0f;
        for (int kind = 0; kind < attn_map_count(); kind++)
            for (int k = 0; k < param_values(kind, 5); k++) {
                for (int i = 0; i < n; i++) x[i] = n == 1 ? 3.5f : 0.0f;
                AttnMap map = map_at(kind, rs[k]);
                real aux = attn_row_forward(map, x, p, n, scratch);
                for (int i = 0; i < n; i++)
                    if (fabs(p[i] - 1.0 / n) > 1e-6)
                        ck_abort_msg("%s r=%g n=%d: p[%d] = %.9g, want 1/n", attn_kind_name(kind),
                                     map.r, n, i, p[i]);
                if (n == 1) {
                    attn_row_backward(map, x, p, aux, v, dx, n, scratch);
                    ck_assert(p[0] == 1.0f && dx[0] == 0.0f);
                }
            }
    }
}
END_TEST

// ---- the exact zero count of r-softmax ---------------------------------

// n scores in the sense of rsoftmax_expected_zeros: the max at a random
// index, the others at shuffled depths 0.3 + delta (j + U / 4) below it (so
// distinct, evenly spread, no other key within 0.25 of the max), all shifted
// by a random offset.
static void distinct_row(Rng *rng, real *x, int n) {  // x[n] (out)
    int perm[MAXN];
    for (int i = 0; i < n; i++) perm[i] = i;
    rng_shuffle(rng, perm, n);
    real offset = (real)(rng_uniform(rng) * 6 - 3);
    real delta = n > 1 ? 7.7f / (real)(n - 1) : 0;
    x[perm[0]] = offset;
    for (int j = 1; j < n; j++)
        x[perm[j]] = offset - (0.3f + delta * ((real)(j - 1) + 0.25f * (real)rng_uniform(rng)));
}

static int count_zeros(const real *p, int n) {  // p[n]
    int zeros = 0;
    for (int i = 0; i < n; i++) zeros += p[i] == 0;
    return zeros;
}

// Every map whose row has an expected-zeros formula (r-softmax's is
// rsoftmax_expected_zeros), against the zeros its forward produces.
START_TEST(test_rsoftmax_zero_count) {
    real x[512], p[512], scratch[512];
    const float rs[] = {0, 0.1f, 0.25f, 0.5f, 0.75f, 0.9f, 1};
    Rng rng;
    rng_seed(&rng, 7);
    ck_assert_int_eq(attn_map_expected_zeros(map_of(ATTN_RSOFTMAX, 0.5f), 5),
                     rsoftmax_expected_zeros(0.5f, 5));
    ck_assert_int_eq(attn_map_expected_zeros(map_of(ATTN_SOFTMAX, 0), 5), -1);
    for (int kind = 0; kind < attn_map_count(); kind++) {
        if (attn_map_expected_zeros(map_of((AttnKind)kind, 0), 2) < 0) continue;
        for (int n = 1; n <= 512; n++)
            for (int k = 0; k < param_values(kind, 7); k++) {
                AttnMap map = map_at(kind, rs[k]);
                distinct_row(&rng, x, n);
                attn_row_forward(map, x, p, n, scratch);
                int want = attn_map_expected_zeros(map, n);
                ck_assert_int_le(want, n > 1 ? n - 1 : 0);
                if (count_zeros(p, n) != want)
                    ck_abort_msg("%s r=%g n=%d: %d exact zeros, its formula says %d",
                                 attn_kind_name(map.kind), map.r, n, count_zeros(p, n), want);
            }
    }
    // By hand, from the recipe: r = 0.9f is 0.899999976, so with n = 11 the
    // rank is 8.99999976 (not whole): keys 0..8 are zeroed.
    ck_assert_int_eq(rsoftmax_expected_zeros(0.9f, 11), 9);
    ck_assert_int_eq(rsoftmax_expected_zeros(0.5f, 5), 3);
    ck_assert_int_eq(rsoftmax_expected_zeros(0.0f, 7), 1);
    ck_assert_int_eq(rsoftmax_expected_zeros(1.0f, 7), 6);
    ck_assert_int_eq(rsoftmax_expected_zeros(0.5f, 1), 0);
}
END_TEST

// The two documented departures from rsoftmax_expected_zeros.
START_TEST(test_rsoftmax_zero_count_exceptions) {
    real p[11], scratch[11];
    // Whole rank (0.5 * 4 = 2) with the quantile key 0.2 below the max:
    // 1e-8 survives in t, that key keeps a tiny weight: one zero fewer.
    const real near[5] = {-0.1f, -2.0f, 0.0f, -0.2f, -1.0f};
    attn_row_forward(map_of(ATTN_RSOFTMAX, 0.5f), near, p, 5, scratch);
    ck_assert_int_eq(count_zeros(p, 5), rsoftmax_expected_zeros(0.5f, 5) - 1);
    ck_assert(p[3] > 0 && p[3] < 1e-7f);
    // r = 0.9f, n = 11: rank 8.99999976 interpolates 2.4e-7 of the way down
    // from s_9 to s_8; with s_8 and s_9 only 1e-6 apart that rounds to s_9
    // itself, which is then zeroed too: one zero more.
    const real packed[11] = {-5.0f,      -9.0f, -8.0f, -7.0f,  -6.0f, -12.0f,
                             -4.000001f, -4.0f, 0.0f,  -10.0f, -11.0f};
    attn_row_forward(map_of(ATTN_RSOFTMAX, 0.9f), packed, p, 11, scratch);
    ck_assert_int_eq(count_zeros(p, 11), rsoftmax_expected_zeros(0.9f, 11) + 1);
}
END_TEST

// ---- the quantile against a sort-based reference ------------------------

static int cmp_real(const void *a, const void *b) {
    real x = *(const real *)a, y = *(const real *)b;
    return (x > y) - (x < y);
}

// t by the doc's recipe with a full sort: the selection must give the same
// bits, ties and all.
static real t_by_sorting(const real *x, int n, float r) {  // x[n]
    real s[MAXN];
    real m = x[0];
    for (int i = 1; i < n; i++) m = x[i] > m ? x[i] : m;
    for (int i = 0; i < n; i++) s[i] = x[i] - m;
    qsort(s, (size_t)n, sizeof s[0], cmp_real);
    double rank = (double)r * (n - 1);
    int lo = (int)floor(rank), hi = (int)ceil(rank);
    real w = (real)(rank - lo);
    real q = w < 0.5f ? fmaf(w, s[hi] - s[lo], s[lo]) : fmaf(w - 1.0f, s[hi] - s[lo], s[hi]);
    return -q + 1e-8f;
}

START_TEST(test_rsoftmax_threshold_matches_sort) {
    real x[MAXN], p[MAXN], scratch[MAXN];
    Rng rng;
    rng_seed(&rng, 11);
    const int ns[] = {2, 3, 5, 16, 17, 31, 64, 100, 128, 257, 512, 1000, 4096};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (int trial = 0; trial < 40; trial++) {
            int n = ns[a];
            float r = trial < 7 ? (float[]){0, 0.1f, 0.25f, 0.5f, 0.75f, 0.9f, 1}[trial]
                                : (float)rng_uniform(&rng);
            // heavy ties (2 or 5 levels), normal, skewed, two far clusters
            int kind = trial % 5;
            for (int i = 0; i < n; i++)
                x[i] = kind == 0   ? (real)rng_below(&rng, 2)
                       : kind == 1 ? (real)rng_below(&rng, 5)
                       : kind == 2 ? (real)rng_normal(&rng)
                       : kind == 3 ? (real)-log(rng_uniform(&rng) + 1e-12)
                                   : (real)(rng_normal(&rng) + (i % 2) * 1000.0);
            if (trial % 8 == 3)  // sorted and reversed inputs, a classic quickselect trap
                qsort(x, (size_t)n, sizeof x[0], cmp_real);
            if (trial % 8 == 7)
                for (int i = 0; i < n / 2; i++) {
                    real s = x[i];
                    x[i] = x[n - 1 - i];
                    x[n - 1 - i] = s;
                }
            real t = attn_row_forward(map_of(ATTN_RSOFTMAX, r), x, p, n, scratch);
            real want = t_by_sorting(x, n, r);
            if (t != want)
                ck_abort_msg("n=%d r=%.9g trial %d: t %.9g, sorted %.9g", n, r, trial, t, want);
        }
}
END_TEST

// One row of kind `kind` for the every-length test: what a quickselect gets
// wrong first (ties, signed zeros, tightly packed floats, presorted runs,
// -inf keys, rows too short for any vector).
static void hard_row(Rng *rng, real *x, int n, int kind) {  // x[n] (out)
    real scale = (real)exp(rng_uniform(rng) * 8 - 4);
    real base = (real)(rng_normal(rng) * 3);
    for (int i = 0; i < n; i++) {
        switch (kind) {
        case 0: x[i] = base + scale * (real)rng_normal(rng); break;  // distinct
        case 1: x[i] = (real)rng_below(rng, 3); break;                // three levels
        case 2: {  // signed zeros, denormals, and one level above
            static const real levels[] = {-0.0f, 0.0f, 1e-40f, -1e-40f, 1.0f};
            x[i] = levels[rng_below(rng, 5)];
            break;
        }
        case 3: x[i] = nextafterf(base, INFINITY) + (real)rng_below(rng, 8) * FLT_EPSILON * base;
            break;  // a few ulps apart
        case 4: x[i] = (real)(i / 3) * scale; break;  // ascending, in tied triples
        case 5: x[i] = (real)((n - i) / 2) - base; break;  // descending, in tied pairs
        default:  // keys at -inf (masked by a -inf bias), the rest normal
            x[i] = rng_uniform(rng) < 0.2 ? -INFINITY : base + scale * (real)rng_normal(rng);
        }
    }
    if (kind >= 6) x[rng_below(rng, (uint64_t)n)] = base;  // at least one finite key
}

enum { HARD_ROW_KINDS = 7 };

// Every length from 1 to 512, every kind of hard row, fixed and random r: the
// threshold has the bits of the sort-based recipe, and p is t-softmax with
// that threshold.  -inf keys stay -inf in u (m is finite); a threshold that
// lands on one is inf or NaN on both sides, and is then compared as NaN.
START_TEST(test_rsoftmax_threshold_every_length) {
    real x[MAXN], p[MAXN], want_p[MAXN], scratch[MAXN];
    Rng rng;
    rng_seed(&rng, 29);
    const float fixed_r[] = {0, 0.1f, 0.25f, 0.5f, 0.75f, 0.9f, 1};
    int rows = 0, nonfinite = 0, masked_finite = 0;
    for (int n = 1; n <= 512; n++)
        for (int kind = 0; kind < HARD_ROW_KINDS; kind++)
            for (int trial = 0; trial < 2; trial++) {
                float r = trial == 0 ? fixed_r[(n + kind) % 7] : (float)rng_uniform(&rng);
                hard_row(&rng, x, n, kind);
                real t = attn_row_forward(map_of(ATTN_RSOFTMAX, r), x, p, n, scratch);
                real want = t_by_sorting(x, n, r);
                if (!(t == want || (isnan(t) && isnan(want))))
                    ck_abort_msg("n=%d kind %d r=%.9g: t %a, sorted %a", n, kind, r, t, want);
                nonfinite += !isfinite(want);
                masked_finite += kind == HARD_ROW_KINDS - 1 && isfinite(want);
                if (isfinite(want)) {
                    tsoftmax_row_forward(x, want_p, n, attn_max(x, n), want);
                    for (int i = 0; i < n; i++)
                        if (memcmp(&p[i], &want_p[i], sizeof p[i]) != 0)
                            ck_abort_msg("n=%d kind %d r=%.9g: p[%d] %a, t-softmax %a", n, kind, r,
                                         i, p[i], want_p[i]);
                }
                rows++;
            }
    ck_assert_int_eq(rows, 512 * HARD_ROW_KINDS * 2);
    ck_assert_int_gt(nonfinite, 0);         // a quantile on a -inf key happened
    ck_assert_int_gt(masked_finite, 400);   // and rows with -inf keys kept a finite t
}
END_TEST

// Rows built so that every median-of-3 pivot (first, middle and last of the
// remaining values, which keep their order) is the second smallest of them:
// each round then drops two values, and the selection runs out of rounds and
// falls back to sorting what is left.  The k-th must still be the k-th.
static void median3_killer(real *x, int n) {  // x[n] (out)
    int slots[MAXN], m = n;
    for (int i = 0; i < n; i++) slots[i] = i;
    real next = -1000;  // the values handed out so far, ascending
    while (m > 16) {
        int first = slots[0], middle = slots[m / 2];
        x[first] = next;
        x[middle] = next + 1;
        next += 2;
        int kept = 0;
        for (int j = 0; j < m; j++)
            if (slots[j] != first && slots[j] != middle) slots[kept++] = slots[j];
        m = kept;
    }
    for (int j = 0; j < m; j++) x[slots[j]] = next + (real)j;
}

START_TEST(test_rsoftmax_threshold_adversarial_pivots) {
    real x[MAXN], p[MAXN], scratch[MAXN];
    const int ns[] = {64, 129, 512, 4096};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
        int n = ns[a];
        median3_killer(x, n);
        // r near 1 keeps the k-th above every pivot; also the middle and low end
        const float rs[] = {1.0f - 2.5f / (float)(n - 1), 0.5f, 0.01f};
        for (int k = 0; k < 3; k++) {
            real t = attn_row_forward(map_of(ATTN_RSOFTMAX, rs[k]), x, p, n, scratch);
            real want = t_by_sorting(x, n, rs[k]);
            if (t != want) ck_abort_msg("n=%d r=%.9g: t %a, sorted %a", n, rs[k], t, want);
        }
    }
}
END_TEST

// ---- hostile rows -------------------------------------------------------

START_TEST(test_distributions_on_random_rows) {
    real x[MAXN], p[MAXN], dx[MAXN], v[MAXN], scratch[MAXN];
    Rng rng;
    rng_seed(&rng, 3);
    const double scales[] = {1e-30, 1e-6, 1, 30, 1e4, 1e30};
    const int ns[] = {1, 2, 3, 7, 64, 128, 513, 4096};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++)
            for (int kind = 0; kind < attn_map_count(); kind++) {
                int n = ns[a];
                AttnMap map = map_at(kind, param_values(kind, 2) > 1 ? (float)rng_uniform(&rng) : 0);
                real shift = (real)(rng_normal(&rng) * scales[s]);
                for (int i = 0; i < n; i++) {
                    x[i] = shift + (real)(rng_normal(&rng) * scales[s]);
                    v[i] = (real)rng_normal(&rng);
                }
                real aux = attn_row_forward(map, x, p, n, scratch);
                attn_row_backward(map, x, p, aux, v, dx, n, scratch);
                double sum = 0;
                for (int i = 0; i < n; i++) {
                    if (!(p[i] >= 0 && p[i] <= 1) || !isfinite(dx[i]))
                        ck_abort_msg("%s n=%d scale=%g: p[%d]=%g dx=%g", attn_kind_name(kind), n,
                                     scales[s], i, p[i], dx[i]);
                    sum += p[i];
                }
                if (fabs(sum - 1) > 1e-5)
                    ck_abort_msg("%s n=%d scale=%g: sum p = %.9g", attn_kind_name(kind), n,
                                 scales[s], sum);
            }
}
END_TEST

// ---- torch golden -------------------------------------------------------

static int json_reals(const cJSON *row, const char *key, real *out, int cap) {  // out[cap]
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(row, key);
    ck_assert_msg(cJSON_IsArray(arr), "golden row: no array '%s'", key);
    int n = cJSON_GetArraySize(arr);
    ck_assert_int_le(n, cap);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        ck_assert(cJSON_IsNumber(e));
        out[i++] = (real)e->valuedouble;
    }
    return n;
}

START_TEST(test_torch_golden) {
    char *text;
    size_t len;
    Err err;
    if (file_read_all(TEST_GOLDEN_DIR "/attention_rows.json", &text, &len, &err) != 0)
        ck_abort_msg("%s", err.msg);
    cJSON *root = cJSON_Parse(text);
    free(text);
    ck_assert_ptr_nonnull(root);
    real x[512], v[512], want_p[512], want_dx[512], p[512], dx[512], scratch[512];
    int rows = 0, counts[MAX_MAPS] = {0};
    ck_assert_int_le(attn_map_count(), MAX_MAPS);
    const cJSON *row;
    cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(root, "rows")) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(row, "map");
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(row, "r");
        const cJSON *aux = cJSON_GetObjectItemCaseSensitive(row, "aux");
        ck_assert(cJSON_IsString(name));
        AttnMap map;
        if (attn_map_parse(name->valuestring, r != NULL, r ? (float)r->valuedouble : 0, &map, &err))
            ck_abort_msg("golden row %d: %s", rows, err.msg);
        int n = json_reals(row, "x", x, 512);
        ck_assert_int_eq(json_reals(row, "v", v, 512), n);
        ck_assert_int_eq(json_reals(row, "p", want_p, 512), n);
        ck_assert_int_eq(json_reals(row, "dx", want_dx, 512), n);
        char what[64];
        snprintf(what, sizeof what, "row %d (%s n=%d) p", rows, name->valuestring, n);
        real got_aux = attn_row_forward(map, x, p, n, scratch);
        assert_allclose(what, p, want_p, (size_t)n, 1e-6, 1e-5);
        for (int i = 0; i < n; i++)
            if ((want_p[i] == 0) != (p[i] == 0))
                ck_abort_msg("%s[%d]: got %.9g, torch %.9g: zero pattern differs", what, i, p[i],
                             want_p[i]);
        // r-softmax's t and sparsemax's tau follow torch's float32 operations
        // one for one (fma lerp, double-accumulated cumsum): the same bits.
        // entmax's tau takes a sqrt, which torch's float32 kernel does not
        // always round correctly (sqrt(0.2f) is one ulp high).
        if (aux && map.kind != ATTN_ENTMAX15 && (real)aux->valuedouble != got_aux)
            ck_abort_msg("%s: aux %.9g, torch %.9g", what, got_aux, aux->valuedouble);
        if (aux && map.kind == ATTN_ENTMAX15) {
            real want_aux = (real)aux->valuedouble;
            assert_allclose(what, &got_aux, &want_aux, 1, 1e-6, 1e-5);
        }
        attn_row_backward(map, x, p, got_aux, v, dx, n, scratch);
        snprintf(what, sizeof what, "row %d (%s n=%d) dx", rows, name->valuestring, n);
        assert_allclose(what, dx, want_dx, (size_t)n, 1e-6, 1e-5);
        for (int i = 0; i < n; i++)
            if (want_p[i] == 0 && want_dx[i] == 0 && dx[i] != 0)
                ck_abort_msg("%s[%d]: got %.9g where torch has exactly 0", what, i, dx[i]);
        counts[map.kind]++;
        rows++;
    }
    cJSON_Delete(root);
    for (int k = 0; k < attn_map_count(); k++) ck_assert_int_ge(counts[k], 6);  // every map
}
END_TEST

Suite *attention_suite(void) {
    Suite *s = suite_create("attention");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_parse);
    tcase_add_test(tc, test_table_format_parse_round_trip);
    tcase_add_test(tc, test_doc_rsoftmax_vectors);
    tcase_add_test(tc, test_doc_tsoftmax_gradient);
    tcase_add_test(tc, test_doc_sparsemax_entmax);
    tcase_add_test(tc, test_uniform_and_single_key);
    tcase_add_test(tc, test_rsoftmax_zero_count);
    tcase_add_test(tc, test_rsoftmax_zero_count_exceptions);
    tcase_add_test(tc, test_rsoftmax_threshold_matches_sort);
    tcase_add_test(tc, test_rsoftmax_threshold_every_length);
    tcase_add_test(tc, test_rsoftmax_threshold_adversarial_pivots);
    tcase_add_test(tc, test_distributions_on_random_rows);
    tcase_add_test(tc, test_torch_golden);
    suite_add_tcase(s, tc);
    return s;
}
