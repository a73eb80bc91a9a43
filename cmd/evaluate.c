// ./evaluate: scores a model directory or checkpoint on a task's split.
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "app/options.h"
#include "app/evaluation.h"
#include "util/fileio.h"

static const char about[] =
    "Scores a model directory or checkpoint on a task's split.  Prints the task's metrics and the\n"
    "fraction of attention probabilities that are exactly zero among real keys (overall and per\n"
    "layer).  The attention map is the checkpoint's unless --attn is given.";

int main(int argc, char **argv) {
    file_size_limit_as_error();
    Dist dist;
    Err err;
    if (dist_init(&dist, &argc, &argv, &err) != 0) {
        fprintf(stderr, "evaluate: %s\n", err.msg);
        return 1;
    }
    EvaluationOptions o = {.data = CLI_SESSION_DEFAULTS, .split = "dev", .dist = &dist};
    CliSessionExtras x = {.separator = "tab"};
    int threads = omp_get_max_threads();
    cli_session_rows(&o.data, &x);
    const CliOption own[] = {
        {"split", CLI_STRING, &o.split, "NAME", "dev, test (GLUE submission format) or train"},
        {"predictions", CLI_STRING, &o.predictions, "FILE", "write per-example predictions (TSV)"},
        {"metrics-out", CLI_STRING, &o.metrics_out, "FILE", "write metrics and sparsity as JSON"},
        CLI_THREADS_ROW(&threads),
        {"allow-nonfinite", CLI_FLAG, &o.data.allow_nonfinite, NULL, "load weights with NaN / Inf values (e.g. in unused rows); non-finite outputs still stop"},
    };
    const CliTable tables[] = {{x.rows, x.num_rows}, CLI_TABLE(own)};
    const CliCommand cmd = {"./evaluate", about, CLI_EVALUATE, x.maps, cli_session_task_bits, &o.data};
    int rc = cli_parse(argc, argv, &cmd, tables, CLI_COUNT(tables), &err);
    if (rc == 1) {
        dist_finalize(&dist);
        return 0;
    }
    if (rc == 0) rc = cli_finish_session(&o.data, &x, &err);
    if (rc == 0) {
        bert_set_threads(threads);
        rc = evaluation_run(&o, &err);
    }
    return dist_exit("evaluate", &dist, rc, &err);
}
