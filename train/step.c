#include "train/step.h"

#include <math.h>

#include "util/clock.h"
#include "util/rng.h"
#include "weights/hf_model.h"

// After an update: weights that overflowed (a learning rate far too large)
// stop the run here, before anything of them is saved or scored.  The
// optimizer's pass flagged them (bad); the tensor is looked up only then.
static int check_update_finite(Bert *model, int bad, long step, const StepStats *st, Err *err) {
    Err which;
    if (!bad || hf_check_finite(model, NULL, "weights", &which) == 0) return 0;
    return err_set(err, "step %ld: the update with lr %g (loss %g, gradient norm %g) made the "
                   "weights non-finite (%s): stopped, nothing saved; lower --lr",
                   step + 1, st->lr, st->loss, st->grad_norm, which.msg);
}

// The micro-batch's mean loss and dL/dlogits: the multi-label output map's
// when it has multi-hot targets, else bert_loss.
static int step_loss(Bert *model, const MicroBatch *mb, const StepSchedule *schedule, real *loss,
                     Err *err) {
    if (!mb->multi_hot) {
        *loss = bert_loss(model, mb->batch->labels, mb->batch->targets);
        return 0;
    }
    return bert_loss_multilabel(model, schedule->output_map, mb->multi_hot, loss, err);
}

// Forward, loss and backward of one micro-batch, its gradient weighted by
// its share of the global batch (the loss is a mean over the global rows);
// returns its weighted loss.  Gradients accumulate.
static int micro_step(Bert *model, const MicroBatch *mb, const StepGlobal *g, const Dropout *drop,
                      const StepSchedule *schedule, double *weighted_loss, long *tokens,
                      Err *err) {
    const Batch *b = mb->batch;
    for (int i = 0; i < b->size; i++) *tokens += b->lengths[i];
    Dropout d = *drop;
    d.row0 = mb->row0;
    d.mask_seq = g->global_seq;
    BertInput in = {b->size, b->T, b->ids, b->type_ids, b->lengths};
    if (bert_forward(model, &in, &d, err) != 0) return -1;
    real loss;
    int rc = 0;
    PROFILE_SCOPE(bert_profile(model), PHASE_HEAD_LOSS) rc = step_loss(model, mb, schedule, &loss, err);
    if (rc != 0) return -1;
    const float share = (float)b->size / (float)g->global_rows;
    // A batch that is the whole global batch keeps its gradient as is
    // (bit-identical to the single-process step).
    if (b->size != g->global_rows) bert_scale_loss_grad(model, share);
    *weighted_loss += b->size != g->global_rows ? (double)loss * share : (double)loss;
    return bert_backward(model, err);
}

// The gradient all-reduce in buckets: each layer's 12 gradient slices start
// as soon as bert_backward has finished that layer (layers L-1 down to 0),
// overlapping the backward of the layers below; the embeddings, pooler and
// classifier start after the backward.  Every rank starts the same sums in
// the same order (MPI's rule for collectives), also a rank whose last
// micro-batch is empty and so runs no backward.
typedef struct {
    Bert *model;
    DistReduce *reduce;
    int next_layer;  // the next layer to start (counting down), -1 when all are
    int failed;
    Err err;
} GradReduce;

static void start_param_reduce(GradReduce *g, ParamId id, int layer) {
    const size_t n = bert_param_slice_numel(bert_config(g->model), id);
    real *grad = bert_grad(g->model, id) + (size_t)layer * n;  // layer 0: a tensor of its own
    if (!g->failed && dist_reduce_start(g->reduce, grad, n, &g->err) != 0) g->failed = 1;
}

static int param_per_layer(const Bert *model, ParamId id) {
    ParamInfo info;
    bert_param_info(bert_config(model), id, &info);
    return info.per_layer;
}

// BertLayerGradsHook: layer `layer`'s gradients are final.
static void start_layer_reduce(void *ctx, int layer) {
    GradReduce *g = ctx;
    for (int id = 0; id < PT_COUNT; id++)
        if (param_per_layer(g->model, (ParamId)id)) start_param_reduce(g, (ParamId)id, layer);
    g->next_layer = layer - 1;
}

