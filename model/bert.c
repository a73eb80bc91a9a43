#include "model/bert.h"

#include <omp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "model/bf16.h"
#include "model/gemm_bf16.h"
#include "model/layers.h"
#include "model/precision.h"

// One layer's activations.  Training keeps one of these per layer (the
// backward needs them all); inference reuses a single one.
typedef struct {
    real *qkv;         // [N, 3H]
    real *scores;      // [B, NH, T, T] scaled Q K^T
    real *probs;       // [B, NH, T, T] after the attention map
    real *probs_drop;  // [B, NH, T, T] after attention dropout (training only)
    real *aux;         // [B, NH, T] per-row value the map's backward needs
    real *ctx;         // [N, H] heads merged
    real *attn_res;    // [N, H] x + dropout(ctx W_o + b): LayerNorm 1 input
    real *ln1_mean, *ln1_rstd;  // [N]
    real *ln1_out;     // [N, H]
    real *ffn_pre;     // [N, FF] before GELU
    real *ffn_act;     // [N, FF] after GELU
    real *ffn_res;     // [N, H] ln1_out + dropout(ffn_act W_2 + b): LayerNorm 2 input
    real *ln2_mean, *ln2_rstd;  // [N]
    real *ln2_out;     // [N, H] the layer's output
    uint8_t *keep_probs;  // [B, NH, T, T] dropout masks (training only)
    uint8_t *keep_attn;   // [N, H]
    uint8_t *keep_ffn;    // [N, H]
    // bf16 precision only: the bf16 GEMM inputs, kept for the backward's
    // dweight GEMMs.  ctx and ffn_act are GEMM-only inputs: in bf16, ctx's
    // float32 buffer is one scratch shared by every layer, ffn_act has none.
    bf16 *in_h;           // [N, H] the layer's input (QKV GEMM)
    bf16 *ctx_h;          // [N, H] attention output (output projection)
    bf16 *ln1_h;          // [N, H] ln1_out (FFN in)
    bf16 *act_h;          // [N, FF] ffn_act (FFN out)
} LayerActs;

struct Bert {
    BertConfig cfg;
    int max_batch, max_seq, nthreads;
    size_t param_offset[PT_COUNT], num_params;
    real *params, *grads;

    // activations, all listed in layout_activations
    int training_layout;  // one LayerActs per layer, masks and dropped probabilities
    void *act_memory, *mask_memory;
    real *emb_sum;                 // [N, H] word + position + type
    real *emb_mean, *emb_rstd;     // [N]
    real *emb_out;                 // [N, H] after LayerNorm and dropout: layer 0 input
    uint8_t *keep_emb;             // [N, H]
    LayerActs *layers;             // [L] when training_layout, else [1]
    real *cls_x;                   // [B, H] [CLS] rows of the last layer's input (last_layer_forward_cls)
    real *cls_in;                  // [B, H] the [CLS] rows of the last layer's output
    real *head_in;                 // [B, H] XLM-R only: cls_in after dropout, the pooler input
    real *pooled;                  // [B, H] tanh(pooler input W_p + b)
    real *pooled_drop;             // [B, H] classifier input
    uint8_t *keep_pooled;          // [B, H]
    uint8_t *keep_head_in;         // [B, H]
    real *logits;                  // [B, C]
    real *dlogits;                 // [B, C]
    real *attn_scratch;            // [nthreads, attention_scratch_floats(T)]

    // gradient work buffers (training only), listed in layout_grad_buffers
    void *grad_memory;
    real *d_x, *d_tmp, *d_qkv, *d_ctx, *d_ffn, *d_pooled;

    // the last forward's inputs, listed in layout_inputs with the counters
    void *input_memory, *counter_memory;
    int B, T;
    int *ids, *type_ids, *lengths;
    Dropout dropout;
    int training;
    int all_tokens;     // compute the last layer for every token, not only [CLS]
    int last_cls_only;  // how the last forward ran its last layer
    int loss_ready;     // bert_loss ran after the last forward: dlogits hold its gradient

    int count_zeros;
    uint64_t *zeros, *zero_total;  // [L]

    Precision precision;  // of the GEMMs (model/precision.h); fp32 in the double build
    // bf16 only: oneDNN's context, the bf16 copies of the GEMM weights
    // (layout_bf16_weights), the backward's bf16 dout (layout_bf16_buffers);
    // the first oneDNN failure of a pass.
    GemmContext *gemm;
    void *bf16_weight_memory, *bf16_buffer_memory;
    bf16 *weight_h[PT_COUNT];  // NULL but for GEMM_WEIGHTS
    bf16 *dout_h;                          // [N, max(3H, FF)]
    int gemm_failed;
    Err gemm_err;
    BertLayerGradsHook layer_grads_hook;  // bert_on_layer_grads (NULL: none)
    void *layer_grads_ctx;
    Profile *prof;  // bert_set_profile (NULL: no timing); the caller's
};

// ------------------------------------------------------------ parameters

// The config dimensions parameter shapes are made of.
typedef enum { DIM_NONE = 0, DIM_H, DIM_3H, DIM_FF, DIM_VOCAB, DIM_POS, DIM_TYPES, DIM_LABELS } Dim;

static int dim_size(const BertConfig *c, Dim d) {
    switch (d) {
    case DIM_NONE: return 0;
    case DIM_H: return c->hidden_size;
    case DIM_3H: return 3 * c->hidden_size;
    case DIM_FF: return c->intermediate_size;
    case DIM_VOCAB: return c->vocab_size;
    case DIM_POS: return c->max_position;
    case DIM_TYPES: return c->type_vocab_size;
    case DIM_LABELS: return c->num_labels;
    }
    return 0;
}

// One layer's parameter slices, as the forward and backward passes read
// them; layer_params fills each field from its PARAMS row.
typedef struct {
    real *qkv_w, *qkv_b, *out_w, *out_b, *ln1_w, *ln1_b, *in_w, *in_b, *ffn_w, *ffn_b, *ln2_w,
        *ln2_b;
    // The bf16 copies of the four GEMM weights (bf16 precision; else NULL):
    // not PARAMS rows, layer_params sets them from m->weight_h.
    const bf16 *qkv_wh, *out_wh, *in_wh, *ffn_wh;
} LayerParams;

