// bfloat16 storage for the mixed-precision path: the top 16 bits of an IEEE
// float32 (same exponent range, 8-bit significand).  GEMM inputs are stored
// in bf16, everything else stays float32 (see model/precision.h).
//
// Rounding is round-to-nearest-even, bit for bit what the AVX512-BF16
// instruction vcvtne2ps2bf16 and oneDNN's own conversion produce:
//   - normal numbers: nearest bf16, ties to even (PyTorch's rule too);
//     values past the largest bf16 round to +-Inf;
//   - +-Inf stays +-Inf; NaN stays NaN (sign and top payload bits kept,
//     quiet bit set);
//   - float32 subnormals (|x| < 2^-126) become a zero of the same sign.
// PyTorch's scalar conversion differs only in the last two rows (it keeps
// subnormals and writes NaN as 0x7FC0); neither occurs in a healthy model.
//
// This file is float32-only: the MODEL_DOUBLE build of model/ compiles it
// to nothing (bf16 has no meaning in the finite-difference build).
#ifndef MODEL_BF16_H
#define MODEL_BF16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef uint16_t bf16;

// One value, exact: bf16 -> float32 is a shift.
static inline float bf16_to_float(bf16 h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

// One value, rounded as above (the portable kernel's per-element rule).
static inline bf16 bf16_from_float(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t mag = u & 0x7FFFFFFFu;
    if (mag > 0x7F800000u) return (bf16)((u >> 16) | 0x0040u);  // NaN: quieted
    if (mag < 0x00800000u) return (bf16)((u >> 16) & 0x8000u);  // zero, subnormal
    return (bf16)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);      // normal, Inf
}

// The array kernels; one row per kernel in bf16.c's table.
typedef enum {
    BF16_KERNEL_PORTABLE = 0,  // plain C, auto-vectorised; any CPU
    BF16_KERNEL_AVX512BF16,    // vcvtne2ps2bf16; CPUs with AVX512-BF16
    BF16_KERNEL_COUNT
} Bf16Kernel;

const char *bf16_kernel_name(Bf16Kernel k);
// Whether this CPU (and OS) runs kernel k.
int bf16_kernel_available(Bf16Kernel k);
// The fastest available kernel (checked at run time, not at build time).
Bf16Kernel bf16_kernel_best(void);

// dst[i] = bf16_from_float(src[i]), i < n, with the given kernel (which must
// be available).  Same bits from every kernel.
void float_to_bf16_with(Bf16Kernel k, bf16 *dst, const float *src, size_t n);

// The same with the best kernel.  Cheap enough per row: call it right after
// computing a row of float32 results, while the row is still in L1
// (convert-on-write into a bf16 GEMM input buffer).
void float_to_bf16(bf16 *dst, const float *src, size_t n);

// dst[r*ldd + c] = bf16(src[r*lds + c]) for r < rows, c < cols, rows split
// over the OpenMP threads (serial when called inside a parallel region): for
// whole tensors, e.g. refreshing the bf16 weight copies after an optimizer
// step, or a strided slice such as one of Q, K, V in the fused QKV output.
void float_to_bf16_rows(bf16 *dst, size_t ldd, const float *src, size_t lds, size_t rows,
                        size_t cols);

// dst[i] = bf16_to_float(src[i]), i < n (exact).
void bf16_to_float_n(float *dst, const bf16 *src, size_t n);

#endif
