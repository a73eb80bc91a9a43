#include "model/layers.h"

#include <omp.h>
#include <string.h>
#include <tgmath.h>

#include "model/fastmath.h"
#include "util/rng.h"

// ---------------------------------------------------------------- embeddings

void embeddings_forward(real *out, const int *ids, const int *type_ids, const real *word_emb,
                        const real *pos_emb, const real *type_emb, int B, int T, int H,
                        int position_offset) {
#pragma omp parallel for
    for (int n = 0; n < B * T; n++) {
        const real *w = word_emb + (size_t)ids[n] * H;
        const real *p = pos_emb + (size_t)(position_offset + n % T) * H;
        const real *t = type_emb + (size_t)type_ids[n] * H;
        real *o = out + (size_t)n * H;
        for (int i = 0; i < H; i++) o[i] = w[i] + t[i] + p[i];
    }
}

void embeddings_backward(real *dword, real *dpos, real *dtype, const real *dout, const int *ids,
                         const int *type_ids, const int *lengths, int B, int T, int H,
                         int position_offset) {
    // Serial on purpose: ids repeat within a batch, and this is ~N*H adds.
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < lengths[b]; t++) {
            int n = b * T + t;
            const real *d = dout + (size_t)n * H;
            real *w = dword + (size_t)ids[n] * H;
            real *p = dpos + (size_t)(position_offset + t) * H;
            real *ty = dtype + (size_t)type_ids[n] * H;
            for (int i = 0; i < H; i++) {
                w[i] += d[i];
                p[i] += d[i];
                ty[i] += d[i];
            }
        }
    }
}

// ------------------------------------------------------------------- linear

// Threads: OpenBLAS runs single-threaded (bert_set_threads) and every GEMM
// is split over OpenMP threads by rows of its output, so one thread pool
// does all the work and nothing spins against it.  Each thread's call covers
// a contiguous block of the batch x sequence rows.
static void gemm_rows(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, real alpha,
                      const real *A, int lda, const real *B, int ldb, real beta, real *C, int ldc) {
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int m0 = (int)((long)M * t / nt), m1 = (int)((long)M * (t + 1) / nt);
        // Row m of op(A) starts at A + m*lda (no transpose) or A + m (transposed).
        const real *a = A + (size_t)m0 * (ta == CblasNoTrans ? (size_t)lda : 1);
        if (m1 > m0)
            gemm(ta, tb, m1 - m0, N, K, alpha, a, lda, B, ldb, beta, C + (size_t)m0 * ldc, ldc);
    }
}

// out [N, C] (rows ldo apart) = bias [C] in every row: the GEMM then adds onto it.
static void bias_rows(real *out, int ldo, const real *bias, int N, int C) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * ldo, bias, sizeof(real) * C);
}

void linear_forward_strided(real *out, int ldo, const real *in, const real *weight,
                            const real *bias, int N, int K, int C) {
    bias_rows(out, ldo, bias, N, C);
    gemm_rows(CblasNoTrans, CblasTrans, N, C, K, 1.0f, in, K, weight, K, 1.0f, out, ldo);
}

void linear_forward(real *out, const real *in, const real *weight, const real *bias, int N, int K,
                    int C) {
    linear_forward_strided(out, C, in, weight, bias, N, K, C);
}

static void bias_backward(real *dbias, const real *dout, int N, int C);

void linear_backward(real *din, real *dweight, real *dbias, const real *dout, const real *in,
                     const real *weight, int N, int K, int C, int din_accumulate) {
    gemm_rows(CblasTrans, CblasNoTrans, C, K, N, 1.0f, dout, C, in, K, 1.0f, dweight, K);
    if (din)
        gemm_rows(CblasNoTrans, CblasNoTrans, N, K, C, 1.0f, dout, C, weight, K,
                  din_accumulate ? 1.0f : 0.0f, din, K);
    bias_backward(dbias, dout, N, C);
}

// dbias [C] += colsum(dout [N, C]).
static void bias_backward(real *dbias, const real *dout, int N, int C) {
    // Column blocks keep each thread on contiguous memory.
    enum { BLOCK = 64 };
#pragma omp parallel for
    for (int c0 = 0; c0 < C; c0 += BLOCK) {
        int c1 = c0 + BLOCK < C ? c0 + BLOCK : C;
        real acc[BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const real *d = dout + (size_t)n * C;
            for (int c = c0; c < c1; c++) acc[c - c0] += d[c];
        }
        for (int c = c0; c < c1; c++) dbias[c] += acc[c - c0];
    }
}