// One row per parameter tensor: name, whether it is stored per layer, one
// layer's shape and, per layer, its LayerParams field.  Offsets
// (bert_build), sizes, the weight-decay groups (bert_param_info) and the
// per-layer slices (layer_params) come from here; weights/hf_model.c maps
// rows to HF names.
#define IN_LAYER(field) offsetof(LayerParams, field)
static const struct {
    const char *name;
    int per_layer;
    Dim rows, cols;      // cols DIM_NONE: a vector
    size_t layer_field;  // per_layer: offsetof(LayerParams, its field)
} PARAMS[PT_COUNT] = {
    [PT_WORD_EMB] = {"word_emb", 0, DIM_VOCAB, DIM_H},
    [PT_POS_EMB] = {"pos_emb", 0, DIM_POS, DIM_H},
    [PT_TYPE_EMB] = {"type_emb", 0, DIM_TYPES, DIM_H},
    [PT_EMB_LN_W] = {"emb_ln_w", 0, DIM_H, DIM_NONE},
    [PT_EMB_LN_B] = {"emb_ln_b", 0, DIM_H, DIM_NONE},
    [PT_QKV_W] = {"qkv_w", 1, DIM_3H, DIM_H, IN_LAYER(qkv_w)},
    [PT_QKV_B] = {"qkv_b", 1, DIM_3H, DIM_NONE, IN_LAYER(qkv_b)},
    [PT_ATTN_OUT_W] = {"attn_out_w", 1, DIM_H, DIM_H, IN_LAYER(out_w)},
    [PT_ATTN_OUT_B] = {"attn_out_b", 1, DIM_H, DIM_NONE, IN_LAYER(out_b)},
    [PT_ATTN_LN_W] = {"attn_ln_w", 1, DIM_H, DIM_NONE, IN_LAYER(ln1_w)},
    [PT_ATTN_LN_B] = {"attn_ln_b", 1, DIM_H, DIM_NONE, IN_LAYER(ln1_b)},
    [PT_FFN_IN_W] = {"ffn_in_w", 1, DIM_FF, DIM_H, IN_LAYER(in_w)},
    [PT_FFN_IN_B] = {"ffn_in_b", 1, DIM_FF, DIM_NONE, IN_LAYER(in_b)},
    [PT_FFN_OUT_W] = {"ffn_out_w", 1, DIM_H, DIM_FF, IN_LAYER(ffn_w)},
    [PT_FFN_OUT_B] = {"ffn_out_b", 1, DIM_H, DIM_NONE, IN_LAYER(ffn_b)},
    [PT_FFN_LN_W] = {"ffn_ln_w", 1, DIM_H, DIM_NONE, IN_LAYER(ln2_w)},
    [PT_FFN_LN_B] = {"ffn_ln_b", 1, DIM_H, DIM_NONE, IN_LAYER(ln2_b)},
    [PT_POOL_W] = {"pool_w", 0, DIM_H, DIM_H},
    [PT_POOL_B] = {"pool_b", 0, DIM_H, DIM_NONE},
    [PT_CLS_W] = {"cls_w", 0, DIM_LABELS, DIM_H},
    [PT_CLS_B] = {"cls_b", 0, DIM_LABELS, DIM_NONE},
};
#undef IN_LAYER

void bert_param_info(const BertConfig *c, ParamId id, ParamInfo *info) {
    info->name = PARAMS[id].name;
    info->per_layer = PARAMS[id].per_layer;
    info->rows = dim_size(c, PARAMS[id].rows);
    info->cols = dim_size(c, PARAMS[id].cols);
    // The vectors are exactly the biases and LayerNorm parameters: the
    // tensors transformers' Trainer exempts from weight decay.
    info->no_decay = PARAMS[id].cols == DIM_NONE;
}

size_t bert_param_slice_numel(const BertConfig *cfg, ParamId id) {
    ParamInfo info;
    bert_param_info(cfg, id, &info);
    return (size_t)info.rows * (size_t)(info.cols ? info.cols : 1);
}

size_t bert_param_numel(const BertConfig *cfg, ParamId id) {
    ParamInfo info;
    bert_param_info(cfg, id, &info);
    return bert_param_slice_numel(cfg, id) * (size_t)(info.per_layer ? cfg->num_layers : 1);
}

static int config_check(const BertConfig *c, Err *err) {
    if (c->vocab_size <= 0 || c->hidden_size <= 0 || c->num_layers <= 0 || c->num_heads <= 0 ||
        c->intermediate_size <= 0 || c->max_position <= 0 || c->type_vocab_size <= 0 ||
        c->num_labels <= 0)
        return err_set(err, "model config: sizes must be positive (vocab %d, hidden %d, layers %d, "
                            "heads %d, intermediate %d, positions %d, types %d, labels %d)",
                       c->vocab_size, c->hidden_size, c->num_layers, c->num_heads,
                       c->intermediate_size, c->max_position, c->type_vocab_size, c->num_labels);
    if (c->hidden_size % c->num_heads != 0)
        return err_set(err, "model config: hidden_size %d is not a multiple of num_attention_heads %d",
                       c->hidden_size, c->num_heads);
    if (c->position_offset < 0 || c->position_offset >= c->max_position)
        return err_set(err, "model config: position offset %d outside the %d positions",
                       c->position_offset, c->max_position);
    if (!(c->layer_norm_eps > 0))
        return err_set(err, "model config: layer_norm_eps must be positive");
    return 0;
}

// ------------------------------------------------------------ build / free

// Buffers are carved out of single allocations.  A layout function names
// every tensor of its buffers once, with its size: it runs twice, first with
// no memory to add up the bytes, then to hand out the pointers.  Each arena
// holds one element type, so every tensor is aligned for it.
typedef struct {
    char *memory;  // NULL while sizing
    size_t used;   // bytes
} Arena;

static void *carve(Arena *a, size_t bytes) {
    void *p = a->memory && bytes ? a->memory + a->used : NULL;
    a->used += bytes;
    return p;
}
// ptr = the next n elements of the arena (NULL when n == 0)
#define CARVE(arena, ptr, n) ((ptr) = carve((arena), sizeof *(ptr) * (size_t)(n)))

typedef void LayoutFn(Bert *m, Arena *first, Arena *second);

// Bytes a layout places in its two arenas; nothing is allocated.
static size_t layout_bytes(Bert *m, LayoutFn *layout) {
    Arena arenas[2] = {{0}};
    layout(m, &arenas[0], &arenas[1]);
    return arenas[0].used + arenas[1].used;
}

// Sizes the layout's two arenas, allocates each (zeroed) and places the
// tensors: *memory[0] and *memory[1] are the allocations to free (memory[1]
// is NULL for a layout that uses one arena).
static int alloc_layout(Bert *m, LayoutFn *layout, void **memory[2], const char *what, Err *err) {
    Arena arenas[2] = {{0}};
    layout(m, &arenas[0], &arenas[1]);
    for (int i = 0; i < 2; i++) {
        if (!memory[i]) continue;
        *memory[i] = NULL;
        if (arenas[i].used == 0) continue;
        *memory[i] = err_calloc(err, arenas[i].used, 1, what);
        if (!*memory[i]) return -1;
        arenas[i] = (Arena){*memory[i], 0};
    }
    layout(m, &arenas[0], &arenas[1]);
    return 0;
}

// Whether layer l's float32 ctx is layer 0's: in bf16 it only feeds the
// output projection, which reads its bf16 copy (LayerActs.ctx_h).  (The GELU
// output has no float32 buffer at all in bf16: ffn_activation_forward.)
static int shares_gemm_only_inputs(const Bert *m, int l) {
    return l > 0 && m->precision != PRECISION_FP32;
}

