#include "weights/hf_model.h"

#include <cJSON.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fileio.h"
#include "util/rng.h"
#include "weights/family.h"
#include "weights/safetensors.h"

// ------------------------------------------------------------ config.json

typedef struct {
    const char *path;
    const cJSON *root;
    Err *err;
} ConfigReader;

// Integer field with a default; a present field must be a whole number.
static int cfg_int(ConfigReader *r, const char *key, int fallback, int *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (!item || cJSON_IsNull(item)) {
        *out = fallback;
        return 0;
    }
    if (!cJSON_IsNumber(item) || item->valuedouble != floor(item->valuedouble) ||
        fabs(item->valuedouble) > 1e9)
        return err_set(r->err, "%s: field %s: expected an integer", r->path, key);
    *out = (int)item->valuedouble;
    return 0;
}

static int cfg_float(ConfigReader *r, const char *key, float fallback, float *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (!item || cJSON_IsNull(item)) {
        *out = fallback;
        return 0;
    }
    if (!cJSON_IsNumber(item)) return err_set(r->err, "%s: field %s: expected a number", r->path, key);
    *out = (float)item->valuedouble;
    if (!isfinite(*out))
        return err_set(r->err, "%s: field %s: %g is out of range for a float", r->path, key,
                       item->valuedouble);
    return 0;
}

// A JSON object with a key twice: Python's json (and so transformers) keeps
// the last value, cJSON the first.  Refused rather than guessed.
static int check_duplicate_keys(const cJSON *node, const char *path, Err *err) {
    for (const cJSON *a = node ? node->child : NULL; a; a = a->next) {
        if (cJSON_IsObject(node))
            for (const cJSON *b = a->next; b; b = b->next)
                if (strcmp(a->string, b->string) == 0)
                    return err_set(err, "%s: key \"%.100s\" appears twice in one object", path,
                                   a->string);
        if (check_duplicate_keys(a, path, err) != 0) return -1;
    }
    return 0;
}

// Sizes whose products index the weights in int arithmetic (shapes, rows x
// cols) must keep those products in range.
static int check_size_products(const char *path, const BertConfig *c, Err *err) {
    const struct {
        const char *a, *b;
        long long x, y;
    } products[] = {
        {"vocab_size", "hidden_size", c->vocab_size, c->hidden_size},
        {"max_position_embeddings", "hidden_size", c->max_position, c->hidden_size},
        {"type_vocab_size", "hidden_size", c->type_vocab_size, c->hidden_size},
        {"3 x hidden_size", "hidden_size", 3LL * c->hidden_size, c->hidden_size},
        {"intermediate_size", "hidden_size", c->intermediate_size, c->hidden_size},
        {"num_labels", "hidden_size", c->num_labels, c->hidden_size},
    };
    for (size_t i = 0; i < sizeof products / sizeof products[0]; i++)
        if (products[i].x * products[i].y > INT_MAX)
            return err_set(err, "%s: field %s: %s %lld x %s %lld is too large (over %d weights "
                                "in one tensor)", path, products[i].b, products[i].a,
                           products[i].x, products[i].b, products[i].y, INT_MAX);
    return 0;
}

static const char *cfg_string(ConfigReader *r, const char *key, const char *fallback, int *bad) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (!item || cJSON_IsNull(item)) return fallback;
    if (!cJSON_IsString(item)) {
        *bad = 1;
        err_set(r->err, "%s: field %s: expected a string", r->path, key);
        return NULL;
    }
    return item->valuestring;
}

// A multi-label config's output map: output_map (default sigmoid),
// output_r (r-softmax), output_threshold (default: the map's).
static int read_output_map(ConfigReader *r, const char *path, OutputMap *out, Err *err) {
    int bad = 0;
    const char *name = cfg_string(r, "output_map", "sigmoid", &bad);
    float rate, threshold;
    if (bad || cfg_float(r, "output_r", 0.5f, &rate) != 0) return -1;
    if (output_map_parse(name, rate, out, err) != 0) return err_prefix(err, "%s: field output_map", path);
    if (cfg_float(r, "output_threshold", out->threshold, &threshold) != 0) return -1;
    out->threshold = threshold;
    return 0;
}

