// Attention probability maps over one row of n real keys; the math is in
// docs/attention-math.md.  Costs per row of n keys, forward / backward:
//   softmax    O(n): n vectorized exp / two vectorized passes.
//   r-softmax  O(n) expected: the max, a quickselect of the quantile's two
//              order statistics straight from the row (AVX2 count and
//              left-pack passes, no copy of the row, no sort), then one
//              vectorized exp pass / four vectorized passes, no exp.  At
//              n = 128 the selection is about 1.4k instructions a row, the
//              whole forward 2.7k (softmax's: 1.0k).
//   sparsemax, entmax-1.5  O(n + c log c): the c keys within 1 of the max
//              (the only ones that can be in the support) are merge-sorted
//              on a scratch copy, then O(c) for the threshold and O(n) for
//              p; entmax adds n sqrt / O(n).
// No fused multiply-adds unless written (fma below): see attention_tsoftmax.h.
#pragma GCC optimize("fp-contract=off")

#include "model/attention.h"

#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <tgmath.h>

#include "model/attention_tsoftmax.h"

// The selection's vector helpers are the float32 engine's (AVX2 is in its
// -march=x86-64-v3 baseline); the double build and other targets take the
// plain loops, which compute the same values.
#if defined(__AVX2__) && !REAL_IS_DOUBLE
#define SELECT_AVX2 1
#include <immintrin.h>
#else
#define SELECT_AVX2 0
#endif

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

static real median3(real a, real b, real c) {
    if (a > b) {
        real s = a;
        a = b;
        b = s;
    }
    return c < a ? a : c > b ? b : c;
}

