// Benchmark: prints a Markdown table of
//   - the measured sgemm peak on this machine (OpenBLAS, all threads),
//   - evaluation throughput of the model (sentences/s at batch x seq),
//   - training step time per attention map (forward + backward + AdamW),
// for every precision of the table (model/precision.h) side by side, and
// the peak RSS after each, with medians over repeated runs (the machine is
// noisy).
//   build/bench --model DIR [--batch 32] [--seq 128] [--threads 2] [--reps 7]
// With --gemm, instead: the GEMM ceilings at the model's shapes, OpenBLAS
// sgemm against oneDNN's bf16 matmul, its ISA and primitive costs.  With
// --profile, instead: the time by phase (model/profile.h) of a training step
// and of an eval forward, per precision, against the measured pass time.
// With --growth: one row of the cost-growth table (scripts/bench.sh runs one
// process per row, as the peak RSS of a process only grows).
// --random-init CONFIG.json: a model of that config's shapes with random
// weights (bench/configs/), no checkpoint needed.
#include <omp.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/bert.h"
#include "model/gemm_bf16.h"
#include "model/precision.h"
#include "model/profile.h"
#include "app/options.h"
#include "train/optim.h"
#include "train/step.h"
#include "util/clock.h"
#include "util/rng.h"
#include "weights/hf_model.h"

static const char about[] =
    "Prints a Markdown table: the sgemm peak, evaluation throughput and the training step time\n"
    "of every attention map (with its default parameter), medians over repeated runs.";

enum { MAX_REPS = 64, MAX_MAPS = 16 };

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

// oneDNN bf16 matmul, C[M,N] = A[M,K] B[N,K]^T as linear_forward calls it,
// on all threads from outside a parallel region.  Returns GFLOP/s (0 on
// error); *create_ms gets the time spent creating its primitive.
static double bf16_gflops(GemmContext *g, int M, int N, int K, int reps, double *create_ms) {
    bf16 *a = calloc((size_t)M * K, sizeof(bf16)), *b = calloc((size_t)N * K, sizeof(bf16));
    float *c = calloc((size_t)M * N, sizeof(float));
    double times[64], created = gemm_context_create_ms(g);
    Err err;
    int ok = a && b && c;
    for (int r = 0; ok && r < reps + 2; r++) {
        double t0 = clock_seconds();
        ok = matmul_bf16(g, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N,
                         &err) == 0;
        if (r >= 2) times[r - 2] = clock_seconds() - t0;
    }
    if (!ok) fprintf(stderr, "bench: %s\n", a && b && c ? err.msg : "out of memory");
    free(a), free(b), free(c);
    if (!ok) return 0;
    if (create_ms) *create_ms = gemm_context_create_ms(g) - created;
    return 2.0 * M * N * K / median(times, reps) / 1e9;
}

// Microseconds per call of a small GEMM (one attention head: scores Q K^T)
// made as attention makes it, every thread calling from inside a parallel
// region on its own output: fp32 OpenBLAS against bf16 oneDNN, the fixed
// cost per call.
static void small_gemm_cost(GemmContext *g, int M, int N, int K, int reps, double *us_fp32,
                            double *us_bf16) {
    enum { CALLS = 200 };
    int nt = omp_get_max_threads();
    float *af = calloc((size_t)M * K, 4), *bf = calloc((size_t)N * K, 4);
    float *c = calloc((size_t)M * N * nt, 4);
    bf16 *ah = calloc((size_t)M * K, 2), *bh = calloc((size_t)N * K, 2);
    double tf[64], th[64];
    *us_fp32 = *us_bf16 = 0;
    if (af && bf && c && ah && bh) {
        for (int r = 0; r < reps; r++) {
            double t0 = clock_seconds(), t1 = 0;
#pragma omp parallel
            {
                float *ct = c + (size_t)omp_get_thread_num() * M * N;
                for (int i = 0; i < CALLS; i++)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, af, K, bf,
                                K, 0.0f, ct, N);
#pragma omp barrier
#pragma omp single
                t1 = clock_seconds();
                Err err;
                for (int i = 0; i < CALLS; i++)
                    matmul_bf16(g, CblasNoTrans, CblasTrans, M, N, K, 1.0f, ah, K, bh, K, 0.0f, ct,
                                N, &err);
            }
            tf[r] = (t1 - t0) / CALLS * 1e6, th[r] = (clock_seconds() - t1) / CALLS * 1e6;
        }
        *us_fp32 = median(tf, reps), *us_bf16 = median(th, reps);
    }
    free(af), free(bf), free(c), free(ah), free(bh);
}