// Activations (reals) and dropout masks (bytes) for max_batch x max_seq
// tokens; with training_layout, every layer's, the masks and the dropped
// probabilities, else one reused layer and no masks.
static void layout_activations(Bert *m, Arena *acts, Arena *masks) {
    const BertConfig *c = &m->cfg;
    const size_t N = (size_t)m->max_batch * m->max_seq, H = c->hidden_size,
                 FF = c->intermediate_size, B = m->max_batch, T = m->max_seq, NH = c->num_heads,
                 C = c->num_labels;
    const size_t probs = B * NH * T * T, train = m->training_layout ? 1 : 0;
    const int slots = m->training_layout ? c->num_layers : 1;
    CARVE(acts, m->emb_sum, N * H);
    CARVE(acts, m->emb_mean, N);
    CARVE(acts, m->emb_rstd, N);
    CARVE(acts, m->emb_out, N * H);
    CARVE(masks, m->keep_emb, train * N * H);
    CARVE(acts, m->cls_x, B * H);
    CARVE(acts, m->cls_in, B * H);
    CARVE(acts, m->head_in, B * H);
    CARVE(acts, m->pooled, B * H);
    CARVE(acts, m->pooled_drop, B * H);
    CARVE(masks, m->keep_pooled, train * B * H);
    CARVE(masks, m->keep_head_in, train * B * H);
    CARVE(acts, m->logits, B * C);
    CARVE(acts, m->dlogits, B * C);
    CARVE(acts, m->attn_scratch, (size_t)m->nthreads * attention_scratch_floats((int)T));
    for (int l = 0; l < slots; l++) {
        LayerActs *a = &m->layers[l];
        CARVE(acts, a->qkv, N * 3 * H);
        CARVE(acts, a->scores, probs);
        CARVE(acts, a->probs, probs);
        CARVE(acts, a->probs_drop, train * probs);
        CARVE(masks, a->keep_probs, train * probs);
        CARVE(acts, a->aux, B * NH * T);
        if (shares_gemm_only_inputs(m, l))
            a->ctx = m->layers[0].ctx;
        else
            CARVE(acts, a->ctx, N * H);
        CARVE(acts, a->attn_res, N * H);
        CARVE(masks, a->keep_attn, train * N * H);
        CARVE(acts, a->ln1_mean, N);
        CARVE(acts, a->ln1_rstd, N);
        CARVE(acts, a->ln1_out, N * H);
        CARVE(acts, a->ffn_pre, N * FF);
        CARVE(acts, a->ffn_act, m->precision == PRECISION_FP32 ? N * FF : 0);  // bf16: act_h only
        CARVE(acts, a->ffn_res, N * H);
        CARVE(masks, a->keep_ffn, train * N * H);
        CARVE(acts, a->ln2_mean, N);
        CARVE(acts, a->ln2_rstd, N);
        CARVE(acts, a->ln2_out, N * H);
    }
}

// The backward's work buffers (reals); nothing in the second arena.
static void layout_grad_buffers(Bert *m, Arena *bufs, Arena *unused) {
    const size_t N = (size_t)m->max_batch * m->max_seq, H = m->cfg.hidden_size,
                 FF = m->cfg.intermediate_size, B = m->max_batch;
    CARVE(bufs, m->d_x, N * H);
    CARVE(bufs, m->d_tmp, N * H);
    CARVE(bufs, m->d_qkv, N * 3 * H);
    CARVE(bufs, m->d_ctx, N * H);
    CARVE(bufs, m->d_ffn, N * FF);
    CARVE(bufs, m->d_pooled, B * H);
}

// The copy of the last forward's input (ints) and the sparsity counters.
static void layout_inputs(Bert *m, Arena *ints, Arena *counters) {
    const size_t N = (size_t)m->max_batch * m->max_seq, L = m->cfg.num_layers;
    CARVE(ints, m->ids, N);
    CARVE(ints, m->type_ids, N);
    CARVE(ints, m->lengths, m->max_batch);
    CARVE(counters, m->zeros, L);
    CARVE(counters, m->zero_total, L);
}

// The GEMMs whose weights have a bf16 copy in bf16 precision: the four
// per-layer dense layers.  The head (pooler, classifier) stays float32: its
// GEMMs have B rows, not B x T, so bf16 would save nothing measurable, and
// float32 there keeps the logits and the head's gradients closer to float64
// (tests/test_bf16_model.c: bf16 there put classifier.bias at 7.6x PyTorch's
// distance on one golden batch).
static const ParamId GEMM_WEIGHTS[] = {PT_QKV_W, PT_ATTN_OUT_W, PT_FFN_IN_W, PT_FFN_OUT_W};
enum { NUM_GEMM_WEIGHTS = sizeof GEMM_WEIGHTS / sizeof GEMM_WEIGHTS[0] };

// bf16 precision: the GEMM weights' bf16 copies (one slab).
static void layout_bf16_weights(Bert *m, Arena *weights, Arena *unused) {
    for (int i = 0; i < NUM_GEMM_WEIGHTS; i++)
        CARVE(weights, m->weight_h[GEMM_WEIGHTS[i]], bert_param_numel(&m->cfg, GEMM_WEIGHTS[i]));
}

// bf16 precision: every layer slot's bf16 GEMM inputs and (when training)
// the backward's bf16 dout, one GEMM's at a time.
static void layout_bf16_buffers(Bert *m, Arena *bufs, Arena *unused) {
    const size_t N = (size_t)m->max_batch * m->max_seq, H = m->cfg.hidden_size,
                 FF = m->cfg.intermediate_size;
    const size_t widest = 3 * H > FF ? 3 * H : FF;
    const int slots = m->training_layout ? m->cfg.num_layers : 1;
    for (int l = 0; l < slots; l++) {
        LayerActs *a = &m->layers[l];
        CARVE(bufs, a->in_h, N * H);
        CARVE(bufs, a->ctx_h, N * H);
        CARVE(bufs, a->ln1_h, N * H);
        CARVE(bufs, a->act_h, N * FF);
    }
    CARVE(bufs, m->dout_h, m->training_layout ? N * widest : 0);
}

static void free_activations(Bert *m) {
    free(m->bf16_buffer_memory);
    m->bf16_buffer_memory = NULL;
    free(m->act_memory);
    free(m->mask_memory);
    free(m->layers);
    m->act_memory = NULL;
    m->mask_memory = NULL;
    m->layers = NULL;
}

static int alloc_activations(Bert *m, int training, Err *err) {
    free_activations(m);
    m->loss_ready = 0;  // the activations a loss was taken from are gone
    m->training_layout = training;
    m->layers = err_calloc(err, training ? (size_t)m->cfg.num_layers : 1, sizeof(LayerActs),
                           "layer activation table");
    if (!m->layers) return -1;
    if (alloc_layout(m, layout_activations, (void **[2]){&m->act_memory, &m->mask_memory},
                     "activations", err) != 0)
        return -1;
    if (m->precision == PRECISION_BF16)
        return alloc_layout(m, layout_bf16_buffers, (void **[2]){&m->bf16_buffer_memory, NULL},
                            "bf16 activations", err);
    return 0;
}

// The activations of layer l (inference reuses one set for every layer).
static LayerActs *layer_acts(Bert *m, int l) { return &m->layers[m->training_layout ? l : 0]; }

void bert_set_threads(int n) {
    omp_set_num_threads(n);
    openblas_set_num_threads(1);
}

Bert *bert_build(const BertConfig *cfg, int max_batch, int max_seq, Err *err) {
    if (config_check(cfg, err) != 0) return NULL;
    if (max_batch <= 0 || max_seq <= 0) {
        err_set(err, "model: batch %d x sequence %d must be positive", max_batch, max_seq);
        return NULL;
    }
    if (cfg->position_offset + max_seq > cfg->max_position) {
        err_set(err, "model: sequences of %d tokens need %d positions, the checkpoint has %d",
                max_seq, cfg->position_offset + max_seq, cfg->max_position);
        return NULL;
    }
    Bert *m = err_calloc(err, 1, sizeof(Bert), "model");
    if (!m) return NULL;
    m->cfg = *cfg;
    m->max_batch = max_batch;
    m->max_seq = max_seq;
    m->nthreads = omp_get_max_threads();
    size_t offset = 0;
    for (int id = 0; id < PT_COUNT; id++) {
        m->param_offset[id] = offset;
        offset += bert_param_numel(cfg, (ParamId)id);
    }
    m->num_params = offset;
    m->params = err_calloc(err, m->num_params, sizeof(real), "parameters");
    if (!m->params ||
        alloc_layout(m, layout_inputs, (void **[2]){&m->input_memory, &m->counter_memory},
                     "input copy", err) != 0 ||
        alloc_activations(m, 0, err) != 0) {
        bert_free(m);
        return NULL;
    }
    return m;
}

