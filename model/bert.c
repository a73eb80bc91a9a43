#include "model/bert.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>

#include "model/layers.h"

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
} LayerActs;

struct Bert {
    BertConfig cfg;
    int max_batch, max_seq, nthreads;
    size_t param_offset[PT_COUNT], num_params;
    real *params, *grads;

    // activations
    int num_layer_slots;  // 1 (inference) or L (training)
    real *act_memory;
    uint8_t *mask_memory;
    real *emb_sum;                 // [N, H] word + position + type
    real *emb_mean, *emb_rstd;     // [N]
    real *emb_out;                 // [N, H] after LayerNorm and dropout: layer 0 input
    uint8_t *keep_emb;             // [N, H]
    LayerActs *layers;             // [num_layer_slots]
    real *cls_ctx, *cls_x;         // [B, H] [CLS] rows of the last layer's ctx and input
    real *cls_in;                  // [B, H] the [CLS] rows of the last layer
    real *head_in;                 // [B, H] XLM-R only: cls_in after dropout, the pooler input
    real *pooled;                  // [B, H] tanh(cls_in W_p + b)
    real *pooled_drop;             // [B, H] classifier input
    uint8_t *keep_pooled;          // [B, H]
    uint8_t *keep_head_in;         // [B, H]
    real *logits;                  // [B, C]
    real *dlogits;                 // [B, C]
    real *attn_scratch;            // [nthreads, attention_scratch_floats(T)]

    // gradient work buffers (training only)
    real *grad_memory;
    real *d_x, *d_tmp, *d_qkv, *d_ctx, *d_ffn, *d_cls, *d_pooled, *d_cls_ctx, *d_cls_x;

    // the last forward's inputs
    int B, T;
    int *ids, *type_ids, *lengths;
    Dropout dropout;
    int training;
    int all_tokens;     // compute the last layer for every token, not only [CLS]
    int last_cls_only;  // how the last forward ran its last layer

    int count_zeros;
    uint64_t *zeros, *zero_total;  // [L]
};

// ------------------------------------------------------------ parameters