static int cfg_require_false(ConfigReader *r, const char *key, const char *why) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(r->root, key);
    if (cJSON_IsTrue(item)) return err_set(r->err, "%s: field %s is true: %s", r->path, key, why);
    return 0;
}

static int read_labels(ConfigReader *r, HfConfig *out) {
    const cJSON *id2label = cJSON_GetObjectItemCaseSensitive(r->root, "id2label");
    int num_labels_field = 0;
    if (cfg_int(r, "num_labels", 0, &num_labels_field) != 0) return -1;
    if (!id2label || cJSON_IsNull(id2label)) {
        out->bert.num_labels = num_labels_field > 0 ? num_labels_field : 2;
        return 0;
    }
    if (!cJSON_IsObject(id2label)) return err_set(r->err, "%s: field id2label: expected an object", r->path);
    int n = cJSON_GetArraySize(id2label);
    if (n < 1 || n > HF_MAX_LABELS)
        return err_set(r->err, "%s: field id2label: %d labels (supported: 1 to %d)", r->path, n,
                       HF_MAX_LABELS);
    int seen[HF_MAX_LABELS] = {0}, generic = 1;
    const cJSON *item;
    cJSON_ArrayForEach(item, id2label) {
        char *end;
        long id = strtol(item->string, &end, 10);
        if (*item->string == '\0' || *end != '\0' || id < 0 || id >= n || seen[id])
            return err_set(r->err, "%s: field id2label: key \"%s\" is not a distinct id in 0..%d",
                           r->path, item->string, n - 1);
        if (!cJSON_IsString(item) || strlen(item->valuestring) >= HF_LABEL_MAX)
            return err_set(r->err, "%s: field id2label[%ld]: expected a label name under %d bytes",
                           r->path, id, HF_LABEL_MAX);
        seen[id] = 1;
        snprintf(out->label_names[id], HF_LABEL_MAX, "%s", item->valuestring);
        char generic_name[32];
        snprintf(generic_name, sizeof generic_name, "LABEL_%ld", id);
        if (strcmp(item->valuestring, generic_name) != 0) generic = 0;
    }
    out->bert.num_labels = n;
    out->num_label_names = n;
    out->has_label_names = !generic;
    return 0;
}

int hf_config_load(const char *dir, HfConfig *out, Err *err) {
    char path[4096];
    if (path_join(path, sizeof path, dir, "config.json", err) != 0) return -1;
    return hf_config_load_file(path, out, err);
}

// The sizes bert_build needs positive, checked here to name the field.
static int check_sizes(const char *path, const BertConfig *c, Err *err) {
    const struct {
        const char *key;
        int value;
    } sizes[] = {
        {"vocab_size", c->vocab_size}, {"hidden_size", c->hidden_size},
        {"num_hidden_layers", c->num_layers}, {"num_attention_heads", c->num_heads},
        {"intermediate_size", c->intermediate_size},
        {"max_position_embeddings", c->max_position}, {"type_vocab_size", c->type_vocab_size},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i].value < 1)
            return err_set(err, "%s: field %s: %d is not a positive size", path, sizes[i].key,
                           sizes[i].value);
    if (c->hidden_size % c->num_heads != 0)
        return err_set(err, "%s: field num_attention_heads: %d does not divide hidden_size %d",
                       path, c->num_heads, c->hidden_size);
    return 0;
}

