// ./report: rewrites a fine-tuning run's OUT/report.html from OUT/log.jsonl.
#include <stdio.h>

#include "app/options.h"
#include "app/report.h"

static const char about[] =
    "Writes OUT/report.html from OUT/log.jsonl (./finetune --out OUT writes both; this\n"
    "rewrites the page at any time, also while the run goes on): one self-contained file\n"
    "with the run's configuration, loss, learning rate, gradient norm (log scale),\n"
    "throughput, dev metrics and, for sparse attention maps, the fraction of exact zeros\n"
    "per layer against steps.  The run directory: ./report OUT or ./report --out OUT.";

int main(int argc, char **argv) {
    const char *out = NULL;
    const CliOption opts[] = {
        {"out", CLI_STRING, &out, "DIR", "the run's directory (or give it as the only argument)"},
    };
    const CliTable tables[] = {CLI_TABLE(opts)};
    int first_arg = argc;
    const CliCommand cmd = {"./report", about, CLI_REPORT, .first_arg = &first_arg};
    Err err;
    int rc = cli_parse(argc, argv, &cmd, tables, CLI_COUNT(tables), &err);
    if (rc == 1) return 0;
    // One positional argument: the run directory.
    if (rc == 0 && first_arg < argc) {
        if (out || argc - first_arg > 1)
            rc = err_set(&err, "%s: unexpected argument (the run directory is given once; see --help)",
                         argv[argc - 1]);
        else
            out = argv[first_arg];
    }
    if (rc == 0 && !out) rc = err_set(&err, "the run directory is required: ./report OUT (see --help)");
    if (rc == 0) rc = report_write(out, &err);
    if (rc != 0) {
        fprintf(stderr, "report: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "report: wrote %s/report.html\n", out);
    return 0;
}
