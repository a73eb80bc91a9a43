// ./attention: draws a model's attention probabilities for one input.
#include <omp.h>
#include <stdio.h>

#include "app/attention_view.h"
#include "app/options.h"
#include "model/bert.h"

static const char about[] =
    "Draws the attention probabilities of one forward pass (rows: queries, columns: keys,\n"
    "tokens as labels): every layer x head, or the --layer / --head chosen (both: one\n"
    "matrix).  Exact zeros are hatched, apart from small probabilities.  --compare draws a\n"
    "second model beside the first (e.g. the softmax and the r-softmax fine-tunes of a task).";

int main(int argc, char **argv) {
    AttentionViewOptions o = {.model_dir = CLI_DEFAULT_MODEL, .layer = -1, .head = -1, .max_len = 128};
    int threads = omp_get_max_threads();
    const CliOption opts[] = {
        {"model", CLI_STRING, &o.model_dir, "DIR", "model directory or checkpoint"},
        {"text", CLI_STRING, &o.text, "TEXT", "the input text", .required = true},
        {"pair", CLI_STRING, &o.pair, "TEXT", "second text of a pair"},
        {"layer", CLI_INT, &o.layer, "L", "draw only layer L (0-based)", NULL, "all", .range = CLI_AT_LEAST(0)},
        {"head", CLI_INT, &o.head, "H", "draw only head H (0-based)", NULL, "all", .range = CLI_AT_LEAST(0)},
        {"compare", CLI_STRING, &o.compare_dir, "DIR", "a second model drawn beside the first"},
        {"max-len", CLI_INT, &o.max_len, "N", "truncate the input to N tokens", .range = CLI_IN(3, 4096)},
        {"out", CLI_STRING, &o.out, "FILE", "FILE.svg (the drawing) or FILE.html (a page with it)", .required = true},
        CLI_THREADS_ROW(&threads),
    };
    const CliTable tables[] = {CLI_TABLE(opts)};
    const CliCommand cmd = {"./attention", about, CLI_ATTENTION};
    Err err;
    int rc = cli_parse(argc, argv, &cmd, tables, CLI_COUNT(tables), &err);
    if (rc == 1) return 0;
    if (rc == 0) {
        bert_set_threads(threads);
        rc = attention_view_run(&o, &err);
    }
    if (rc != 0) {
        fprintf(stderr, "attention: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "attention: wrote %s\n", o.out);
    return 0;
}