int hf_config_load_file(const char *path, HfConfig *out, Err *err) {
    char *text;
    if (file_read_all(path, &text, NULL, err) != 0) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) return err_set(err, "%s: not valid JSON", path);
    if (check_duplicate_keys(root, path, err) != 0) {
        cJSON_Delete(root);
        return -1;
    }
    int rc = -1, bad = 0;
    memset(out, 0, sizeof *out);
    ConfigReader r = {path, root, err};
    BertConfig *c = &out->bert;
    if (!cJSON_IsObject(root)) {
        err_set(err, "%s: expected a JSON object", path);
        goto done;
    }
    const char *model_type = cfg_string(&r, "model_type", "bert", &bad);
    const char *act = cfg_string(&r, "hidden_act", "gelu", &bad);
    const char *pos_type = cfg_string(&r, "position_embedding_type", "absolute", &bad);
    const char *problem = cfg_string(&r, "problem_type", "", &bad);
    const char *attn_fn = cfg_string(&r, "attention_probs_fn", NULL, &bad);
    if (bad) goto done;
    // Our exports of sparse maps name their own model_type (the family row's
    // sparse_model_type, weights/remote_code.h); family_find knows both.
    const ModelFamily *family = family_find(model_type);
    if (!family) {
        char list[256];
        err_set(err, "%s: model_type \"%s\" is not supported (%s)", path, model_type,
                family_list(list, sizeof list));
        goto done;
    }
    if (strcmp(act, "gelu") != 0) {
        err_set(err, "%s: hidden_act \"%s\" is not supported (only \"gelu\", the exact erf form)",
                path, act);
        goto done;
    }
    if (strcmp(pos_type, "absolute") != 0) {
        err_set(err, "%s: position_embedding_type \"%s\" is not supported (only \"absolute\")", path,
                pos_type);
        goto done;
    }
    if (cfg_require_false(&r, "is_decoder", "decoders are not supported") != 0 ||
        cfg_require_false(&r, "add_cross_attention", "cross-attention is not supported") != 0)
        goto done;
    // transformers' multi_label_classification trains sigmoid outputs with
    // BCE: training it as single-label softmax would silently be another model.
    // multi_label_classification is read with its output map (sigmoid
    // unless our output_map field says otherwise) for multi-label tasks.
    if (strcmp(problem, "") != 0 && strcmp(problem, "regression") != 0 &&
        strcmp(problem, "single_label_classification") != 0 &&
        strcmp(problem, "multi_label_classification") != 0) {
        err_set(err, "%s: problem_type \"%.60s\" is not supported (\"regression\", "
                     "\"single_label_classification\" or \"multi_label_classification\")", path,
                problem);
        goto done;
    }
    if (strcmp(problem, "multi_label_classification") == 0 &&
        read_output_map(&r, path, &out->output_map, err) != 0)
        goto done;
    out->has_output_map = strcmp(problem, "multi_label_classification") == 0;
    out->family = family;
    snprintf(out->problem_type, sizeof out->problem_type, "%s", problem);
    if (cfg_int(&r, "vocab_size", 30522, &c->vocab_size) || cfg_int(&r, "hidden_size", 768, &c->hidden_size) ||
        cfg_int(&r, "num_hidden_layers", 12, &c->num_layers) ||
        cfg_int(&r, "num_attention_heads", 12, &c->num_heads) ||
        cfg_int(&r, "intermediate_size", 3072, &c->intermediate_size) ||
        cfg_int(&r, "max_position_embeddings", 512, &c->max_position) ||
        cfg_int(&r, "type_vocab_size", 2, &c->type_vocab_size) ||
        cfg_int(&r, "pad_token_id", 0, &out->pad_token_id) ||
        cfg_float(&r, "layer_norm_eps", 1e-12f, &c->layer_norm_eps) ||
        cfg_float(&r, "hidden_dropout_prob", 0.1f, &out->dropout.hidden) ||
        cfg_float(&r, "attention_probs_dropout_prob", 0.1f, &out->dropout.attention) ||
        cfg_float(&r, "initializer_range", 0.02f, &out->initializer_range) ||
        cfg_float(&r, "classifier_dropout", out->dropout.hidden, &out->dropout.classifier) ||
        read_labels(&r, out))
        goto done;
    const Dropout *d = &out->dropout;
    if (d->hidden < 0 || d->hidden >= 1 || d->attention < 0 || d->attention >= 1 ||
        d->classifier < 0 || d->classifier >= 1) {
        err_set(err, "%s: dropout probabilities must be in [0, 1)", path);
        goto done;
    }
    if (!(c->layer_norm_eps > 0 && c->layer_norm_eps <= 1)) {
        err_set(err, "%s: field layer_norm_eps: %g is not in (0, 1]", path, c->layer_norm_eps);
        goto done;
    }
    if (!(out->initializer_range >= 0 && out->initializer_range <= 1)) {
        err_set(err, "%s: field initializer_range: %g is not in [0, 1]", path,
                out->initializer_range);
        goto done;
    }
    if (check_sizes(path, c, err) != 0 || check_size_products(path, c, err) != 0) goto done;
    c->position_offset = family_first_position(family, out->pad_token_id);
    c->head = family->head;
    c->attn = (AttnMap){ATTN_SOFTMAX, 0.0f};
    if (attn_fn) {
        const cJSON *r_item = cJSON_GetObjectItemCaseSensitive(root, "attention_r");
        int r_given = r_item && !cJSON_IsNull(r_item);
        if (r_given && !cJSON_IsNumber(r_item)) {
            err_set(err, "%s: field attention_r: expected a number", path);
            goto done;
        }
        if (attn_map_parse(attn_fn, r_given, r_given ? (float)r_item->valuedouble : 0.0f, &c->attn,
                           err) != 0) {
            err_prefix(err, "%s: field attention_probs_fn", path);
            goto done;
        }
        if (!r_given && attn_map_has_param(c->attn)) {  // no silent default in a config
            err_set(err, "%s: field attention_r: missing (attention_probs_fn %s takes it)", path,
                    attn_fn);
            goto done;
        }
        out->has_attn = 1;
    }
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