#if !REAL_IS_DOUBLE
// The bf16 GEMMs run from outside any parallel region, so oneDNN spreads
// each one over all our OpenMP threads itself (see gemm_bf16.h).
int linear_forward_bf16_strided(GemmContext *g, float *out, int ldo, const bf16 *in_h,
                                const bf16 *weight_h, const float *bias, int N, int K, int C,
                                Err *err) {
    return matmul_bf16_bias(g, CblasNoTrans, CblasTrans, N, C, K, in_h, K, weight_h, K, bias,
                            out, ldo, err);
}

int linear_forward_bf16(GemmContext *g, float *out, const bf16 *in_h, const bf16 *weight_h,
                        const float *bias, int N, int K, int C, Err *err) {
    return linear_forward_bf16_strided(g, out, C, in_h, weight_h, bias, N, K, C, err);
}

int linear_backward_bf16(GemmContext *g, float *din, float *dweight, float *dbias,
                         const float *dout, const bf16 *dout_h, const bf16 *in_h,
                         const bf16 *weight_h, int N, int K, int C, int din_accumulate, Err *err) {
    if (matmul_bf16(g, CblasTrans, CblasNoTrans, C, K, N, 1.0f, dout_h, C, in_h, K, 1.0f, dweight,
                    K, err) != 0)
        return -1;
    if (din && matmul_bf16(g, CblasNoTrans, CblasNoTrans, N, K, C, 1.0f, dout_h, C, weight_h, K,
                           din_accumulate ? 1.0f : 0.0f, din, K, err) != 0)
        return -1;
    bias_backward(dbias, dout, N, C);
    return 0;
}
#endif

// ---------------------------------------------------------------- layernorm

// LayerNorm's per-row sums run in double, one element after another, as a
// dependency chain of adds (about 4 cycles an element).  The loops below run
// LN_ROWS rows' chains side by side, element i of every row in turn: each
// row's sum still adds its elements in order, so the results are bit for bit
// those of one row at a time, but the chains overlap.  Measured at 32 x 128
// (2 threads, fp32, per pass): forward 17.5 -> 7 ms; forward and backward of
// a training step 33-37 -> 22-25 ms (the backward with 4 rows: 8 rows of two
// inputs each came out slower).
enum { LN_ROWS = 8, LN_BACKWARD_ROWS = 4 };

// sum [rows] and sumsq [rows] (of (x - mu)^2, when mu) over rows [rows, H].
static inline void ln_row_sums(double *sum, const real *x, int rows, int H) {
    for (int r = 0; r < rows; r++) sum[r] = 0.0;
    for (int i = 0; i < H; i++)
        for (int r = 0; r < rows; r++) sum[r] += x[(size_t)r * H + i];
}

static inline void ln_row_sq_sums(double *var, const real *x, const double *mu, int rows, int H) {
    for (int r = 0; r < rows; r++) var[r] = 0.0;
    for (int i = 0; i < H; i++)
        for (int r = 0; r < rows; r++) {
            double d = x[(size_t)r * H + i] - mu[r];
            var[r] += d * d;
        }
}

void layernorm_forward(real *out, real *mean, real *rstd, const real *in, const real *weight,
                       const real *bias, int N, int H, real eps) {
#pragma omp parallel for
    for (int n0 = 0; n0 < N; n0 += LN_ROWS) {
        const int rows = N - n0 < LN_ROWS ? N - n0 : LN_ROWS;
        const real *x0 = in + (size_t)n0 * H;
        double sum[LN_ROWS], mu[LN_ROWS], var[LN_ROWS];
        if (rows == LN_ROWS) ln_row_sums(sum, x0, LN_ROWS, H);  // constant count: unrolled
        else ln_row_sums(sum, x0, rows, H);
        for (int r = 0; r < rows; r++) mu[r] = sum[r] / H;
        if (rows == LN_ROWS) ln_row_sq_sums(var, x0, mu, LN_ROWS, H);
        else ln_row_sq_sums(var, x0, mu, rows, H);
        for (int r = 0; r < rows; r++) {
            const int n = n0 + r;
            const real *x = x0 + (size_t)r * H;
            real sc = (real)(1.0 / sqrt(var[r] / H + eps)), m = (real)mu[r];
            real *o = out + (size_t)n * H;
            for (int i = 0; i < H; i++) o[i] = ((x[i] - m) * sc) * weight[i] + bias[i];
            mean[n] = m;
            rstd[n] = sc;
        }
    }
}

