// Attention probability maps over one row of n real keys; the math is in
// docs/attention-math.md.  Costs per row of n keys, forward / backward:
//   softmax    O(n): n vectorized exp / two vectorized passes.
//   r-softmax  O(n) expected: the max, a quickselect on a scratch copy
//              (about 3 ns per key), then one vectorized exp pass / four
//              vectorized passes, no exp.  The quickselect is most of its
//              extra cost over softmax.
//   sparsemax, entmax-1.5  O(n + c log c): the c keys within 1 of the max
//              (the only ones that can be in the support) are merge-sorted
//              on a scratch copy, then O(c) for the threshold and O(n) for
//              p; entmax adds n sqrt / O(n).
// No fused multiply-adds unless written (fma below): see attention_tsoftmax.h.
#pragma GCC optimize("fp-contract=off")

#include "model/attention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "model/attention_tsoftmax.h"

// r-softmax's eps, written as the double 1e-8 converted to real: that is how
// torch forms `-Q + 1e-8` for a float32 tensor (0x1.5798eep-27 in float32).
static const real RSOFTMAX_EPS = (real)1e-8;

// r-softmax and the sorting maps keep one copy of the row; the backwards
// need none.
int attn_scratch_floats(int n) { return n > 0 ? n : 0; }

int rsoftmax_expected_zeros(float r, int n) {
    if (n <= 1) return 0;
    if (!(r >= 0.0f)) r = 0.0f;
    if (r > 1.0f) r = 1.0f;
    // Exact: a 24-bit mantissa times an integer below 2^24 fits a double.
    int lo = (int)((double)r * (double)(n - 1));
    return lo + 1 < n - 1 ? lo + 1 : n - 1;
}

// ---- selection and sorting on scratch copies ---------------------------

// Merges the ascending runs a[0..na) and b[0..nb) into out.  The choice is
// a conditional move, not a branch: it would be mispredicted half the time.
static void merge_runs(const real *a, int na, const real *b, int nb, real *out) {
    // a[na], b[nb], out[na + nb]
    int i = 0, j = 0, k = 0;
    while (i < na && j < nb) {
        int take_b = b[j] < a[i];
        out[k++] = take_b ? b[j] : a[i];
        j += take_b;
        i += !take_b;
    }
    while (i < na) out[k++] = a[i++];
    while (j < nb) out[k++] = b[j++];
}

// Sorts a[0..n) ascending with b[0..n) as the other buffer; returns the one
// holding the result.  Bottom-up merge sort: O(n log n) in every case, no
// recursion; several times faster than heapsort on attention rows.
static real *merge_sort(real *a, real *b, int n) {  // a[n], b[n]
    for (long width = 1; width < n; width *= 2) {
        for (long lo = 0; lo < n; lo += 2 * width) {
            long mid = lo + width < n ? lo + width : n,
                 hi = lo + 2 * width < n ? lo + 2 * width : n;
            merge_runs(a + lo, (int)(mid - lo), a + mid, (int)(hi - mid), b + lo);
        }
        real *swap = a;
        a = b;
        b = swap;
    }
    return a;
}

static void insertion_sort(real *a, int n) {  // a[n]
    for (int i = 1; i < n; i++) {
        real v = a[i];
        int j = i;
        for (; j > 0 && v < a[j - 1]; j--) a[j] = a[j - 1];
        a[j] = v;
    }
}

static real median3(real a, real b, real c) {
    if (a > b) {
        real s = a;
        a = b;
        b = s;
    }
    return c < a ? a : c > b ? b : c;
}

// Moves src[0..m) to dst[0..m): the values below pivot first, those above
// it last; returns where the values equal to pivot (and NaN) begin and end
// (they are not copied: the caller needs only their count).  Each value is
// written at both ends and at most one end advances, so the loop has no
// data-dependent branch and reads nothing it wrote.
static void partition_copy(const real *src, real *dst, int m, real pivot, int *eq_begin,
                           int *eq_end) {
    // src[m], dst[m]
    int lo = 0, hi = m - 1;
    for (int i = 0; i < m; i++) {
        real v = src[i];
        dst[lo] = v;
        dst[hi] = v;
        lo += v < pivot;
        hi -= pivot < v;
    }
    *eq_begin = lo;
    *eq_end = hi + 1;
}