// float32 -> bf16 conversion bandwidth of one kernel on n values already in
// memory, GB/s read + written, best of reps (bandwidth-bound, so noisy).
static double convert_gbps(Bf16Kernel k, bf16 *h, const float *x, size_t n, int reps) {
    double best = 1e30;
    for (int r = 0; r < reps + 1; r++) {
        double t0 = clock_seconds();
        float_to_bf16_with(k, h, x, n);
        if (r > 0 && clock_seconds() - t0 < best) best = clock_seconds() - t0;
    }
    return 6.0 * n / best / 1e9;
}

static int gemm_bench(int threads, int reps) {
    static const int SHAPES[][3] = {{4096, 1536, 384}, {4096, 384, 1536}, {4096, 1152, 384},
                                    {4096, 384, 384}};
    Err err;
    const PrecisionInfo *bf = precision_info(PRECISION_BF16);
    GemmContext *exact = NULL, *runtime = NULL;
    if (bf->available()) {
        exact = gemm_context_build(GEMM_M_EXACT, &err);
        runtime = exact ? gemm_context_build(GEMM_M_RUNTIME, &err) : NULL;
        if (!runtime) {
            fprintf(stderr, "bench: %s\n", err.msg);
            gemm_context_free(exact);
            return 1;
        }
    }
    const char *native = bf->native_isa();
    printf("GEMM ceilings, %d threads, median of %d; oneDNN ISA %s (bf16 %s), conversion kernel %s\n\n",
           threads, reps, gemm_onednn_isa(),
           native ? native : bf->available() ? "emulated" : "unavailable",
           bf16_kernel_name(bf16_kernel_best()));
    printf("| M x N x K (C = A B^T) | OpenBLAS sgemm | oneDNN bf16, M fixed | oneDNN bf16, runtime M | bf16 / fp32 | primitive creation, fixed / runtime M | implementation |\n"
           "|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++) {
        int M = SHAPES[i][0], N = SHAPES[i][1], K = SHAPES[i][2];
        double create = 0, create_rt = 0, fp32 = sgemm_peak_gflops(M, N, K, threads, reps);
        if (!exact) {
            printf("| %dx%dx%d | %.1f GFLOP/s | n/a | n/a | | | |\n", M, N, K, fp32);
            continue;
        }
        double fixed = bf16_gflops(exact, M, N, K, reps, &create);
        double rt = bf16_gflops(runtime, M, N, K, reps, &create_rt);
        printf("| %dx%dx%d | %.1f GFLOP/s | %.1f GFLOP/s | %.1f GFLOP/s | %.2fx | %.2f / %.2f ms | %s, %s |\n",
               M, N, K, fp32, fixed, rt, fixed / fp32, create, create_rt,
               gemm_context_last_impl(exact), gemm_context_last_impl(runtime));
    }
    if (exact) {
        printf("\nprimitives created: M fixed %d in %.1f ms, runtime M %d in %.1f ms\n",
               gemm_context_primitives(exact), gemm_context_create_ms(exact),
               gemm_context_primitives(runtime), gemm_context_create_ms(runtime));
        double f32_us, bf16_us;
        small_gemm_cost(exact, 128, 128, 32, reps, &f32_us, &bf16_us);
        printf("one attention head's Q K^T (128x128x32), per call on each thread inside a parallel region: sgemm %.2f us, bf16 matmul %.2f us\n",
               f32_us, bf16_us);
    } else {
        printf("\nbf16: oneDNN has no bf16 matmul on this CPU (it needs AVX-512)\n");
    }
    size_t n = 4096 * 1536;
    float *x = malloc(n * sizeof *x);
    bf16 *h = calloc(n, sizeof *h);
    for (size_t i = 0; x && h && i < n; i++) x[i] = (float)i * 1e-3f;
    for (int k = 0; x && h && k < BF16_KERNEL_COUNT; k++)
        if (bf16_kernel_available((Bf16Kernel)k))
            printf("float32 -> bf16, kernel %s, 4096x1536 values, 1 thread: %.1f GB/s\n",
                   bf16_kernel_name((Bf16Kernel)k), convert_gbps((Bf16Kernel)k, h, x, n, reps));
    free(x), free(h);
    gemm_context_free(exact);
    gemm_context_free(runtime);
    return 0;
}

