// t-softmax (docs/attention-math.md), the building block of r-softmax, and
// the row reductions the attention maps share.  Everything here is static
// inline so that model/attention.c and the tests can both call t-softmax with
// a chosen t in either precision: an exported function would need a _f64
// alias in model/real.h.
#ifndef MODEL_ATTENTION_TSOFTMAX_H
#define MODEL_ATTENTION_TSOFTMAX_H

#include <tgmath.h>

#include "model/fastmath.h"
#include "model/real.h"

// No fused multiply-adds unless written: GNU C contracts a * b + c whenever
// the target has FMA (-march=native), which would make results depend on the
// build and differ from the torch reference in the last bits.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")

// Max, min and counts do not depend on the order of evaluation: omp simd
// vectorizes them.  Float sums keep ATTN_LANES fixed partial sums instead, so
// that their rounding does not depend on the vector width of the build.
// 16: with 8, GCC's AVX-512 cost model picks a loop slower than scalar code.
enum { ATTN_LANES = 16 };

static inline real attn_max(const real *x, int n) {  // x[n], n >= 1
    real m = x[0];
#pragma omp simd reduction(max : m)
    for (int i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

static inline real attn_min(const real *x, int n) {  // x[n], n >= 1
    real m = x[0];
#pragma omp simd reduction(min : m)
    for (int i = 0; i < n; i++) m = x[i] < m ? x[i] : m;
    return m;
}

// The first index holding m (the doc's a, and what torch.max returns).
static inline int attn_first_index(const real *x, int n, real m) {  // x[n]
    int first = n;
#pragma omp simd reduction(min : first)
    for (int i = 0; i < n; i++) {
        int at = x[i] == m ? i : n;
        first = at < first ? at : first;
    }
    return first < n ? first : 0;  // m not in x: a NaN row; any valid index will do
}

static inline real attn_sum(const real *x, int n) {  // x[n]
    real acc[ATTN_LANES] = {0};
    int i = 0;
    for (; i + ATTN_LANES <= n; i += ATTN_LANES)
        for (int l = 0; l < ATTN_LANES; l++) acc[l] += x[i + l];
    real s = 0;
    for (; i < n; i++) s += x[i];
    for (int l = 0; l < ATTN_LANES; l++) s += acc[l];
    return s;
}

static inline real attn_dot(const real *a, const real *b, int n) {  // a[n], b[n]
    real acc[ATTN_LANES] = {0};
    int i = 0;
    for (; i + ATTN_LANES <= n; i += ATTN_LANES)
        for (int l = 0; l < ATTN_LANES; l++) acc[l] += a[i + l] * b[i + l];
    real s = 0;
    for (; i < n; i++) s += a[i] * b[i];
    for (int l = 0; l < ATTN_LANES; l++) s += acc[l];
    return s;
}

// p = t-softmax(x, t) given m = max(x).  exp is taken for every key and
// masked after: a vectorized exp over all keys costs less than a scalar one
// over the survivors.
static inline void tsoftmax_row_forward(const real *x, real *p, int n, real m, real t) {
    // x[n], p[n] (out)
    for (int i = 0; i < n; i++) {
        real u = x[i] - m, w = u + t;
        p[i] = w > 0 ? w * real_exp(u) : 0;
    }
    real s = attn_sum(p, n);  // >= t > 0: the max key has w = t
    for (int i = 0; i < n; i++) p[i] = p[i] / s;
}

// One key of the t-softmax backward: writes dx_i = (p_i + q_i) d_i and
// returns q_i d_i (see below).
static inline real tsoftmax_grad_key(const real *x, const real *p, const real *dp, real *dx, int i,
                                     real m, real t, real vbar) {
    real w = (x[i] - m) + t;
    int in_a = w > 0;
    real q = (in_a ? p[i] : 0) / (in_a ? w : 1);
    real d = dp[i] - vbar;
    dx[i] = (p[i] + q) * d;
    return q * d;
}

// dx = dL/dx of t-softmax with t held constant (the doc's formula):
//   dx_k = (p_k + q_k) d_k - [k == a] sum_{i in A} q_i d_i.
// q_i = exp(u_i) / S is recovered as p_i / w_i (w_i is recomputed exactly as
// the forward formed it), so the backward needs no exp and no stored S.
// w_i == 0 counts as outside A: the derivative of max(., 0) at 0 is 0.
static inline void tsoftmax_row_backward(const real *x, const real *p, real t, const real *dp,
                                         real *dx, int n) {
    // x[n], p[n], dp[n], dx[n] (out)
    real m = attn_max(x, n);
    int a = attn_first_index(x, n, m);
    real vbar = attn_dot(dp, p, n);
    real acc[ATTN_LANES] = {0};
    int i = 0;
    for (; i + ATTN_LANES <= n; i += ATTN_LANES)
        for (int l = 0; l < ATTN_LANES; l++)
            acc[l] += tsoftmax_grad_key(x, p, dp, dx, i + l, m, t, vbar);
    real qd = 0;
    for (; i < n; i++) qd += tsoftmax_grad_key(x, p, dp, dx, i, m, t, vbar);
    for (int l = 0; l < ATTN_LANES; l++) qd += acc[l];
    dx[a] -= qd;
}

#pragma GCC pop_options

#endif
