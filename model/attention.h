// Attention probability maps: softmax, r-softmax, sparsemax, entmax-1.5.
// Each maps one row of scores (one query against the n REAL keys of its
// sequence; padding keys are simply not part of the row) to probabilities.
// The math, padding rule and float32 recipe are in
// ../shared/docs/attention-math.md (copied to docs/attention-math.md).
//
// The maps are the rows of one table in model/attention.c (name, parameter,
// forward, backward, expected zeros, help): parsing, its error message,
// --help, the bench loop, config.json and attn_map_format all read it, so
// adding a map means adding its row functions and its row there, nothing
// else.
#ifndef MODEL_ATTENTION_H
#define MODEL_ATTENTION_H

#include <stddef.h>

#include "model/real.h"
#include "util/err.h"

// A map's index in the table.  The constants name the rows other code
// refers to by name (defaults, tests); attn_map_count() says how many rows
// there are.
typedef enum { ATTN_SOFTMAX = 0, ATTN_RSOFTMAX, ATTN_SPARSEMAX, ATTN_ENTMAX15 } AttnKind;

typedef struct {
    AttnKind kind;
    float r;  // the map's parameter (r-softmax: the sparsity rate); 0 for maps without one
} AttnMap;

// What a row tells the rest of the program.
typedef struct {
    const char *name;        // --attn NAME, config.json attention_probs_fn
    const char *help;        // one line for --help
    const char *param_help;  // what --r means for this map; NULL: the map takes no parameter
    float param_min, param_max, param_default;  // --r's range and its default
    // Whether the map zeroes every key below a threshold (r-softmax,
    // sparsemax, entmax-1.5).  Then: ./finetune and ./evaluate count its
    // exact zeros (softmax has none to count); and in bf16 mixed precision
    // its Q and K stay float32, because bf16 rounding of Q and K moves
    // (query, key) pairs across the threshold: r-softmax r = 0.5 then failed
    // the gradient accuracy bar of tests/test_bf16_model.c (1.5-4.2x
    // PyTorch's distance).  A smooth map (softmax) runs Q and K in bf16.
    int sparse;
} AttnMapInfo;

int attn_map_count(void);
// NULL when kind is not a row.
const AttnMapInfo *attn_map_info(AttnKind kind);
// The row's name, "unknown" when kind is not a row.
const char *attn_kind_name(AttnKind kind);
int attn_map_has_param(AttnMap map);
// The row's `sparse` (0 for a kind that is not a row).
int attn_map_is_sparse(AttnKind kind);
// The map with its row's default parameter.
AttnMap attn_map_default(AttnKind kind);

// A row name (with r when r_given).  r_given says whether the parameter was
// given: a map that takes one gets its row's default without it; one that
// takes none refuses it.  The error lists the valid names.
int attn_map_parse(const char *name, int r_given, float r, AttnMap *out, Err *err);
// "softmax", "rsoftmax r=0.25": the map as logs and messages show it.
// Returns out.
char *attn_map_format(char *out, size_t cap, AttnMap map);
// The row names joined by sep ("softmax | rsoftmax | ...").  Returns out.
char *attn_map_names(char *out, size_t cap, const char *sep);
// The exact zeros the forward produces in a row of n distinct scores (see
// rsoftmax_expected_zeros for what "distinct" means), or -1 when the map has
// no such formula.
int attn_map_expected_zeros(AttnMap map, int n);

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

// Number of exact zeros the float32 r-softmax forward produces in a row of n
// distinct scores: min(floor(r (n - 1)) + 1, n - 1), and 0 for n <= 1 (the
// max key never gets 0).  r (n - 1) is the exact product of the float r and
// n - 1, as torch forms the rank (in double, from the float32 r): r = 0.9f is
// 0.899999976, so n = 11 gives rank 8.99999976 and 9 zeros, not 10.
// "Distinct" here means two things; each departure is by one key:
//  - every key except the max lies at least 0.25 below it.  When r (n - 1)
//    is whole, Q is the quantile key's u, and t = -Q + 1e-8 rounds back to
//    -Q in float32 exactly when |Q| >= 0.25 (1e-8 is then at most half an
//    ulp; for |Q| in [0.125, 0.25) it rounds up to a full ulp): that key gets
//    weight 0.  Closer to the max it keeps a weight of ~1e-8 and there is one
//    zero fewer.  (The double build keeps the 1e-8 and so that key, always.)
//  - when r (n - 1) is not whole, the interpolated Q stays below the next
//    key up, s_hi: (1 - w)(s_hi - s_lo) must exceed half an ulp of s_hi.
//    With r (n - 1) just below a whole number (r = 0.9f and n - 1 a multiple
//    of 10) and tightly packed keys, Q rounds to s_hi and that key is zeroed
//    too: one zero more.
// Keys so far below the max that exp underflows (about 100) add zeros of
// their own.  Checked for every n <= 512 in tests/test_attention.c.
int rsoftmax_expected_zeros(float r, int n);

#endif