// ------------------------------------------------------------ tensor names

typedef struct {
    const char *suffix;
    ParamId id;
    int part;  // query / key / value slice of the fused qkv tensors
} LayerName;

static const LayerName layer_names[] = {
    {"attention.self.query.weight", PT_QKV_W, 0},
    {"attention.self.query.bias", PT_QKV_B, 0},
    {"attention.self.key.weight", PT_QKV_W, 1},
    {"attention.self.key.bias", PT_QKV_B, 1},
    {"attention.self.value.weight", PT_QKV_W, 2},
    {"attention.self.value.bias", PT_QKV_B, 2},
    {"attention.output.dense.weight", PT_ATTN_OUT_W, 0},
    {"attention.output.dense.bias", PT_ATTN_OUT_B, 0},
    {"attention.output.LayerNorm.weight", PT_ATTN_LN_W, 0},
    {"attention.output.LayerNorm.bias", PT_ATTN_LN_B, 0},
    {"intermediate.dense.weight", PT_FFN_IN_W, 0},
    {"intermediate.dense.bias", PT_FFN_IN_B, 0},
    {"output.dense.weight", PT_FFN_OUT_W, 0},
    {"output.dense.bias", PT_FFN_OUT_B, 0},
    {"output.LayerNorm.weight", PT_FFN_LN_W, 0},
    {"output.LayerNorm.bias", PT_FFN_LN_B, 0},
};
enum { LAYER_NAMES = sizeof layer_names / sizeof layer_names[0] };

static const struct {
    const char *name;  // NULL: a head tensor, named by its HeadLayout below
    ParamId id;
} global_names[] = {
    {"embeddings.word_embeddings.weight", PT_WORD_EMB},
    {"embeddings.position_embeddings.weight", PT_POS_EMB},
    {"embeddings.token_type_embeddings.weight", PT_TYPE_EMB},
    {"embeddings.LayerNorm.weight", PT_EMB_LN_W},
    {"embeddings.LayerNorm.bias", PT_EMB_LN_B},
    {NULL, PT_POOL_W},
    {NULL, PT_POOL_B},
    {NULL, PT_CLS_W},
    {NULL, PT_CLS_B},
};
enum { GLOBAL_NAMES = sizeof global_names / sizeof global_names[0] };

// Head tensor names per head layout ([id - PT_POOL_W]), and whether the
// dense layer before the classifier sits inside the encoder and so carries
// the family's prefix: BERT's pooler does, XLM-R's classifier.dense not.
static const struct {
    const char *name[PT_CLS_B - PT_POOL_W + 1];
    int pooler_in_encoder;
} head_names[] = {
    [HEAD_BERT] = {{"pooler.dense.weight", "pooler.dense.bias", "classifier.weight",
                    "classifier.bias"},
                   1},
    [HEAD_XLMR] = {{"classifier.dense.weight", "classifier.dense.bias",
                    "classifier.out_proj.weight", "classifier.out_proj.bias"},
                   0},
};

static void fill_ref(HfTensorRef *ref, Bert *m, const char *prefix, const char *name, ParamId id,
                     int layer, int part) {
    const BertConfig *c = bert_config(m);
    ParamInfo info;
    bert_param_info(c, id, &info);
    int qkv = id == PT_QKV_W || id == PT_QKV_B;
    int pooler = id == PT_POOL_W || id == PT_POOL_B;
    int outside = id == PT_CLS_W || id == PT_CLS_B ||
                  (pooler && !head_names[c->head].pooler_in_encoder);
    snprintf(ref->name, sizeof ref->name, "%s%s", outside ? "" : prefix, name);
    ref->id = id;
    ref->rows = qkv ? info.rows / 3 : info.rows;
    ref->cols = info.cols;
    ref->offset = (size_t)(bert_param(m, id) - bert_params(m, NULL)) +
                  (layer >= 0 ? (size_t)layer * bert_param_slice_numel(c, id) : 0) +
                  (size_t)part * ref->rows * (ref->cols ? ref->cols : 1);
}