// The backward's two row sums, interleaved over rows as in the forward.
static inline void ln_backward_sums(double *sum_dxhat, double *sum_dxhat_xhat, const real *x,
                                    const real *dy, const real *weight, const real *m,
                                    const real *s, int rows, int H) {
    for (int r = 0; r < rows; r++) sum_dxhat[r] = sum_dxhat_xhat[r] = 0.0;
    for (int i = 0; i < H; i++)
        for (int r = 0; r < rows; r++) {
            real dxhat = dy[(size_t)r * H + i] * weight[i];
            sum_dxhat[r] += dxhat;
            sum_dxhat_xhat[r] += dxhat * ((x[(size_t)r * H + i] - m[r]) * s[r]);
        }
}

void layernorm_backward(real *din, real *dweight, real *dbias, const real *dout, const real *in,
                        const real *weight, const real *mean, const real *rstd, int N, int H) {
#pragma omp parallel for
    for (int n0 = 0; n0 < N; n0 += LN_BACKWARD_ROWS) {
        const int rows = N - n0 < LN_BACKWARD_ROWS ? N - n0 : LN_BACKWARD_ROWS;
        const real *x0 = in + (size_t)n0 * H, *dy0 = dout + (size_t)n0 * H;
        double sum_dxhat[LN_BACKWARD_ROWS], sum_dxhat_xhat[LN_BACKWARD_ROWS];
        if (rows == LN_BACKWARD_ROWS)
            ln_backward_sums(sum_dxhat, sum_dxhat_xhat, x0, dy0, weight, mean + n0, rstd + n0,
                             LN_BACKWARD_ROWS, H);
        else
            ln_backward_sums(sum_dxhat, sum_dxhat_xhat, x0, dy0, weight, mean + n0, rstd + n0,
                             rows, H);
        for (int r = 0; r < rows; r++) {
            const int n = n0 + r;
            const real *x = x0 + (size_t)r * H, *dy = dy0 + (size_t)r * H;
            real m = mean[n], s = rstd[n];
            real mean_dxhat = (real)(sum_dxhat[r] / H),
                 mean_dxhat_xhat = (real)(sum_dxhat_xhat[r] / H);
            real *dx = din + (size_t)n * H;
            for (int i = 0; i < H; i++) {
                real xhat = (x[i] - m) * s;
                dx[i] += s * (dy[i] * weight[i] - mean_dxhat - xhat * mean_dxhat_xhat);
            }
        }
    }
    // Parameter gradients by column blocks: each sum runs over rows in a
    // fixed order, so results do not depend on thread scheduling.
    enum { BLOCK = 64 };
#pragma omp parallel for
    for (int c0 = 0; c0 < H; c0 += BLOCK) {
        int c1 = c0 + BLOCK < H ? c0 + BLOCK : H;
        real dw[BLOCK] = {0}, db[BLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const real *x = in + (size_t)n * H, *dy = dout + (size_t)n * H;
            real m = mean[n], s = rstd[n];
            for (int c = c0; c < c1; c++) {
                dw[c - c0] += dy[c] * ((x[c] - m) * s);
                db[c - c0] += dy[c];
            }
        }
        for (int c = c0; c < c1; c++) {
            dweight[c] += dw[c - c0];
            dbias[c] += db[c - c0];
        }
    }
}

// --------------------------------------------------------------------- gelu

// Serial elementwise kernels that the parallel loops below call on blocks,
// compiled twice: for AVX-512 (x86-64-v4: twice the vector width, and
// vpmullq for the dropout hash's 64-bit multiplies, which AVX2 emulates) and
// for the build's baseline; the loader picks one for the CPU it runs on.
// Each element goes through the same operations either way (no reductions
// here), so results are bit-identical across the two.
#if defined(__x86_64__) && defined(__GNUC__)
#define WIDE_KERNEL __attribute__((target_clones("arch=x86-64-v4", "default")))
#else
#define WIDE_KERNEL
#endif

// Elements per block of the parallel elementwise loops (16 KB of floats).
enum { ELEMENTWISE_BLOCK = 4096 };

