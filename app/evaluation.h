// What ./evaluate does: scores a model on the dev or test split(s) of a task,
// writes predictions and metrics, and measures attention sparsity.
// cmd/evaluate.c only parses options.
#ifndef APP_EVALUATION_H
#define APP_EVALUATION_H

#include "app/session.h"
#include "util/err.h"

typedef struct {
    SessionOptions data;
    const char *split;         // "dev" or "test"
    const char *predictions;   // file, or NULL
    const char *metrics_out;   // file, or NULL
    const Dist *dist;          // the ranks sharing the batches; the root alone prints and writes
} EvaluationOptions;

int evaluation_run(const EvaluationOptions *opt, Err *err);

#endif
