#include "weights/family.h"

#include <stdio.h>
#include <string.h>

static const ModelFamily FAMILIES[] = {
    {.model_type = "bert", .tensor_prefix = "bert.", .head = HEAD_BERT,
     .positions = POSITIONS_FROM_ZERO, .tokenizer = TOK_WORDPIECE,
     .architecture = "BertForSequenceClassification",
     .sparse_model_type = "bert-sparse-attention", .sparse_class_prefix = "SparseAttnBert"},
    {.model_type = "xlm-roberta", .tensor_prefix = "roberta.", .head = HEAD_XLMR,
     .positions = POSITIONS_AFTER_PADDING, .tokenizer = TOK_SENTENCEPIECE,
     .architecture = "XLMRobertaForSequenceClassification",
     .sparse_model_type = "xlm-roberta-sparse-attention",
     .sparse_class_prefix = "SparseAttnXLMRoberta"},
};
enum { N_FAMILIES = sizeof FAMILIES / sizeof FAMILIES[0] };

const ModelFamily *family_find(const char *model_type) {
    for (int i = 0; i < N_FAMILIES; i++)
        if (strcmp(FAMILIES[i].model_type, model_type) == 0) return &FAMILIES[i];
    return family_find_sparse(model_type);
}

const ModelFamily *family_find_sparse(const char *model_type) {
    for (int i = 0; i < N_FAMILIES; i++)
        if (strcmp(FAMILIES[i].sparse_model_type, model_type) == 0) return &FAMILIES[i];
    return NULL;
}

const char *family_list(char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < N_FAMILIES && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s\"%s\"", i ? ", " : "", FAMILIES[i].model_type);
    return buf;
}

int family_first_position(const ModelFamily *family, int pad_token_id) {
    return family->positions == POSITIONS_AFTER_PADDING ? pad_token_id + 1 : 0;
}
