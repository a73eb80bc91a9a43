// The encoder's layers as plain functions, llm.c style.  Forward functions
// overwrite their outputs; backward functions ACCUMULATE into the parameter
// gradients (dweight, dbias) and, unless a comment says otherwise, into the
// input gradient too.  N is the number of token rows (batch x sequence).
// Internal to model/: the public API is model/bert.h.
#ifndef MODEL_LAYERS_H
#define MODEL_LAYERS_H

#include <stdint.h>

#include "model/attention.h"
#include "model/profile.h"
#include "model/real.h"

// out [N, H] = word[ids] + pos[offset + t] + type[type_ids]
void embeddings_forward(real *out, const int *ids, const int *type_ids, const real *word_emb,
                        const real *pos_emb, const real *type_emb, int B, int T, int H,
                        int position_offset);
// Scatters dout [N, H] into the three tables; rows of padding tokens are
// skipped (lengths [B]) because their outputs never reach the loss.
void embeddings_backward(real *dword, real *dpos, real *dtype, const real *dout, const int *ids,
                         const int *type_ids, const int *lengths, int B, int T, int H,
                         int position_offset);

// out [N, C] = in [N, K] . weight^T [K, C] + bias [C]   (weight is [C, K], as in HF)
void linear_forward(real *out, const real *in, const real *weight, const real *bias, int N, int K,
                    int C);
// The same into columns of a wider matrix: out's rows are ldo apart (ldo >= C).
void linear_forward_strided(real *out, int ldo, const real *in, const real *weight,
                            const real *bias, int N, int K, int C);
// dweight [C, K] += dout^T in, dbias [C] += colsum(dout), din [N, K] (+)= dout weight.
// din_accumulate == 0 overwrites din instead of adding; din may be NULL.
void linear_backward(real *din, real *dweight, real *dbias, const real *dout, const real *in,
                     const real *weight, int N, int K, int C, int din_accumulate);

#if !REAL_IS_DOUBLE
#include "model/gemm_bf16.h"
// The same two in bf16 mixed precision (float32 build only): GEMM inputs in
// bf16 (in_h, weight_h, dout_h: bf16 copies of in, weight, dout), float32
// accumulation, outputs and gradients; dbias from the float32 dout.
// Return 0, or -1 with err set when oneDNN fails.
int linear_forward_bf16(GemmContext *g, float *out, const bf16 *in_h, const bf16 *weight_h,
                        const float *bias, int N, int K, int C, Err *err);
int linear_forward_bf16_strided(GemmContext *g, float *out, int ldo, const bf16 *in_h,
                                const bf16 *weight_h, const float *bias, int N, int K, int C,
                                Err *err);
int linear_backward_bf16(GemmContext *g, float *din, float *dweight, float *dbias,
                         const float *dout, const bf16 *dout_h, const bf16 *in_h,
                         const bf16 *weight_h, int N, int K, int C, int din_accumulate, Err *err);
#endif

// out [N, H] = LayerNorm(in) * weight + bias; saves mean [N] and rstd [N].
void layernorm_forward(real *out, real *mean, real *rstd, const real *in, const real *weight,
                       const real *bias, int N, int H, real eps);
// din [N, H] += ...; dweight, dbias [H] += ...
void layernorm_backward(real *din, real *dweight, real *dbias, const real *dout, const real *in,
                        const real *weight, const real *mean, const real *rstd, int N, int H);

// Exact (erf) GELU, in place allowed: out [n] = gelu(in [n]).
void gelu_forward(real *out, const real *in, long n);
#if !REAL_IS_DOUBLE
// The same with convert-on-write (float32 build only): out_h [n] =
// bf16(gelu(in [n])), bit for bit gelu_forward then float_to_bf16, without
// the float32 intermediate in memory.
void gelu_forward_bf16(bf16 *out_h, const float *in, long n);
#endif
// din [n] = dout [n] * gelu'(in [n])  (overwrites din; din may alias dout)
void gelu_backward(real *din, const real *in, const real *dout, long n);

// Inverted dropout in place: x [n] *= keep / (1 - p), keep [n] saved.
// The mask is a pure function of (seed, site, element index).
void dropout_forward(real *x, uint8_t *keep, long n, float p, uint64_t seed, uint64_t site);
// Where a shard's elements sit in the global batch, so that N ranks draw the
// masks one process would: element (b, t, j) of a local [B, T, inner] tensor
// is element ((row0 + b) * mask_seq + t) * inner + j of the global batch
// padded to mask_seq tokens.  row0 = 0 and mask_seq = T is the identity.
typedef struct {
    long row0;
    int seq, mask_seq, inner;
} DropoutFrame;
// dropout_forward over x [B, T, inner] (n = B * T * inner) at `frame`.
void dropout_forward_framed(real *x, uint8_t *keep, long n, float p, uint64_t seed, uint64_t site,
                            const DropoutFrame *frame);
// dx [n] = dout [n] * keep / (1 - p)  (in place allowed)
void dropout_backward(real *dx, const real *dout, const uint8_t *keep, long n, float p);

// out [N, H] += in [N, H]
void residual_forward(real *out, const real *in, long n);

// Multi-head self-attention core, parallel over (batch, head):
//   scores = Q K^T / sqrt(D) over the real keys of each row,
//   probs  = map(scores), probs_drop = dropout(probs),
//   ctx    = probs_drop V.
// qkv [N, 3H] (query | key | value), ctx [N, H] out; scores, probs,
// probs_drop [B, NH, T, T]; aux [B, NH, T]; keep [B, NH, T, T] or NULL.
// Rows and columns beyond lengths[b] are padding: their probabilities are 0
// and their ctx rows are 0 (with cls_only, every query row but the first).  zeros/total (may be NULL) receive the count of
// exact-zero probabilities among real (query, key) pairs.
typedef struct {
    int B, T, H, NH;
    const int *lengths;  // [B]
    AttnMap map;
    float dropout;       // attention-probability dropout (0 = off)
    uint64_t seed, site;
    long row0;           // the rows' offset in the global batch (dropout masks)
    int mask_seq;        // the global batch's padded length (dropout masks; 0 = T)
    real *scratch;       // per thread: attention_scratch_floats(T)
    int scratch_stride;
    int cls_only;        // queries: only position 0 ([CLS]) of each row; keys: all
    Profile *prof;       // phase timing (model/profile.h), or NULL
} AttentionDims;

int attention_scratch_floats(int T);
void attention_forward(real *ctx, real *scores, real *probs, real *probs_drop, uint8_t *keep,
                       real *aux, const real *qkv, const AttentionDims *dims, uint64_t *zeros,
                       uint64_t *total);
// dqkv [N, 3H] is overwritten (zero on padding rows).
void attention_backward(real *dqkv, const real *dctx, const real *qkv, const real *scores,
                        const real *probs, const real *probs_drop, const uint8_t *keep,
                        const real *aux, const AttentionDims *dims);

#endif
