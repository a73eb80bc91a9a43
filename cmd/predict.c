// ./predict: answers texts with a fine-tuned model (see app/predict.h).
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "app/options.h"
#include "app/predict.h"

static const char usage[] =
    "usage: ./predict --model DIR|CHECKPOINT [options] [TEXT ...]\n"
    "       ... | ./predict --model DIR [options]            (or --input FILE)\n"
    "Answers each text with the model's label and the probability of every label (or the score\n"
    "of a regression model), in input order: one TSV line per input after a header line, or one\n"
    "JSON object per line with --json.  Inputs: the TEXT arguments, else --input FILE, else stdin;\n"
    "--format lines: a text, or a pair as two tab-separated texts, per line; table: TSV or CSV\n"
    "columns; jsonl: {\"text\": ..., \"text_b\": ...} per line.  A bad input (empty, invalid UTF-8,\n"
    "a pair without its second text, a line over --max-line-bytes) gets a line NAME:LINE: what\n"
    "on stderr and no answer; the others are answered and the exit status is then 1.";

// The rows of the shared session table ./predict takes as they are.
static int pick_session_rows(SessionOptions *s, CliSessionExtras *x, CliOption *out) {
    static const char *const wanted[] = {"model", "max-len", "batch-size", "attn", "r"};
    CliOption all[CLI_SESSION_ROWS];
    int n = cli_session_rows(s, x, all), k = 0;
    for (size_t w = 0; w < sizeof wanted / sizeof wanted[0]; w++)
        for (int i = 0; i < n; i++)
            if (strcmp(all[i].name, wanted[w]) == 0) out[k++] = all[i];
    return k;
}

int main(int argc, char **argv) {
    PredictOptions o = {.model = {.max_len = 128, .batch_size = 32},
                        .format = "lines",
                        .window = 1024,
                        .max_line_bytes = 1 << 16};
    CliSessionExtras x = {0};
    const char *separator = "tab";
    bool no_header = false;
    int threads = omp_get_max_threads();
    CliOption opts[CLI_SESSION_ROWS + 16];
    int n = pick_session_rows(&o.model, &x, opts);
    const CliOption own[] = {
        {"input", CLI_STRING, &o.input, "FILE", "read the inputs from FILE", NULL, "stdin, or the TEXT arguments"},
        {"format", CLI_STRING, &o.format, "FORMAT", "lines | table (TSV/CSV) | jsonl", NULL},
        {"text-col", CLI_STRING, &o.text_col, "COL", "table: text column, 0-based index or header name; jsonl: key", NULL, "0; jsonl: text"},
        {"text-b-col", CLI_STRING, &o.text_b_col, "COL", "table: second text column of pairs; jsonl: key, then required", NULL, "none; jsonl: text_b when present"},
        {"separator", CLI_STRING, &separator, "SEP", "table: tab or comma", NULL},
        {"no-header", CLI_FLAG, &no_header, NULL, "table: no header line", NULL},
        {"json", CLI_FLAG, &o.json, NULL, "one JSON object per answer: line, label, probabilities (or score)", NULL},
        {"window", CLI_INT, &o.window, "N", "inputs grouped by length at most (fewer when no more input is ready)", NULL},
        {"max-line-bytes", CLI_INT, &o.max_line_bytes, "N", "longer lines are bad inputs", NULL},
        {"threads", CLI_INT, &threads, "N", "OpenMP and BLAS threads", NULL},
        {"timing", CLI_FLAG, &o.timing, NULL, "report inputs/s and the time spent tokenizing and in the model", NULL},
    };
    memcpy(opts + n, own, sizeof own);
    n += (int)(sizeof own / sizeof own[0]);
    Err err;
    int first_text = argc;
    int rc = cli_parse_with_args(argc, argv, opts, n, usage, &first_text, &err);
    if (rc == 1) return 0;
    if (rc == 0 && !o.model.model_dir) rc = err_set(&err, "--model is required (see --help)");
    if (rc == 0) rc = cli_finish_model(&o.model, &x, &err);
    if (rc == 0) rc = cli_separator(separator, &o.separator, &err);
    if (rc == 0 && threads < 1) rc = err_set(&err, "--threads %d: expected >= 1", threads);
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