#if SELECT_AVX2
// The first `count` lanes set (count <= 0: none, >= 8: all).
static inline __m256i first_lanes(int count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// src[0..m) into 8-lane vectors: the last one padded with NaN (below,
// above and equal to nothing).
static inline __m256 load_lanes(const float *src, int m) {  // src[m]
    __m256i lanes = first_lanes(m);
    return _mm256_blendv_ps(_mm256_set1_ps(NAN), _mm256_maskload_ps(src, lanes),
                            _mm256_castsi256_ps(lanes));
}

// Left-packing 8 floats by a compare mask: entry `mask` lists the lanes set
// in mask, lowest first, one 4-bit lane index each (vpermps reads the low 3
// bits of each 32-bit index, so the nibbles need no masking after a shift).
// Built by the compiler: lane i goes to nibble popcount(mask below bit i).
#define PACK_LANE(mask, i) \
    (((mask) >> (i) & 1u) ? (uint32_t)(i) << (4 * __builtin_popcount((mask) & ((1u << (i)) - 1u))) : 0u)
#define PACK(mask)                                                                         \
    (PACK_LANE(mask, 0) | PACK_LANE(mask, 1) | PACK_LANE(mask, 2) | PACK_LANE(mask, 3) |   \
     PACK_LANE(mask, 4) | PACK_LANE(mask, 5) | PACK_LANE(mask, 6) | PACK_LANE(mask, 7))
#define PACK4(m) PACK(m), PACK((m) + 1u), PACK((m) + 2u), PACK((m) + 3u)
#define PACK16(m) PACK4(m), PACK4((m) + 4u), PACK4((m) + 8u), PACK4((m) + 12u)
#define PACK64(m) PACK16(m), PACK16((m) + 16u), PACK16((m) + 32u), PACK16((m) + 48u)
static const uint32_t LEFT_PACK_LANES[256] = {PACK64(0u), PACK64(64u), PACK64(128u), PACK64(192u)};
#undef PACK64
#undef PACK16
#undef PACK4
#undef PACK
#undef PACK_LANE

// The lanes of v below the pivots (above them when `above`; NaN: neither)
// moved to the front, in order; *kept says how many.
static inline __m256 pack_side(__m256 v, __m256 pivots, int above, int *kept) {
    __m256 keep = above ? _mm256_cmp_ps(pivots, v, _CMP_LT_OQ) : _mm256_cmp_ps(v, pivots, _CMP_LT_OQ);
    unsigned mask = (unsigned)_mm256_movemask_ps(keep);
    __m256i lanes = _mm256_srlv_epi32(_mm256_set1_epi32((int)LEFT_PACK_LANES[mask]),
                                      _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
    *kept = __builtin_popcount(mask);
    return _mm256_permutevar8x32_ps(v, lanes);
}

// Subtracts 1 from the lanes of *lt where v is below the pivots, and from
// those of *gt where it is above them.
static inline void count_lanes(__m256 v, __m256 pivots, __m256i *lt, __m256i *gt) {
    *lt = _mm256_add_epi32(*lt, _mm256_castps_si256(_mm256_cmp_ps(v, pivots, _CMP_LT_OQ)));
    *gt = _mm256_add_epi32(*gt, _mm256_castps_si256(_mm256_cmp_ps(pivots, v, _CMP_LT_OQ)));
}
#endif

// How many of src[0..m) lie below pivot and how many above it (NaN: neither).
static void count_sides(const real *src, int m, real pivot, int *below, int *above) {  // src[m]
#if SELECT_AVX2
    const __m256 pivots = _mm256_set1_ps(pivot);
    __m256i lt = _mm256_setzero_si256(), gt = _mm256_setzero_si256();  // -1 per hit
    int i = 0;
    for (; i + 8 <= m; i += 8) count_lanes(_mm256_loadu_ps(src + i), pivots, &lt, &gt);
    if (i < m) count_lanes(load_lanes(src + i, m - i), pivots, &lt, &gt);
    __m256i pairs = _mm256_hadd_epi32(lt, gt);  // lt: lanes 0, 1, 4, 5; gt: 2, 3, 6, 7
    __m128i quads = _mm_add_epi32(_mm256_castsi256_si128(pairs), _mm256_extracti128_si256(pairs, 1));
    quads = _mm_hadd_epi32(quads, quads);  // lt, gt, lt, gt
    *below = -_mm_cvtsi128_si32(quads);
    *above = -_mm_extract_epi32(quads, 1);
#else
    int lt = 0, gt = 0;
#pragma omp simd reduction(+ : lt, gt)
    for (int i = 0; i < m; i++) {
        lt += src[i] < pivot;
        gt += pivot < src[i];
    }
    *below = lt;
    *above = gt;
#endif
}

// Copies the values of src[0..m) on one side of pivot (below it, or above it
// when `above`) to the front of dst, in order; returns how many.  dst[count..m)
// gets garbage.  No branch on the data: with AVX2, eight values per compare,
// permute and (overlapping) store; the scalar loop writes every value and
// advances over the kept ones.
static int compact_side(const real *src, int m, real pivot, int above, real *dst) {
    // src[m], dst[m]
    int count = 0;
#if SELECT_AVX2
    const __m256 pivots = _mm256_set1_ps(pivot);
    int i = 0, kept;
    for (; i + 8 <= m; i += 8) {  // writes dst[count..count + 8): count <= i, inside dst[0..m)
        _mm256_storeu_ps(dst + count, pack_side(_mm256_loadu_ps(src + i), pivots, above, &kept));
        count += kept;
    }
    if (i < m) {  // the last partial vector: only the kept lanes are stored
        __m256 packed = pack_side(load_lanes(src + i, m - i), pivots, above, &kept);
        _mm256_maskstore_ps(dst + count, first_lanes(kept), packed);
        count += kept;
    }
#else
    for (int i = 0; i < m; i++) {
        real v = src[i];
        dst[count] = v;
        count += above ? pivot < v : v < pivot;
    }
#endif
    return count;
}

// The k-th and (k+1)-th smallest (0-based) values of a row.
typedef struct {
    real kth, next;
} OrderPair;

enum { SMALL_SELECT = 16 };

// Order statistics of a[0..m), m <= SMALL_SELECT, by ranking every value:
// the k-th is the one with at most k values below it and more than k at or
// below it.  The (k+1)-th is `ceiling` when k + 1 == m (the caller's least
// value above a).  No branch on the data; NaN is below and above nothing.
static OrderPair small_select(const real *a, int m, int k, real ceiling) {  // a[m]
    OrderPair out = {a[0], ceiling};  // a[0]: kept only on a NaN row
#if SELECT_AVX2
    __m256 low = load_lanes(a, m), high = m > 8 ? load_lanes(a + 8, m - 8) : _mm256_set1_ps(NAN);
#else
    real pad[SMALL_SELECT];
    for (int j = 0; j < SMALL_SELECT; j++) pad[j] = j < m ? a[j] : NAN;
#endif
    for (int i = 0; i < m; i++) {
#if SELECT_AVX2
        __m256 v = _mm256_set1_ps(a[i]);
        unsigned lt = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(low, v, _CMP_LT_OQ)) |
                      (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(high, v, _CMP_LT_OQ)) << 8;
        unsigned le = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(low, v, _CMP_LE_OQ)) |
                      (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(high, v, _CMP_LE_OQ)) << 8;
        int below = __builtin_popcount(lt), at_most = __builtin_popcount(le);
#else
        int below = 0, at_most = 0;
#pragma omp simd reduction(+ : below, at_most)
        for (int j = 0; j < SMALL_SELECT; j++) {
            below += pad[j] < a[i];
            at_most += pad[j] <= a[i];
        }
#endif
        out.kth = below <= k && k < at_most ? a[i] : out.kth;
        out.next = below <= k + 1 && k + 1 < at_most ? a[i] : out.next;
    }
    return out;
}

