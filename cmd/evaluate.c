// ./evaluate: scores a model directory or checkpoint on a task's split.
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "app/options.h"
#include "app/evaluation.h"
#include "util/fileio.h"

static const char usage[] =
    "usage: ./evaluate --model DIR|CHECKPOINT --task NAME [--data-dir DIR] [--split dev|test]\n"
    "                  [--max-len N] [--batch-size N] [--attn MAP [--r R]]\n"
    "                  [--predictions FILE] [--metrics-out FILE]\n"
    "Prints the task's metrics and the fraction of attention probabilities that are exactly\n"
    "zero among real keys (overall and per layer).  The attention map is the checkpoint's\n"
    "unless --attn is given.";

int main(int argc, char **argv) {
    file_size_limit_as_error();
    EvaluationOptions o = {.data = {.data_dir = "data/glue", .max_len = 128, .batch_size = 32},
                     .split = "dev"};
    CliSessionExtras x = {.separator = "tab"};
    int threads = omp_get_max_threads();
    CliOption opts[CLI_SESSION_ROWS + 8];
    int n = cli_session_rows(&o.data, &x, opts);
    const CliOption own[] = {
        {"split", CLI_STRING, &o.split, "NAME", "dev, test (GLUE submission format) or train", NULL},
        {"predictions", CLI_STRING, &o.predictions, "FILE", "write per-example predictions (TSV)", NULL},
        {"metrics-out", CLI_STRING, &o.metrics_out, "FILE", "write metrics and sparsity as JSON", NULL},
        {"threads", CLI_INT, &threads, "N", "OpenMP and BLAS threads", NULL},
        {"allow-nonfinite", CLI_FLAG, &o.data.allow_nonfinite, NULL, "load weights with NaN / Inf values (e.g. in unused rows); non-finite outputs still stop", NULL},
    };
    memcpy(opts + n, own, sizeof own);
    n += (int)(sizeof own / sizeof own[0]);
    Err err;
    int rc = cli_parse(argc, argv, opts, n, usage, &err);
    if (rc == 1) return 0;
    if (rc == 0) rc = cli_finish_session(&o.data, &x, &err);
    if (rc == 0 && threads < 1) rc = err_set(&err, "--threads %d: expected >= 1", threads);
    if (rc == 0) {
        bert_set_threads(threads);
        rc = evaluation_run(&o, &err);
    }
    if (rc != 0) {
        fprintf(stderr, "evaluate: %s\n", err.msg);
        return 1;
    }
    return 0;
}