int hf_tensor_refs(Bert *m, const char *prefix, HfTensorRef **refs, Err *err) {
    const BertConfig *c = bert_config(m);
    int n = GLOBAL_NAMES + LAYER_NAMES * c->num_layers, k = 0;
    HfTensorRef *out = err_calloc(err, (size_t)n, sizeof(HfTensorRef), "tensor name table");
    if (!out) return -1;
    for (int i = 0; i < GLOBAL_NAMES; i++) {
        ParamId id = global_names[i].id;
        const char *name = global_names[i].name ? global_names[i].name
                                                : head_names[c->head].name[id - PT_POOL_W];
        fill_ref(&out[k++], m, prefix, name, id, -1, 0);
    }
    for (int l = 0; l < c->num_layers; l++)
        for (int i = 0; i < LAYER_NAMES; i++) {
            char name[128];
            snprintf(name, sizeof name, "encoder.layer.%d.%s", l, layer_names[i].suffix);
            fill_ref(&out[k++], m, prefix, name, layer_names[i].id, l, layer_names[i].part);
        }
    *refs = out;
    return n;
}

static int is_pooler(const HfTensorRef *r) { return r->id == PT_POOL_W || r->id == PT_POOL_B; }
static int is_classifier(const HfTensorRef *r) { return r->id == PT_CLS_W || r->id == PT_CLS_B; }

// TF-converted checkpoints name LayerNorm parameters gamma / beta.
static const StTensor *find_with_legacy(const StModel *st, const char *name, const StFile **file) {
    const StTensor *t = st_model_find(st, name, file);
    if (t) return t;
    size_t n = strlen(name);
    char legacy[200];
    const char *w = ".LayerNorm.weight", *b = ".LayerNorm.bias";
    if (n > strlen(w) && strcmp(name + n - strlen(w), w) == 0)
        snprintf(legacy, sizeof legacy, "%.*s.LayerNorm.gamma", (int)(n - strlen(w)), name);
    else if (n > strlen(b) && strcmp(name + n - strlen(b), b) == 0)
        snprintf(legacy, sizeof legacy, "%.*s.LayerNorm.beta", (int)(n - strlen(b)), name);
    else
        return NULL;
    return st_model_find(st, legacy, file);
}

// Index of the first NaN or infinity of a tensor, or -1.
static long first_nonfinite(const real *p, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (!isfinite(p[k])) return (long)k;
    return -1;
}

static size_t ref_numel(const HfTensorRef *ref) {
    return (size_t)ref->rows * (size_t)(ref->cols ? ref->cols : 1);
}

// A NaN or infinity in a weight makes every output it reaches meaningless
// (and NaN logits score as a real, bad result): refused, naming the tensor.
static int check_ref_finite(Bert *m, const HfTensorRef *ref, const char *where, Err *err) {
    const real *p = bert_params(m, NULL) + ref->offset;
    long k = first_nonfinite(p, ref_numel(ref));
    if (k < 0) return 0;
    return err_set(err, "%s: tensor %s: element %ld is %g (weights must be finite)", where,
                   ref->name, k, (double)p[k]);
}

int hf_check_finite(Bert *m, const ModelFamily *family, const char *where, Err *err) {
    HfTensorRef *refs;
    int n = hf_tensor_refs(m, family ? family->tensor_prefix : "", &refs, err);
    if (n < 0) return -1;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) rc = check_ref_finite(m, &refs[i], where, err);
    free(refs);
    return rc;
}