// Elements in the block of n that starts at b.
static inline long block_len(long n, long b) {
    return n - b < ELEMENTWISE_BLOCK ? n - b : ELEMENTWISE_BLOCK;
}

WIDE_KERNEL static void gelu_block(real *out, const real *in, long n) {
    const real inv_sqrt2 = (real)0.70710678118654752440;
    for (long i = 0; i < n; i++) out[i] = 0.5f * in[i] * (1.0f + real_erf(in[i] * inv_sqrt2));
}

WIDE_KERNEL static void gelu_backward_block(real *din, const real *in, const real *dout, long n) {
    const real inv_sqrt2 = (real)0.70710678118654752440;
    const real inv_sqrt_2pi = (real)0.39894228040143267794;
    for (long i = 0; i < n; i++) {
        real x = in[i];
        real cdf = 0.5f * (1.0f + real_erf(x * inv_sqrt2));
        real pdf = real_exp(-0.5f * x * x) * inv_sqrt_2pi;
        din[i] = dout[i] * (cdf + x * pdf);
    }
}

void gelu_forward(real *out, const real *in, long n) {
#pragma omp parallel for
    for (long b = 0; b < n; b += ELEMENTWISE_BLOCK)
        gelu_block(out + b, in + b, block_len(n, b));
}

#if !REAL_IS_DOUBLE
void gelu_forward_bf16(bf16 *out_h, const float *in, long n) {
    // Each block into a float32 block on the stack, still in L1, then
    // rounded: the same bits as gelu_forward then float_to_bf16.
#pragma omp parallel for
    for (long b = 0; b < n; b += ELEMENTWISE_BLOCK) {
        float y[ELEMENTWISE_BLOCK];
        long len = block_len(n, b);
        gelu_block(y, in + b, len);
        float_to_bf16(out_h + b, y, (size_t)len);
    }
}
#endif

void gelu_backward(real *din, const real *in, const real *dout, long n) {
#pragma omp parallel for
    for (long b = 0; b < n; b += ELEMENTWISE_BLOCK)
        gelu_backward_block(din + b, in + b, dout + b, block_len(n, b));
}

// ------------------------------------------------------------------ dropout

// Each 64-bit hash gives the 16-bit draws of 4 consecutive elements.
static inline int dropout_keep(uint64_t key, long index, uint32_t threshold) {
    uint64_t bits = rng_hash(key, (uint64_t)index >> 2);
    return ((bits >> (16 * (index & 3))) & 0xFFFF) >= threshold;
}

static inline uint32_t dropout_threshold(float p) { return (uint32_t)lrint(p * 65536.0); }

// The global element index of local element i (identity without a frame).
static inline long frame_index(const DropoutFrame *f, long i) {
    if (!f) return i;
    const long row_len = (long)f->seq * f->inner, b = i / row_len, rest = i % row_len;
    return ((f->row0 + b) * f->mask_seq + rest / f->inner) * f->inner + rest % f->inner;
}

// Dropout of n elements whose mask indices run on from index0 (a stretch
// contiguous in the global numbering too): keep [i] drawn, out [i] = in [i] *
// scale where kept, else 0.  out may be in.  The index of each element is a
// sum, not a division: the loops calling it step by whole rows, so this
// loop vectorizes as the unframed one did.
WIDE_KERNEL static void dropout_span(real *out, const real *in, uint8_t *keep, long n,
                                     uint64_t key, long index0, uint32_t threshold, real scale) {
    for (long i = 0; i < n; i++) {
        keep[i] = (uint8_t)dropout_keep(key, index0 + i, threshold);
        out[i] = keep[i] ? in[i] * scale : 0.0f;
    }
}

void dropout_forward_framed(real *x, uint8_t *keep, long n, float p, uint64_t seed, uint64_t site,
                            const DropoutFrame *frame) {
    uint64_t key = rng_hash(seed, site);
    uint32_t threshold = dropout_threshold(p);
    real scale = (real)(1.0 / (1.0 - p));
    // A frame's rows of `inner` elements are contiguous in the global
    // numbering; without a frame, any blocks are.
    enum { UNFRAMED_BLOCK = 4096 };
    const long span = frame ? frame->inner : UNFRAMED_BLOCK, spans = (n + span - 1) / span;
#pragma omp parallel for
    for (long s = 0; s < spans; s++) {
        const long i0 = s * span, len = n - i0 < span ? n - i0 : span;
        dropout_span(x + i0, x + i0, keep + i0, len, key, frame_index(frame, i0), threshold, scale);
    }
}