// The (k+1)-th smallest of src[0..m) given its k-th, kth (k < m - 1): kth
// again if it is tied, else the least value above it.
static real next_order_stat(const real *src, int m, real kth, int k) {  // src[m]
    int at_most = 0;
    real above = INFINITY;
#pragma omp simd reduction(+ : at_most) reduction(min : above)
    for (int i = 0; i < m; i++) {
        at_most += src[i] <= kth;
        real c = src[i] > kth ? src[i] : INFINITY;
        above = c < above ? c : above;
    }
    return at_most > k + 1 || above == INFINITY ? kth : above;  // INFINITY: only on a NaN row
}

// The k-th and (k+1)-th smallest (0-based, k < n - 1) of x[0..n), x
// untouched, by quickselect with median-of-3 pivots.  Each round counts both
// sides of the pivot (one vectorized pass), then copies only the side holding
// the k-th value into the other of a and b (n values each, clobbered);
// values equal to the pivot are never copied, so ties cost nothing (an
// all-equal row takes one round).  The (k+1)-th comes along: it is in the
// kept side, or it is the least value cut off above it, which is the pivot
// of the last round that kept the lower side.  Every round shrinks the range,
// NaN or not; after too many rounds the rest is merge-sorted, so the worst
// case is O(n log n) and the expected cost O(n).
static OrderPair select_pair(const real *x, int n, int k, real *a, real *b) {
    // x[n], a[n], b[n]
    const real *src = x;
    real *dst = a;
    int m = n;               // the k-th value lies in src[0..m)
    real ceiling = INFINITY;  // the least value cut off above src
    int rounds_left = 8 + 2 * (31 - __builtin_clz((unsigned)n));  // 8 + 2 floor(log2 n)
    while (m > SMALL_SELECT) {
        real pivot = median3(src[0], src[m / 2], src[m - 1]);
        int below, above;
        count_sides(src, m, pivot, &below, &above);
        if (k < below) {
            m = compact_side(src, m, pivot, 0, dst);
            ceiling = pivot;
        } else if (k < m - above) {  // the pivot itself
            real next = k + 1 < m - above ? pivot : next_order_stat(src, m, pivot, k);
            return (OrderPair){pivot, k + 1 < m ? next : ceiling};
        } else {
            k -= m - above;
            m = compact_side(src, m, pivot, 1, dst);
        }
        real *live = dst;
        src = live;
        dst = live == a ? b : a;
        if (--rounds_left == 0) {
            const real *sorted = merge_sort(live, dst, m);
            return (OrderPair){sorted[k], k + 1 < m ? sorted[k + 1] : ceiling};
        }
    }
    return small_select(src, m, k, ceiling);
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
// about 2% of rows).  The order statistics are taken on x and shifted after:
// x -> x - m rounds monotonically, so the k-th smallest u is exactly the k-th
// smallest x minus m (ties it creates included), and x needs no copy.
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
        OrderPair order = select_pair(x, n, lo, scratch, spare);
        s_lo = order.kth - m;
        s_hi = order.next - m;
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
      "the sparsity rate (about a fraction r of the keys get exactly 0)", 0.0f, 1.0f, 0.25f, 1},
     rsoftmax_forward, rsoftmax_backward, rsoftmax_expected_zeros},
    {{"sparsemax", "Euclidean projection onto the simplex: sparse, piecewise linear", .sparse = 1},
     sparsemax_forward, sparsemax_backward, NULL},
    {{"entmax15", "entmax with alpha = 1.5: sparse, smoother than sparsemax", .sparse = 1},
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

int attn_map_is_sparse(AttnKind kind) {
    return (unsigned)kind < NUM_MAPS && MAPS[kind].info.sparse;
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
