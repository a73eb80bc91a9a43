// The AdamW update's inner loop, in a file of its own because it needs its
// own compiler flags (Makefile): -fno-math-errno, so that sqrtf vectorizes
// (vsqrtps rounds as sqrtf does), and -ffp-contract=off with the fused
// multiply-adds written out, so that the vectorized loop computes what the
// scalar loop before it computed, bit for bit (its contractions were
// m, v and 1 - lr * wd; vectorizing let the compiler fuse one more).
#ifndef TRAIN_ADAMW_H
#define TRAIN_ADAMW_H

#include "model/bf16.h"

typedef struct {
    float lr, wd, beta1, beta2, eps, step_size;
    float bc2_sqrt;  // sqrt(1 - beta2^(step + 1)), rounded to float
} AdamWStep;

// torch.optim.AdamW on n consecutive parameters (serial; the caller splits
// a tensor over threads): decoupled decay, then the bias-corrected update.
// From each new weight, still in a register, it writes copy [i], its bf16
// copy (copy NULL: none), and flags it when it is not finite: returns 1 if
// any is, else 0.  So neither needs a pass of its own over the weights.
int adamw_block(float *params, const float *grads, float *mom, float *vel, bf16 *copy, long n,
                const AdamWStep *a);

#endif
