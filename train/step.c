#include "train/step.h"

#include <math.h>

#include "util/rng.h"
#include "weights/hf_model.h"

// After an update: weights that overflowed (a learning rate far too large)
// stop the run here, before anything of them is saved or scored.  One
// parallel scan; the tensor is looked up only on failure.
static int check_update_finite(Bert *model, long step, const StepStats *st, Err *err) {
    size_t n;
    const real *p = bert_params(model, &n);
    int bad = 0;
#pragma omp parallel for reduction(| : bad)
    for (size_t i = 0; i < n; i++) bad |= !isfinite(p[i]);
    Err which;
    if (!bad || hf_check_finite(model, NULL, "weights", &which) == 0) return 0;
    return err_set(err, "step %ld: the update with lr %g (loss %g, gradient norm %g) made the "
                   "weights non-finite (%s): stopped, nothing saved; lower --lr",
                   step + 1, st->lr, st->loss, st->grad_norm, which.msg);
}

#include "util/clock.h"

// Forward, loss and backward of one micro-batch, its gradient weighted by
// its share of the global batch (the loss is a mean over the global rows);
// returns its weighted loss.  Gradients accumulate.
static int micro_step(Bert *model, const MicroBatch *mb, const StepGlobal *g, const Dropout *drop,
                      double *weighted_loss, long *tokens, Err *err) {
    const Batch *b = mb->batch;
    for (int i = 0; i < b->size; i++) *tokens += b->lengths[i];
    Dropout d = *drop;
    d.row0 = mb->row0;
    d.mask_seq = g->global_seq;
    BertInput in = {b->size, b->T, b->ids, b->type_ids, b->lengths};
    if (bert_forward(model, &in, &d, err) != 0) return -1;
    const real loss = bert_loss(model, b->labels, b->targets);
    const float share = (float)b->size / (float)g->global_rows;
    // A batch that is the whole global batch keeps its gradient as is
    // (bit-identical to the single-process step).
    if (b->size != g->global_rows) bert_scale_loss_grad(model, share);
    *weighted_loss += b->size != g->global_rows ? (double)loss * share : (double)loss;
    return bert_backward(model, err);
}

int train_step_sharded(Bert *model, Optimizer *optim, const MicroBatch *micro, int num_micro,
                       const StepGlobal *g, const Dropout *dropout, long step,
                       const StepSchedule *schedule, StepStats *stats, Err *err) {
    Dropout drop = *dropout;
    drop.seed = rng_hash(dropout->seed, (uint64_t)step);
    double sums[2] = {0.0, 0.0};  // weighted loss, tokens: summed over the ranks
    long tokens = 0;
    bert_zero_grads(model);
    for (int k = 0; k < num_micro; k++)
        if (micro[k].batch && micro_step(model, &micro[k], g, &drop, &sums[0], &tokens, err) != 0)
            return -1;
    sums[1] = (double)tokens;
    size_t num_grads;
    real *grads = bert_grads(model, &num_grads);
    const double t0 = clock_seconds();
    if (dist_allreduce_sum(g->dist, grads, num_grads, "all-reducing gradients", err) != 0 ||
        dist_allreduce_sum_f64(g->dist, sums, 2, err) != 0)
        return err_prefix(err, "step %ld", step + 1);
    stats->reduce_seconds = g->dist->size > 1 ? clock_seconds() - t0 : 0.0;
    stats->loss = (float)sums[0];
    stats->tokens = (long)sums[1];
    stats->lr = lr_at(schedule->lr, step, schedule->total_steps, schedule->warmup_steps);
    if (!isfinite(stats->loss))
        return err_set(err, "step %ld: the loss is %g (lr %g): no update applied; lower --lr or "
                       "check the data", step + 1, stats->loss, stats->lr);
    stats->grad_norm = clip_grad_norm(model, schedule->clip);
    if (!isfinite(stats->grad_norm))
        return err_set(err, "step %ld: the gradient norm is %g (loss %g, lr %g): no update "
                       "applied, nothing saved; lower --lr or check the data",
                       step + 1, stats->grad_norm, stats->loss, stats->lr);
    optim_step(optim, model, stats->lr, step);
    return check_update_finite(model, step, stats, err);
}

int train_step(Bert *model, Optimizer *optim, const Batch *b, const Dropout *dropout, long step,
               const StepSchedule *schedule, StepStats *stats, Err *err) {
    const Dist one = dist_single();
    const MicroBatch whole = {b, 0};
    const StepGlobal g = {&one, b->size, 0};
    return train_step_sharded(model, optim, &whole, 1, &g, dropout, step, schedule, stats, err);
}