static int load_ref(Bert *m, const StModel *st, const HfTensorRef *ref, const char *dir, Err *err) {
    const StFile *file;
    const StTensor *t = find_with_legacy(st, ref->name, &file);
    if (!t) return err_set(err, "%s: tensor %s: missing from the checkpoint", dir, ref->name);
    int want_dims = ref->cols ? 2 : 1;
    if (t->ndim != want_dims || t->shape[0] != ref->rows || (ref->cols && t->shape[1] != ref->cols)) {
        char got[128] = "", want[64];
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "",
                     (long long)t->shape[i]);
        if (ref->cols)
            snprintf(want, sizeof want, "%d, %d", ref->rows, ref->cols);
        else
            snprintf(want, sizeof want, "%d", ref->rows);
        return err_set(err, "%s: tensor %s: shape [%s], expected [%s]", st_path(file), t->name, got,
                       want);
    }
    return st_to_f32(file, t, bert_params(m, NULL) + ref->offset, t->numel, err);
}

static int is_layernorm_weight(ParamId id) {
    return id == PT_EMB_LN_W || id == PT_ATTN_LN_W || id == PT_FFN_LN_W;
}

// transformers' _init_weights for one tensor: matrices (Linear weights,
// embeddings) normal(0, std), LayerNorm weights one, biases zero.
static void init_ref(Bert *m, const HfTensorRef *ref, float std, Rng *rng) {
    real *p = bert_params(m, NULL) + ref->offset;
    const real fill = is_layernorm_weight(ref->id) ? 1.0f : 0.0f;
    for (size_t k = 0; k < ref_numel(ref); k++)
        p[k] = ref->cols ? (real)(std * rng_normal(rng)) : fill;
}

// The family's prefix when the checkpoint stores the encoder under it (as
// ...ForSequenceClassification does), else "" (a bare BertModel).
static const char *stored_prefix(const StModel *st, const ModelFamily *family) {
    const StFile *file;
    char name[160];
    snprintf(name, sizeof name, "%s%s", family->tensor_prefix, global_names[0].name);  // word emb.
    return st_model_find(st, name, &file) ? family->tensor_prefix : "";
}

static int load_all(Bert *m, const ModelFamily *family, const StModel *st, const char *dir,
                    int allow_init, float init_std, uint64_t init_seed, int allow_nonfinite,
                    HfLoadReport *report, Err *err) {
    const BertConfig *c = bert_config(m);
    HfTensorRef *refs;
    int n = hf_tensor_refs(m, stored_prefix(st, family), &refs, err);
    if (n < 0) return -1;
    const StFile *file;
    const StTensor *pool = NULL, *head = NULL;
    for (int i = 0; i < n; i++) {
        if (refs[i].id == PT_POOL_W) pool = find_with_legacy(st, refs[i].name, &file);
        if (refs[i].id == PT_CLS_W) head = st_model_find(st, refs[i].name, &file);
    }
    int head_fits = head && head->ndim == 2 && head->shape[0] == c->num_labels &&
                    head->shape[1] == c->hidden_size;
    HfLoadReport local = {0};
    local.checkpoint_labels = head && head->ndim == 2 ? (int)head->shape[0] : 0;
    Rng rng;
    rng_seed(&rng, init_seed);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const HfTensorRef *ref = &refs[i];
        int init_pool = is_pooler(ref) && !pool, init_head = is_classifier(ref) && !head_fits;
        if (allow_init && (init_pool || init_head)) {
            init_ref(m, ref, init_std, &rng);
            local.pooler_initialised |= init_pool;
            local.classifier_initialised |= init_head;
            continue;
        }
        rc = load_ref(m, st, ref, dir, err);
    }
    free(refs);
    if (report) *report = local;
    if (rc == 0 && !allow_nonfinite) rc = hf_check_finite(m, family, dir, err);
    return rc;
}

Bert *hf_load_model(const char *dir, const HfConfig *config, int num_labels, int max_batch,
                    int max_seq, uint64_t init_seed, HfLoadReport *report, Err *err) {
    BertConfig cfg = config->bert;
    if (num_labels > 0) cfg.num_labels = num_labels;
    StModel *st = st_model_open(dir, err);
    if (!st) return NULL;
    Bert *m = bert_build(&cfg, max_batch, max_seq, err);
    if (m && load_all(m, config->family, st, dir, 1, config->initializer_range, init_seed,
                      config->allow_nonfinite, report, err) != 0) {
        bert_free(m);
        m = NULL;
    }
    st_model_close(st);
    return m;
}