void bert_free(Bert *m) {
    if (!m) return;
    free_activations(m);
#if !REAL_IS_DOUBLE
    free(m->bf16_weight_memory);
    gemm_context_free(m->gemm);
#endif
    free(m->params);
    free(m->grads);
    free(m->grad_memory);
    free(m->input_memory);
    free(m->counter_memory);
    free(m);
}

const BertConfig *bert_config(const Bert *m) { return &m->cfg; }
int bert_max_batch(const Bert *m) { return m->max_batch; }
int bert_max_seq(const Bert *m) { return m->max_seq; }
void bert_set_attn(Bert *m, AttnMap attn) { m->cfg.attn = attn; }
void bert_set_profile(Bert *m, Profile *prof) { m->prof = prof; }
Profile *bert_profile(const Bert *m) { return m->prof; }

real *bert_params(Bert *m, size_t *count) {
    if (count) *count = m->num_params;
    return m->params;
}

real *bert_param(Bert *m, ParamId id) { return m->params + m->param_offset[id]; }

int bert_enable_grads(Bert *m, Err *err) {
    if (m->grads) return 0;
    if (alloc_activations(m, 1, err) != 0) return -1;
    free(m->grad_memory);
    if (alloc_layout(m, layout_grad_buffers, (void **[2]){&m->grad_memory, NULL},
                     "gradient work buffers", err) != 0)
        return -1;
    // Set last: m->grads means everything the backward needs is there.
    m->grads = err_calloc(err, m->num_params, sizeof(real), "gradients");
    return m->grads ? 0 : -1;
}

int bert_memory_bytes(const BertConfig *cfg, int batch, int T, int training, Precision precision,
                      size_t *bytes, Err *err) {
    if (config_check(cfg, err) != 0) return -1;
    size_t params = 0;
    for (int id = 0; id < PT_COUNT; id++) params += bert_param_numel(cfg, (ParamId)id);
    // The layouts that allocate, run on a probe without their buffers.
    Bert probe = {.cfg = *cfg, .max_batch = batch, .max_seq = T,
                  .nthreads = omp_get_max_threads(), .training_layout = training,
                  .precision = precision};
    probe.layers = err_calloc(err, training ? (size_t)cfg->num_layers : 1, sizeof(LayerActs),
                              "layer activation table");
    if (!probe.layers) return -1;
    *bytes = params * sizeof(real) * (training ? 2 : 1) + layout_bytes(&probe, layout_activations) +
             layout_bytes(&probe, layout_inputs) +
             (training ? layout_bytes(&probe, layout_grad_buffers) : 0);
    if (precision == PRECISION_BF16)
        *bytes += layout_bytes(&probe, layout_bf16_weights) +
                  layout_bytes(&probe, layout_bf16_buffers);
    free(probe.layers);
    return 0;
}

#if !REAL_IS_DOUBLE
int bert_set_precision(Bert *m, Precision p, Err *err) {
    if (p == m->precision) return 0;
    if (p == PRECISION_BF16 && !m->gemm) {
        m->gemm = gemm_context_build(GEMM_M_EXACT, err);
        if (!m->gemm) return -1;
    }
    free(m->bf16_weight_memory);
    m->bf16_weight_memory = NULL;
    memset(m->weight_h, 0, sizeof m->weight_h);
    m->precision = p;
    if (p == PRECISION_BF16 &&
        alloc_layout(m, layout_bf16_weights, (void **[2]){&m->bf16_weight_memory, NULL},
                     "bf16 weight copies", err) != 0)
        goto fail;
    // The activation layouts depend on the precision (shares_gemm_only_inputs).
    if (alloc_activations(m, m->training_layout, err) != 0) goto fail;
    bert_sync_weights(m);
    return 0;
fail:
    m->precision = PRECISION_FP32;
    return -1;
}

bf16 *bert_param_bf16(Bert *m, ParamId id) {
    return m->precision == PRECISION_BF16 && (unsigned)id < PT_COUNT ? m->weight_h[id] : NULL;
}

void bert_sync_weights(Bert *m) {
    if (m->precision != PRECISION_BF16) return;
    PROFILE_SCOPE(m->prof, PHASE_WEIGHT_REFRESH) {
        for (int i = 0; i < NUM_GEMM_WEIGHTS; i++) {
            ParamInfo info;
            bert_param_info(&m->cfg, GEMM_WEIGHTS[i], &info);
            size_t rows = bert_param_numel(&m->cfg, GEMM_WEIGHTS[i]) / (size_t)info.cols;
            float_to_bf16_rows(m->weight_h[GEMM_WEIGHTS[i]], (size_t)info.cols,
                               bert_param(m, GEMM_WEIGHTS[i]), (size_t)info.cols, rows,
                               (size_t)info.cols);
        }
    }
}
#endif

Precision bert_precision(const Bert *m) { return m->precision; }

real *bert_grads(Bert *m, size_t *count) {
    if (count) *count = m->grads ? m->num_params : 0;
    return m->grads;
}

real *bert_grad(Bert *m, ParamId id) { return m->grads ? m->grads + m->param_offset[id] : NULL; }

void bert_zero_grads(Bert *m) {
    if (m->grads) memset(m->grads, 0, sizeof(real) * m->num_params);
}

// ---------------------------------------------------------------- forward

// The bf16 copy of GEMM weight id, layer l's slice (NULL in fp32).
static const bf16 *weight_h(const Bert *m, ParamId id, int l) {
    if (!m->weight_h[id]) return NULL;
    return m->weight_h[id] + (size_t)l * bert_param_slice_numel(&m->cfg, id);
}

// Layer l's slice of every per-layer tensor (params or grads), each stored
// in the field its PARAMS row names.
static LayerParams layer_params(Bert *m, real *base, int l) {
    LayerParams p = {0};
    for (int id = 0; id < PT_COUNT; id++)
        if (PARAMS[id].per_layer)
            *(real **)((char *)&p + PARAMS[id].layer_field) =
                base + m->param_offset[id] + (size_t)l * bert_param_slice_numel(&m->cfg, (ParamId)id);
    p.qkv_wh = weight_h(m, PT_QKV_W, l);
    p.out_wh = weight_h(m, PT_ATTN_OUT_W, l);
    p.in_wh = weight_h(m, PT_FFN_IN_W, l);
    p.ffn_wh = weight_h(m, PT_FFN_OUT_W, l);
    return p;
}

// The pooler's input [B, H]: the [CLS] rows, or their dropped-out copy for
// XLM-R's head.
static real *pooler_input(const Bert *m) {
    return m->cfg.head == HEAD_XLMR ? m->head_in : m->cls_in;
}

// Dropout sites: distinct streams per place in the network.
enum { SITE_EMB = 0, SITE_POOLED = 1, SITE_HEAD_IN = 2, SITE_LAYER = 8 };
enum { SITE_PROBS = 0, SITE_ATTN = 1, SITE_FFN = 2, SITES_PER_LAYER = 3 };
static uint64_t layer_site(int l, int which) {
    return SITE_LAYER + (uint64_t)l * SITES_PER_LAYER + which;
}

