// bf16 GEMM through oneDNN (see gemm_bf16.h): a shape-keyed primitive cache
// behind a mutex, and per-call memory objects and stream (the stream costs
// 0.06 us, the three memory objects ~0.8 us each), so concurrent calls share
// nothing mutable but the cache.
#ifndef MODEL_DOUBLE

#include "model/gemm_bf16.h"

#include <dnnl.h>
#include <dnnl_debug.h>
#include <omp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"

// Everything a primitive depends on.  M is -1 under GEMM_M_RUNTIME.  nthr:
// oneDNN sizes its work split for the threads it sees when the primitive is
// made (1 inside a parallel region), so a primitive is only reused in the
// same threading context.
typedef struct {
    int32_t ta, tb, M, N, K, lda, ldb, ldc, nthr;
    uint32_t alpha_bits, beta_bits;
    int32_t bias;  // a float32 bias [N] added to every row of C
} GemmKey;

typedef struct {
    GemmKey key;
    int used;
    dnnl_primitive_t prim;
} GemmEntry;

struct GemmContext {
    GemmMPolicy policy;
    dnnl_engine_t engine;
    pthread_mutex_t lock;  // guards everything below
    GemmEntry *table;      // open addressing, capacity a power of two
    int capacity, count;
    double create_ms;
    char last_impl[128];
};

