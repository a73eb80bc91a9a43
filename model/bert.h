// A BERT-family encoder with a sequence-classification head, in float32:
// forward and hand-written backward.  Parameters, gradients and activations
// live in one contiguous buffer each; the ParamId table below is the map.
#ifndef MODEL_BERT_H
#define MODEL_BERT_H

#include <stddef.h>
#include <stdint.h>

#include "model/attention.h"
#include "model/bf16.h"
#include "model/precision.h"
#include "model/output_map.h"
#include "model/profile.h"
#include "model/real.h"
#include "util/err.h"

typedef enum { HEAD_BERT = 0, HEAD_XLMR } HeadLayout;

typedef struct {
    int vocab_size;
    int hidden_size;        // H
    int num_layers;         // L
    int num_heads;          // NH (head size H / NH)
    int intermediate_size;  // FF
    int max_position;       // rows of the position table
    int type_vocab_size;
    int position_offset;    // first position id: 0 for BERT, pad_token_id + 1 for RoBERTa
    float layer_norm_eps;
    int num_labels;  // classifier outputs; 1 means regression (MSE)
    // BERT: pooler inside the encoder, then classifier.  XLM-RoBERTa: the
    // same dense + tanh + linear as one head outside the encoder
    // (classifier.dense / .out_proj), with dropout before its dense layer too.
    HeadLayout head;
    AttnMap attn;
} BertConfig;

// Every parameter tensor.  Per-layer tensors are stored [L, ...] in one slab.
typedef enum {
    PT_WORD_EMB,    // [V, H]
    PT_POS_EMB,     // [P, H]
    PT_TYPE_EMB,    // [TV, H]
    PT_EMB_LN_W,    // [H]
    PT_EMB_LN_B,    // [H]
    PT_QKV_W,       // [L, 3H, H]  rows: query, key, value (each [H, H] as in HF)
    PT_QKV_B,       // [L, 3H]
    PT_ATTN_OUT_W,  // [L, H, H]
    PT_ATTN_OUT_B,  // [L, H]
    PT_ATTN_LN_W,   // [L, H]
    PT_ATTN_LN_B,   // [L, H]
    PT_FFN_IN_W,    // [L, FF, H]
    PT_FFN_IN_B,    // [L, FF]
    PT_FFN_OUT_W,   // [L, H, FF]
    PT_FFN_OUT_B,   // [L, H]
    PT_FFN_LN_W,    // [L, H]
    PT_FFN_LN_B,    // [L, H]
    PT_POOL_W,      // [H, H]
    PT_POOL_B,      // [H]
    PT_CLS_W,       // [C, H]
    PT_CLS_B,       // [C]
    PT_COUNT
} ParamId;

typedef struct {
    const char *name;  // our short name, e.g. "qkv_w"
    int per_layer;     // 1: the tensor is [L, rows, cols]
    int rows, cols;    // one layer's shape; cols == 0 for a vector of `rows`
    int no_decay;      // biases, LayerNorm weights: no weight decay
} ParamInfo;

void bert_param_info(const BertConfig *cfg, ParamId id, ParamInfo *info);
// Floats in one layer's slice (or the whole tensor when not per-layer).
size_t bert_param_slice_numel(const BertConfig *cfg, ParamId id);
size_t bert_param_numel(const BertConfig *cfg, ParamId id);

typedef struct Bert Bert;

// Threads: n OpenMP threads do all parallel work, OpenBLAS runs
// single-threaded inside them (its own pool would fight ours for the cores).
// Call once at start-up, before any model work.
void bert_set_threads(int n);

// Validates cfg (e.g. hidden divisible by heads) and allocates parameters
// (zeroed) and activations for up to max_batch x max_seq tokens.
Bert *bert_build(const BertConfig *cfg, int max_batch, int max_seq, Err *err);
void bert_free(Bert *model);

#if !REAL_IS_DOUBLE
// The GEMMs' precision (model/precision.h); fp32 until set.  bf16 builds the
// oneDNN context, bf16 copies of the GEMM weights (from the parameters as
// they are now) and bf16 activation buffers; fails where this CPU cannot run
// bf16 (the model is then fp32, or unusable when an allocation failed: free
// it).  Float32 build only.
int bert_set_precision(Bert *model, Precision p, Err *err);
// Refreshes the bf16 weight copies from the float32 parameters; no-op in
// fp32.  Call after every change of the parameters (optimizer step, loading).
void bert_sync_weights(Bert *model);
// Parameter id's bf16 copy (all layers, the layout of bert_param), or NULL:
// fp32 precision, or a parameter without one.  For an optimizer that writes
// the copies as it updates the weights (optim_step), instead of
// bert_sync_weights' second pass over them.
bf16 *bert_param_bf16(Bert *model, ParamId id);
#endif
Precision bert_precision(const Bert *model);  // fp32 in the double build

