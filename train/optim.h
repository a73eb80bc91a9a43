// Optimisers over the flat parameter buffer, the learning-rate schedule and
// global-norm gradient clipping.  Float32 only (the training engine).
#ifndef TRAIN_OPTIM_H
#define TRAIN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "model/bert.h"
#include "util/err.h"

typedef enum { OPTIM_ADAMW = 0, OPTIM_SGD } OptimKind;

typedef struct {
    OptimKind kind;
    float lr;            // peak learning rate
    float weight_decay;  // not applied to biases and LayerNorm weights
    float beta1, beta2, eps;
} OptimConfig;

typedef struct Optimizer Optimizer;

// State sized for `model` (AdamW moments; SGD keeps none).
Optimizer *optim_build(const OptimConfig *cfg, Bert *model, Err *err);
void optim_free(Optimizer *opt);
// One update of every parameter with learning rate lr; `step` counts from 0.
// In bf16 precision it also refreshes the GEMM weights' bf16 copies (what
// bert_sync_weights does).  Returns 1 when an updated weight is not finite
// (the caller names it: hf_check_finite), else 0.
int optim_step(Optimizer *opt, Bert *model, float lr, long step);
// AdamW first and second moments ([num_params] each; NULL for SGD), for
// checkpoints.
float *optim_moments(Optimizer *opt, int which, size_t *count);

// transformers' get_linear_schedule_with_warmup: lr * min(s / W, (T - s) / (T - W)).
float lr_at(float peak, long step, long total_steps, long warmup_steps);
// ceil(ratio * total), as transformers' Trainer computes warmup steps.
long warmup_steps_for(double ratio, long total_steps);

// Scales gradients so their global L2 norm is at most max_norm (0: off);
// returns the norm before clipping.
double clip_grad_norm(Bert *model, float max_norm);

#endif
