// What ./predict does: answers texts with a fine-tuned model (checkpoint or
// exported directory, opened as ./evaluate opens it: app/session.c).
// cmd/predict.c only parses options.
//
// Inputs come from the command line (each argument is read as one line),
// from --input FILE or from stdin, in one of the formats of FORMATS in
// predict.c: lines (a text, or a pair as two tab-separated texts), table
// (TSV/CSV with column choice) or jsonl ({"text": ..., "text_b": ...}).
// They are answered in input order, in windows: up to `window` inputs, or
// fewer when the input has no more data ready (a line typed at a terminal
// is answered at once).  Within a window the texts are tokenized in
// parallel and batched longest first (session_predict), then put back in
// order.
//
// A bad input (empty text, invalid UTF-8, a pair without its second text, a
// line over max_line_bytes, ...) gets one line "NAME:LINE: what" on stderr
// and no answer; the other inputs are still answered.
#ifndef APP_PREDICT_H
#define APP_PREDICT_H

#include <stdbool.h>

#include "app/session.h"
#include "util/err.h"

typedef struct {
    SessionOptions model;      // model_dir, max_len, batch_size, attention; task NULL
    const char *input;         // FILE, or NULL: stdin (unless texts are given)
    char *const *texts;        // [num_texts] texts from the command line, or NULL
    int num_texts;
    const char *format;        // a row of FORMATS: "lines", "table", "jsonl"
    const char *text_col;      // table: 0-based index or header name; jsonl: key
    const char *text_b_col;    // the same for the second text; NULL: single texts
                               // (jsonl: the key "text_b" when present)
    char separator;            // table: '\t' or ','
    bool header;               // table: the first record names the columns
    bool json;                 // one JSON object per answer instead of TSV
    int window;                // inputs grouped by length at most
    int max_line_bytes;        // longer lines (records) are bad inputs
    bool timing;               // report time spent tokenizing and in the model
} PredictOptions;

// Returns 0 when every input was answered, 1 when some were bad (each named
// on stderr), -1 on an error that stops the run (err says which).
int predict_run(const PredictOptions *opt, Err *err);

#endif
