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

// The batch's loss (into stats->loss) and dL/dlogits: the multi-label
// output map's when the schedule has targets, else bert_loss.
static int step_loss(Bert *model, const Batch *b, const StepSchedule *schedule,
                     StepStats *stats, Err *err) {
    if (!schedule->multi_hot) {
        stats->loss = bert_loss(model, b->labels, b->targets);
        return 0;
    }
    real loss;
    if (bert_loss_multilabel(model, schedule->output_map, schedule->multi_hot, &loss, err) != 0)
        return -1;
    stats->loss = loss;
    return 0;
}

int train_step(Bert *model, Optimizer *optim, const Batch *b, const Dropout *dropout, long step,
               const StepSchedule *schedule, StepStats *stats, Err *err) {
    stats->tokens = 0;
    for (int i = 0; i < b->size; i++) stats->tokens += b->lengths[i];
    Dropout drop = *dropout;
    drop.seed = rng_hash(dropout->seed, (uint64_t)step);
    BertInput in = {b->size, b->T, b->ids, b->type_ids, b->lengths};
    if (bert_forward(model, &in, &drop, err) != 0) return -1;
    if (step_loss(model, b, schedule, stats, err) != 0) return -1;
    stats->lr = lr_at(schedule->lr, step, schedule->total_steps, schedule->warmup_steps);
    if (!isfinite(stats->loss))
        return err_set(err, "step %ld: the loss is %g (lr %g): no update applied; lower --lr or "
                       "check the data", step + 1, stats->loss, stats->lr);
    bert_zero_grads(model);
    if (bert_backward(model, err) != 0) return -1;
    stats->grad_norm = clip_grad_norm(model, schedule->clip);
    if (!isfinite(stats->grad_norm))
        return err_set(err, "step %ld: the gradient norm is %g (loss %g, lr %g): no update "
                       "applied, nothing saved; lower --lr or check the data",
                       step + 1, stats->grad_norm, stats->loss, stats->lr);
    optim_step(optim, model, stats->lr, step);
    bert_sync_weights(model);  // bf16: the GEMMs' copies of the new weights
    return check_update_finite(model, step, stats, err);
}