static int check_input(const Bert *m, const BertInput *in, Err *err) {
    const BertConfig *c = &m->cfg;
    if (in->batch <= 0 || in->batch > m->max_batch || in->seq <= 0 || in->seq > m->max_seq)
        return err_set(err, "model input: batch %d x sequence %d outside the built %d x %d",
                       in->batch, in->seq, m->max_batch, m->max_seq);
    for (int b = 0; b < in->batch; b++) {
        if (in->lengths[b] < 1 || in->lengths[b] > in->seq)
            return err_set(err, "model input: row %d has length %d, must be in [1, %d]", b,
                           in->lengths[b], in->seq);
        for (int t = 0; t < in->seq; t++) {
            int n = b * in->seq + t;
            if (in->ids[n] < 0 || in->ids[n] >= c->vocab_size)
                return err_set(err, "model input: row %d position %d: token id %d outside vocab of %d",
                               b, t, in->ids[n], c->vocab_size);
            if (in->type_ids[n] < 0 || in->type_ids[n] >= c->type_vocab_size)
                return err_set(err, "model input: row %d position %d: token type %d outside %d types",
                               b, t, in->type_ids[n], c->type_vocab_size);
        }
    }
    return 0;
}

// Dropout on x [B, seq, inner]: seq is T (every token) or 1 (one row per
// sequence); elements numbered in the global batch (Dropout.row0, mask_seq).
static void maybe_dropout(real *x, uint8_t *keep, int seq, int inner, float p, const Bert *m,
                          uint64_t site) {
    if (!m->training || p <= 0) return;
    const int mask_seq = seq == 1 ? 1 : m->dropout.mask_seq ? m->dropout.mask_seq : m->T;
    const DropoutFrame frame = {m->dropout.row0, seq, mask_seq, inner};
    PROFILE_SCOPE(m->prof, PHASE_DROPOUT)
        dropout_forward_framed(x, keep, (long)m->B * seq * inner, p, m->dropout.seed, site, &frame);
}

// out [B, H] = rows b * T of in [B * T, H]: the [CLS] rows.  out may be in
// (the rows move down in place).
static void take_cls_rows(real *out, const real *in, int B, int T, int H) {
    for (int b = 0; b < B; b++)
        memmove(out + (size_t)b * H, in + (size_t)b * T * H, sizeof(real) * H);
}

// The inverse, in place: x [B, H] becomes x [B * T, H] with row b at b * T
// and zeros in every other row.  Rows move up from the last, so none is
// overwritten before it has moved.
static void spread_cls_rows(real *x, int B, int T, int H) {
    for (int b = B - 1; b >= 0; b--) {
        memmove(x + (size_t)b * T * H, x + (size_t)b * H, sizeof(real) * H);
        memset(x + ((size_t)b * T + 1) * H, 0, sizeof(real) * (size_t)(T - 1) * H);
    }
}

// ------------------------------------- dense layers in the model's precision
// fp32: linear_forward / linear_backward (OpenBLAS), bit for bit the
// reference path.  bf16: the GEMM inputs are rounded to bf16 (weights by
// bert_sync_weights, activations here), float32 accumulation and outputs,
// biases and dbias in float32.  A oneDNN failure is kept in m->gemm_err and
// returned by the pass (gemm_pass_status).

#if !REAL_IS_DOUBLE
static void note_gemm_failure(Bert *m, int rc, const Err *err) {
    if (rc != 0 && !m->gemm_failed) {
        m->gemm_failed = 1;
        m->gemm_err = *err;
    }
}
#endif

// out [R, C] = in [R, K] . weight^T + bias.  bf16: in is first rounded into
// in_h [R, K], which the backward's dweight GEMM reads again; in == NULL
// means in_h already holds the input.
static void dense_forward(Bert *m, real *out, const real *in, bf16 *in_h, const real *weight,
                          const bf16 *weight_h, const real *bias, int R, int K, int C) {
#if !REAL_IS_DOUBLE
    if (m->precision == PRECISION_BF16) {
        Err err;
        int rc = 0;
        if (in)
            PROFILE_SCOPE(m->prof, PHASE_BF16_CONVERT)
                float_to_bf16_rows(in_h, (size_t)K, in, (size_t)K, (size_t)R, (size_t)K);
        PROFILE_SCOPE(m->prof, PHASE_GEMM_FWD)
            rc = linear_forward_bf16(m->gemm, out, in_h, weight_h, bias, R, K, C, &err);
        note_gemm_failure(m, rc, &err);
        return;
    }
#endif
    PROFILE_SCOPE(m->prof, PHASE_GEMM_FWD) linear_forward(out, in, weight, bias, R, K, C);
}

// Backward of dense_forward (linear_backward's contract).  bf16: dout is
// rounded once into m->dout_h for both GEMMs; dbias sums the float32 dout.
static void dense_backward(Bert *m, real *din, real *dweight, real *dbias, const real *dout,
                           const real *in, const bf16 *in_h, const real *weight,
                           const bf16 *weight_h, int R, int K, int C, int din_accumulate) {
#if !REAL_IS_DOUBLE
    if (m->precision == PRECISION_BF16) {
        Err err;
        int rc = 0;
        PROFILE_SCOPE(m->prof, PHASE_BF16_CONVERT)
            float_to_bf16_rows(m->dout_h, (size_t)C, dout, (size_t)C, (size_t)R, (size_t)C);
        PROFILE_SCOPE(m->prof, PHASE_GEMM_BWD)
            rc = linear_backward_bf16(m->gemm, din, dweight, dbias, dout, m->dout_h, in_h,
                                      weight_h, R, K, C, din_accumulate, &err);
        note_gemm_failure(m, rc, &err);
        return;
    }
#endif
    PROFILE_SCOPE(m->prof, PHASE_GEMM_BWD)
        linear_backward(din, dweight, dbias, dout, in, weight, R, K, C, din_accumulate);
}

// The QKV projection x [N, H] -> a->qkv [N, 3H] (Q, K, V columns).  In
// bf16, V always runs from bf16 inputs; Q and K do only where the map is
// smooth in its scores (softmax; AttnMapInfo.sparse), and otherwise stay
// float32 from the float32 master weights, because bf16 rounding there moves
// (query, key) pairs across a sparse map's threshold.  The input is rounded
// into in_h either way, for the bf16 GEMMs of the backward.
static void qkv_forward(Bert *m, LayerActs *a, const real *x, const LayerParams *p, int N, int H) {
#if !REAL_IS_DOUBLE
    if (m->precision == PRECISION_BF16) {
        PROFILE_SCOPE(m->prof, PHASE_BF16_CONVERT)
            float_to_bf16_rows(a->in_h, (size_t)H, x, (size_t)H, (size_t)N, (size_t)H);
        const int f32_cols = attn_map_is_sparse(m->cfg.attn.kind) ? 2 * H : 0;  // Q and K, or none
        Err err;
        int rc = 0;
        PROFILE_SCOPE(m->prof, PHASE_GEMM_FWD) {
            if (f32_cols) linear_forward_strided(a->qkv, 3 * H, x, p->qkv_w, p->qkv_b, N, H, f32_cols);
            rc = linear_forward_bf16_strided(m->gemm, a->qkv + f32_cols, 3 * H, a->in_h,
                                             p->qkv_wh + (size_t)f32_cols * H, p->qkv_b + f32_cols,
                                             N, H, 3 * H - f32_cols, &err);
        }
        note_gemm_failure(m, rc, &err);
        return;
    }
#endif
    PROFILE_SCOPE(m->prof, PHASE_GEMM_FWD) linear_forward(a->qkv, x, p->qkv_w, p->qkv_b, N, H, 3 * H);
}