void bert_param_info(const BertConfig *c, ParamId id, ParamInfo *info) {
    const int H = c->hidden_size, FF = c->intermediate_size;
    static const struct {
        const char *name;
        int per_layer, no_decay;
    } table[PT_COUNT] = {
        [PT_WORD_EMB] = {"word_emb", 0, 0},       [PT_POS_EMB] = {"pos_emb", 0, 0},
        [PT_TYPE_EMB] = {"type_emb", 0, 0},       [PT_EMB_LN_W] = {"emb_ln_w", 0, 1},
        [PT_EMB_LN_B] = {"emb_ln_b", 0, 1},       [PT_QKV_W] = {"qkv_w", 1, 0},
        [PT_QKV_B] = {"qkv_b", 1, 1},             [PT_ATTN_OUT_W] = {"attn_out_w", 1, 0},
        [PT_ATTN_OUT_B] = {"attn_out_b", 1, 1},   [PT_ATTN_LN_W] = {"attn_ln_w", 1, 1},
        [PT_ATTN_LN_B] = {"attn_ln_b", 1, 1},     [PT_FFN_IN_W] = {"ffn_in_w", 1, 0},
        [PT_FFN_IN_B] = {"ffn_in_b", 1, 1},       [PT_FFN_OUT_W] = {"ffn_out_w", 1, 0},
        [PT_FFN_OUT_B] = {"ffn_out_b", 1, 1},     [PT_FFN_LN_W] = {"ffn_ln_w", 1, 1},
        [PT_FFN_LN_B] = {"ffn_ln_b", 1, 1},       [PT_POOL_W] = {"pool_w", 0, 0},
        [PT_POOL_B] = {"pool_b", 0, 1},           [PT_CLS_W] = {"cls_w", 0, 0},
        [PT_CLS_B] = {"cls_b", 0, 1},
    };
    const int shapes[PT_COUNT][2] = {
        [PT_WORD_EMB] = {c->vocab_size, H}, [PT_POS_EMB] = {c->max_position, H},
        [PT_TYPE_EMB] = {c->type_vocab_size, H}, [PT_EMB_LN_W] = {H, 0}, [PT_EMB_LN_B] = {H, 0},
        [PT_QKV_W] = {3 * H, H}, [PT_QKV_B] = {3 * H, 0}, [PT_ATTN_OUT_W] = {H, H},
        [PT_ATTN_OUT_B] = {H, 0}, [PT_ATTN_LN_W] = {H, 0}, [PT_ATTN_LN_B] = {H, 0},
        [PT_FFN_IN_W] = {FF, H}, [PT_FFN_IN_B] = {FF, 0}, [PT_FFN_OUT_W] = {H, FF},
        [PT_FFN_OUT_B] = {H, 0}, [PT_FFN_LN_W] = {H, 0}, [PT_FFN_LN_B] = {H, 0},
        [PT_POOL_W] = {H, H}, [PT_POOL_B] = {H, 0}, [PT_CLS_W] = {c->num_labels, H},
        [PT_CLS_B] = {c->num_labels, 0},
    };
    info->name = table[id].name;
    info->per_layer = table[id].per_layer;
    info->no_decay = table[id].no_decay;
    info->rows = shapes[id][0];
    info->cols = shapes[id][1];
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

// Lays out `count` tensors back to back in one allocation.
static real *alloc_tensors(real **ptrs[], const size_t sizes[], int count, Err *err,
                           const char *what) {
    size_t total = 0;
    for (int i = 0; i < count; i++) total += sizes[i];
    real *memory = err_calloc(err, total, sizeof(real), what);
    if (!memory) return NULL;
    real *p = memory;
    for (int i = 0; i < count; i++) {
        *ptrs[i] = sizes[i] ? p : NULL;
        p += sizes[i];
    }
    return memory;
}

static void free_activations(Bert *m) {
    free(m->act_memory);
    free(m->mask_memory);
    free(m->layers);
    m->act_memory = NULL;
    m->mask_memory = NULL;
    m->layers = NULL;
}

// Allocates activations for `slots` layers; masks and dropped
// probabilities only when training.
static int alloc_activations(Bert *m, int slots, int training, Err *err) {
    const BertConfig *c = &m->cfg;
    const size_t N = (size_t)m->max_batch * m->max_seq, H = c->hidden_size,
                 FF = c->intermediate_size, B = m->max_batch, T = m->max_seq, NH = c->num_heads,
                 C = c->num_labels;
    const size_t probs = B * NH * T * T;
    free_activations(m);
    m->num_layer_slots = slots;
    m->layers = err_calloc(err, (size_t)slots, sizeof(LayerActs), "layer activation table");
    if (!m->layers) return -1;

    enum { FIXED = 13, PER_LAYER = 16 };
    size_t count = FIXED + (size_t)PER_LAYER * slots;
    real ***ptrs = err_calloc(err, count, sizeof(real **), "activation table");
    size_t *sizes = err_calloc(err, count, sizeof(size_t), "activation table");
    if (!ptrs || !sizes) {
        free(ptrs);
        free(sizes);
        return -1;
    }
    int k = 0;
#define ACT(ptr, n) (ptrs[k] = &(ptr), sizes[k++] = (n))
    ACT(m->emb_sum, N * H);
    ACT(m->emb_mean, N);
    ACT(m->emb_rstd, N);
    ACT(m->emb_out, N * H);
    ACT(m->cls_ctx, B * H);
    ACT(m->cls_x, B * H);
    ACT(m->cls_in, B * H);
    ACT(m->head_in, B * H);
    ACT(m->pooled, B * H);
    ACT(m->pooled_drop, B * H);
    ACT(m->logits, B * C);
    ACT(m->dlogits, B * C);
    ACT(m->attn_scratch, (size_t)m->nthreads * attention_scratch_floats((int)T));
    for (int l = 0; l < slots; l++) {
        LayerActs *a = &m->layers[l];
        ACT(a->qkv, N * 3 * H);
        ACT(a->scores, probs);
        ACT(a->probs, probs);
        ACT(a->probs_drop, training ? probs : 0);
        ACT(a->aux, B * NH * T);
        ACT(a->ctx, N * H);
        ACT(a->attn_res, N * H);
        ACT(a->ln1_mean, N);
        ACT(a->ln1_rstd, N);
        ACT(a->ln1_out, N * H);
        ACT(a->ffn_pre, N * FF);
        ACT(a->ffn_act, N * FF);
        ACT(a->ffn_res, N * H);
        ACT(a->ln2_mean, N);
        ACT(a->ln2_rstd, N);
        ACT(a->ln2_out, N * H);
    }
#undef ACT
    m->act_memory = alloc_tensors(ptrs, sizes, k, err, "activations");
    free(ptrs);
    free(sizes);
    if (!m->act_memory) return -1;
    if (training) {
        size_t per_layer = probs + 2 * N * H;
        m->mask_memory = err_calloc(err, N * H + 2 * B * H + per_layer * slots, 1, "dropout masks");
        if (!m->mask_memory) return -1;
        uint8_t *p = m->mask_memory;
        m->keep_emb = p, p += N * H;
        m->keep_pooled = p, p += B * H;
        m->keep_head_in = p, p += B * H;
        for (int l = 0; l < slots; l++) {
            m->layers[l].keep_probs = p, p += probs;
            m->layers[l].keep_attn = p, p += N * H;
            m->layers[l].keep_ffn = p, p += N * H;
        }
    }
    return 0;
}

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
    m->ids = err_calloc(err, (size_t)max_batch * max_seq * 2 + max_batch, sizeof(int),
                        "input copy");
    m->zeros = err_calloc(err, 2 * (size_t)cfg->num_layers, sizeof(uint64_t), "zero counters");
    if (!m->params || !m->ids || !m->zeros || alloc_activations(m, 1, 0, err) != 0) {
        bert_free(m);
        return NULL;
    }
    m->type_ids = m->ids + (size_t)max_batch * max_seq;
    m->lengths = m->type_ids + (size_t)max_batch * max_seq;
    m->zero_total = m->zeros + cfg->num_layers;
    return m;
}

