// float32 -> bf16 conversion kernels (see bf16.h for the rounding rule).
#ifndef MODEL_DOUBLE

#include "model/bf16.h"

#include <immintrin.h>
#include <omp.h>

static void cvt_portable(bf16 *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = bf16_from_float(src[i]);
}

// Compiled for AVX512-BF16 whatever -march says; only called after
// bf16_kernel_available() has seen the CPU flags.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) static void
cvt_avx512bf16(bf16 *dst, const float *src, size_t n) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 lo = _mm512_loadu_ps(src + i), hi = _mm512_loadu_ps(src + i + 16);
        __m512bh h = _mm512_cvtne2ps_pbh(hi, lo);  // first operand -> upper half
        _mm512_storeu_si512((void *)(dst + i), (__m512i)h);
    }
    if (i < n) {  // tail of 1..31: two masked halves
        size_t rest = n - i;
        __mmask16 m0 = (__mmask16)(rest >= 16 ? 0xFFFF : (1u << rest) - 1);
        __mmask16 m1 = (__mmask16)(rest > 16 ? (1u << (rest - 16)) - 1 : 0);
        __m256bh h0 = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m0, src + i));
        _mm256_mask_storeu_epi16(dst + i, m0, (__m256i)h0);
        if (m1) {
            __m256bh h1 = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m1, src + i + 16));
            _mm256_mask_storeu_epi16(dst + i + 16, m1, (__m256i)h1);
        }
    }
}

static int cpu_any(void) { return 1; }

static int cpu_avx512bf16(void) {
    // libgcc's flags include the OS check (XCR0 enables the AVX-512 state).
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
}

static const struct {
    const char *name;
    int (*available)(void);
    void (*convert)(bf16 *dst, const float *src, size_t n);
} KERNELS[BF16_KERNEL_COUNT] = {
    [BF16_KERNEL_PORTABLE] = {"portable", cpu_any, cvt_portable},
    [BF16_KERNEL_AVX512BF16] = {"avx512bf16", cpu_avx512bf16, cvt_avx512bf16},
};

const char *bf16_kernel_name(Bf16Kernel k) { return KERNELS[k].name; }

int bf16_kernel_available(Bf16Kernel k) { return KERNELS[k].available(); }

Bf16Kernel bf16_kernel_best(void) {
    for (int k = BF16_KERNEL_COUNT - 1; k > 0; k--)
        if (KERNELS[k].available()) return (Bf16Kernel)k;
    return BF16_KERNEL_PORTABLE;
}

void float_to_bf16_with(Bf16Kernel k, bf16 *dst, const float *src, size_t n) {
    KERNELS[k].convert(dst, src, n);
}

void float_to_bf16(bf16 *dst, const float *src, size_t n) {
    KERNELS[bf16_kernel_best()].convert(dst, src, n);
}

void float_to_bf16_rows(bf16 *dst, size_t ldd, const float *src, size_t lds, size_t rows,
                        size_t cols) {
    void (*convert)(bf16 *, const float *, size_t) = KERNELS[bf16_kernel_best()].convert;
    if (ldd == cols && lds == cols) {  // contiguous: even chunks, whatever the row length
        size_t n = rows * cols, chunk = 1 << 14;
#pragma omp parallel for schedule(static)
        for (size_t c = 0; c < (n + chunk - 1) / chunk; c++) {
            size_t i0 = c * chunk, len = n - i0 < chunk ? n - i0 : chunk;
            convert(dst + i0, src + i0, len);
        }
        return;
    }
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) convert(dst + r * ldd, src + r * lds, cols);
}

void bf16_to_float_n(float *dst, const bf16 *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = bf16_to_float(src[i]);
}

#endif
