// One training step: forward with dropout, loss, backward, gradient clipping
// and an optimizer update under the learning-rate schedule.  app/finetune.c
// runs the steps (batches, evaluation, checkpoints, logs).
#ifndef TRAIN_STEP_H
#define TRAIN_STEP_H

#include "model/bert.h"
#include "tasks/batcher.h"
#include "train/optim.h"
#include "util/dist.h"
#include "util/err.h"

// What every step of a run shares.
typedef struct {
    float lr;           // peak learning rate: linear warmup, then linear decay to 0
    long total_steps, warmup_steps;
    float clip;         // max global gradient norm (0: no clipping)
    // Multi-label heads: the output map whose loss the micro-batches'
    // multi-hot targets (MicroBatch.multi_hot) are scored with.
    OutputMap output_map;
} StepSchedule;

typedef struct {
    float loss;         // the batch's mean loss, before the update
    double grad_norm;   // global gradient norm before clipping
    float lr;           // the learning rate the update used
    long tokens;        // real (unpadded) tokens in the batch
    double reduce_seconds;  // time in the gradient all-reduce (0 with one rank)
} StepStats;

// Step `step` (from 0) of a run on `batch`.  dropout: the run's rates and
// seed; this step's masks use the seed rng_hash(dropout->seed, step), so a
// run is a pure function of its seed whatever step it resumes from.  Fails
// (err names the step) when the loss is not finite, before any update.
int train_step(Bert *model, Optimizer *optim, const Batch *batch, const Dropout *dropout,
               long step, const StepSchedule *schedule, StepStats *stats, Err *err);

// Data parallelism: one global batch of `global_rows` rows (padded to
// `global_seq` tokens) split over every rank and over micro-batches
// (gradient accumulation).  Each rank runs its micro-batches, weights each
// one's gradient by its share of the global rows, the gradients are summed
// over the ranks, and every rank clips and steps identically: the update
// one process would make on the whole batch, to fp32 summation order.
typedef struct {
    const Dist *dist;
    int global_rows, global_seq;
} StepGlobal;

// One of this rank's micro-batches: rows row0.. of the global batch (batch
// NULL: an empty shard, when the global batch has fewer rows than pieces).
// multi_hot: a multi-label head's targets [batch->size, num_labels] (1 for a
// true label), scored with the schedule's output map; NULL: bert_loss on
// the batch's labels / regression targets.
typedef struct {
    const Batch *batch;
    long row0;
    const real *multi_hot;
} MicroBatch;

// train_step over this rank's micro-batches of the global batch; stats
// (loss, tokens) are the global batch's on every rank.
int train_step_sharded(Bert *model, Optimizer *optim, const MicroBatch *micro, int num_micro,
                       const StepGlobal *global, const Dropout *dropout, long step,
                       const StepSchedule *schedule, StepStats *stats, Err *err);

#endif