Bert *hf_random_model(const HfConfig *config, int num_labels, int max_batch, int max_seq,
                      uint64_t seed, Err *err) {
    BertConfig cfg = config->bert;
    if (num_labels > 0) cfg.num_labels = num_labels;
    Bert *m = bert_build(&cfg, max_batch, max_seq, err);
    HfTensorRef *refs;
    int n = m ? hf_tensor_refs(m, "", &refs, err) : -1;
    if (n < 0) {
        bert_free(m);
        return NULL;
    }
    Rng rng;
    rng_seed(&rng, seed);
    for (int i = 0; i < n; i++) init_ref(m, &refs[i], config->initializer_range, &rng);
    free(refs);
    // nn.Embedding(padding_idx=pad_token_id) starts with that row zero.
    if (config->pad_token_id >= 0 && config->pad_token_id < cfg.vocab_size)
        memset(bert_param(m, PT_WORD_EMB) + (size_t)config->pad_token_id * cfg.hidden_size, 0,
               sizeof(real) * (size_t)cfg.hidden_size);
    return m;
}

int hf_load_params(Bert *m, const ModelFamily *family, const char *dir, Err *err) {
    StModel *st = st_model_open(dir, err);
    if (!st) return -1;
    int rc = load_all(m, family, st, dir, 0, 0.0f, 0, 0, NULL, err);
    st_model_close(st);
    return rc;
}

int hf_save_params(Bert *m, const ModelFamily *family, const char *dir, Err *err) {
    HfTensorRef *refs;
    int n = hf_tensor_refs(m, family->tensor_prefix, &refs, err);
    if (n < 0) return -1;
    StWriteTensor *tensors = err_calloc(err, (size_t)n, sizeof(StWriteTensor), "tensor list");
    int rc = -1;
    if (!tensors) goto done;
    for (int i = 0; i < n; i++) {
        tensors[i].name = refs[i].name;
        tensors[i].dtype = ST_F32;
        tensors[i].ndim = refs[i].cols ? 2 : 1;
        tensors[i].shape[0] = refs[i].rows;
        tensors[i].shape[1] = refs[i].cols;
        tensors[i].data = bert_params(m, NULL) + refs[i].offset;
    }
    char path[4096];
    if (path_join(path, sizeof path, dir, "model.safetensors", err) != 0) goto done;
    rc = st_write(path, tensors, n, NULL, 0, err);
done:
    free(refs);
    free(tensors);
    return rc;
}

// ------------------------------------------------------------ writing

cJSON *hf_json_read_object(const char *path, Err *err) {
    char *text;
    if (file_read_all(path, &text, NULL, err) != 0) return NULL;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        err_set(err, "%s: not a JSON object", path);
        return NULL;
    }
    return root;
}

int hf_json_set(cJSON *obj, const char *key, cJSON *value, const char *path, Err *err) {
    if (!value) return err_set(err, "%s: out of memory building field %s", path, key);
    cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
    cJSON_AddItemToObject(obj, key, value);
    return 0;
}

int hf_json_write(const char *path, const cJSON *root, Err *err) {
    char *out = cJSON_Print(root);
    if (!out) return err_set(err, "%s: out of memory printing JSON", path);
    int rc = file_write_atomic(path, out, strlen(out), err);
    free(out);
    return rc;
}

