// Benchmark: prints a Markdown table of
//   - the measured sgemm peak on this machine (OpenBLAS, all threads),
//   - evaluation throughput of the model (sentences/s at batch x seq),
//   - training step time per attention map (forward + backward + AdamW),
// with medians over repeated runs (the machine is noisy).
//   build/bench --model DIR [--batch 32] [--seq 128] [--threads 2] [--reps 7]
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/bert.h"
#include "app/options.h"
#include "train/optim.h"
#include "util/clock.h"
#include "util/rng.h"
#include "weights/hf_model.h"

static const char about[] =
    "Prints a Markdown table: the sgemm peak, evaluation throughput and the training step time\n"
    "of every attention map (with its default parameter), medians over repeated runs.";

enum { MAX_REPS = 64 };

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// OpenBLAS with its own threads on the model's largest GEMM shape: the
// ceiling our row-split GEMMs are compared against.
static double sgemm_peak_gflops(int M, int N, int K, int threads, int reps) {
    float *a = calloc((size_t)M * K, sizeof(float)), *b = calloc((size_t)N * K, sizeof(float)),
          *c = calloc((size_t)M * N, sizeof(float));
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        return 0;
    }
    openblas_set_num_threads(threads);
    double times[MAX_REPS];
    for (int r = 0; r < reps + 2; r++) {
        double t0 = clock_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
        if (r >= 2) times[r - 2] = clock_seconds() - t0;
    }
    openblas_set_num_threads(1);
    free(a), free(b), free(c);
    return 2.0 * M * N * K / median(times, reps) / 1e9;
}

// Forward FLOPs of the encoder for B x T tokens (matmuls and attention).
static double forward_flops(const BertConfig *c, int B, int T) {
    double N = (double)B * T, H = c->hidden_size, F = c->intermediate_size;
    double dense = 2.0 * N * (4.0 * H * H + 2.0 * H * F);
    double attn = 4.0 * B * (double)T * T * H;
    return c->num_layers * (dense + attn);
}

int main(int argc, char **argv) {
    const char *model_dir = CLI_DEFAULT_MODEL;
    int B = 32, T = 128, threads = 2, reps = 7;
    const CliOption opts[] = {
        {"model", CLI_STRING, &model_dir, "DIR", "model directory"},
        {"batch", CLI_INT, &B, "N", "batch size", .range = CLI_AT_LEAST(1)},
        {"seq", CLI_INT, &T, "N", "sequence length (every row full)", .range = CLI_AT_LEAST(2)},
        {"threads", CLI_INT, &threads, "N", "threads", .range = CLI_AT_LEAST(1)},
        {"reps", CLI_INT, &reps, "N", "timed repetitions per measurement (median)", .range = CLI_IN(1, MAX_REPS)},
    };
    const CliTable tables[] = {CLI_TABLE(opts)};
    const CliCommand cmd = {"build/bench", about, CLI_BENCH};
    Err err;
    int rc = cli_parse(argc, argv, &cmd, tables, CLI_COUNT(tables), &err);
    if (rc == 1) return 0;
    HfConfig cfg;
    if (rc == 0) rc = hf_config_load(model_dir, &cfg, &err);
    if (rc != 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    bert_set_threads(threads);
    Bert *m = hf_load_model(model_dir, &cfg, 2, B, T, 1, NULL, &err);
    if (!m || bert_enable_grads(m, &err) != 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    const BertConfig *c = bert_config(m);
    int *ids = malloc(sizeof(int) * B * T), *types = calloc((size_t)B * T, sizeof(int));
    int *lengths = malloc(sizeof(int) * B), *labels = calloc((size_t)B, sizeof(int));
    Rng rng;
    rng_seed(&rng, 7);
    for (int i = 0; i < B * T; i++) ids[i] = 1000 + (int)rng_below(&rng, 20000);
    for (int b = 0; b < B; b++) lengths[b] = T, labels[b] = b % 2;
    BertInput in = {B, T, ids, types, lengths};

    double peak = sgemm_peak_gflops(B * T, c->intermediate_size, c->hidden_size, threads, reps);
    double flops = forward_flops(c, B, T);
    printf("model %s, batch %d x seq %d, %d threads, median of %d\n\n", model_dir, B, T, threads,
           reps);
    printf("| measurement | median | rate | vs sgemm peak |\n|---|---|---|---|\n");
    printf("| sgemm %dx%dx%d (OpenBLAS, %d threads) | | %.1f GFLOP/s | 100%% |\n", B * T,
           c->intermediate_size, c->hidden_size, threads, peak);

    double times[MAX_REPS];
    for (int r = 0; r < reps + 1; r++) {
        double t0 = clock_seconds();
        if (bert_forward(m, &in, NULL, &err) != 0) break;
        if (r >= 1) times[r - 1] = clock_seconds() - t0;
    }
    double fwd = median(times, reps);
    printf("| eval forward | %.1f ms | %.1f sentences/s, %.1f GFLOP/s | %.0f%% |\n", fwd * 1e3,
           B / fwd, flops / fwd / 1e9, 100.0 * flops / fwd / 1e9 / peak);

    OptimConfig oc = {OPTIM_ADAMW, 2e-5f, 0.01f, 0.9f, 0.999f, 1e-8f};
    Optimizer *opt = optim_build(&oc, m, &err);
    double softmax_step = 0;
    printf("\n| training step (fwd + bwd + AdamW, dropout 0.1) | median | vs softmax | GFLOP/s (3x fwd) |\n|---|---|---|---|\n");
    for (int k = 0; opt && k < attn_map_count(); k++) {  // every map, with its default parameter
        AttnMap map = attn_map_default((AttnKind)k);
        bert_set_attn(m, map);
        for (int r = 0; r < reps + 1; r++) {
            double t0 = clock_seconds();
            Dropout d = {0.1f, 0.1f, 0.1f, (uint64_t)r};
            if (bert_forward(m, &in, &d, &err) != 0) break;
            bert_loss(m, labels, NULL);
            bert_zero_grads(m);
            if (bert_backward(m, &err) != 0) break;
            clip_grad_norm(m, 1.0f);
            optim_step(opt, m, 2e-5f, r);
            if (r >= 1) times[r - 1] = clock_seconds() - t0;
        }
        double step = median(times, reps);
        if (k == ATTN_SOFTMAX) softmax_step = step;
        char name[64];
        attn_map_format(name, sizeof name, map);
        printf("| %s | %.1f ms | %.3fx | %.1f |\n", name, step * 1e3, step / softmax_step,
               3 * flops / step / 1e9);
    }
    optim_free(opt);
    free(ids), free(types), free(lengths), free(labels);
    bert_free(m);
    return 0;
}
