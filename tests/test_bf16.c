// bf16 mixed precision's building blocks: float32 -> bf16 rounding against
// an independent reference (round-to-nearest-even computed in double with
// frexp / nearbyint, and hand-derived vectors), every conversion kernel
// against it, and oneDNN's bf16 matmul against a double-precision GEMM on the
// same bf16 inputs, at the model's shapes and awkward ones.  Neither needs a
// bf16-capable CPU except the AVX512-BF16 conversion kernel, which says so
// when it skips (oneDNN emulates bf16 on any x86-64).
#include <check.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/bf16.h"
#include "model/gemm_bf16.h"
#include "model/layers.h"
#include "model/precision.h"
#include "util/rng.h"

static float from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static uint32_t to_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

// The reference: a normal float rounded to 8 significant bits, ties to even,
// in double arithmetic (nearbyint rounds half to even in the default mode).
// The result can be 2^128, which the caller reads as overflow to Inf.
static double rne8_reference(float x) {
    int e;
    double m = frexp((double)x, &e);  // |m| in [0.5, 1): 8 bits = m * 2^8
    return ldexp(nearbyint(ldexp(m, 8)), e - 8);
}

// Checks one conversion result h of input x against the rules in bf16.h.
static void check_one(const char *kernel, float x, bf16 h) {
    uint32_t u = to_bits(x);
    float got = bf16_to_float(h);
    if (isnan(x)) {
        ck_assert_msg(isnan(got) && (h >> 15) == (u >> 31) && (h & 0x40),
                      "%s: NaN %08x -> %04x (want a quiet NaN of the same sign)", kernel, u, h);
        ck_assert_msg((h | 0x40) == ((u >> 16) | 0x40), "%s: NaN %08x payload -> %04x", kernel, u,
                      h);
    } else if (fpclassify(x) == FP_SUBNORMAL || x == 0.0f) {
        ck_assert_msg(got == 0.0f && signbit(got) == signbit(x), "%s: %08x -> %04x (want +-0)",
                      kernel, u, h);
    } else {
        double want = isinf(x) ? (double)x : rne8_reference(x);
        if (fabs(want) >= 0x1p128) want = copysign(INFINITY, want);
        ck_assert_msg((double)got == want, "%s: %08x (%a) -> %04x (%a), want %a", kernel, u,
                      (double)x, h, (double)got, want);
    }
}

// Hand-derived from the rule: bf16 keeps 7 fraction bits, so at 1.0 the
// spacing is 2^-7 and 1 + 2^-8 is a tie.
START_TEST(test_known_vectors) {
    static const struct {
        uint32_t in;
        bf16 want;
        const char *why;
    } V[] = {
        {0x3F800000, 0x3F80, "1.0 exact"},
        {0x3F808000, 0x3F80, "1 + 2^-8: tie, to even (down)"},
        {0x3F818000, 0x3F82, "1 + 3*2^-8: tie, to even (up)"},
        {0x3F808001, 0x3F81, "just above the tie: up"},
        {0x3F807FFF, 0x3F80, "just below the tie: down"},
        {0xBF808000, 0xBF80, "-(1 + 2^-8): sign kept, to even"},
        {0x7F7FFFFF, 0x7F80, "FLT_MAX overflows to +Inf"},
        {0x7F7F7FFF, 0x7F7F, "largest float that stays finite"},
        {0x7F800000, 0x7F80, "+Inf"},
        {0xFF800000, 0xFF80, "-Inf"},
        {0x7FC00000, 0x7FC0, "quiet NaN"},
        {0x7F800001, 0x7FC0, "signalling NaN, low payload: quieted"},
        {0xFFA00000, 0xFFE0, "negative NaN with payload: sign and payload kept, quieted"},
        {0x00000001, 0x0000, "smallest subnormal: +0"},
        {0x807FFFFF, 0x8000, "largest negative subnormal: -0"},
        {0x00800000, 0x0080, "smallest normal"},
        {0x80000000, 0x8000, "-0"},
    };
    for (int k = 0; k < BF16_KERNEL_COUNT; k++) {
        if (!bf16_kernel_available((Bf16Kernel)k)) continue;
        for (size_t i = 0; i < sizeof V / sizeof *V; i++) {
            float x = from_bits(V[i].in);
            bf16 h;
            float_to_bf16_with((Bf16Kernel)k, &h, &x, 1);
            ck_assert_msg(h == V[i].want, "%s: %s: %08x -> %04x, want %04x",
                          bf16_kernel_name((Bf16Kernel)k), V[i].why, V[i].in, h, V[i].want);
            check_one(bf16_kernel_name((Bf16Kernel)k), x, h);
        }
    }
    ck_assert_uint_eq(bf16_from_float(from_bits(0x3F818000)), 0x3F82);
}
END_TEST

