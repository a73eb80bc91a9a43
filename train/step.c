#include "train/step.h"

#include <math.h>

#include "util/rng.h"

int train_step(Bert *model, Optimizer *optim, const Batch *b, const Dropout *dropout, long step,
               const StepSchedule *schedule, StepStats *stats, Err *err) {
    stats->tokens = 0;
    for (int i = 0; i < b->size; i++) stats->tokens += b->lengths[i];
    Dropout drop = *dropout;
    drop.seed = rng_hash(dropout->seed, (uint64_t)step);
    BertInput in = {b->size, b->T, b->ids, b->type_ids, b->lengths};
    if (bert_forward(model, &in, &drop, err) != 0) return -1;
    stats->loss = bert_loss(model, b->labels, b->targets);
    if (!isfinite(stats->loss))
        return err_set(err, "step %ld: the loss is %g; lower --lr or check the data", step + 1,
                       stats->loss);
    bert_zero_grads(model);
    if (bert_backward(model, err) != 0) return -1;
    stats->grad_norm = clip_grad_norm(model, schedule->clip);
    stats->lr = lr_at(schedule->lr, step, schedule->total_steps, schedule->warmup_steps);
    optim_step(optim, model, stats->lr, step);
    return 0;
}
