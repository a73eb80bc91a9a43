// bf16 GEMM through oneDNN's matmul primitive: inputs in bf16, accumulation
// and output in float32.  oneDNN picks the kernel at run time: AMX-BF16,
// AVX512-BF16, or its emulation on plain AVX-512 (same results up to
// summation order, slower than OpenBLAS's fp32).  Debian's oneDNN 2.6 has no
// bf16 matmul at all below AVX-512 (an AVX2-only CPU): there the context
// refuses to build, with a message that says so.
//
// Threads: Debian's oneDNN runs on libgomp, the same OpenMP runtime as ours,
// so it uses our thread pool and our thread count (omp_set_num_threads, i.e.
// --threads).  Called outside a parallel region, one matmul spreads over all
// threads; called inside one (e.g. per attention head), each call runs on
// its own thread only.  Nothing oversubscribes.
//
// Primitives cost milliseconds to create, so the context caches them by
// shape (and by the number of threads they were made for); executing a
// cached one costs a few microseconds of setup.  The context is safe to use
// from several threads at once.
//
// Float32-only: the MODEL_DOUBLE build of model/ compiles this to nothing.
#ifndef MODEL_GEMM_BF16_H
#define MODEL_GEMM_BF16_H

#include <cblas.h>

#include "model/bf16.h"
#include "util/err.h"

typedef struct GemmContext GemmContext;

// How the cache treats M (the rows of C, i.e. batch x tokens, which varies
// with length-grouped batches).
// Measured (bench --gemm): oneDNN 2.6 serves runtime M with its older
// gemm:jit kernels, not brgemm (its AMX kernels are brgemm); creating a fixed-M
// brgemm primitive costs 0.3-0.7 ms (the first in a process ~5-20 ms).
// Use GEMM_M_EXACT; GEMM_M_RUNTIME is kept for the bench's comparison.
typedef enum {
    GEMM_M_EXACT = 0,  // one primitive per distinct M
    GEMM_M_RUNTIME,    // one primitive for every M (DNNL_RUNTIME_DIM_VAL)
} GemmMPolicy;

// Fails (NULL, err set) where gemm_bf16_available() is 0.
GemmContext *gemm_context_build(GemmMPolicy policy, Err *err);
void gemm_context_free(GemmContext *g);

// Row-major C[M,N] = alpha * op(A)[M,K] op(B)[K,N] + beta * C, as gemm() in
// model/real.h: op(A) is A[M,K] with row stride lda, or A stored [K,M] when
// ta == CblasTrans; likewise B.  beta == 0 ignores C's old contents.
// A, B bf16; C float32.  Returns 0, or -1 with err set (oneDNN refused the
// shape or ran out of memory).
int matmul_bf16(GemmContext *g, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K,
                float alpha, const bf16 *A, int lda, const bf16 *B, int ldb, float beta, float *C,
                int ldc, Err *err);

// C[M,N] = op(A) op(B) + bias [N] in every row (bias added by the
// primitive: no pass of its own, C not read).
int matmul_bf16_bias(GemmContext *g, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K,
                     const bf16 *A, int lda, const bf16 *B, int ldb, const float *bias, float *C,
                     int ldc, Err *err);

// Primitives in the cache, and the milliseconds spent creating them.
int gemm_context_primitives(const GemmContext *g);
double gemm_context_create_ms(const GemmContext *g);

// The implementation oneDNN chose for the last primitive created, e.g.
// "brg:avx512_core_amx" (empty before the first).
const char *gemm_context_last_impl(const GemmContext *g);

// The most capable instruction set oneDNN will use on this CPU, by name
// ("avx512_core_amx", "avx512_core_bf16", "avx512_core", "avx2", ...).
// DNNL_MAX_CPU_ISA=AVX512_CORE (say) in the environment lowers it.
const char *gemm_onednn_isa(void);

// Whether oneDNN can run bf16 matmuls here at all (AVX-512 or better), and
// the instruction set that runs them natively ("AMX-BF16", "AVX512-BF16"),
// or NULL where they are emulated or unavailable.
int gemm_bf16_available(void);
const char *gemm_bf16_native(void);

#endif