static uint32_t float_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static uint64_t key_hash(const GemmKey *k) {
    const uint32_t *w = (const uint32_t *)k;  // GemmKey is 12 packed 32-bit words
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < sizeof *k / sizeof *w; i++) h = (h ^ w[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static int key_equal(const GemmKey *a, const GemmKey *b) { return memcmp(a, b, sizeof *a) == 0; }

GemmContext *gemm_context_build(GemmMPolicy policy, Err *err) {
    if (!gemm_bf16_available()) {
        err_set(err, "bf16: oneDNN has no bf16 matmul on this CPU (its instruction set: %s; "
                     "bf16 needs AVX-512)", gemm_onednn_isa());
        return NULL;
    }
    GemmContext *g = err_calloc(err, 1, sizeof *g, "GEMM context");
    if (!g) return NULL;
    g->policy = policy;
    g->capacity = 64;
    g->table = err_calloc(err, (size_t)g->capacity, sizeof *g->table, "GEMM primitive cache");
    dnnl_status_t s = g->table ? dnnl_engine_create(&g->engine, dnnl_cpu, 0) : dnnl_success;
    if (!g->table || s != dnnl_success || pthread_mutex_init(&g->lock, NULL) != 0) {
        if (g->table) err_set(err, "oneDNN: cannot create the CPU engine (%s)", dnnl_status2str(s));
        if (g->engine) dnnl_engine_destroy(g->engine);
        free(g->table);
        free(g);
        return NULL;
    }
    return g;
}

void gemm_context_free(GemmContext *g) {
    if (!g) return;
    for (int i = 0; i < g->capacity; i++)
        if (g->table[i].used) dnnl_primitive_destroy(g->table[i].prim);
    free(g->table);
    dnnl_engine_destroy(g->engine);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

// The row-major [rows, cols] view of a matrix stored with leading dimension
// ld, transposed or not.  rows may be DNNL_RUNTIME_DIM_VAL.
static void matrix_md(dnnl_memory_desc_t *md, dnnl_data_type_t type, dnnl_dim_t rows,
                      dnnl_dim_t cols, int ld, int trans) {
    dnnl_dims_t dims = {rows, cols};
    dnnl_dims_t strides = {trans ? 1 : ld, trans ? ld : 1};
    dnnl_memory_desc_init_by_strides(md, 2, dims, type, strides);
}

// The three descriptors for key k with M rows (a number or runtime).
static void key_mds(const GemmKey *k, dnnl_dim_t M, dnnl_memory_desc_t *a, dnnl_memory_desc_t *b,
                    dnnl_memory_desc_t *c) {
    matrix_md(a, dnnl_bf16, M, k->K, k->lda, k->ta);
    matrix_md(b, dnnl_bf16, k->K, k->N, k->ldb, k->tb);
    matrix_md(c, dnnl_f32, M, k->N, k->ldc, 0);
}

static dnnl_status_t create_primitive(GemmContext *g, const GemmKey *k, dnnl_primitive_t *prim) {
    dnnl_memory_desc_t a, b, c;
    key_mds(k, k->M < 0 ? DNNL_RUNTIME_DIM_VAL : k->M, &a, &b, &c);
    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    float alpha, beta;
    memcpy(&alpha, &k->alpha_bits, sizeof alpha);
    memcpy(&beta, &k->beta_bits, sizeof beta);
    dnnl_memory_desc_t bias_md;
    if (k->bias) matrix_md(&bias_md, dnnl_f32, 1, k->N, k->N, 0);
    dnnl_status_t s = dnnl_matmul_desc_init(&desc, &a, &b, k->bias ? &bias_md : NULL, &c);
    if (s == dnnl_success) s = dnnl_primitive_attr_create(&attr);
    if (s == dnnl_success && alpha != 1.0f) s = dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha);
    if (s == dnnl_success && beta != 0.0f) {
        s = dnnl_post_ops_create(&ops);
        if (s == dnnl_success) s = dnnl_post_ops_append_sum(ops, beta);
        if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(attr, ops);
    }
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&pd, &desc, attr, g->engine, NULL);
    if (s == dnnl_success) s = dnnl_primitive_create(prim, pd);
    if (s == dnnl_success) {
        const char *impl = NULL;
        if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
            snprintf(g->last_impl, sizeof g->last_impl, "%s", impl);
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (ops) dnnl_post_ops_destroy(ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return s;
}

// Slot of key k in a table of the given capacity: its own, or the empty one
// where it belongs.
static GemmEntry *find_slot(GemmEntry *table, int capacity, const GemmKey *k) {
    for (uint64_t i = key_hash(k);; i++) {
        GemmEntry *e = &table[i & (uint64_t)(capacity - 1)];
        if (!e->used || key_equal(&e->key, k)) return e;
    }
}

static int grow(GemmContext *g, Err *err) {
    int capacity = 2 * g->capacity;
    GemmEntry *table = err_calloc(err, (size_t)capacity, sizeof *table, "GEMM primitive cache");
    if (!table) return -1;
    for (int i = 0; i < g->capacity; i++)
        if (g->table[i].used) *find_slot(table, capacity, &g->table[i].key) = g->table[i];
    free(g->table);
    g->table = table;
    g->capacity = capacity;
    return 0;
}

// The cached primitive for k, made on first use.  NULL with err set.
static dnnl_primitive_t primitive_for(GemmContext *g, const GemmKey *k, Err *err) {
    pthread_mutex_lock(&g->lock);
    GemmEntry *e = find_slot(g->table, g->capacity, k);
    dnnl_primitive_t prim = e->used ? e->prim : NULL;
    if (!prim && 2 * (g->count + 1) > g->capacity) {
        if (grow(g, err) != 0) goto done;
        e = find_slot(g->table, g->capacity, k);
    }
    if (!prim) {
        double t0 = clock_seconds();
        dnnl_status_t s = create_primitive(g, k, &prim);
        if (s != dnnl_success) {
            err_set(err, "oneDNN bf16 matmul %s%s M=%d N=%d K=%d lda=%d ldb=%d ldc=%d: %s",
                    k->ta ? "A^T" : "A", k->tb ? "B^T" : "B", k->M, k->N, k->K, k->lda, k->ldb,
                    k->ldc, dnnl_status2str(s));
            prim = NULL;
            goto done;
        }
        g->create_ms += (clock_seconds() - t0) * 1e3;
        e->key = *k;
        e->prim = prim;
        e->used = 1;
        g->count++;
    }
done:
    pthread_mutex_unlock(&g->lock);
    return prim;
}

// C = alpha op(A) op(B) + beta C, plus bias [N] in every row when bias is
// not NULL (added by the primitive).
static int matmul_run(GemmContext *g, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K,
                      float alpha, const bf16 *A, int lda, const bf16 *B, int ldb,
                      const float *bias, float beta, float *C, int ldc, Err *err) {
    if (M <= 0 || N <= 0) return 0;
    // An empty product (K = 0), as BLAS: C = beta C, then the bias (oneDNN 2.6
    // dies of SIGFPE on K = 0).
    if (K <= 0) {
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                float *c = &C[(size_t)m * ldc + n];
                *c = beta == 0.0f ? 0.0f : beta * *c;
                if (bias) *c += bias[n];
            }
        return 0;
    }
    GemmKey k = {ta == CblasTrans, tb == CblasTrans, g->policy == GEMM_M_RUNTIME ? -1 : M, N, K,
                 lda, ldb, ldc, omp_in_parallel() ? 1 : omp_get_max_threads(),
                 float_bits(alpha), float_bits(beta), bias != NULL};
    dnnl_primitive_t prim = primitive_for(g, &k, err);
    if (!prim) return -1;
    dnnl_memory_desc_t a_md, b_md, c_md;
    key_mds(&k, M, &a_md, &b_md, &c_md);
    dnnl_memory_t a = NULL, b = NULL, c = NULL, bias_mem = NULL;
    dnnl_stream_t stream = NULL;
    dnnl_status_t s = dnnl_memory_create(&a, &a_md, g->engine, (void *)A);
    if (s == dnnl_success) s = dnnl_memory_create(&b, &b_md, g->engine, (void *)B);
    if (s == dnnl_success) s = dnnl_memory_create(&c, &c_md, g->engine, C);
    if (s == dnnl_success && bias) {
        dnnl_memory_desc_t bias_md;
        matrix_md(&bias_md, dnnl_f32, 1, N, N, 0);
        s = dnnl_memory_create(&bias_mem, &bias_md, g->engine, (void *)bias);
    }
    if (s == dnnl_success) s = dnnl_stream_create(&stream, g->engine, dnnl_stream_default_flags);
    if (s == dnnl_success) {
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c},
                                   {DNNL_ARG_BIAS, bias_mem}};
        s = dnnl_primitive_execute(prim, stream, bias ? 4 : 3, args);
    }
    if (stream) dnnl_stream_destroy(stream);
    if (bias_mem) dnnl_memory_destroy(bias_mem);
    if (c) dnnl_memory_destroy(c);
    if (b) dnnl_memory_destroy(b);
    if (a) dnnl_memory_destroy(a);
    if (s != dnnl_success)
        return err_set(err, "oneDNN bf16 matmul M=%d N=%d K=%d: %s", M, N, K, dnnl_status2str(s));
    return 0;
}

