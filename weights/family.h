// Model families: one row per Hugging Face encoder family we load.  Reading
// config.json, the tensor names, the tokenizer engine, export and the error
// messages all take what differs between families from these rows; adding a
// family (e.g. RoBERTa: model_type "roberta", prefix "roberta.", HEAD_XLMR,
// positions after padding, a byte-level BPE engine,
// RobertaForSequenceClassification, "roberta-sparse-attention",
// "SparseAttnRoberta" with its classes in
// weights/export_templates/modeling_sparse_attention.py) is one row here plus, if it needs one,
// a tokenizer engine row in tokenizer/.
#ifndef WEIGHTS_FAMILY_H
#define WEIGHTS_FAMILY_H

#include <stddef.h>

#include "model/bert.h"
#include "tokenizer/tokenizer.h"

// Where position ids start.
typedef enum {
    POSITIONS_FROM_ZERO,      // BERT: 0, 1, 2, ...
    POSITIONS_AFTER_PADDING,  // fairseq (RoBERTa, XLM-R): pad_token_id + 1, ...
} PositionRule;

typedef struct {
    const char *model_type;     // config.json "model_type"
    const char *tensor_prefix;  // encoder tensors in a ...ForSequenceClassification checkpoint
    HeadLayout head;            // pooler + classifier layout (model/bert.h)
    PositionRule positions;
    TokenizerKind tokenizer;    // the engine its checkpoints' tokenizer files need
    const char *architecture;   // config.json "architectures" on export
    // Exports of a map transformers lacks (weights/remote_code.h): our own
    // model_type and the classes of modeling_sparse_attention.py, whose
    // names are sparse_class_prefix + "Config" / "Model" /
    // "ForSequenceClassification".
    const char *sparse_model_type;
    const char *sparse_class_prefix;
} ModelFamily;

// The row for a config.json model_type (a family's own, or the
// sparse_model_type of our exports), or NULL.
const ModelFamily *family_find(const char *model_type);

// The row whose sparse_model_type this is, or NULL.
const ModelFamily *family_find_sparse(const char *model_type);

// The supported model_type values for a message: "\"bert\", \"xlm-roberta\"".
const char *family_list(char *buf, size_t cap);

// The first position id of a model of this family.
int family_first_position(const ModelFamily *family, int pad_token_id);

#endif