void dropout_forward(real *x, uint8_t *keep, long n, float p, uint64_t seed, uint64_t site) {
    dropout_forward_framed(x, keep, n, p, seed, site, NULL);
}

WIDE_KERNEL static void dropout_backward_block(real *dx, const real *dout, const uint8_t *keep,
                                               long n, real scale) {
    for (long i = 0; i < n; i++) dx[i] = keep[i] ? dout[i] * scale : 0.0f;
}

void dropout_backward(real *dx, const real *dout, const uint8_t *keep, long n, float p) {
    real scale = (real)(1.0 / (1.0 - p));
#pragma omp parallel for
    for (long b = 0; b < n; b += ELEMENTWISE_BLOCK)
        dropout_backward_block(dx + b, dout + b, keep + b, block_len(n, b), scale);
}

void residual_forward(real *out, const real *in, long n) {
#pragma omp parallel for
    for (long i = 0; i < n; i++) out[i] += in[i];
}

// ---------------------------------------------------------------- attention

int attention_scratch_floats(int T) { return 2 * T * T + attn_scratch_floats(T); }

void attention_forward(real *ctx, real *scores, real *probs, real *probs_drop, uint8_t *keep,
                       real *aux, const real *qkv, const AttentionDims *d, uint64_t *zeros,
                       uint64_t *total) {
    const int B = d->B, T = d->T, H = d->H, NH = d->NH, D = H / NH, ld = 3 * H;
    const real scale = (real)(1.0 / sqrt((double)D));
    const uint64_t key = rng_hash(d->seed, d->site);
    const uint32_t threshold = dropout_threshold(d->dropout);
    const real keep_scale = (real)(1.0 / (1.0 - d->dropout));
    const long TM = d->mask_seq ? d->mask_seq : T;  // dropout masks: the global batch's frame
    uint64_t zero_count = 0, pair_count = 0;
    // Phase timing: each thread's time per part (profile.h).
    const double start = profile_now(d->prof);
    double products = 0, map = 0, dropout = 0;
#pragma omp parallel for schedule(dynamic) \
    reduction(+ : zero_count, pair_count, products, map, dropout)
    for (int bh = 0; bh < B * NH; bh++) {
        double lap = profile_now(d->prof);
        int b = bh / NH, h = bh % NH, len = d->lengths[b], q = d->cls_only ? 1 : len;
        real *row_scratch = d->scratch + (size_t)omp_get_thread_num() * d->scratch_stride;
        const real *Q = qkv + (size_t)b * T * ld + h * D, *K = Q + H, *V = Q + 2 * H;
        real *S = scores + (size_t)bh * T * T, *P = probs + (size_t)bh * T * T;
        real *Pd = d->dropout > 0 ? probs_drop + (size_t)bh * T * T : P;
        real *A = aux + (size_t)bh * T;
        gemm(CblasNoTrans, CblasTrans, q, len, D, scale, Q, ld, K, ld, 0.0f, S, T);
        profile_lap(d->prof, &lap, &products);
        for (int i = 0; i < q; i++) {
            real *p = P + (size_t)i * T;
            A[i] = attn_row_forward(d->map, S + (size_t)i * T, p, len, row_scratch);
            for (int j = len; j < T; j++) p[j] = 0.0f;
            if (zeros) {
                for (int j = 0; j < len; j++) zero_count += p[j] == 0.0f;
                pair_count += (uint64_t)len;
            }
        }
        memset(P + (size_t)q * T, 0, sizeof(real) * (size_t)(T - q) * T);
        profile_lap(d->prof, &lap, &map);
        if (d->dropout > 0) {
            uint8_t *kp = keep + (size_t)bh * T * T;
            const long base = ((d->row0 + b) * NH + h) * TM * TM;
            for (long i = 0; i < T; i++)  // query row i: mask indices base + i * TM + key
                dropout_span(Pd + i * T, P + i * T, kp + i * T, T, key, base + i * TM, threshold,
                             keep_scale);
            profile_lap(d->prof, &lap, &dropout);
        }
        real *C = ctx + (size_t)b * T * H + h * D;
        gemm(CblasNoTrans, CblasNoTrans, q, D, len, 1.0f, Pd, T, V, ld, 0.0f, C, H);
        for (int i = q; i < T; i++) memset(C + (size_t)i * H, 0, sizeof(real) * D);
        profile_lap(d->prof, &lap, &products);
    }
    // Dropout last: no part when it is off.
    profile_split(d->prof, profile_now(d->prof) - start,
                  (Phase[]){PHASE_ATTN_PRODUCTS_FWD, PHASE_ATTN_MAP_FWD, PHASE_DROPOUT},
                  (double[]){products, map, dropout}, d->dropout > 0 ? 3 : 2);
    if (zeros) {
        *zeros += zero_count;
        *total += pair_count;
    }
}