// The k-th smallest (0-based) of a[0..n), by quickselect with median-of-3
// pivots.  Each round moves the live range between a and b (n values each,
// both clobbered), so the partition can run branch-free; values equal to the
// pivot are split off in the same pass, so ties cost nothing extra (an
// all-equal row takes one round).  Every round shrinks the range, NaN or
// not; after too many rounds the rest is merge-sorted, so the worst case is
// O(n log n) and the expected cost O(n), about 3 ns per key at n = 128.
// (Tried and dropped as slower here: an in-place partition, pivots from a
// sorted sample, counting passes that interpolate the k-th value.)
static real select_kth(real *a, real *b, int n, int k) {  // a[n], b[n]
    real *src = a, *dst = b, *swap;
    int l = 0, r = n;  // the k-th value lies in src[l..r)
    int rounds_left = 8;
    for (int m = n; m > 1; m >>= 1) rounds_left += 2;
    while (r - l > 16) {
        if (rounds_left-- == 0) return merge_sort(src + l, dst + l, r - l)[k - l];
        real pivot = median3(src[l], src[l + (r - l) / 2], src[r - 1]);
        int eq_begin, eq_end;
        partition_copy(src + l, dst + l, r - l, pivot, &eq_begin, &eq_end);
        swap = src, src = dst, dst = swap;
        if (k < l + eq_begin) {
            r = l + eq_begin;
        } else if (k < l + eq_end) {
            return pivot;
        } else {
            l += eq_end;
        }
    }
    insertion_sort(src + l, r - l);
    return src[k];
}

// The (lo+1)-th smallest u = x - m, given s_lo, the lo-th (lo < n - 1):
// s_lo again if it is tied, else the least u above it.
static real next_order_stat(const real *x, int n, real m, real s_lo, int lo) {  // x[n]
    int at_most = 0;
    real above = INFINITY;
#pragma omp simd reduction(+ : at_most) reduction(min : above)
    for (int i = 0; i < n; i++) {
        real u = x[i] - m;
        at_most += u <= s_lo;
        real c = u > s_lo ? u : INFINITY;
        above = c < above ? c : above;
    }
    return at_most > lo + 1 || above == INFINITY ? s_lo : above;  // INFINITY: only on a NaN row
}

// ---- softmax ------------------------------------------------------------

static real softmax_forward(float r, const real *x, real *p, int n, real *scratch) {
    // x[n], p[n]
    real m = attn_max(x, n);
    for (int i = 0; i < n; i++) p[i] = real_exp(x[i] - m);
    real inv = 1.0f / attn_sum(p, n);
    for (int i = 0; i < n; i++) p[i] *= inv;
    return 0;
}

static void softmax_backward(float r, const real *x, const real *p, real aux, const real *dp,
                             real *dx, int n) {
    // p[n], dp[n], dx[n]
    real vbar = attn_dot(dp, p, n);
    for (int i = 0; i < n; i++) dx[i] = p[i] * (dp[i] - vbar);
}

// ---- r-softmax ----------------------------------------------------------