void bert_free(Bert *m) {
    if (!m) return;
    free_activations(m);
    free(m->params);
    free(m->grads);
    free(m->grad_memory);
    free(m->ids);
    free(m->zeros);
    free(m);
}

const BertConfig *bert_config(const Bert *m) { return &m->cfg; }
int bert_max_batch(const Bert *m) { return m->max_batch; }
int bert_max_seq(const Bert *m) { return m->max_seq; }
void bert_set_attn(Bert *m, AttnMap attn) { m->cfg.attn = attn; }

real *bert_params(Bert *m, size_t *count) {
    if (count) *count = m->num_params;
    return m->params;
}

real *bert_param(Bert *m, ParamId id) { return m->params + m->param_offset[id]; }

int bert_enable_grads(Bert *m, Err *err) {
    if (m->grads) return 0;
    const size_t N = (size_t)m->max_batch * m->max_seq, H = m->cfg.hidden_size,
                 FF = m->cfg.intermediate_size, B = m->max_batch;
    if (alloc_activations(m, m->cfg.num_layers, 1, err) != 0) return -1;
    m->grads = err_calloc(err, m->num_params, sizeof(real), "gradients");
    if (!m->grads) return -1;
    real **ptrs[] = {&m->d_x,   &m->d_tmp, &m->d_qkv,     &m->d_ctx,  &m->d_ffn,
                     &m->d_cls, &m->d_pooled, &m->d_cls_ctx, &m->d_cls_x};
    size_t sizes[] = {N * H, N * H, N * 3 * H, N * H, N * FF, B * H, B * H, B * H, B * H};
    m->grad_memory = alloc_tensors(ptrs, sizes, 9, err, "gradient work buffers");
    return m->grad_memory ? 0 : -1;
}