// Every sign and exponent and upper fraction (all 65536 upper halves), each
// with the low halves that decide rounding (0, 1, just below / at / above the
// tie, all ones) and a random one, through each kernel in one long call
// (length not a multiple of the vector width) and at odd offsets and lengths
// (the masked tails).
START_TEST(test_kernels_against_reference) {
    static const uint32_t LOW[] = {0x0000, 0x0001, 0x7FFF, 0x8000, 0x8001, 0xFFFF, 0};
    enum { NLOW = sizeof LOW / sizeof *LOW };
    size_t n = (size_t)65536 * NLOW + 5;
    float *x = malloc(n * sizeof *x);
    bf16 *h = malloc(n * sizeof *h), *part = malloc(n * sizeof *part);
    ck_assert(x && h && part);
    Rng rng;
    rng_seed(&rng, 12);
    for (size_t i = 0; i < n; i++) {
        uint32_t hi = (uint32_t)(i / NLOW) & 0xFFFF, lo = LOW[i % NLOW];
        if (i % NLOW == NLOW - 1) lo = (uint32_t)rng_below(&rng, 0x10000);
        x[i] = from_bits(hi << 16 | lo);
    }
    int ran = 0;
    for (int k = 0; k < BF16_KERNEL_COUNT; k++) {
        const char *name = bf16_kernel_name((Bf16Kernel)k);
        if (!bf16_kernel_available((Bf16Kernel)k)) {
            fprintf(stderr, "bf16: kernel %s skipped: this CPU lacks AVX512-BF16\n", name);
            continue;
        }
        float_to_bf16_with((Bf16Kernel)k, h, x, n);
        for (size_t i = 0; i < n; i++) check_one(name, x[i], h[i]);
        // Short calls at odd offsets must give the same bits as the long one.
        memset(part, 0, n * sizeof *part);
        for (size_t off = 3, len = 1; off + len <= n && len <= 100; off += len + 7, len++) {
            float_to_bf16_with((Bf16Kernel)k, part + off, x + off, len);
            ck_assert_msg(memcmp(part + off, h + off, len * sizeof *h) == 0,
                          "%s: call of length %zu at %zu differs", name, len, off);
            ck_assert_msg(part[off + len] == 0, "%s: length %zu wrote past its end", name, len);
        }
        ran++;
    }
    ck_assert_int_ge(ran, 1);
    free(x), free(h), free(part);
}
END_TEST

// bf16 -> float32 is exact: every bf16 that is not NaN or subnormal survives
// the round trip unchanged.
START_TEST(test_round_trip) {
    bf16 all[65536];
    float f[65536];
    for (int i = 0; i < 65536; i++) all[i] = (bf16)i;
    bf16_to_float_n(f, all, 65536);
    for (int i = 0; i < 65536; i++) {
        ck_assert_uint_eq(to_bits(f[i]), (uint32_t)i << 16);
        if (isnan(f[i]) || fpclassify(f[i]) == FP_SUBNORMAL) continue;
        ck_assert_uint_eq(bf16_from_float(f[i]), all[i]);
    }
}
END_TEST

