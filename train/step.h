// One training step: forward with dropout, loss, backward, gradient clipping
// and an optimizer update under the learning-rate schedule.  app/finetune.c
// runs the steps (batches, evaluation, checkpoints, logs).
#ifndef TRAIN_STEP_H
#define TRAIN_STEP_H

#include "model/bert.h"
#include "tasks/batcher.h"
#include "train/optim.h"
#include "util/err.h"

// What every step of a run shares.
typedef struct {
    float lr;           // peak learning rate: linear warmup, then linear decay to 0
    long total_steps, warmup_steps;
    float clip;         // max global gradient norm (0: no clipping)
    // Multi-label heads: the output map and the batch's multi-hot targets
    // [B, num_labels] (refilled per batch by the caller); NULL targets:
    // bert_loss on the batch's labels / regression targets.
    OutputMap output_map;
    const real *multi_hot;
} StepSchedule;

typedef struct {
    float loss;         // the batch's mean loss, before the update
    double grad_norm;   // global gradient norm before clipping
    float lr;           // the learning rate the update used
    long tokens;        // real (unpadded) tokens in the batch
} StepStats;

// Step `step` (from 0) of a run on `batch`.  dropout: the run's rates and
// seed; this step's masks use the seed rng_hash(dropout->seed, step), so a
// run is a pure function of its seed whatever step it resumes from.  Fails
// (err names the step) when the loss is not finite, before any update.
int train_step(Bert *model, Optimizer *optim, const Batch *batch, const Dropout *dropout,
               long step, const StepSchedule *schedule, StepStats *stats, Err *err);

#endif