// After the backward: the layers the hook did not start, then the rest;
// waits for all of them.
static int finish_grad_reduce(GradReduce *g, Err *err) {
    while (g->next_layer >= 0) start_layer_reduce(g, g->next_layer);
    for (int id = 0; id < PT_COUNT; id++)
        if (!param_per_layer(g->model, (ParamId)id)) start_param_reduce(g, (ParamId)id, 0);
    if (g->failed) {
        *err = g->err;
        return -1;
    }
    return dist_reduce_finish(g->reduce, "all-reducing gradients", err);
}

int train_step_sharded(Bert *model, Optimizer *optim, const MicroBatch *micro, int num_micro,
                       const StepGlobal *g, const Dropout *dropout, long step,
                       const StepSchedule *schedule, StepStats *stats, Err *err) {
    Dropout drop = *dropout;
    drop.seed = rng_hash(dropout->seed, (uint64_t)step);
    double sums[2] = {0.0, 0.0};  // weighted loss, tokens: summed over the ranks
    long tokens = 0;
    const int L = bert_config(model)->num_layers, shared = g->dist->size > 1;
    GradReduce reduce = {model, NULL, L - 1, 0, {{0}}};
    if (shared && !(reduce.reduce = dist_reduce_new(g->dist, PT_COUNT * L, err))) return -1;
    Profile *prof = bert_profile(model);  // phase timing (NULL: off)
    PROFILE_SCOPE(prof, PHASE_OPTIMIZER) bert_zero_grads(model);
    int rc = 0;
    for (int k = 0; k < num_micro && rc == 0; k++) {
        // The last micro-batch's backward makes the gradients final.
        if (shared && k == num_micro - 1) bert_on_layer_grads(model, start_layer_reduce, &reduce);
        if (micro[k].batch) rc = micro_step(model, &micro[k], g, &drop, schedule, &sums[0], &tokens, err);
    }
    bert_on_layer_grads(model, NULL, NULL);
    sums[1] = (double)tokens;
    const double t0 = clock_seconds();
    if (rc == 0 && shared &&
        (finish_grad_reduce(&reduce, err) != 0 || dist_allreduce_sum_f64(g->dist, sums, 2, err) != 0))
        rc = err_prefix(err, "step %ld", step + 1);
    dist_reduce_free(reduce.reduce);
    if (rc != 0) return -1;
    // The all-reduce time the backward did not hide.
    stats->reduce_seconds = shared ? clock_seconds() - t0 : 0.0;
    stats->loss = (float)sums[0];
    stats->tokens = (long)sums[1];
    stats->lr = lr_at(schedule->lr, step, schedule->total_steps, schedule->warmup_steps);
    if (!isfinite(stats->loss))
        return err_set(err, "step %ld: the loss is %g (lr %g): no update applied; lower --lr or "
                       "check the data", step + 1, stats->loss, stats->lr);
    PROFILE_SCOPE(prof, PHASE_CLIP_CHECKS) stats->grad_norm = clip_grad_norm(model, schedule->clip);
    if (!isfinite(stats->grad_norm))
        return err_set(err, "step %ld: the gradient norm is %g (loss %g, lr %g): no update "
                       "applied, nothing saved; lower --lr or check the data",
                       step + 1, stats->grad_norm, stats->loss, stats->lr);
    // The update also refreshes the bf16 weight copies and flags non-finite weights.
    int bad = 0;
    PROFILE_SCOPE(prof, PHASE_OPTIMIZER) bad = optim_step(optim, model, stats->lr, step);
    return check_update_finite(model, bad, step, stats, err);
}

int train_step(Bert *model, Optimizer *optim, const Batch *b, const Dropout *dropout, long step,
               const StepSchedule *schedule, StepStats *stats, Err *err) {
    const Dist one = dist_single();
    const MicroBatch whole = {b, 0, NULL};
    const StepGlobal g = {&one, b->size, 0};
    return train_step_sharded(model, optim, &whole, 1, &g, dropout, step, schedule, stats, err);
}