int hf_save_config(const char *src_dir, const char *dir, const BertConfig *cfg,
                   const ModelFamily *family, const char *const *label_names, Err *err) {
    char src[4096], dst[4096];
    if (path_join(src, sizeof src, src_dir, "config.json", err) != 0 ||
        path_join(dst, sizeof dst, dir, "config.json", err) != 0)
        return -1;
    cJSON *root = hf_json_read_object(src, err);
    if (!root) return -1;
    int rc = -1;
    cJSON *arch = cJSON_CreateArray(), *id2label = cJSON_CreateObject(),
          *label2id = cJSON_CreateObject();
    if (!arch || !id2label || !label2id) {
        cJSON_Delete(arch);
        cJSON_Delete(id2label);
        cJSON_Delete(label2id);
        err_set(err, "%s: out of memory", dst);
        goto done;
    }
    cJSON_AddItemToArray(arch, cJSON_CreateString(family->architecture));
    for (int i = 0; i < cfg->num_labels; i++) {
        char key[16], generic[32];
        snprintf(key, sizeof key, "%d", i);
        snprintf(generic, sizeof generic, "LABEL_%d", i);
        const char *name = label_names ? label_names[i] : generic;
        cJSON_AddItemToObject(id2label, key, cJSON_CreateString(name));
        cJSON_AddItemToObject(label2id, name, cJSON_CreateNumber(i));
    }
    const char *problem = cfg->num_labels == 1 ? "regression" : "single_label_classification";
    if (hf_json_set(root, "architectures", arch, dst, err) ||
        hf_json_set(root, "id2label", id2label, dst, err) ||
        hf_json_set(root, "label2id", label2id, dst, err) ||
        hf_json_set(root, "problem_type", cJSON_CreateString(problem), dst, err) ||
        hf_json_set(root, "attention_probs_fn",
                    cJSON_CreateString(attn_kind_name(cfg->attn.kind)), dst, err))
        goto done;
    cJSON_DeleteItemFromObjectCaseSensitive(root, "num_labels");
    cJSON_DeleteItemFromObjectCaseSensitive(root, "attention_r");
    // A multi-label head is marked again by hf_set_output_map: a
    // single-label run from a multi-label checkpoint must not keep them.
    cJSON_DeleteItemFromObjectCaseSensitive(root, "output_map");
    cJSON_DeleteItemFromObjectCaseSensitive(root, "output_r");
    cJSON_DeleteItemFromObjectCaseSensitive(root, "output_threshold");
    // A plain directory again (an export of a sparse map as the source):
    // remote_code_export adds the modeling code back where it is needed.
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    const ModelFamily *sparse = cJSON_IsString(type) ? family_find_sparse(type->valuestring) : NULL;
    if (sparse && hf_json_set(root, "model_type", cJSON_CreateString(sparse->model_type), dst, err))
        goto done;
    cJSON_DeleteItemFromObjectCaseSensitive(root, "auto_map");
    if (attn_map_has_param(cfg->attn) &&
        hf_json_set(root, "attention_r", cJSON_CreateNumber(cfg->attn.r), dst, err))
        goto done;
    rc = hf_json_write(dst, root, err);
done:
    cJSON_Delete(root);
    return rc;
}

int hf_is_tokenizer_file(const char *name) {
    static const char *const names[] = {"vocab.txt", "tokenizer.json", "tokenizer_config.json",
                                        "special_tokens_map.json", "added_tokens.json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0) return 1;
    size_t n = strlen(name);
    return n > 6 && strcmp(name + n - 6, ".model") == 0;
}

int hf_copy_tokenizer(const char *src_dir, const char *dir, Err *err) {
    DIR *d = opendir(src_dir);
    if (!d) return err_set(err, "%s: cannot open directory", src_dir);
    struct dirent *ent;
    int rc = 0, copied = 0;
    while (rc == 0 && (ent = readdir(d)) != NULL) {
        if (!hf_is_tokenizer_file(ent->d_name)) continue;
        char src[4096], dst[4096];
        rc = path_join(src, sizeof src, src_dir, ent->d_name, err);
        if (rc == 0) rc = path_join(dst, sizeof dst, dir, ent->d_name, err);
        if (rc == 0) rc = file_copy(src, dst, err);
        copied++;
    }
    closedir(d);
    if (rc == 0 && copied == 0) return err_set(err, "%s: no tokenizer files to copy", src_dir);
    return rc;
}

int hf_set_output_map(const char *dir, const OutputMap *map, Err *err) {
    char path[4096];
    if (path_join(path, sizeof path, dir, "config.json", err) != 0) return -1;
    cJSON *root = hf_json_read_object(path, err);
    if (!root) return -1;
    int rc = -1;
    if (hf_json_set(root, "problem_type", cJSON_CreateString("multi_label_classification"), path, err) ||
        hf_json_set(root, "output_map", cJSON_CreateString(output_map_name(map->kind)), path, err) ||
        hf_json_set(root, "output_threshold", cJSON_CreateNumber(map->threshold), path, err))
        goto done;
    cJSON_DeleteItemFromObjectCaseSensitive(root, "output_r");
    if (output_map_info(map->kind)->has_r &&
        hf_json_set(root, "output_r", cJSON_CreateNumber(map->r), path, err))
        goto done;
    rc = hf_json_write(path, root, err);
done:
    cJSON_Delete(root);
    return rc;
}
