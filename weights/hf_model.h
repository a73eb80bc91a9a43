// Hugging Face model directories <-> our model: config.json (read with
// cJSON), tensor names (with or without the family's `bert.` / `roberta.`
// prefix, legacy LayerNorm gamma/beta, optional pooler and classifier), and
// writing a directory back that `transformers` loads as the family's
// ...ForSequenceClassification.  What differs between families comes from
// their rows in weights/family.c.
#ifndef WEIGHTS_HF_MODEL_H
#define WEIGHTS_HF_MODEL_H

#include <stdint.h>

#include "model/bert.h"
#include "util/err.h"
#include "weights/family.h"

#define HF_MAX_LABELS 256  // debtags has 107 labels
#define HF_LABEL_MAX 64

typedef struct {
    BertConfig bert;        // architecture; num_labels from id2label / num_labels
    const ModelFamily *family;  // from model_type (default "bert")
    float initializer_range;
    int pad_token_id;
    // What the file says: hidden_dropout_prob, attention_probs_dropout_prob,
    // classifier_dropout (else hidden_dropout_prob); seed 0.
    Dropout dropout;
    int has_label_names;    // id2label present with non-generic names
    int num_label_names;
    char label_names[HF_MAX_LABELS][HF_LABEL_MAX];  // id -> name
    char problem_type[40];  // "", "regression", "single_label_classification",
                            // "multi_label_classification"
    // Multi-label checkpoints (ours): the head's output map, its r and the
    // threshold it predicts with (softmax: tuned on dev); docs/output-maps.md.
    int has_output_map;
    OutputMap output_map;
    int has_attn;           // our own fields attention_probs_fn / attention_r
    // Not from config.json: set by the caller (./evaluate --allow-nonfinite)
    // to let hf_load_model accept NaN / infinite weights.
    int allow_nonfinite;
} HfConfig;

// Reads DIR/config.json.  Unsupported settings (a hidden_act we lack, a
// position_embedding_type other than absolute, a decoder, ...) are refused
// with a message naming the field.
int hf_config_load(const char *dir, HfConfig *out, Err *err);
// The same for a config.json at PATH (build/bench --random-init).
int hf_config_load_file(const char *path, HfConfig *out, Err *err);

// What hf_load_model did about the parts a checkpoint may lack.
typedef struct {
    int pooler_initialised;      // no pooler in the checkpoint
    int classifier_initialised;  // no head, or one of another size
    int checkpoint_labels;       // size of the checkpoint's head (0 if none)
} HfLoadReport;

// Builds a model for `num_labels` outputs (0: as the config says) and fills
// it from DIR's model.safetensors (or sharded index).  A NaN or infinite
// weight is refused naming the tensor, unless config->allow_nonfinite.  Missing pooler or a
// head that does not fit is initialised as transformers does (normal with
// std initializer_range, zero bias) from init_seed; report says so.
Bert *hf_load_model(const char *dir, const HfConfig *config, int num_labels, int max_batch,
                    int max_seq, uint64_t init_seed, HfLoadReport *report, Err *err);

// A model of config's shapes with no checkpoint: transformers'
// initialisation (_init_weights) drawn from seed, weight matrices and
// embeddings normal(0, initializer_range) (the pad_token_id row of the word
// embeddings zero), biases zero, LayerNorm weights one.  For benchmarks of
// shapes we have no checkpoint of (build/bench --random-init).
Bert *hf_random_model(const HfConfig *config, int num_labels, int max_batch, int max_seq,
                      uint64_t seed, Err *err);

// Fills an existing model of `family` from DIR (same checks as above,
// without initialising anything: every tensor must be present and fit).
int hf_load_params(Bert *model, const ModelFamily *family, const char *dir, Err *err);

// Every Hugging Face tensor of a model and where it lives in the flat
// parameter buffer (the same offsets index the gradient buffer).  The
// encoder's names start with `prefix`: the family's tensor_prefix, as a
// ...ForSequenceClassification checkpoint has them, or "" (a bare
// BertModel); the head (classifier.*) never has one.  Returns the count and
// a malloc'ed array (caller frees).
typedef struct {
    char name[160];
    ParamId id;
    size_t offset;   // into bert_params() / bert_grads()
    int rows, cols;  // HF shape; cols == 0 for vectors
} HfTensorRef;
int hf_tensor_refs(Bert *model, const char *prefix, HfTensorRef **refs, Err *err);

// 0 when every weight is finite; otherwise names the first tensor and
// element that is NaN or infinite ("WHERE: tensor NAME: element K is nan"),
// with the family's tensor prefix (family NULL: the names without it).
// hf_load_model / hf_load_params refuse such weights the same way.
int hf_check_finite(Bert *model, const ModelFamily *family, const char *where, Err *err);

// Whether `name` is one of the tokenizer files hf_copy_tokenizer copies.
int hf_is_tokenizer_file(const char *name);

// Writes DIR/model.safetensors with Hugging Face names (the family's prefix,
// and classifier.*), written atomically.
int hf_save_params(Bert *model, const ModelFamily *family, const char *dir, Err *err);

// Writes DIR/config.json: the source directory's config.json with the
// classification fields (architectures: the family's, e.g.
// BertForSequenceClassification; id2label/label2id, problem_type) and our
// attention fields set.  label_names: num_labels names (NULL for regression
// or generic names).
int hf_save_config(const char *src_dir, const char *dir, const BertConfig *cfg,
                   const ModelFamily *family, const char *const *label_names, Err *err);

// config.json editing (hf_save_config, weights/remote_code.c): the JSON
// object in PATH (else NULL, err says why), a field replaced (value NULL:
// out of memory, an error naming the key), the object written back
// atomically.
struct cJSON;
struct cJSON *hf_json_read_object(const char *path, Err *err);
int hf_json_set(struct cJSON *obj, const char *key, struct cJSON *value, const char *path, Err *err);
int hf_json_write(const char *path, const struct cJSON *root, Err *err);

// Copies the tokenizer files present in src_dir (vocab.txt, tokenizer.json,
// tokenizer_config.json, special_tokens_map.json, added_tokens.json,
// *.model) into dir.
int hf_copy_tokenizer(const char *src_dir, const char *dir, Err *err);

// Marks DIR/config.json as a multi-label head: problem_type
// "multi_label_classification" (what transformers' sigmoid + BCE head
// reads) and our output_map / output_r / output_threshold fields.
int hf_set_output_map(const char *dir, const OutputMap *map, Err *err);

#endif