void attention_backward(real *dqkv, const real *dctx, const real *qkv, const real *scores,
                        const real *probs, const real *probs_drop, const uint8_t *keep,
                        const real *aux, const AttentionDims *d) {
    const int B = d->B, T = d->T, H = d->H, NH = d->NH, D = H / NH, ld = 3 * H;
    const real scale = (real)(1.0 / sqrt((double)D));
    const real keep_scale = (real)(1.0 / (1.0 - d->dropout));
    const double start = profile_now(d->prof);  // as in attention_forward
    double products = 0, map = 0, dropout = 0;
#pragma omp parallel for schedule(dynamic) reduction(+ : products, map, dropout)
    for (int bh = 0; bh < B * NH; bh++) {
        double lap = profile_now(d->prof);
        int b = bh / NH, h = bh % NH, len = d->lengths[b], q = d->cls_only ? 1 : len;
        real *dP = d->scratch + (size_t)omp_get_thread_num() * d->scratch_stride;
        real *dS = dP + (size_t)T * T, *row_scratch = dS + (size_t)T * T;
        const real *Q = qkv + (size_t)b * T * ld + h * D, *K = Q + H, *V = Q + 2 * H;
        const real *S = scores + (size_t)bh * T * T, *P = probs + (size_t)bh * T * T;
        const real *Pd = d->dropout > 0 ? probs_drop + (size_t)bh * T * T : P;
        const real *A = aux + (size_t)bh * T;
        const real *dC = dctx + (size_t)b * T * H + h * D;
        real *dQ = dqkv + (size_t)b * T * ld + h * D, *dK = dQ + H, *dV = dQ + 2 * H;
        gemm(CblasNoTrans, CblasTrans, q, len, D, 1.0f, dC, H, V, ld, 0.0f, dP, T);
        gemm(CblasTrans, CblasNoTrans, len, D, q, 1.0f, Pd, T, dC, H, 0.0f, dV, ld);
        profile_lap(d->prof, &lap, &products);
        if (d->dropout > 0) {
            for (int i = 0; i < q; i++) {
                real *dp = dP + (size_t)i * T;
                const uint8_t *kp = keep + ((size_t)bh * T + i) * T;
                for (int j = 0; j < len; j++) dp[j] = kp[j] ? dp[j] * keep_scale : 0.0f;
            }
            profile_lap(d->prof, &lap, &dropout);
        }
        for (int i = 0; i < q; i++)
            attn_row_backward(d->map, S + (size_t)i * T, P + (size_t)i * T, A[i],
                              dP + (size_t)i * T, dS + (size_t)i * T, len, row_scratch);
        profile_lap(d->prof, &lap, &map);
        gemm(CblasNoTrans, CblasNoTrans, q, D, len, scale, dS, T, K, ld, 0.0f, dQ, ld);
        gemm(CblasTrans, CblasNoTrans, len, D, q, scale, dS, T, Q, ld, 0.0f, dK, ld);
        for (int i = q; i < T; i++) memset(dQ + (size_t)i * ld, 0, sizeof(real) * D);
        for (int i = len; i < T; i++) {
            memset(dK + (size_t)i * ld, 0, sizeof(real) * D);
            memset(dV + (size_t)i * ld, 0, sizeof(real) * D);
        }
        profile_lap(d->prof, &lap, &products);
    }
    profile_split(d->prof, profile_now(d->prof) - start,
                  (Phase[]){PHASE_ATTN_PRODUCTS_BWD, PHASE_ATTN_MAP_BWD, PHASE_DROPOUT},
                  (double[]){products, map, dropout}, d->dropout > 0 ? 3 : 2);
}