// GELU of a->ffn_pre [n], the FFN-out GEMM's input: into a->ffn_act, or in
// bf16 straight into a->act_h (convert-on-write, no float32 copy).  Returns
// dense_forward's `in` (NULL: act_h holds it).
static const real *ffn_activation_forward(Bert *m, LayerActs *a, long n) {
#if !REAL_IS_DOUBLE
    if (m->precision == PRECISION_BF16) {
        gelu_forward_bf16(a->act_h, a->ffn_pre, n);
        return NULL;
    }
#endif
    gelu_forward(a->ffn_act, a->ffn_pre, n);
    return a->ffn_act;
}

// Ends a pass: -1 with the first oneDNN failure since the pass began.
static int gemm_pass_status(Bert *m, const char *pass, Err *err) {
    if (!m->gemm_failed) return 0;
    m->gemm_failed = 0;
    return err_set(err, "model %s (bf16): %s", pass, m->gemm_err.msg);
}

// Only the [CLS] row of the last layer reaches the head, so unless every
// token's output is wanted (or attention zeros are being counted), the last
// layer runs its queries and everything after attention on the [CLS] rows
// only: about a seventh of the work of a forward and backward.  Its output
// is then [B, H] instead of [B * T, H].
static int cls_only_layer(const Bert *m, int l) {
    return m->last_cls_only && l == m->cfg.num_layers - 1;
}

// Rows per sequence in the last layer's output (and its gradient): 1 when it
// ran on [CLS] rows only, else T.
static int last_rows_per_seq(const Bert *m) { return m->last_cls_only ? 1 : m->T; }

// What follows attention in a layer, over R rows (all tokens, or the [CLS]
// rows of the last layer): output projection, dropout, residual, LayerNorm,
// FFN, dropout, residual, LayerNorm.  ctx [R, H] and x [R, H] (the layer's
// input rows) in; a->ln2_out [R, H] out.
static void post_attention_forward(Bert *m, LayerActs *a, const LayerParams *p, int l,
                                   const real *ctx, const real *x, int R) {
    const BertConfig *c = &m->cfg;
    const int H = c->hidden_size, FF = c->intermediate_size;
    const long RH = (long)R * H;
    dense_forward(m, a->attn_res, ctx, a->ctx_h, p->out_w, p->out_wh, p->out_b,
                  R, H, H);
    maybe_dropout(a->attn_res, a->keep_attn, R / m->B, H, m->dropout.hidden, m,
                  layer_site(l, SITE_ATTN));
    PROFILE_SCOPE(m->prof, PHASE_ELEMENTWISE) residual_forward(a->attn_res, x, RH);
    PROFILE_SCOPE(m->prof, PHASE_LAYERNORM)
        layernorm_forward(a->ln1_out, a->ln1_mean, a->ln1_rstd, a->attn_res, p->ln1_w, p->ln1_b,
                          R, H, c->layer_norm_eps);
    dense_forward(m, a->ffn_pre, a->ln1_out, a->ln1_h, p->in_w, p->in_wh, p->in_b, R, H, FF);
    const real *act = NULL;
    PROFILE_SCOPE(m->prof, PHASE_GELU) act = ffn_activation_forward(m, a, (long)R * FF);
    dense_forward(m, a->ffn_res, act, a->act_h, p->ffn_w, p->ffn_wh, p->ffn_b, R, FF, H);
    maybe_dropout(a->ffn_res, a->keep_ffn, R / m->B, H, m->dropout.hidden, m,
                  layer_site(l, SITE_FFN));
    PROFILE_SCOPE(m->prof, PHASE_ELEMENTWISE) residual_forward(a->ffn_res, a->ln1_out, RH);
    PROFILE_SCOPE(m->prof, PHASE_LAYERNORM)
        layernorm_forward(a->ln2_out, a->ln2_mean, a->ln2_rstd, a->ffn_res, p->ln2_w, p->ln2_b,
                          R, H, c->layer_norm_eps);
}

// post_attention_forward of the last layer on its [CLS] rows.  Attention
// (cls_only) left the [CLS] queries' context in rows b * T of a->ctx; they
// move to its first B rows, the backward's input there.  x [B * T, H] is the
// layer's input; its [CLS] rows (cls_x) feed the residual.  a->ln2_out [B, H].
static void last_layer_forward_cls(Bert *m, LayerActs *a, const LayerParams *p, int l,
                                   const real *x) {
    const int B = m->B, T = m->T, H = m->cfg.hidden_size;
    PROFILE_SCOPE(m->prof, PHASE_ELEMENTWISE) {
        take_cls_rows(a->ctx, a->ctx, B, T, H);
        take_cls_rows(m->cls_x, x, B, T, H);
    }
    post_attention_forward(m, a, p, l, a->ctx, m->cls_x, B);
}

// One encoder layer: x [B * T, H] in, the layer's output (a->ln2_out) out.
static const real *layer_forward(Bert *m, int l, const real *x, AttentionDims *dims) {
    const int N = m->B * m->T, H = m->cfg.hidden_size;
    LayerActs *a = layer_acts(m, l);
    LayerParams p = layer_params(m, m->params, l);
    qkv_forward(m, a, x, &p, N, H);
    dims->site = layer_site(l, SITE_PROBS);
    dims->cls_only = cls_only_layer(m, l);
    attention_forward(a->ctx, a->scores, a->probs, a->probs_drop, a->keep_probs, a->aux, a->qkv,
                      dims, m->count_zeros ? &m->zeros[l] : NULL,
                      m->count_zeros ? &m->zero_total[l] : NULL);
    if (dims->cls_only)
        last_layer_forward_cls(m, a, &p, l, x);
    else
        post_attention_forward(m, a, &p, l, a->ctx, x, N);
    return a->ln2_out;
}

// The classification head on the [CLS] rows of the last layer's output out:
// (XLM-R: dropout,) pooler dense + tanh, dropout, classifier -> logits.
static void head_forward(Bert *m, const real *out) {
    const BertConfig *c = &m->cfg;
    const int B = m->B, H = c->hidden_size, C = c->num_labels;
    PROFILE_SCOPE(m->prof, PHASE_HEAD_LOSS) {
        take_cls_rows(m->cls_in, out, B, last_rows_per_seq(m), H);
        if (c->head == HEAD_XLMR) memcpy(m->head_in, m->cls_in, sizeof(real) * B * H);
    }
    if (c->head == HEAD_XLMR)
        maybe_dropout(m->head_in, m->keep_head_in, 1, H, m->dropout.classifier, m,
                      SITE_HEAD_IN);
    PROFILE_SCOPE(m->prof, PHASE_GEMM_FWD)
        linear_forward(m->pooled, pooler_input(m), bert_param(m, PT_POOL_W),
                       bert_param(m, PT_POOL_B), B, H, H);
    PROFILE_SCOPE(m->prof, PHASE_HEAD_LOSS) {
        for (long i = 0; i < (long)B * H; i++) m->pooled[i] = tanh(m->pooled[i]);
        memcpy(m->pooled_drop, m->pooled, sizeof(real) * B * H);
    }
    maybe_dropout(m->pooled_drop, m->keep_pooled, 1, H, m->dropout.classifier, m,
                  SITE_POOLED);
    PROFILE_SCOPE(m->prof, PHASE_GEMM_FWD)
        linear_forward(m->logits, m->pooled_drop, bert_param(m, PT_CLS_W),
                       bert_param(m, PT_CLS_B), B, H, C);
}