// t = -Q + eps with Q the r-quantile of u = x - m, formed as torch does it:
// the rank r (n - 1) in double from the float r (exact), the weight rounded
// to real, and lerp's two branches with a fused multiply-add (the torch CPU
// kernel's fmadd; a separate multiply and add differs in the last bit in
// about 2% of rows).
// scratch and spare: n values each, clobbered.
static real rsoftmax_threshold(float r, const real *x, int n, real m, real *scratch, real *spare) {
    // x[n], scratch[n], spare[n]
    double rank = (double)r * (double)(n - 1);
    if (!(rank >= 0)) rank = 0;  // r outside [0, 1] or NaN: AttnMap not from attn_map_parse
    if (rank > n - 1) rank = n - 1;
    int lo = (int)rank;
    real w = (real)(rank - lo);
    real s_lo, s_hi;
    if (lo == n - 1) {  // r = 1: the max itself, u = 0
        s_lo = s_hi = 0;
    } else if (lo == 0 && w == 0) {  // r = 0: the minimum (rounding keeps the order)
        s_lo = s_hi = attn_min(x, n) - m;
    } else {
        for (int i = 0; i < n; i++) scratch[i] = x[i] - m;
        s_lo = select_kth(scratch, spare, n, lo);
        s_hi = w > 0 ? next_order_stat(x, n, m, s_lo, lo) : s_lo;
    }
    real diff = s_hi - s_lo;
    real q = w < 0.5f ? fma(w, diff, s_lo) : fma(w - 1.0f, diff, s_hi);
    return -q + RSOFTMAX_EPS;
}

static real rsoftmax_forward(float r, const real *x, real *p, int n, real *scratch) {
    // x[n], p[n], scratch[n]
    if (n == 1) {  // Q = u = 0, so t = eps and the single key gets p = 1
        p[0] = 1;
        return RSOFTMAX_EPS;
    }
    real m = attn_max(x, n);
    real t = rsoftmax_threshold(r, x, n, m, scratch, p);  // p: free until t-softmax fills it
    tsoftmax_row_forward(x, p, n, m, t);
    return t;
}

static void rsoftmax_backward(float r, const real *x, const real *p, real t, const real *dp,
                              real *dx, int n) {
    // x[n], p[n], dp[n], dx[n]
    if (n == 1) {  // p = 1 whatever x is
        dx[0] = 0;
        return;
    }
    tsoftmax_row_backward(x, p, t, dp, dx, n);
}

// ---- sparsemax ----------------------------------------------------------

// The cumulative sums are accumulated in double and rounded to real at each
// step, as torch's CPU cumsum does, so the support test below sees the same
// numbers as the reference.
// Only keys within 1 of the max can be in the support (tau >= z_max - 1, as
// k = 1 always qualifies): the others are left out of the sort.  They would
// sort after every candidate and fail the support test, so the prefix sums
// and the support are the same as with all keys; the margin keeps rounding
// from mattering at the edge.
static int support_candidates(const real *v, int n, real floor_value, real *out) {
    int count = 0;
    for (int i = 0; i < n; i++) {
        out[count] = v[i];
        count += v[i] >= floor_value;
    }
    return count;
}

static const real SUPPORT_MARGIN = 1e-3f;

static real sparsemax_forward(float r, const real *x, real *p, int n_all, real *scratch) {
    // x[n_all], p[n_all], scratch[n_all]
    real m = attn_max(x, n_all);
    for (int i = 0; i < n_all; i++) p[i] = x[i] - m;
    int n = support_candidates(p, n_all, -1.0f - SUPPORT_MARGIN, scratch);
    const real *z = merge_sort(scratch, p, n);  // ascending: z_(k) is z[n - k]
    real *cs = z == p ? scratch : p;            // the other buffer: cumsum - 1
    double cum = 0;
    int support = 0;
    for (int k = 1; k <= n; k++) {
        cum += z[n - k];
        cs[k - 1] = (real)cum - 1.0f;
        support += (real)k * z[n - k] > cs[k - 1];
    }
    if (support < 1) support = 1;  // only on a NaN row
    real tau = cs[support - 1] / (real)support;
    for (int i = 0; i < n_all; i++) {
        real d = (x[i] - m) - tau;
        p[i] = d > 0 ? d : 0;
    }
    return tau;
}

static void sparsemax_backward(float r, const real *x, const real *p, real tau, const real *dp,
                               real *dx, int n) {
    // p[n], dp[n], dx[n]
    real sum = 0;
    int count = 0;
    for (int i = 0; i < n; i++) {
        sum += p[i] > 0 ? dp[i] : 0;
        count += p[i] > 0;
    }
    real vhat = count > 0 ? sum / (real)count : 0;
    for (int i = 0; i < n; i++) dx[i] = p[i] > 0 ? dp[i] - vhat : 0;
}