// The strided / threaded whole-tensor conversion: same bits as one value at a
// time, padding columns untouched.
START_TEST(test_rows) {
    enum { ROWS = 37, COLS = 51, LDS = 64, LDD = 60 };
    float *src = malloc(sizeof(float) * ROWS * LDS);
    bf16 *dst = malloc(sizeof(bf16) * ROWS * LDD);
    ck_assert(src && dst);
    Rng rng;
    rng_seed(&rng, 3);
    for (int i = 0; i < ROWS * LDS; i++) src[i] = (float)rng_normal(&rng);
    memset(dst, 0xAB, sizeof(bf16) * ROWS * LDD);
    float_to_bf16_rows(dst, LDD, src, LDS, ROWS, COLS);
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < LDD; c++)
            ck_assert_uint_eq(dst[r * LDD + c],
                              c < COLS ? bf16_from_float(src[r * LDS + c]) : 0xABAB);
    // Contiguous: split in chunks over the threads.
    size_t n = 100003;
    float *big = malloc(sizeof(float) * n);
    bf16 *bh = malloc(sizeof(bf16) * n);
    ck_assert(big && bh);
    for (size_t i = 0; i < n; i++) big[i] = (float)rng_normal(&rng) * 1e3f;
    float_to_bf16_rows(bh, 1001, big, 1001, n / 1001, 1001);
    for (size_t i = 0; i < n / 1001 * 1001; i++) ck_assert_uint_eq(bh[i], bf16_from_float(big[i]));
    free(src), free(dst), free(big), free(bh);
}
END_TEST

// ------------------------------------------------------------------ matmul

typedef struct {
    int ta, tb, M, N, K, lda, ldb, ldc;
    float alpha, beta;
} Case;

// Random bf16 values (normal, scaled) for a matrix of `numel` entries.
static bf16 *random_bf16(Rng *rng, size_t numel, float scale) {
    bf16 *m = malloc((numel + 1) * sizeof *m);  // + 1: K = 0 makes empty matrices
    ck_assert(m);
    for (size_t i = 0; i < numel; i++) m[i] = bf16_from_float((float)rng_normal(rng) * scale);
    return m;
}