static AttentionDims attention_dims(Bert *m) {
    const BertConfig *c = &m->cfg;
    return (AttentionDims){.B = m->B, .T = m->T, .H = c->hidden_size, .NH = c->num_heads,
                           .lengths = m->lengths, .map = c->attn,
                           .dropout = m->training ? m->dropout.attention : 0.0f,
                           .seed = m->dropout.seed, .row0 = m->dropout.row0,
                           .mask_seq = m->dropout.mask_seq, .scratch = m->attn_scratch,
                           .scratch_stride = attention_scratch_floats(m->max_seq),
                           .prof = m->prof};
}

int bert_forward(Bert *m, const BertInput *in, const Dropout *dropout, Err *err) {
    m->loss_ready = 0;
    if (check_input(m, in, err) != 0) return -1;
    const BertConfig *c = &m->cfg;
    const int B = in->batch, T = in->seq, N = B * T, H = c->hidden_size;
    if (dropout && !m->grads)
        return err_set(err, "model: training forward (dropout) needs bert_enable_grads first");
    m->B = B;
    m->T = T;
    m->training = dropout != NULL;
    m->dropout = dropout ? *dropout : (Dropout){0};
    m->last_cls_only = !m->all_tokens && !m->count_zeros;
    memcpy(m->ids, in->ids, sizeof(int) * N);
    memcpy(m->type_ids, in->type_ids, sizeof(int) * N);
    memcpy(m->lengths, in->lengths, sizeof(int) * B);

    PROFILE_SCOPE(m->prof, PHASE_EMBEDDINGS)
        embeddings_forward(m->emb_sum, m->ids, m->type_ids, bert_param(m, PT_WORD_EMB),
                           bert_param(m, PT_POS_EMB), bert_param(m, PT_TYPE_EMB), B, T, H,
                           c->position_offset);
    PROFILE_SCOPE(m->prof, PHASE_LAYERNORM)
        layernorm_forward(m->emb_out, m->emb_mean, m->emb_rstd, m->emb_sum,
                          bert_param(m, PT_EMB_LN_W), bert_param(m, PT_EMB_LN_B), N, H,
                          c->layer_norm_eps);
    maybe_dropout(m->emb_out, m->keep_emb, T, H, m->dropout.hidden, m, SITE_EMB);
    AttentionDims dims = attention_dims(m);
    const real *x = m->emb_out;
    for (int l = 0; l < c->num_layers; l++) x = layer_forward(m, l, x, &dims);
    head_forward(m, x);
    return gemm_pass_status(m, "forward", err);
}

const real *bert_hidden(const Bert *m) {
    if (m->last_cls_only) return NULL;
    return m->layers[m->training_layout ? m->cfg.num_layers - 1 : 0].ln2_out;
}

void bert_output_all_tokens(Bert *m, int on) { m->all_tokens = on; }

const real *bert_attention_probs(const Bert *m, int layer) {
    const int L = m->cfg.num_layers;
    if (layer < 0 || layer >= L || (!m->training_layout && layer != L - 1)) return NULL;
    if (layer == L - 1 && m->last_cls_only) return NULL;
    return layer_acts((Bert *)m, layer)->probs;
}
const real *bert_pooled(const Bert *m) { return m->pooled; }
const real *bert_logits(const Bert *m) { return m->logits; }

// ------------------------------------------------------------------- loss

real bert_loss(Bert *m, const int *labels, const real *targets) {
    const int B = m->B, C = m->cfg.num_labels;
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const real *z = m->logits + (size_t)b * C;
        real *dz = m->dlogits + (size_t)b * C;
        if (C == 1) {
            real diff = z[0] - targets[b];
            total += (double)diff * diff;
            dz[0] = 2.0f * diff / B;
            continue;
        }
        real zmax = z[0];
        for (int k = 1; k < C; k++) zmax = z[k] > zmax ? z[k] : zmax;
        double sum = 0.0;
        for (int k = 0; k < C; k++) sum += exp((double)(z[k] - zmax));
        total += log(sum) + zmax - z[labels[b]];
        for (int k = 0; k < C; k++)
            dz[k] = (real)(exp((double)(z[k] - zmax)) / sum - (k == labels[b])) / B;
    }
    m->loss_ready = 1;
    return (real)(total / B);
}

// The multi-label head's loss: the output map's row loss (model/output_map.c)
// over each row's C logits, averaged over the batch like bert_loss.
int bert_loss_multilabel(Bert *m, OutputMap map, const real *targets, real *loss, Err *err) {
    const int B = m->B, C = m->cfg.num_labels;
    real *scratch =
        err_calloc(err, (size_t)output_map_scratch(C), sizeof(real), "output map scratch");
    if (!scratch) return -1;
    double total = 0.0;
    for (int b = 0; b < B; b++)
        total += output_map_loss(map, m->logits + (size_t)b * C, targets + (size_t)b * C,
                                 m->dlogits + (size_t)b * C, C, 1.0f / (real)B, scratch);
    free(scratch);
    m->loss_ready = 1;
    *loss = (real)(total / B);
    return 0;
}

void bert_scale_loss_grad(Bert *m, real scale) {
    for (long i = 0; i < (long)m->B * m->cfg.num_labels; i++) m->dlogits[i] *= scale;
}

// --------------------------------------------------------------- backward

static void maybe_dropout_backward(real *d, const uint8_t *keep, long n, float p, const Bert *m) {
    if (m->training && p > 0)
        PROFILE_SCOPE(m->prof, PHASE_DROPOUT) dropout_backward(d, d, keep, n, p);
}

// Backward of head_forward: dlogits in; m->d_x out, dL/d(the last layer's
// output), zero but on the [CLS] rows.
static void head_backward(Bert *m) {
    const BertConfig *c = &m->cfg;
    const int B = m->B, H = c->hidden_size, C = c->num_labels;
    PROFILE_SCOPE(m->prof, PHASE_GEMM_BWD)
        linear_backward(m->d_pooled, bert_grad(m, PT_CLS_W), bert_grad(m, PT_CLS_B), m->dlogits,
                        m->pooled_drop, bert_param(m, PT_CLS_W), B, H, C, 0);
    maybe_dropout_backward(m->d_pooled, m->keep_pooled, (long)B * H, m->dropout.classifier, m);
    PROFILE_SCOPE(m->prof, PHASE_HEAD_LOSS)
        for (long i = 0; i < (long)B * H; i++) m->d_pooled[i] *= 1.0f - m->pooled[i] * m->pooled[i];
    PROFILE_SCOPE(m->prof, PHASE_GEMM_BWD)
        linear_backward(m->d_x, bert_grad(m, PT_POOL_W), bert_grad(m, PT_POOL_B), m->d_pooled,
                        pooler_input(m), bert_param(m, PT_POOL_W), B, H, H, 0);
    if (c->head == HEAD_XLMR)
        maybe_dropout_backward(m->d_x, m->keep_head_in, (long)B * H, m->dropout.classifier, m);
    PROFILE_SCOPE(m->prof, PHASE_HEAD_LOSS) spread_cls_rows(m->d_x, B, last_rows_per_seq(m), H);
}