// ---- entmax-1.5 ---------------------------------------------------------

// As for sparsemax: p_max = (X_max - tau)^2 <= 1 gives tau >= X_max - 1.
static real entmax15_forward(float r, const real *x, real *p, int n_all, real *scratch) {
    // x[n_all], p[n_all], scratch[n_all]
    real m = attn_max(x, n_all);
    for (int i = 0; i < n_all; i++) p[i] = (x[i] - m) * 0.5f;
    int n = support_candidates(p, n_all, -1.0f - SUPPORT_MARGIN, scratch);
    const real *sorted = merge_sort(scratch, p, n);  // ascending: X_(k) is sorted[n - k]
    real *taus = sorted == p ? scratch : p;          // the other buffer: tau_k
    double cum = 0, cum_sq = 0;                      // torch's CPU cumsum accumulates in double
    int support = 0;
    for (int k = 1; k <= n; k++) {
        real xk = sorted[n - k];
        cum += xk;
        cum_sq += xk * xk;
        real rho = (real)k;
        real mean = (real)cum / rho;
        real mean_sq = (real)cum_sq / rho;
        real ss = rho * (mean_sq - mean * mean);
        real delta = (1.0f - ss) / rho;
        // A row spanning more than ~1e19 squares to inf and makes delta NaN;
        // the comparison maps NaN to 0 where torch.clamp would keep it.
        real tau = mean - sqrt(delta > 0 ? delta : 0);
        taus[k - 1] = tau;
        support += tau <= xk;
    }
    if (support < 1) support = 1;  // only on a NaN row
    real tau = taus[support - 1];
    for (int i = 0; i < n_all; i++) {
        real d = (x[i] - m) * 0.5f - tau;
        p[i] = d > 0 ? d * d : 0;
    }
    return tau;
}

static void entmax15_backward(float r, const real *x, const real *p, real tau, const real *dp,
                              real *dx, int n) {
    // p[n], dp[n], dx[n]
    for (int i = 0; i < n; i++) dx[i] = sqrt(p[i]);  // g
    real q = attn_dot(dx, dp, n) / attn_sum(dx, n);  // sum(g) > 0: the max key has p > 0
    for (int i = 0; i < n; i++) dx[i] = dx[i] * dp[i] - q * dx[i];
}

// ---- the table ------------------------------------------------------------

typedef struct {
    AttnMapInfo info;
    // x[n] -> p[n]; returns the aux value the backward gets.  r: the map's
    // parameter (unused by maps without one).
    real (*forward)(float r, const real *x, real *p, int n, real *scratch);
    // dp[n] -> dx[n], given r and the forward's x, p and aux.
    void (*backward)(float r, const real *x, const real *p, real aux, const real *dp, real *dx,
                     int n);
    // Exact zeros in a row of n distinct scores; NULL: no formula.
    int (*expected_zeros)(float r, int n);
} AttnMapRow;

// One row per map, in AttnKind order.
static const AttnMapRow MAPS[] = {
    {{"softmax", "exp(x) normalised: dense, the standard"},
     softmax_forward, softmax_backward, NULL},
    {{"rsoftmax", "softmax shifted by the r-quantile of the row: exact zeros",
      "the sparsity rate (about a fraction r of the keys get exactly 0)", 0.0f, 1.0f, 0.25f},
     rsoftmax_forward, rsoftmax_backward, rsoftmax_expected_zeros},
    {{"sparsemax", "Euclidean projection onto the simplex: sparse, piecewise linear"},
     sparsemax_forward, sparsemax_backward, NULL},
    {{"entmax15", "entmax with alpha = 1.5: sparse, smoother than sparsemax"},
     entmax15_forward, entmax15_backward, NULL},
};
enum { NUM_MAPS = (int)(sizeof MAPS / sizeof MAPS[0]) };

