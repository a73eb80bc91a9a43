#include "train/adamw.h"

#include <math.h>

// Compiled with -fno-math-errno -ffp-contract=off (Makefile, train/adamw.h).
int adamw_block(float *params, const float *grads, float *mom, float *vel, bf16 *copy, long n,
                const AdamWStep *a) {
    const float beta1 = a->beta1, beta2 = a->beta2, eps = a->eps, step_size = a->step_size,
                bc2_sqrt = a->bc2_sqrt;
    const float decay = fmaf(-a->lr, a->wd, 1.0f);  // p *= 1 - lr * wd
    int bad = 0;
    // m = lerp(m, g, 1 - beta1) as torch's lerp_; v = beta2 v + (1 - beta2) g^2.
#define ADAMW_ELEMENT(i)                                                          \
    float g = grads[i];                                                           \
    float m = fmaf(1.0f - beta1, g - mom[i], mom[i]);                             \
    float v = fmaf(beta2, vel[i], (1.0f - beta2) * g * g);                        \
    mom[i] = m;                                                                   \
    vel[i] = v;                                                                   \
    float p = params[i] * decay;                                                  \
    p = p - step_size * m / (sqrtf(v) / bc2_sqrt + eps);                          \
    params[i] = p;                                                                \
    bad |= !isfinite(p)
    if (copy) {
        for (long i = 0; i < n; i++) {
            ADAMW_ELEMENT(i);
            copy[i] = bf16_from_float(p);
        }
    } else {
        for (long i = 0; i < n; i++) {
            ADAMW_ELEMENT(i);
        }
    }
#undef ADAMW_ELEMENT
    return bad;
}