// Backward of post_attention_forward over R rows.  d_out [R, H] is dL/d
// (layer output rows); writes d_ctx [R, H] and d_x [R, H], the residual
// part of dL/d(layer input rows).  d_x may alias d_out.
static void post_attention_backward(Bert *m, LayerActs *a, const LayerParams *p,
                                    const LayerParams *dp, const real *ctx, int R,
                                    const real *d_out, real *d_ctx, real *d_x) {
    const int H = m->cfg.hidden_size, FF = m->cfg.intermediate_size;
    const long RH = (long)R * H;
    const size_t bytes = sizeof(real) * (size_t)RH;
    // LayerNorm 2 -> dL/d(ffn_res) in d_tmp; the residual passes it to ln1_out.
    PROFILE_SCOPE(m->prof, PHASE_ELEMENTWISE) memset(m->d_tmp, 0, bytes);
    PROFILE_SCOPE(m->prof, PHASE_LAYERNORM)
        layernorm_backward(m->d_tmp, dp->ln2_w, dp->ln2_b, d_out, a->ffn_res, p->ln2_w,
                           a->ln2_mean, a->ln2_rstd, R, H);
    PROFILE_SCOPE(m->prof, PHASE_ELEMENTWISE)
        memcpy(d_x, m->d_tmp, bytes);  // dL/d(ln1_out), residual part
    maybe_dropout_backward(m->d_tmp, a->keep_ffn, RH, m->dropout.hidden, m);
    dense_backward(m, m->d_ffn, dp->ffn_w, dp->ffn_b, m->d_tmp, a->ffn_act, a->act_h, p->ffn_w,
                   p->ffn_wh, R, FF, H, 0);
    PROFILE_SCOPE(m->prof, PHASE_GELU) gelu_backward(m->d_ffn, a->ffn_pre, m->d_ffn, (long)R * FF);
    dense_backward(m, d_x, dp->in_w, dp->in_b, m->d_ffn, a->ln1_out, a->ln1_h, p->in_w, p->in_wh,
                   R, H, FF, 1);
    // LayerNorm 1 -> dL/d(attn_res) in d_tmp; the residual passes it to x.
    PROFILE_SCOPE(m->prof, PHASE_ELEMENTWISE) memset(m->d_tmp, 0, bytes);
    PROFILE_SCOPE(m->prof, PHASE_LAYERNORM)
        layernorm_backward(m->d_tmp, dp->ln1_w, dp->ln1_b, d_x, a->attn_res, p->ln1_w,
                           a->ln1_mean, a->ln1_rstd, R, H);
    PROFILE_SCOPE(m->prof, PHASE_ELEMENTWISE) memcpy(d_x, m->d_tmp, bytes);  // dL/dx, residual part
    maybe_dropout_backward(m->d_tmp, a->keep_attn, RH, m->dropout.hidden, m);
    dense_backward(m, d_ctx, dp->out_w, dp->out_b, m->d_tmp, ctx, a->ctx_h, p->out_w, p->out_wh,
                   R, H, H, 0);
}

// Backward of last_layer_forward_cls: m->d_x [B, H] in (dL/d output rows);
// m->d_ctx and m->d_x [B * T, H] out, zero but on the [CLS] rows, as the
// all-token path leaves them.
static void last_layer_backward_cls(Bert *m, LayerActs *a, const LayerParams *p,
                                    const LayerParams *dp) {
    const int B = m->B, T = m->T, H = m->cfg.hidden_size;
    post_attention_backward(m, a, p, dp, a->ctx, B, m->d_x, m->d_ctx, m->d_x);
    PROFILE_SCOPE(m->prof, PHASE_ELEMENTWISE) {
        spread_cls_rows(m->d_ctx, B, T, H);
        spread_cls_rows(m->d_x, B, T, H);
    }
}

// Backward of layer_forward: m->d_x holds dL/d(layer output) and becomes
// dL/d(layer input).
static void layer_backward(Bert *m, int l, AttentionDims *dims) {
    const int N = m->B * m->T, H = m->cfg.hidden_size;
    LayerActs *a = layer_acts(m, l);
    LayerParams p = layer_params(m, m->params, l), dp = layer_params(m, m->grads, l);
    const real *x = l > 0 ? layer_acts(m, l - 1)->ln2_out : m->emb_out;
    dims->cls_only = cls_only_layer(m, l);
    if (dims->cls_only)
        last_layer_backward_cls(m, a, &p, &dp);
    else
        post_attention_backward(m, a, &p, &dp, a->ctx, N, m->d_x, m->d_ctx, m->d_x);
    attention_backward(m->d_qkv, m->d_ctx, a->qkv, a->scores, a->probs, a->probs_drop,
                       a->keep_probs, a->aux, dims);
    dense_backward(m, m->d_x, dp.qkv_w, dp.qkv_b, m->d_qkv, x, a->in_h, p.qkv_w, p.qkv_wh, N, H,
                   3 * H, 1);
}

int bert_backward(Bert *m, Err *err) {
    if (!m->grads)
        return err_set(err, "model: backward needs bert_enable_grads before the forward");
    if (!m->loss_ready)
        return err_set(err, "model: backward needs bert_loss after the last forward (its "
                            "gradient is where the backward starts)");
    const BertConfig *c = &m->cfg;
    const int B = m->B, T = m->T, N = B * T, H = c->hidden_size;
    head_backward(m);
    AttentionDims dims = attention_dims(m);
    for (int l = c->num_layers - 1; l >= 0; l--) {
        layer_backward(m, l, &dims);
        if (m->layer_grads_hook) m->layer_grads_hook(m->layer_grads_ctx, l);
    }

    // embeddings
    maybe_dropout_backward(m->d_x, m->keep_emb, (long)N * H, m->dropout.hidden, m);
    PROFILE_SCOPE(m->prof, PHASE_ELEMENTWISE) memset(m->d_tmp, 0, sizeof(real) * N * H);
    PROFILE_SCOPE(m->prof, PHASE_LAYERNORM)
        layernorm_backward(m->d_tmp, bert_grad(m, PT_EMB_LN_W), bert_grad(m, PT_EMB_LN_B),
                           m->d_x, m->emb_sum, bert_param(m, PT_EMB_LN_W), m->emb_mean,
                           m->emb_rstd, N, H);
    PROFILE_SCOPE(m->prof, PHASE_EMBEDDINGS)
        embeddings_backward(bert_grad(m, PT_WORD_EMB), bert_grad(m, PT_POS_EMB),
                            bert_grad(m, PT_TYPE_EMB), m->d_tmp, m->ids, m->type_ids, m->lengths,
                            B, T, H, c->position_offset);
    return gemm_pass_status(m, "backward", err);
}

void bert_on_layer_grads(Bert *m, BertLayerGradsHook hook, void *ctx) {
    m->layer_grads_hook = hook;
    m->layer_grads_ctx = ctx;
}

// ------------------------------------------------------- sparsity counters

void bert_count_zeros(Bert *m, int on) { m->count_zeros = on; }

int bert_counts_zeros(const Bert *m) { return m->count_zeros; }

void bert_zero_counts(const Bert *m, const uint64_t **zeros, const uint64_t **total) {
    *zeros = m->zeros;
    *total = m->zero_total;
}

void bert_reset_zero_counts(Bert *m) {
    memset(m->zeros, 0, sizeof(uint64_t) * m->cfg.num_layers);
    memset(m->zero_total, 0, sizeof(uint64_t) * m->cfg.num_layers);
}
