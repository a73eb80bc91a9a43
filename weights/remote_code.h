// Exports whose attention map transformers lacks (r-softmax, sparsemax,
// entmax-1.5) carry their own modeling code, the way the Hugging Face hub
// ships custom architectures: DIR/modeling_sparse_attention.py (the template
// weights/export_templates/modeling_sparse_attention.py, built into the
// binary) and, in config.json, a model_type of our own plus auto_map.
// AutoModelForSequenceClassification.from_pretrained(DIR,
// trust_remote_code=True) then computes our map; without trust_remote_code
// the Auto classes refuse the unknown model_type (an error, not softmax),
// and BertForSequenceClassification.from_pretrained warns that the
// model_type is not "bert".
#ifndef WEIGHTS_REMOTE_CODE_H
#define WEIGHTS_REMOTE_CODE_H

#include "model/bert.h"
#include "util/err.h"
#include "weights/family.h"

#define REMOTE_CODE_FILE "modeling_sparse_attention.py"

// For a map other than softmax: writes DIR/REMOTE_CODE_FILE and sets
// model_type, architectures and auto_map in DIR/config.json (written by
// hf_save_config) from the family's row (sparse_model_type,
// sparse_class_prefix; weights/family.c).  Softmax: nothing to do, the
// directory stays plain.
int remote_code_export(const char *dir, const BertConfig *cfg, const ModelFamily *family,
                       Err *err);

#endif
