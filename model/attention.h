// Attention probability maps: softmax, r-softmax, sparsemax, entmax-1.5.
// Each maps one row of scores (one query against the n REAL keys of its
// sequence; padding keys are simply not part of the row) to probabilities.
// The math, padding rule and float32 recipe are in
// ../shared/docs/attention-math.md (copied to docs/attention-math.md).
//
// Adding a map = one enum value, one forward and one backward row function,
// one entry in attn_map_parse.
#ifndef MODEL_ATTENTION_H
#define MODEL_ATTENTION_H

#include "model/real.h"
#include "util/err.h"

typedef enum { ATTN_SOFTMAX = 0, ATTN_RSOFTMAX, ATTN_SPARSEMAX, ATTN_ENTMAX15, ATTN_NUM_KINDS } AttnKind;

typedef struct {
    AttnKind kind;
    float r;  // sparsity rate in [0, 1]; only meaningful for ATTN_RSOFTMAX
} AttnMap;

// "softmax" | "rsoftmax" | "sparsemax" | "entmax15" (with r for rsoftmax).
// r_given says whether the user passed --r: it is required with rsoftmax and
// refused with the others.
int attn_map_parse(const char *name, int r_given, float r, AttnMap *out, Err *err);
const char *attn_kind_name(AttnKind kind);

// Scratch values (of type real) a row function needs for a row of n keys.
int attn_scratch_floats(int n);

// Forward over one row.  x[n]: scores, p[n]: probabilities (out).
// Returns the row's auxiliary value the backward needs (r-softmax: t;
// sparsemax / entmax: tau; softmax: 0).  scratch: attn_scratch_floats(n).
real attn_row_forward(AttnMap map, const real *x, real *p, int n, real *scratch);

// Backward over one row.  dp[n] = dL/dp; writes (overwrites) dx[n] = dL/dx.
// x and p are the forward's input and output, aux its return value.
void attn_row_backward(AttnMap map, const real *x, const real *p, real aux, const real *dp,
                       real *dx, int n, real *scratch);

// Number of zeros r-softmax is expected to produce in a row of n distinct
// scores: floor(r (n - 1)) + 1, capped to n - 1 (the max key never gets 0).
int rsoftmax_expected_zeros(float r, int n);

#endif