// An out-of-range kind (an AttnMap not from attn_map_parse) runs softmax:
// a valid distribution rather than a crash.
static const AttnMapRow *row_of(AttnKind kind) {
    return (unsigned)kind < NUM_MAPS ? &MAPS[kind] : &MAPS[ATTN_SOFTMAX];
}

int attn_map_count(void) { return NUM_MAPS; }

const AttnMapInfo *attn_map_info(AttnKind kind) {
    return (unsigned)kind < NUM_MAPS ? &MAPS[kind].info : NULL;
}

const char *attn_kind_name(AttnKind kind) {
    return (unsigned)kind < NUM_MAPS ? MAPS[kind].info.name : "unknown";
}

int attn_map_has_param(AttnMap map) {
    return (unsigned)map.kind < NUM_MAPS && MAPS[map.kind].info.param_help != NULL;
}

AttnMap attn_map_default(AttnKind kind) {
    return (AttnMap){kind, (unsigned)kind < NUM_MAPS ? MAPS[kind].info.param_default : 0.0f};
}

char *attn_map_names(char *out, size_t cap, const char *sep) {
    size_t used = 0;
    if (cap) out[0] = '\0';
    for (int k = 0; k < NUM_MAPS && used < cap; k++)
        used += (size_t)snprintf(out + used, cap - used, "%s%s", k ? sep : "", MAPS[k].info.name);
    return out;
}

// The maps that take a parameter, joined by sep.
static char *param_map_names(char *out, size_t cap, const char *sep) {
    size_t used = 0;
    if (cap) out[0] = '\0';
    for (int k = 0; k < NUM_MAPS && used < cap; k++)
        if (MAPS[k].info.param_help)
            used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? sep : "",
                                     MAPS[k].info.name);
    return out;
}

int attn_map_parse(const char *name, int r_given, float r, AttnMap *out, Err *err) {
    int kind = -1;
    for (int k = 0; name && k < NUM_MAPS; k++)
        if (strcmp(name, MAPS[k].info.name) == 0) kind = k;
    char names[256];
    if (kind < 0)
        return err_set(err, "attention map: unknown name '%s' (valid: %s)", name ? name : "(null)",
                       attn_map_names(names, sizeof names, ", "));
    const AttnMapInfo *info = &MAPS[kind].info;
    if (!info->param_help && r_given)
        return err_set(err, "attention map %s: --r is only valid with %s", info->name,
                       param_map_names(names, sizeof names, ", "));
    if (info->param_help && r_given && !(r >= info->param_min && r <= info->param_max))
        return err_set(err, "attention map %s: --r must be a number in [%g, %g], got %g",
                       info->name, (double)info->param_min, (double)info->param_max, (double)r);
    *out = attn_map_default((AttnKind)kind);
    if (info->param_help && r_given) out->r = r;
    return 0;
}

// r with the fewest digits (at least 6) that read back as the same float:
// "0.25", "0.1", and 9 digits only where a float needs them.
char *attn_map_format(char *out, size_t cap, AttnMap map) {
    if (!attn_map_has_param(map)) {
        snprintf(out, cap, "%s", attn_kind_name(map.kind));
        return out;
    }
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(out, cap, "%s r=%.*g", attn_kind_name(map.kind), digits, (double)map.r);
        const char *r = strstr(out, " r=");
        if (r && strtof(r + 3, NULL) == map.r) break;
    }
    return out;
}

int attn_map_expected_zeros(AttnMap map, int n) {
    const AttnMapRow *row = row_of(map.kind);
    return (unsigned)map.kind < NUM_MAPS && row->expected_zeros ? row->expected_zeros(map.r, n)
                                                                 : -1;
}

real attn_row_forward(AttnMap map, const real *x, real *p, int n, real *scratch) {
    if (n <= 0) return 0;
    return row_of(map.kind)->forward(map.r, x, p, n, scratch);
}

void attn_row_backward(AttnMap map, const real *x, const real *p, real aux, const real *dp,
                       real *dx, int n, real *scratch) {
    if (n <= 0) return;
    row_of(map.kind)->backward(map.r, x, p, aux, dp, dx, n);
}
