// ./attention: draws the attention probabilities of one forward pass, with
// the tokens as labels: every layer x head, one layer, one head or one
// (layer, head), for one model or two side by side.  Exact zeros are
// hatched, so they stand apart from small probabilities.
#ifndef APP_ATTENTION_VIEW_H
#define APP_ATTENTION_VIEW_H

#include "util/err.h"

typedef struct {
    const char *model_dir;    // HF directory or checkpoint
    const char *compare_dir;  // a second model drawn beside the first, or NULL
    const char *text;         // the input
    const char *pair;         // its second text, or NULL
    int layer, head;          // -1: all
    int max_len;
    const char *out;          // FILE.svg or FILE.html
} AttentionViewOptions;

int attention_view_run(const AttentionViewOptions *opt, Err *err);

#endif
