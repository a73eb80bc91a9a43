// Fine-tuning: the training loop with evaluation, progress, a JSONL log and
// resumable checkpoints (OUT/last, OUT/best).  cmd/finetune.c only parses
// options.
#ifndef APP_FINETUNE_H
#define APP_FINETUNE_H

#include <stdbool.h>
#include <stdint.h>

#include "train/optim.h"
#include "app/session.h"
#include "util/dist.h"
#include "util/err.h"

typedef struct {
    SessionOptions data;
    const char *out_dir;
    int epochs;
    float lr, weight_decay, clip;
    double warmup;       // fraction of the steps; double so ceil(warmup * steps) is Python's
    uint64_t seed;
    bool dropout_given;
    float dropout;       // --dropout: hidden, attention and classifier dropout
    OptimKind optim;
    long max_steps;      // > 0: total steps, overriding epochs
    long eval_every;     // > 0: also evaluate every N steps
    long save_every;     // > 0: also write OUT/last every N steps
    long stop_after;     // > 0: stop (saving OUT/last) after N steps of the schedule
    long log_every;      // progress line every N steps
    bool resume;         // continue from OUT/last
    int patience;        // > 0: stop after N evaluations without improvement (train/early_stop.h)
    double min_delta;    // the improvement that resets the patience count
    const char *metric_for_best;  // the dev metric that picks OUT/best; NULL: the primary score
    int grad_accum;      // micro-batches per optimizer step (per rank)
    const Dist *dist;    // the ranks sharing each global batch of --batch-size rows
} TrainOptions;

int finetune_run(const TrainOptions *opt, Err *err);

#endif