// Seconds of `reps` eval forwards, after one untimed warm-up, into
// times[reps]; prof (NULL: none) records the timed ones.  -1 on failure.
static int run_eval_forwards(Bert *m, const BertInput *in, int reps, Profile *prof,
                             double *times, Err *err) {
    int rc = 0;
    for (int r = 0; r < reps + 1 && rc == 0; r++) {
        if (r == 1) bert_set_profile(m, prof);
        double t0 = clock_seconds();
        rc = bert_forward(m, in, NULL, err);
        if (r >= 1) times[r - 1] = clock_seconds() - t0;
    }
    bert_set_profile(m, NULL);
    return rc;
}

// The same for training steps: the step ./finetune runs (train/step.c):
// forward with dropout 0.1, loss, finite checks, backward, clipping, AdamW
// (and the bf16 weight refresh), lr decaying over the timed steps.
static int run_training_steps(Bert *m, Optimizer *opt, const BertInput *in, int *labels, int reps,
                              Profile *prof, double *times, Err *err) {
    const StepSchedule schedule = {.lr = 2e-5f, .total_steps = reps + 1, .warmup_steps = 0,
                                   .clip = 1.0f};
    const Batch batch = {.size = in->batch, .T = in->seq, .ids = (int *)in->ids,
                         .type_ids = (int *)in->type_ids, .lengths = (int *)in->lengths,
                         .labels = labels, .targets = NULL, .max_rows = in->batch,
                         .max_len = in->seq};
    const Dropout d = {0.1f, 0.1f, 0.1f, 7};
    int rc = 0;
    for (int r = 0; r < reps + 1 && rc == 0; r++) {
        if (r == 1) bert_set_profile(m, prof);
        double t0 = clock_seconds();
        StepStats stats;
        rc = train_step(m, opt, &batch, &d, r, &schedule, &stats, err);
        if (r >= 1) times[r - 1] = clock_seconds() - t0;
    }
    bert_set_profile(m, NULL);
    return rc;
}

// Median seconds of an eval forward (one untimed warm-up), or -1 on failure.
static double time_eval_forward(Bert *m, const BertInput *in, int reps, Err *err) {
    double times[MAX_REPS];
    if (run_eval_forwards(m, in, reps, NULL, times, err) != 0) return -1;
    return median(times, reps);
}

// The optimizer of every timed training step: AdamW, weight decay 0.01.
static const OptimConfig BENCH_OPTIM = {OPTIM_ADAMW, 2e-5f, 0.01f, 0.9f, 0.999f, 1e-8f};

// Median seconds of a training step (fwd + bwd + clip + AdamW, dropout 0.1),
// or -1 on failure.
static double time_training_step(Bert *m, Optimizer *opt, const BertInput *in, int *labels,
                                 int reps, Err *err) {
    double times[MAX_REPS];
    if (run_training_steps(m, opt, in, labels, reps, NULL, times, err) != 0) return -1;
    return median(times, reps);
}