const BertConfig *bert_config(const Bert *model);
int bert_max_batch(const Bert *model);
int bert_max_seq(const Bert *model);
void bert_set_attn(Bert *model, AttnMap attn);

// Time by phase (model/profile.h): every forward, backward and train_step
// adds its spans to prof until NULL takes it back.  The caller owns it.
void bert_set_profile(Bert *model, Profile *prof);
Profile *bert_profile(const Bert *model);

real *bert_params(Bert *model, size_t *count);  // the flat parameter buffer
real *bert_param(Bert *model, ParamId id);      // start of one tensor in it

// Allocates gradients (zeroed) and the activations the backward needs.
int bert_enable_grads(Bert *model, Err *err);
// Bytes bert_build (and, when training, bert_enable_grads) allocate for
// batches of up to `batch` x `T` tokens: parameters, gradients, activations
// and work buffers, from the tables that allocate them.  Lets a caller
// refuse a run that cannot fit before allocating anything.
int bert_memory_bytes(const BertConfig *cfg, int batch, int T, int training, Precision precision,
                      size_t *bytes,
                      Err *err);
real *bert_grads(Bert *model, size_t *count);  // NULL before bert_enable_grads
real *bert_grad(Bert *model, ParamId id);
void bert_zero_grads(Bert *model);

typedef struct {
    int batch, seq;        // B rows padded to T tokens
    const int *ids;        // [B, T]
    const int *type_ids;   // [B, T]
    const int *lengths;    // [B]: real tokens in each row; the rest is padding
} BertInput;

typedef struct {
    float hidden;      // after the embeddings, the attention output and the FFN
    float attention;   // on the attention probabilities, after the map
    float classifier;  // on the pooled output, before the classifier
    uint64_t seed;     // masks are a pure function of (seed, site, element)
    // Data parallelism: this forward's rows are rows row0.. of a global batch
    // padded to mask_seq tokens (0: this batch's own length), and elements
    // are numbered in that batch, so a shard draws one process's masks.
    long row0;
    int mask_seq;
} Dropout;

// Forward to logits.  dropout == NULL means inference (no dropout).
int bert_forward(Bert *model, const BertInput *in, const Dropout *dropout, Err *err);
// [B, T, H] last hidden states; NULL unless bert_output_all_tokens was on
// for the last forward (by default the last layer computes only the [CLS]
// rows, all the classification head reads).
const real *bert_hidden(const Bert *model);
void bert_output_all_tokens(Bert *model, int on);
const real *bert_pooled(const Bert *model);  // [B, H]
const real *bert_logits(const Bert *model);  // [B, C]

// Mean loss over the batch of the last forward: cross-entropy on labels[B]
// (num_labels > 1) or MSE on targets[B] (num_labels == 1).  Also stores
// dL/dlogits for bert_backward.
real bert_loss(Bert *model, const int *labels, const real *targets);
// The same for a multi-label head: the output map's loss of each row's C
// logits against targets[B, C] (1 for a true label, 0 otherwise), mean over
// the batch, into *loss.  Fails only when its scratch cannot be allocated.
int bert_loss_multilabel(Bert *model, OutputMap map, const real *targets, real *loss, Err *err);

// dL/dlogits of the last bert_loss *= scale: the batch is one share of a
// larger one (data parallelism, gradient accumulation) whose mean loss is
// the target.
void bert_scale_loss_grad(Bert *model, real scale);

// Backward of the last forward + loss; accumulates into the gradients.
// Fails (err says why) unless bert_loss ran after the last bert_forward.
int bert_backward(Bert *model, Err *err);
// Called by bert_backward as soon as layer `layer`'s gradients are final
// (layers L-1 down to 0), so that their all-reduce can start while the
// backward goes on (train/step.c); NULL turns it off.
typedef void (*BertLayerGradsHook)(void *ctx, int layer);
void bert_on_layer_grads(Bert *model, BertLayerGradsHook hook, void *ctx);

// [B, NH, T, T] attention probabilities of `layer` in the last forward (after
// the map, before dropout), or NULL when they are gone: inference keeps one
// layer's activations, so every layer is there only after bert_enable_grads,
// and the last layer's only with bert_output_all_tokens on.
const real *bert_attention_probs(const Bert *model, int layer);

// Attention sparsity counters: probabilities exactly 0 among real keys, for
// every (query, key) pair of real tokens.  Off by default (it costs a pass
// over the probabilities and makes the last layer compute every token).
void bert_count_zeros(Bert *model, int on);
int bert_counts_zeros(const Bert *model);
void bert_zero_counts(const Bert *model, const uint64_t **zeros, const uint64_t **total);  // [L] each
void bert_reset_zero_counts(Bert *model);

#endif
