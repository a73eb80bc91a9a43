// Vectorizable exp and erf for the float32 engine's hot loops (GELU and the
// attention maps), where libm's scalar expf/erff were a fifth of a forward
// pass.  The double build (finite differences) keeps libm.
//   exp: Cephes-style range reduction + degree-6 polynomial, ~1 ulp on
//        [-104, 88.7] (denormal results included); 0 below -104.
//   erf: Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), the same formula
//        PyTorch's vectorized CPU erf uses, so GELU matches it closely.
#ifndef MODEL_FASTMATH_H
#define MODEL_FASTMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "model/real.h"

static inline float fast_expf(float x) {
    float clamped = x < -104.0f ? -104.0f : (x > 88.7f ? 88.7f : x);
    float n = rintf(clamped * 1.44269504088896341f);
    float r = fmaf(n, -0.693359375f, clamped);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p, r * r, r) + 1.0f;
    // 2^n in two factors when 2^n is below the normal range, so results
    // down to the denormals round once, as expf's do.
    int32_t ni = (int32_t)n, tiny = ni < -126;
    int32_t bits = ((tiny ? ni + 64 : ni) + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < -104.0f ? 0.0f : p * scale * (tiny ? 0x1p-64f : 1.0f);
}

static inline float fast_erff(float x) {
    float a = fabsf(x);
    float t = 1.0f / fmaf(0.3275911f, a, 1.0f);
    float poly = fmaf(fmaf(fmaf(fmaf(1.061405429f, t, -1.453152027f), t, 1.421413741f), t,
                           -0.284496736f), t, 0.254829592f);
    float y = 1.0f - poly * t * fast_expf(-a * a);
    return copysignf(y, x);
}

#if REAL_IS_DOUBLE
#define real_exp(x) exp(x)
#define real_erf(x) erf(x)
#else
#define real_exp(x) fast_expf(x)
#define real_erf(x) fast_erff(x)
#endif

#endif