// One pass's profile: the phases' time over `reps` passes and the measured
// wall time of those passes.
typedef struct {
    const Profile *prof;
    double measured;  // seconds, summed over the passes
    int reps;
} PassProfile;

// "| 12.3 ms | 4.5% | 24 |": a phase's ms and calls per pass, % of the
// measured pass; "| - | | |" when it did not run.
static void print_phase_cells(const PassProfile *pp, Phase phase) {
    if (profile_calls(pp->prof, phase) == 0) {
        printf(" - | | |");
        return;
    }
    double s = profile_seconds(pp->prof, phase);
    printf(" %.2f ms | %.1f%% | %ld |", s / pp->reps * 1e3, 100.0 * s / pp->measured,
           profile_calls(pp->prof, phase) / pp->reps);
}

// "| 12.3 ms | 4.5% | |": a total per pass and its % of the measured pass.
static void print_total_cells(const PassProfile *pp, double seconds) {
    printf(" %.2f ms | %.1f%% | |", seconds / pp->reps * 1e3, 100.0 * seconds / pp->measured);
}

// --profile: time by phase (model/profile.h) of the training step and of
// the eval forward in the model's current precision, `reps` passes of each
// after an untimed warm-up, as a Markdown table; the sum of the phases
// against the measured time (the gap: time no phase covers).
static int profile_bench(Bert *m, Optimizer *opt, const BertInput *in, int *labels, int reps,
                         int threads, Err *err) {
    Profile *train = profile_build(err), *eval = profile_build(err);
    double step_times[MAX_REPS], fwd_times[MAX_REPS];
    int rc = train && eval ? 0 : -1;
    if (rc == 0) rc = run_eval_forwards(m, in, reps, eval, fwd_times, err);
    if (rc == 0) rc = run_training_steps(m, opt, in, labels, reps, train, step_times, err);
    if (rc == 0) {
        double step_seconds = 0, fwd_seconds = 0;
        for (int r = 0; r < reps; r++) {
            step_seconds += step_times[r];
            fwd_seconds += fwd_times[r];
        }
        const PassProfile step = {train, step_seconds, reps}, fwd = {eval, fwd_seconds, reps};
        const Precision p = bert_precision(m);
        char map[64];
        attn_map_format(map, sizeof map, bert_config(m)->attn);
        printf("Time by phase, %s (%s), attention %s, batch %d x seq %d, %d threads, mean over %d "
               "pass%s after a warm-up\n\n",
               precision_info(p)->name, precision_info(p)->gemm, map, in->batch, in->seq, threads,
               reps, reps == 1 ? "" : "es");
        printf("| phase | training step | %% of step | calls | eval forward | %% of forward | "
               "calls | covers |\n|---|---|---|---|---|---|---|---|\n");
        for (int ph = 0; ph < PHASE_COUNT; ph++) {
            printf("| %s |", profile_phase((Phase)ph)->name);
            print_phase_cells(&step, (Phase)ph);
            print_phase_cells(&fwd, (Phase)ph);
            printf(" %s |\n", profile_phase((Phase)ph)->covers);
        }
        printf("| **sum of phases** |");
        print_total_cells(&step, profile_total_seconds(train));
        print_total_cells(&fwd, profile_total_seconds(eval));
        printf(" |\n| **measured** |");
        print_total_cells(&step, step.measured);
        print_total_cells(&fwd, fwd.measured);
        printf(" wall time of the whole pass |\n| unattributed |");
        print_total_cells(&step, step.measured - profile_total_seconds(train));
        print_total_cells(&fwd, fwd.measured - profile_total_seconds(eval));
        printf(" measured minus the sum: what no phase covers |\n\n");
    }
    profile_free(train);
    profile_free(eval);
    return rc;
}