// A context, or NULL after saying why the test is skipped: oneDNN 2.6 has no
// bf16 matmul below AVX-512 (the context's refusal is the precision's
// documented behaviour there; every bf16-capable host runs these tests).
static GemmContext *context_or_skip(GemmMPolicy policy, const char *test) {
    if (!gemm_bf16_available()) {
        fprintf(stderr, "bf16: %s skipped: oneDNN has no bf16 matmul on this CPU (ISA %s)\n",
                test, gemm_onednn_isa());
        return NULL;
    }
    Err err;
    GemmContext *g = gemm_context_build(policy, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    return g;
}

// Random normal float32 values.
static float *random_f32(Rng *rng, size_t n) {
    float *x = malloc(n * sizeof *x);
    ck_assert(x);
    for (size_t i = 0; i < n; i++) x[i] = (float)rng_normal(rng);
    return x;
}

// Asserts C == alpha op(A) op(B) + beta C0, computed in double over the
// bf16 inputs, within the error bound of any float32 summation order:
// products of two bf16 are exact in float32, so the error is that of K-1
// float32 additions, at most (K-1) u sum|a b|, u = 2^-24 (Higham, Accuracy
// and Stability, 3.1), plus one rounding each for alpha's product and beta's
// sum.  We allow (K + 2) u (sum |alpha a b| + |beta c0|).  Columns past N
// (C's padding) must be untouched.
static void assert_gemm(const char *what, const Case *c, const bf16 *A, const bf16 *B,
                        const float *C0, const float *C) {
    for (int m = 0; m < c->M; m++) {
        for (int n = 0; n < c->ldc; n++) {
            float got = C[(size_t)m * c->ldc + n];
            if (n >= c->N) {
                ck_assert(memcmp(&got, &C0[(size_t)m * c->ldc + n], sizeof got) == 0);
                continue;
            }
            double sum = 0, mag = 0;
            for (int k = 0; k < c->K; k++) {
                double a = bf16_to_float(c->ta ? A[(size_t)k * c->lda + m] : A[(size_t)m * c->lda + k]);
                double b = bf16_to_float(c->tb ? B[(size_t)n * c->ldb + k] : B[(size_t)k * c->ldb + n]);
                sum += a * b;
                mag += fabs(a * b);
            }
            double c0 = c->beta != 0.0f ? C0[(size_t)m * c->ldc + n] : 0.0;
            double want = c->alpha * sum + c->beta * c0;
            double tol = (c->K + 2) * 0x1p-24 * (fabs(c->alpha) * mag + fabs(c->beta * c0));
            ck_assert_msg(fabs(got - want) <= tol,
                          "%s: %s%s M=%d N=%d K=%d alpha=%g beta=%g: C[%d,%d] = %.9g, want %.9g "
                          "(tolerance %.3g)",
                          what, c->ta ? "A^T" : "A", c->tb ? " B^T" : " B", c->M, c->N, c->K,
                          (double)c->alpha, (double)c->beta, m, n, (double)got, want, tol);
        }
    }
}

// One matmul_bf16 call on random inputs, checked by assert_gemm.
static void check_case(GemmContext *g, const Case *c, Rng *rng) {
    int arows = c->ta ? c->K : c->M, brows = c->tb ? c->N : c->K;
    bf16 *A = random_bf16(rng, (size_t)arows * c->lda, 1.0f);
    bf16 *B = random_bf16(rng, (size_t)brows * c->ldb, 0.5f);
    float *C = malloc(sizeof(float) * c->M * c->ldc), *C0 = malloc(sizeof(float) * c->M * c->ldc);
    ck_assert(C && C0);
    for (int i = 0; i < c->M * c->ldc; i++)
        C0[i] = c->beta != 0.0f ? (float)rng_normal(rng) : NAN;  // beta 0 must ignore C
    memcpy(C, C0, sizeof(float) * c->M * c->ldc);
    Err err;
    int rc = matmul_bf16(g, c->ta ? CblasTrans : CblasNoTrans, c->tb ? CblasTrans : CblasNoTrans,
                         c->M, c->N, c->K, c->alpha, A, c->lda, B, c->ldb, c->beta, C, c->ldc,
                         &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
    assert_gemm("matmul_bf16", c, A, B, C0, C);
    free(A), free(B), free(C), free(C0);
}

// The model's GEMMs (MiniLM: H 384, FF 1536, head size 32, T 128) with M cut
// to two sequences, as linear_forward / linear_backward / attention call
// them, then odd shapes.
static const Case CASES[] = {
    // linear_forward: out[N,C] += in[N,K] W[C,K]^T
    {0, 1, 256, 1152, 384, 384, 384, 1152, 1.0f, 1.0f},
    {0, 1, 256, 384, 384, 384, 384, 384, 1.0f, 1.0f},
    {0, 1, 256, 1536, 384, 384, 384, 1536, 1.0f, 1.0f},
    {0, 1, 256, 384, 1536, 1536, 1536, 384, 1.0f, 1.0f},
    // linear_backward: dW[C,K] += dout[N,C]^T in[N,K]; din[N,K] = dout W
    {1, 0, 384, 1536, 256, 384, 1536, 1536, 1.0f, 1.0f},
    {0, 0, 256, 384, 1536, 1536, 384, 384, 1.0f, 0.0f},
    // attention, one head: S = scale Q K^T, C = P V, dV = P^T dC
    {0, 1, 128, 128, 32, 1152, 1152, 128, 0.17677669f, 0.0f},
    {0, 0, 128, 32, 128, 128, 1152, 384, 1.0f, 0.0f},
    {1, 0, 128, 32, 128, 128, 384, 1152, 1.0f, 0.0f},
    // odd: one row, K not a multiple of 16 (or of anything), all transposes,
    // padded leading dimensions, alpha and beta not 1
    {0, 0, 1, 384, 384, 384, 384, 384, 1.0f, 0.0f},
    {0, 1, 1, 2, 384, 384, 384, 2, 1.0f, 1.0f},
    {0, 0, 7, 13, 17, 20, 15, 14, 0.5f, 1.0f},
    {1, 0, 7, 13, 17, 9, 13, 13, 1.0f, -0.25f},
    {0, 1, 7, 13, 17, 17, 19, 13, -2.0f, 0.0f},
    {1, 1, 7, 13, 17, 8, 18, 16, 1.0f, 1.0f},
    {1, 1, 33, 1, 1, 40, 1, 1, 1.0f, 0.0f},
    {0, 0, 5, 300, 1000, 1001, 301, 300, 1.0f, 1.0f},
    {0, 0, 3, 5, 0, 1, 5, 6, 1.0f, 0.5f},  // K = 0: C = beta C
    {0, 0, 3, 5, 0, 1, 5, 5, 1.0f, 0.0f},
};

START_TEST(test_matmul_against_double) {
    Rng rng;
    rng_seed(&rng, 99);
    for (int policy = GEMM_M_EXACT; policy <= GEMM_M_RUNTIME; policy++) {
        GemmContext *g = context_or_skip((GemmMPolicy)policy, "matmul tests");
        if (!g) return;
        for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) check_case(g, &CASES[i], &rng);
        gemm_context_free(g);
    }
}
END_TEST

// The cache: a repeated shape reuses its primitive; under GEMM_M_RUNTIME
// other row counts do too; concurrent calls from an OpenMP loop (as per
// attention head) give the right answers, and a shape used both inside and
// outside a parallel region is correct in both.
START_TEST(test_cache_and_threads) {
    Err err;
    Rng rng;
    rng_seed(&rng, 5);
    GemmContext *g = context_or_skip(GEMM_M_EXACT, "cache tests");
    if (!g) return;
    Case c = {0, 1, 64, 96, 48, 48, 48, 96, 1.0f, 0.0f};
    check_case(g, &c, &rng);
    check_case(g, &c, &rng);
    ck_assert_int_eq(gemm_context_primitives(g), 1);
    c.M = 65;
    check_case(g, &c, &rng);
    ck_assert_int_eq(gemm_context_primitives(g), 2);
    gemm_context_free(g);

    g = gemm_context_build(GEMM_M_RUNTIME, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    for (int M = 1; M <= 130; M += 43) {
        c.M = M;
        check_case(g, &c, &rng);
    }
    ck_assert_int_eq(gemm_context_primitives(g), 1);

    // Per "head": shapes differ by lengths, as in attention; each thread
    // checks its own results (Check's asserts are not thread-safe, so count).
    enum { HEADS = 24, D = 32, T = 40 };
    int bad = 0;
#pragma omp parallel for schedule(dynamic) reduction(+ : bad)
    for (int h = 0; h < HEADS; h++) {
        int len = 9 + h % 5 * 7;
        bf16 q[T * D], k[T * D];
        float s[T * T];
        for (int i = 0; i < len * D; i++) {
            q[i] = bf16_from_float((float)((i * 7 + h) % 11) - 5.0f);
            k[i] = bf16_from_float((float)((i * 3 + h) % 13) * 0.25f);
        }
        Err e;
        if (matmul_bf16(g, CblasNoTrans, CblasTrans, len, len, D, 1.0f, q, D, k, D, 0.0f, s, T,
                        &e) != 0) {
            bad++;
            continue;
        }
        for (int i = 0; i < len; i++)
            for (int j = 0; j < len; j++) {
                double want = 0;  // small integers and quarters: exact in float32
                for (int d = 0; d < D; d++)
                    want += (double)bf16_to_float(q[i * D + d]) * bf16_to_float(k[j * D + d]);
                bad += s[i * T + j] != want;
            }
    }
    ck_assert_int_eq(bad, 0);
    gemm_context_free(g);
}
END_TEST

// Same inputs, same threads, same context: the same bits (oneDNN splits the
// work, including any split of K, the same way each time).  Shapes of a
// weight gradient (long K = tokens) and a forward GEMM.
START_TEST(test_rerun_bits) {
    static const Case SHAPES[] = {{1, 0, 384, 384, 2048, 384, 384, 384, 1.0f, 1.0f},
                                  {0, 1, 512, 1536, 384, 384, 384, 1536, 1.0f, 0.0f}};
    Err err;
    Rng rng;
    rng_seed(&rng, 21);
    GemmContext *g = context_or_skip(GEMM_M_EXACT, "rerun test");
    if (!g) return;
    for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++) {
        const Case *c = &SHAPES[i];
        size_t na = (size_t)(c->ta ? c->K : c->M) * c->lda, nb = (size_t)(c->tb ? c->N : c->K) * c->ldb;
        size_t nc = (size_t)c->M * c->ldc;
        bf16 *A = random_bf16(&rng, na, 1.0f), *B = random_bf16(&rng, nb, 1.0f);
        float *C0 = random_f32(&rng, nc), *C[2];
        for (int r = 0; r < 2; r++) {
            C[r] = malloc(nc * sizeof(float));
            ck_assert(C[r]);
            memcpy(C[r], C0, nc * sizeof(float));
            ck_assert_int_eq(matmul_bf16(g, c->ta ? CblasTrans : CblasNoTrans,
                                         c->tb ? CblasTrans : CblasNoTrans, c->M, c->N, c->K,
                                         c->alpha, A, c->lda, B, c->ldb, c->beta, C[r], c->ldc,
                                         &err),
                             0);
        }
        ck_assert_msg(memcmp(C[0], C[1], nc * sizeof(float)) == 0, "shape %zu: reruns differ", i);
        free(A), free(B), free(C0), free(C[0]), free(C[1]);
    }
    gemm_context_free(g);
}
END_TEST

// linear_forward_bf16 / linear_backward_bf16 (model/layers.c): each GEMM
// against the double reference (assert_gemm), dbias against a double column
// sum of the float32 dout (N float32 additions: N u sum|dout| allowed).
START_TEST(test_linear_layers) {
    enum { N = 37, K = 40, C = 24 };
    Rng rng;
    rng_seed(&rng, 11);
    Err err;
    GemmContext *g = context_or_skip(GEMM_M_EXACT, "linear layer tests");
    if (!g) return;
    bf16 *in_h = random_bf16(&rng, N * K, 1.0f), *w_h = random_bf16(&rng, C * K, 0.3f);
    bf16 *dout_h = random_bf16(&rng, N * C, 1.0f);
    float *bias = random_f32(&rng, C), *out = random_f32(&rng, N * C);
    float *dout = malloc(sizeof(float) * N * C);
    ck_assert(dout);
    for (int i = 0; i < N * C; i++) dout[i] = bf16_to_float(dout_h[i]);

    // forward: out = in W^T + bias, i.e. GEMM onto rows of bias (beta 1)
    ck_assert_int_eq(linear_forward_bf16(g, out, in_h, w_h, bias, N, K, C, &err), 0);
    float *bias_rows = malloc(sizeof(float) * N * C);
    ck_assert(bias_rows);
    for (int i = 0; i < N * C; i++) bias_rows[i] = bias[i % C];
    Case fwd = {0, 1, N, C, K, K, K, C, 1.0f, 1.0f};
    assert_gemm("linear_forward_bf16", &fwd, in_h, w_h, bias_rows, out);

    for (int acc = 0; acc <= 1; acc++) {
        float *dw0 = random_f32(&rng, C * K), *din0 = random_f32(&rng, N * K);
        float *db0 = random_f32(&rng, C);
        float *dw = malloc(sizeof(float) * C * K), *din = malloc(sizeof(float) * N * K);
        float *db = malloc(sizeof(float) * C);
        ck_assert(dw && din && db);
        memcpy(dw, dw0, sizeof(float) * C * K);
        memcpy(din, din0, sizeof(float) * N * K);
        memcpy(db, db0, sizeof(float) * C);
        ck_assert_int_eq(linear_backward_bf16(g, din, dw, db, dout, dout_h, in_h, w_h, N, K, C,
                                              acc, &err),
                         0);
        Case dweight = {1, 0, C, K, N, C, K, K, 1.0f, 1.0f};  // dW += dout^T in
        assert_gemm("linear_backward_bf16 dweight", &dweight, dout_h, in_h, dw0, dw);
        Case dinput = {0, 0, N, K, C, C, K, K, 1.0f, acc ? 1.0f : 0.0f};  // din (+)= dout W
        assert_gemm("linear_backward_bf16 din", &dinput, dout_h, w_h, din0, din);
        for (int c = 0; c < C; c++) {
            double want = db0[c], mag = fabs(db0[c]);
            for (int n = 0; n < N; n++) want += dout[n * C + c], mag += fabs(dout[n * C + c]);
            ck_assert_msg(fabs(db[c] - want) <= N * 0x1p-24 * mag, "dbias[%d] = %.9g, want %.9g",
                          c, (double)db[c], want);
        }
        free(dw0), free(din0), free(db0), free(dw), free(din), free(db);
    }
    free(in_h), free(w_h), free(dout_h), free(bias), free(out), free(dout), free(bias_rows);
    gemm_context_free(g);
}
END_TEST

// ---------------------------------------------------------- precision table

START_TEST(test_precision_table) {
    Err err;
    Precision p;
    for (int i = 0; i < PRECISION_COUNT; i++) {
        const PrecisionInfo *info = precision_info((Precision)i);
        ck_assert(info->name && info->help && info->gemm);
        ck_assert_int_eq(precision_parse(info->name, "--precision", &p, &err), 0);
        ck_assert_int_eq(p, i);
    }
    ck_assert_int_eq(precision_parse("fp16", "--precision", &p, &err), -1);
    ck_assert_str_eq(err.msg, "--precision: unknown precision 'fp16' (one of: fp32, bf16)");
    ck_assert(precision_info(PRECISION_FP32)->available());
    ck_assert_ptr_nonnull(precision_info(PRECISION_FP32)->native_isa());
    // oneDNN's ISA query and the CPU flags must agree on bf16, unless the
    // environment caps oneDNN's ISA.
    const PrecisionInfo *bf = precision_info(PRECISION_BF16);
    const char *native = bf->native_isa();
    ck_assert(!native || bf->available());
    __builtin_cpu_init();
    const char *cap = getenv("DNNL_MAX_CPU_ISA");
    if (cap && *cap) {
        fprintf(stderr, "bf16: DNNL_MAX_CPU_ISA set; oneDNN reports %s\n", gemm_onednn_isa());
    } else {
        if (__builtin_cpu_supports("avx512bf16"))
            ck_assert_msg(native != NULL, "CPU has AVX512-BF16, oneDNN reports %s", gemm_onednn_isa());
        ck_assert_int_eq(bf->available(), __builtin_cpu_supports("avx512f") &&
                                              __builtin_cpu_supports("avx512bw") &&
                                              __builtin_cpu_supports("avx512vl") &&
                                              __builtin_cpu_supports("avx512dq"));
    }
    // Where bf16 cannot run, the context says so instead of failing later.
    Err e;
    GemmContext *g = gemm_context_build(GEMM_M_EXACT, &e);
    if (bf->available()) ck_assert_ptr_nonnull(g);
    else
        ck_assert_msg(g == NULL && strstr(e.msg, "no bf16 matmul on this CPU"), "%s",
                      g ? "context built" : e.msg);
    gemm_context_free(g);
}
END_TEST

Suite *bf16_suite(void) {
    Suite *s = suite_create("bf16");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_known_vectors);
    tcase_add_test(tc, test_kernels_against_reference);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_rows);
    tcase_add_test(tc, test_matmul_against_double);
    tcase_add_test(tc, test_cache_and_threads);
    tcase_add_test(tc, test_rerun_bits);
    tcase_add_test(tc, test_linear_layers);
    tcase_add_test(tc, test_precision_table);
    suite_add_tcase(s, tc);
    return s;
}