int matmul_bf16(GemmContext *g, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K,
                float alpha, const bf16 *A, int lda, const bf16 *B, int ldb, float beta, float *C,
                int ldc, Err *err) {
    return matmul_run(g, ta, tb, M, N, K, alpha, A, lda, B, ldb, NULL, beta, C, ldc, err);
}

int matmul_bf16_bias(GemmContext *g, CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K,
                     const bf16 *A, int lda, const bf16 *B, int ldb, const float *bias, float *C,
                     int ldc, Err *err) {
    return matmul_run(g, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, bias, 0.0f, C, ldc, err);
}

int gemm_context_primitives(const GemmContext *g) { return g->count; }

double gemm_context_create_ms(const GemmContext *g) { return g->create_ms; }

const char *gemm_context_last_impl(const GemmContext *g) { return g->last_impl; }

const char *gemm_onednn_isa(void) {
    static const struct {
        dnnl_cpu_isa_t isa;
        const char *name;
    } NAMES[] = {
        {dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"},
        {dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"},
        {dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"},
        {dnnl_cpu_isa_avx512_core, "avx512_core"},
        {dnnl_cpu_isa_avx2_vnni, "avx2_vnni"},
        {dnnl_cpu_isa_avx2, "avx2"},
        {dnnl_cpu_isa_avx, "avx"},
        {dnnl_cpu_isa_sse41, "sse41"},
    };
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    for (size_t i = 0; i < sizeof NAMES / sizeof *NAMES; i++)
        if (isa == NAMES[i].isa) return NAMES[i].name;
    return "unknown";
}

// oneDNN's ISA values are bit sets: an ISA includes the bits of those below
// it, so "at least X" is (isa & X) == X.
static int isa_at_least(dnnl_cpu_isa_t isa) {
    return (dnnl_get_effective_cpu_isa() & isa) == isa;
}

int gemm_bf16_available(void) { return isa_at_least(dnnl_cpu_isa_avx512_core); }

const char *gemm_bf16_native(void) {
    if (isa_at_least(dnnl_cpu_isa_avx512_core_amx)) return "AMX-BF16";
    if (isa_at_least(dnnl_cpu_isa_avx512_core_bf16)) return "AVX512-BF16";
    return NULL;
}

#endif