// The process's peak resident set so far, MB.
static double peak_rss_mb(void) {
    struct rusage u;
    return getrusage(RUSAGE_SELF, &u) == 0 ? u.ru_maxrss / 1024.0 : 0;
}

// One row of the cost-growth table, its columns as scripts/bench.sh's header
// (scripts/bench_torch.py --growth prints PyTorch's the same way): the eval
// forward before any gradient buffer exists (so the first peak RSS is an
// evaluation's), then the softmax training step after bert_enable_grads
// (the second, a training run's).  Tokens/s count every B x T position.
static int growth_row(Bert *m, const char *model_name, Precision p, const BertInput *in,
                      int *labels, int reps, Err *err) {
    const double tokens = (double)in->batch * in->seq;
    double fwd, rss_eval, step = -1;
    if (bert_set_precision(m, p, err) != 0 || (fwd = time_eval_forward(m, in, reps, err)) < 0)
        return -1;
    rss_eval = peak_rss_mb();
    Optimizer *opt = bert_enable_grads(m, err) == 0 ? optim_build(&BENCH_OPTIM, m, err) : NULL;
    if (opt) {
        bert_set_attn(m, attn_map_default(ATTN_SOFTMAX));
        step = time_training_step(m, opt, in, labels, reps, err);
    }
    optim_free(opt);
    if (step < 0) return -1;
    printf("| ours | %s | %s | %d x %d | %.1f ms | %.0f | %.0f MB | %.1f ms | %.0f | %.0f MB |\n",
           model_name, precision_info(p)->name, in->batch, in->seq, fwd * 1e3, tokens / fwd,
           rss_eval, step * 1e3, tokens / step, peak_rss_mb());
    return 0;
}

// The model to measure: DIR's checkpoint, or random weights of a config.json
// (random_init non-empty).  *name gets what the tables call it.
static Bert *bench_model(const char *model_dir, const char *random_init, int B, int T,
                         const char **name, Err *err) {
    enum { RANDOM_INIT_SEED = 7 };
    HfConfig cfg;
    const char *source = *random_init ? random_init : model_dir, *slash = strrchr(source, '/');
    *name = slash && slash[1] ? slash + 1 : source;
    if (*random_init)
        return hf_config_load_file(random_init, &cfg, err) == 0
                   ? hf_random_model(&cfg, 2, B, T, RANDOM_INIT_SEED, err)
                   : NULL;
    return hf_config_load(model_dir, &cfg, err) == 0
               ? hf_load_model(model_dir, &cfg, 2, B, T, 1, NULL, err)
               : NULL;
}

// Forward FLOPs of the encoder for B x T tokens (matmuls and attention).
static double forward_flops(const BertConfig *c, int B, int T) {
    double N = (double)B * T, H = c->hidden_size, F = c->intermediate_size;
    double dense = 2.0 * N * (4.0 * H * H + 2.0 * H * F);
    double attn = 4.0 * B * (double)T * T * H;
    return c->num_layers * (dense + attn);
}

