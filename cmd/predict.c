// ./predict: answers texts with a fine-tuned model (see app/predict.h).
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "app/options.h"
#include "app/predict.h"

static const char about[] =
    "Answers each text with the model's label and the probability of every label (or the score\n"
    "of a regression model), in input order: one TSV line per input after a header line, or one\n"
    "JSON object per line with --json.  Inputs: the TEXT arguments (./predict [options] TEXT ...),\n"
    "else --input FILE, else stdin; --format lines: a text, or a pair as two tab-separated texts,\n"
    "per line; table: TSV or CSV columns; jsonl: {\"text\": ..., \"text_b\": ...} per line.  A bad\n"
    "input (empty, invalid UTF-8, a pair without its second text, a line over --max-line-bytes)\n"
    "gets a line NAME:LINE: what on stderr and no answer; the others are answered and the exit\n"
    "status is then 1.";

// The rows of the shared session table ./predict takes as they are.
static int pick_session_rows(const CliSessionExtras *x, CliOption *out) {
    static const char *const wanted[] = {"model", "max-len", "batch-size", "attn", "r",
                                             "precision"};
    int k = 0;
    for (int w = 0; w < CLI_COUNT(wanted); w++)
        for (int i = 0; i < x->num_rows; i++)
            if (strcmp(x->rows[i].name, wanted[w]) == 0) out[k++] = x->rows[i];
    return k;
}

int main(int argc, char **argv) {
    PredictOptions o = {.model = {.model_dir = CLI_DEFAULT_MODEL, .max_len = 128, .batch_size = 32},
                        .format = "lines",
                        .window = 1024,
                        .max_line_bytes = 1 << 16};
    CliSessionExtras x = {.separator = "tab"};
    const char *separator = "tab";
    bool no_header = false;
    int threads = omp_get_max_threads();
    cli_session_rows(&o.model, &x);
    CliOption shared[CLI_SESSION_ROWS];
    int num_shared = pick_session_rows(&x, shared);
    const CliOption own[] = {
        {"input", CLI_STRING, &o.input, "FILE", "read the inputs from FILE", NULL, "stdin, or the TEXT arguments"},
        {"format", CLI_STRING, &o.format, "FORMAT", "lines | table (TSV/CSV) | jsonl"},
        {"text-col", CLI_STRING, &o.text_col, "COL", "table: text column, 0-based index or header name; jsonl: key", NULL, "0; jsonl: text"},
        {"text-b-col", CLI_STRING, &o.text_b_col, "COL", "table: second text column of pairs; jsonl: key, then required", NULL, "none; jsonl: text_b when present"},
        {"separator", CLI_STRING, &separator, "SEP", "table: tab or comma"},
        {"no-header", CLI_FLAG, &no_header, NULL, "table: no header line"},
        {"json", CLI_FLAG, &o.json, NULL, "one JSON object per answer: line, label, probabilities (or score)"},
        {"window", CLI_INT, &o.window, "N", "inputs grouped by length at most (fewer when no more input is ready)", .range = CLI_AT_LEAST(1)},
        {"max-line-bytes", CLI_INT, &o.max_line_bytes, "N", "longer lines are bad inputs", .range = CLI_AT_LEAST(1)},
        CLI_THREADS_ROW(&threads),
        {"timing", CLI_FLAG, &o.timing, NULL, "report inputs/s and the time spent tokenizing and in the model"},
    };
    const CliTable tables[] = {{shared, num_shared}, CLI_TABLE(own)};
    int first_text = argc;
    const CliCommand cmd = {"./predict", about, CLI_PREDICT, x.maps, NULL, NULL, &first_text};
    Err err;
    int rc = cli_parse(argc, argv, &cmd, tables, CLI_COUNT(tables), &err);
    if (rc == 1) return 0;
    if (rc == 0) rc = cli_finish_model(&o.model, &x, &err);
    if (rc == 0) rc = cli_separator(separator, &o.separator, &err);
    if (rc == 0) {
        o.header = !no_header;
        o.texts = argv + first_text;
        o.num_texts = argc - first_text;
        bert_set_threads(threads);
        rc = predict_run(&o, &err);
        if (rc == 1) return 1;  // bad inputs, each named on stderr
    }
    if (rc != 0) {
        fprintf(stderr, "predict: %s\n", err.msg);
        return 1;
    }
    return 0;
}