real *bert_grads(Bert *m, size_t *count) {
    if (count) *count = m->grads ? m->num_params : 0;
    return m->grads;
}

real *bert_grad(Bert *m, ParamId id) { return m->grads ? m->grads + m->param_offset[id] : NULL; }

void bert_zero_grads(Bert *m) {
    if (m->grads) memset(m->grads, 0, sizeof(real) * m->num_params);
}

// ---------------------------------------------------------------- forward

// Per-layer parameter slices.
typedef struct {
    real *qkv_w, *qkv_b, *out_w, *out_b, *ln1_w, *ln1_b, *in_w, *in_b, *ffn_w, *ffn_b, *ln2_w,
        *ln2_b;
} LayerParams;

static LayerParams layer_params(Bert *m, real *base, int l) {
    const BertConfig *c = &m->cfg;
#define SLICE(id) (base + m->param_offset[id] + (size_t)l * bert_param_slice_numel(c, id))
    LayerParams p = {SLICE(PT_QKV_W),     SLICE(PT_QKV_B),     SLICE(PT_ATTN_OUT_W),
                     SLICE(PT_ATTN_OUT_B), SLICE(PT_ATTN_LN_W), SLICE(PT_ATTN_LN_B),
                     SLICE(PT_FFN_IN_W),  SLICE(PT_FFN_IN_B),  SLICE(PT_FFN_OUT_W),
                     SLICE(PT_FFN_OUT_B), SLICE(PT_FFN_LN_W),  SLICE(PT_FFN_LN_B)};
#undef SLICE
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

static void maybe_dropout(real *x, uint8_t *keep, long n, float p, const Bert *m, uint64_t site) {
    if (m->training && p > 0) dropout_forward(x, keep, n, p, m->dropout.seed, site);
}

// out [B, H] = rows b * T of in [B * T, H]
static void gather_cls(real *out, const real *in, int B, int T, int H) {
    for (int b = 0; b < B; b++)
        memcpy(out + (size_t)b * H, in + (size_t)b * T * H, sizeof(real) * H);
}

// What follows attention in a layer, over R rows (all tokens, or the [CLS]
// rows of the last layer): output projection, dropout, residual, LayerNorm,
// FFN, dropout, residual, LayerNorm.  ctx [R, H] and x [R, H] (the layer's
// input rows) in; a->ln2_out [R, H] out.
static void post_attention_forward(Bert *m, LayerActs *a, const LayerParams *p, int l,
                                   const real *ctx, const real *x, int R) {
    const BertConfig *c = &m->cfg;
    const int H = c->hidden_size, FF = c->intermediate_size;
    const long RH = (long)R * H;
    linear_forward(a->attn_res, ctx, p->out_w, p->out_b, R, H, H);
    maybe_dropout(a->attn_res, a->keep_attn, RH, m->dropout.hidden, m, layer_site(l, SITE_ATTN));
    residual_forward(a->attn_res, x, RH);
    layernorm_forward(a->ln1_out, a->ln1_mean, a->ln1_rstd, a->attn_res, p->ln1_w, p->ln1_b, R, H,
                      c->layer_norm_eps);
    linear_forward(a->ffn_pre, a->ln1_out, p->in_w, p->in_b, R, H, FF);
    gelu_forward(a->ffn_act, a->ffn_pre, (long)R * FF);
    linear_forward(a->ffn_res, a->ffn_act, p->ffn_w, p->ffn_b, R, FF, H);
    maybe_dropout(a->ffn_res, a->keep_ffn, RH, m->dropout.hidden, m, layer_site(l, SITE_FFN));
    residual_forward(a->ffn_res, a->ln1_out, RH);
    layernorm_forward(a->ln2_out, a->ln2_mean, a->ln2_rstd, a->ffn_res, p->ln2_w, p->ln2_b, R, H,
                      c->layer_norm_eps);
}

int bert_forward(Bert *m, const BertInput *in, const Dropout *dropout, Err *err) {
    if (check_input(m, in, err) != 0) return -1;
    const BertConfig *c = &m->cfg;
    const int B = in->batch, T = in->seq, N = B * T, H = c->hidden_size,
              L = c->num_layers, C = c->num_labels;
    if (dropout && !m->grads)
        return err_set(err, "model: training forward (dropout) needs bert_enable_grads first");
    m->B = B;
    m->T = T;
    m->training = dropout != NULL;
    m->dropout = dropout ? *dropout : (Dropout){0};
    memcpy(m->ids, in->ids, sizeof(int) * N);
    memcpy(m->type_ids, in->type_ids, sizeof(int) * N);
    memcpy(m->lengths, in->lengths, sizeof(int) * B);

    embeddings_forward(m->emb_sum, m->ids, m->type_ids, bert_param(m, PT_WORD_EMB),
                       bert_param(m, PT_POS_EMB), bert_param(m, PT_TYPE_EMB), B, T, H,
                       c->position_offset);
    layernorm_forward(m->emb_out, m->emb_mean, m->emb_rstd, m->emb_sum, bert_param(m, PT_EMB_LN_W),
                      bert_param(m, PT_EMB_LN_B), N, H, c->layer_norm_eps);
    maybe_dropout(m->emb_out, m->keep_emb, (long)N * H, m->dropout.hidden, m, SITE_EMB);

    AttentionDims dims = {.B = B, .T = T, .H = H, .NH = c->num_heads, .lengths = m->lengths,
                          .map = c->attn, .dropout = m->training ? m->dropout.attention : 0.0f,
                          .seed = m->dropout.seed, .scratch = m->attn_scratch,
                          .scratch_stride = attention_scratch_floats(m->max_seq)};
    // Only the [CLS] row of the last layer reaches the head, so unless every
    // token's output is wanted (or attention zeros are being counted), the
    // last layer runs its queries and everything after attention on [CLS]
    // rows only: about a seventh of the work of a forward and backward.
    m->last_cls_only = !m->all_tokens && !m->count_zeros;
    const real *x = m->emb_out;
    for (int l = 0; l < L; l++) {
        LayerActs *a = &m->layers[m->num_layer_slots > 1 ? l : 0];
        LayerParams p = layer_params(m, m->params, l);
        int cls_only = m->last_cls_only && l == L - 1;
        linear_forward(a->qkv, x, p.qkv_w, p.qkv_b, N, H, 3 * H);
        dims.site = layer_site(l, SITE_PROBS);
        dims.cls_only = cls_only;
        attention_forward(a->ctx, a->scores, a->probs, a->probs_drop, a->keep_probs, a->aux, a->qkv,
                          &dims, m->count_zeros ? &m->zeros[l] : NULL,
                          m->count_zeros ? &m->zero_total[l] : NULL);
        if (cls_only) {
            gather_cls(m->cls_ctx, a->ctx, B, T, H);
            gather_cls(m->cls_x, x, B, T, H);
            post_attention_forward(m, a, &p, l, m->cls_ctx, m->cls_x, B);
            memcpy(m->cls_in, a->ln2_out, sizeof(real) * B * H);
        } else {
            post_attention_forward(m, a, &p, l, a->ctx, x, N);
            if (l == L - 1) gather_cls(m->cls_in, a->ln2_out, B, T, H);
        }
        x = a->ln2_out;
    }

    const real *pool_in = pooler_input(m);
    if (c->head == HEAD_XLMR) {
        memcpy(m->head_in, m->cls_in, sizeof(real) * B * H);
        maybe_dropout(m->head_in, m->keep_head_in, (long)B * H, m->dropout.classifier, m,
                      SITE_HEAD_IN);
    }
    linear_forward(m->pooled, pool_in, bert_param(m, PT_POOL_W), bert_param(m, PT_POOL_B), B, H, H);
    for (long i = 0; i < (long)B * H; i++) m->pooled[i] = tanh(m->pooled[i]);
    memcpy(m->pooled_drop, m->pooled, sizeof(real) * B * H);
    maybe_dropout(m->pooled_drop, m->keep_pooled, (long)B * H, m->dropout.classifier, m,
                  SITE_POOLED);
    linear_forward(m->logits, m->pooled_drop, bert_param(m, PT_CLS_W), bert_param(m, PT_CLS_B), B,
                   H, C);
    return 0;
}

const real *bert_hidden(const Bert *m) {
    if (m->last_cls_only) return NULL;
    return m->layers[m->num_layer_slots > 1 ? m->cfg.num_layers - 1 : 0].ln2_out;
}

void bert_output_all_tokens(Bert *m, int on) { m->all_tokens = on; }

const real *bert_attention_probs(const Bert *m, int layer) {
    const int L = m->cfg.num_layers;
    if (layer < 0 || layer >= L || (m->num_layer_slots < L && layer != L - 1)) return NULL;
    if (layer == L - 1 && m->last_cls_only) return NULL;
    return m->layers[m->num_layer_slots > 1 ? layer : 0].probs;
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
    return (real)(total / B);
}

// --------------------------------------------------------------- backward

static void maybe_dropout_backward(real *d, const uint8_t *keep, long n, float p, const Bert *m) {
    if (m->training && p > 0) dropout_backward(d, d, keep, n, p);
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
    memset(m->d_tmp, 0, bytes);
    layernorm_backward(m->d_tmp, dp->ln2_w, dp->ln2_b, d_out, a->ffn_res, p->ln2_w, a->ln2_mean,
                       a->ln2_rstd, R, H);
    memcpy(d_x, m->d_tmp, bytes);  // dL/d(ln1_out), residual part
    maybe_dropout_backward(m->d_tmp, a->keep_ffn, RH, m->dropout.hidden, m);
    linear_backward(m->d_ffn, dp->ffn_w, dp->ffn_b, m->d_tmp, a->ffn_act, p->ffn_w, R, FF, H, 0);
    gelu_backward(m->d_ffn, a->ffn_pre, m->d_ffn, (long)R * FF);
    linear_backward(d_x, dp->in_w, dp->in_b, m->d_ffn, a->ln1_out, p->in_w, R, H, FF, 1);
    // LayerNorm 1 -> dL/d(attn_res) in d_tmp; the residual passes it to x.
    memset(m->d_tmp, 0, bytes);
    layernorm_backward(m->d_tmp, dp->ln1_w, dp->ln1_b, d_x, a->attn_res, p->ln1_w, a->ln1_mean,
                       a->ln1_rstd, R, H);
    memcpy(d_x, m->d_tmp, bytes);  // dL/dx, residual part
    maybe_dropout_backward(m->d_tmp, a->keep_attn, RH, m->dropout.hidden, m);
    linear_backward(d_ctx, dp->out_w, dp->out_b, m->d_tmp, ctx, p->out_w, R, H, H, 0);
}

int bert_backward(Bert *m, Err *err) {
    if (!m->grads || m->num_layer_slots != m->cfg.num_layers)
        return err_set(err, "model: backward needs bert_enable_grads before the forward");
    const BertConfig *c = &m->cfg;
    const int B = m->B, T = m->T, N = B * T, H = c->hidden_size,
              L = c->num_layers, C = c->num_labels;
    real *g = m->grads;
#define GRAD(id) (g + m->param_offset[id])

    // classifier and pooler
    linear_backward(m->d_pooled, GRAD(PT_CLS_W), GRAD(PT_CLS_B), m->dlogits, m->pooled_drop,
                    bert_param(m, PT_CLS_W), B, H, C, 0);
    maybe_dropout_backward(m->d_pooled, m->keep_pooled, (long)B * H, m->dropout.classifier, m);
    for (long i = 0; i < (long)B * H; i++) m->d_pooled[i] *= 1.0f - m->pooled[i] * m->pooled[i];
    linear_backward(m->d_cls, GRAD(PT_POOL_W), GRAD(PT_POOL_B), m->d_pooled, pooler_input(m),
                    bert_param(m, PT_POOL_W), B, H, H, 0);
    if (c->head == HEAD_XLMR)
        maybe_dropout_backward(m->d_cls, m->keep_head_in, (long)B * H, m->dropout.classifier, m);
    AttentionDims dims = {.B = B, .T = T, .H = H, .NH = c->num_heads, .lengths = m->lengths,
                          .map = c->attn, .dropout = m->training ? m->dropout.attention : 0.0f,
                          .seed = m->dropout.seed, .scratch = m->attn_scratch,
                          .scratch_stride = attention_scratch_floats(m->max_seq)};
    // d_x holds dL/d(layer output); each layer turns it into dL/d(layer input).
    for (int l = L - 1; l >= 0; l--) {
        LayerActs *a = &m->layers[l];
        LayerParams p = layer_params(m, m->params, l);
        LayerParams dp = layer_params(m, g, l);
        const real *x = l > 0 ? m->layers[l - 1].ln2_out : m->emb_out;
        dims.cls_only = m->last_cls_only && l == L - 1;
        if (dims.cls_only) {
            // d_cls is dL/d(last layer output) on the [CLS] rows, the only rows.
            post_attention_backward(m, a, &p, &dp, m->cls_ctx, B, m->d_cls, m->d_cls_ctx, m->d_cls_x);
            memset(m->d_ctx, 0, sizeof(real) * N * H);
            memset(m->d_x, 0, sizeof(real) * N * H);
            for (int b = 0; b < B; b++) {
                memcpy(m->d_ctx + (size_t)b * T * H, m->d_cls_ctx + (size_t)b * H, sizeof(real) * H);
                memcpy(m->d_x + (size_t)b * T * H, m->d_cls_x + (size_t)b * H, sizeof(real) * H);
            }
        } else {
            if (l == L - 1) {
                memset(m->d_x, 0, sizeof(real) * N * H);
                for (int b = 0; b < B; b++)
                    memcpy(m->d_x + (size_t)b * T * H, m->d_cls + (size_t)b * H, sizeof(real) * H);
            }
            post_attention_backward(m, a, &p, &dp, a->ctx, N, m->d_x, m->d_ctx, m->d_x);
        }
        attention_backward(m->d_qkv, m->d_ctx, a->qkv, a->scores, a->probs, a->probs_drop,
                           a->keep_probs, a->aux, &dims);
        linear_backward(m->d_x, dp.qkv_w, dp.qkv_b, m->d_qkv, x, p.qkv_w, N, H, 3 * H, 1);
    }

    // embeddings
    maybe_dropout_backward(m->d_x, m->keep_emb, (long)N * H, m->dropout.hidden, m);
    memset(m->d_tmp, 0, sizeof(real) * N * H);
    layernorm_backward(m->d_tmp, GRAD(PT_EMB_LN_W), GRAD(PT_EMB_LN_B), m->d_x, m->emb_sum,
                       bert_param(m, PT_EMB_LN_W), m->emb_mean, m->emb_rstd, N, H);
    embeddings_backward(GRAD(PT_WORD_EMB), GRAD(PT_POS_EMB), GRAD(PT_TYPE_EMB), m->d_tmp, m->ids,
                        m->type_ids, m->lengths, B, T, H, c->position_offset);
#undef GRAD
    return 0;
}

// ------------------------------------------------------- sparsity counters

void bert_count_zeros(Bert *m, int on) { m->count_zeros = on; }

void bert_zero_counts(const Bert *m, const uint64_t **zeros, const uint64_t **total) {
    *zeros = m->zeros;
    *total = m->zero_total;
}

void bert_reset_zero_counts(Bert *m) {
    memset(m->zeros, 0, sizeof(uint64_t) * 2 * m->cfg.num_layers);
}