int main(int argc, char **argv) {
    const char *model_dir = CLI_DEFAULT_MODEL, *random_init = "";
    int B = 32, T = 128, threads = 2, reps = 7;
    bool gemm_only = false, growth = false, profile = false, precision_given = false;
    char precision_help[512];
    cli_precision_help(precision_help, sizeof precision_help);
    const char *precision_name = "";
    const CliOption opts[] = {
        {"model", CLI_STRING, &model_dir, "DIR", "model directory"},
        {"random-init", CLI_STRING, &random_init, "CONFIG",
         "a Hugging Face config.json: random weights of its shapes (transformers' init) instead of --model's",
         .default_text = "none"},
        {"batch", CLI_INT, &B, "N", "batch size", .range = CLI_AT_LEAST(1)},
        {"seq", CLI_INT, &T, "N", "sequence length (every row full)", .range = CLI_AT_LEAST(2)},
        {"threads", CLI_INT, &threads, "N", "threads", .range = CLI_AT_LEAST(1)},
        {"reps", CLI_INT, &reps, "N", "timed repetitions per measurement (median)", .range = CLI_IN(1, MAX_REPS)},
        {"gemm", CLI_FLAG, &gemm_only, NULL, "only the GEMM ceilings: OpenBLAS sgemm, oneDNN bf16"},
        {"profile", CLI_FLAG, &profile, NULL, "only the time by phase of a training step and an eval forward (mean of --reps)"},
        {"precision", CLI_STRING, &precision_name, "P", precision_help, &precision_given, "every one this CPU runs"},
        {"growth", CLI_FLAG, &growth, NULL,
         "one cost-growth row: eval forward, softmax training step, tokens/s and peak RSS of each, in one precision (fp32 unless --precision)"},
    };
    const CliTable tables[] = {CLI_TABLE(opts)};
    const CliCommand cmd = {"build/bench", about, CLI_BENCH};
    Err err;
    int rc = cli_parse(argc, argv, &cmd, tables, CLI_COUNT(tables), &err);
    if (rc == 1) return 0;
    Precision only = PRECISION_FP32;
    if (rc == 0 && precision_given) rc = precision_parse(precision_name, "--precision", &only, &err);
    if (rc == 0 && gemm_only) {
        bert_set_threads(threads);
        return gemm_bench(threads, reps);
    }
    if (rc != 0) {
        fprintf(stderr, "bench: %s\n", err.msg);
        return 1;
    }
    bert_set_threads(threads);
    const char *model_name;
    Bert *m = bench_model(model_dir, random_init, B, T, &model_name, &err);
    if (!m || (!growth && bert_enable_grads(m, &err) != 0)) {
        fprintf(stderr, "bench: %s\n", err.msg);
        bert_free(m);
        return 1;
    }
    const BertConfig *c = bert_config(m);
    int *ids = malloc(sizeof(int) * B * T), *types = calloc((size_t)B * T, sizeof(int));
    int *lengths = malloc(sizeof(int) * B), *labels = calloc((size_t)B, sizeof(int));
    if (!ids || !types || !lengths || !labels) {
        fprintf(stderr, "bench: out of memory for a batch of %d x %d tokens\n", B, T);
        return 1;
    }
    Rng rng;
    rng_seed(&rng, 7);
    // Token ids 1000..20999 (ordinary WordPiece words), folded into a
    // smaller vocabulary (a --random-init config's).
    for (int i = 0; i < B * T; i++) ids[i] = (1000 + (int)rng_below(&rng, 20000)) % c->vocab_size;
    for (int b = 0; b < B; b++) lengths[b] = T, labels[b] = b % 2;
    BertInput in = {B, T, ids, types, lengths};
    if (growth) {
        rc = growth_row(m, model_name, only, &in, labels, reps, &err);
        if (rc != 0) fprintf(stderr, "bench: %s\n", err.msg);
        free(ids), free(types), free(lengths), free(labels);
        bert_free(m);
        return rc != 0;
    }
    if (profile) {  // each precision (or --precision's) in turn
        Optimizer *opt = optim_build(&BENCH_OPTIM, m, &err);
        rc = opt ? 0 : -1;
        for (int p = 0; rc == 0 && p < PRECISION_COUNT; p++) {
            if (precision_given && p != (int)only) continue;
            if (bert_set_precision(m, (Precision)p, &err) != 0)
                printf("Time by phase, %s: not run: %s\n\n", precision_info((Precision)p)->name,
                       err.msg);
            else
                rc = profile_bench(m, opt, &in, labels, reps, threads, &err);
        }
        if (rc != 0) fprintf(stderr, "bench: %s\n", err.msg);
        optim_free(opt);
        free(ids), free(types), free(lengths), free(labels);
        bert_free(m);
        return rc != 0;
    }

    double peak = sgemm_peak_gflops(B * T, c->intermediate_size, c->hidden_size, threads, reps);
    double flops = forward_flops(c, B, T);
    printf("model %s%s, batch %d x seq %d, %d threads, median of %d\n\n", model_name,
           *random_init ? " (random weights)" : "", B, T, threads, reps);
    printf("| measurement | median | rate | vs sgemm peak |\n|---|---|---|---|\n");
    printf("| sgemm %dx%dx%d (OpenBLAS, %d threads) | | %.1f GFLOP/s | 100%% |\n", B * T,
           c->intermediate_size, c->hidden_size, threads, peak);

    // Every precision (or --precision's) on the same model: eval forward and
    // the training step of every map, then the peak RSS so far.
    Optimizer *opt = optim_build(&BENCH_OPTIM, m, &err);
    const int maps = attn_map_count() < MAX_MAPS ? attn_map_count() : MAX_MAPS;
    double fwd[PRECISION_COUNT], step[PRECISION_COUNT][MAX_MAPS], rss[PRECISION_COUNT];
    int ran[PRECISION_COUNT] = {0};
    char refused[PRECISION_COUNT][ERR_MSG_MAX];
    for (int p = 0; opt && p < PRECISION_COUNT; p++) {
        if (precision_given && p != (int)only) continue;
        refused[p][0] = '\0';
        if (bert_set_precision(m, (Precision)p, &err) != 0 ||
            (fwd[p] = time_eval_forward(m, &in, reps, &err)) < 0) {
            snprintf(refused[p], sizeof refused[p], "%s", err.msg);
            continue;
        }
        for (int k = 0; k < maps; k++) {  // every map, with its default parameter
            bert_set_attn(m, attn_map_default((AttnKind)k));
            step[p][k] = time_training_step(m, opt, &in, labels, reps, &err);
        }
        rss[p] = peak_rss_mb();
        ran[p] = 1;
    }
    printf("\n| eval forward | median | rate | vs sgemm peak | peak RSS so far |\n|---|---|---|---|---|\n");
    for (int p = 0; p < PRECISION_COUNT; p++) {
        const char *name = precision_info((Precision)p)->name;
        if (!ran[p] && (!precision_given || p == (int)only) && opt)
            printf("| %s | not run: %s | | | |\n", name, refused[p]);
        if (!ran[p]) continue;
        printf("| %s (%s) | %.1f ms | %.1f sentences/s, %.1f GFLOP/s | %.0f%% | %.0f MB |\n", name,
               precision_info((Precision)p)->gemm, fwd[p] * 1e3, B / fwd[p], flops / fwd[p] / 1e9,
               100.0 * flops / fwd[p] / 1e9 / peak, rss[p]);
    }
    printf("\n| training step (fwd + bwd + AdamW, dropout 0.1) |");
    for (int p = 0; p < PRECISION_COUNT; p++)
        if (ran[p]) printf(" %s | vs %s softmax | GFLOP/s (3x fwd) |", precision_info((Precision)p)->name,
                           precision_info((Precision)p)->name);
    printf("\n|---|");
    for (int p = 0; p < PRECISION_COUNT; p++)
        if (ran[p]) printf("---|---|---|");
    printf("\n");
    for (int k = 0; k < maps; k++) {
        char name[64];
        attn_map_format(name, sizeof name, attn_map_default((AttnKind)k));
        printf("| %s |", name);
        for (int p = 0; p < PRECISION_COUNT; p++) {
            if (!ran[p]) continue;
            if (step[p][k] < 0)
                printf(" failed | | |");
            else
                printf(" %.1f ms | %.3fx | %.1f |", step[p][k] * 1e3,
                       step[p][k] / step[p][ATTN_SOFTMAX], 3 * flops / step[p][k] / 1e9);
        }
        printf("\n");
    }
    printf("\npeak RSS of this process: %.0f MB\n", peak_rss_mb());
    optim_free(opt);
    free(ids), free(types), free(lengths), free(labels);
    bert_free(m);
    return 0;
}
