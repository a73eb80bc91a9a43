// Tasks (the nine GLUE tasks and user-defined files) and their datasets.
//
// Usage (./finetune, ./evaluate):
//
//   Err err;
//   // id2label of the checkpoint (id -> name), or NULL, 0 when it has none
//   Task *task = task_glue("sst2", "data/glue", id2label, n_labels, &err);
//   //   or: CustomTaskOptions o = {.train = ..., .text_a = "sentence", ...};
//   //       Task *task = task_custom(&o, id2label, n_labels, &err);
//   if (!task) die(err.msg);
//   // model head: task_num_outputs(task) (1 = regression); config id2label:
//   //   task_label_name(task, id)
//   for (int s = 0; s < task_num_splits(task); s++) {
//       if (task_split_kind(task, s) != SPLIT_DEV) continue;
//       BadRowCounts bad;
//       Dataset *dev = task_load(task, s, skip_bad_rows, &bad, &err);
//       if (bad.total) print("%s: skipped %d bad rows; first: %s", ...bad.first);
//       ... tokenize (tasks/batcher.h), run, score (tasks/metrics.h) ...
//       dataset_free(dev);
//   }
//   task_free(task);
//
// Label ids.  A classification task has label names in a canonical order
// (GLUE: the order of transformers' GLUE processors, e.g. MNLI
// contradiction, entailment, neutral).  The checkpoint's id2label decides the
// ids when it names the task's labels (case-insensitively): roberta-large-mnli
// (CONTRADICTION, NEUTRAL, ENTAILMENT) gives neutral id 1.  No id2label,
// generic names (LABEL_0, ...) or names unrelated to the task keep the
// canonical order; naming some task labels but not all, naming one twice, or
// naming all of them with extra ids is an error.  Regression tasks ignore it.
//
// Model selection: each task has one "primary" score (tasks/metrics.h),
// computed on its first dev split (MNLI: dev_matched).
#ifndef TASKS_TASK_H
#define TASKS_TASK_H

#include <stdbool.h>

#include "util/err.h"

typedef struct Task Task;
typedef struct Dataset Dataset;

typedef enum { SPLIT_TRAIN, SPLIT_DEV, SPLIT_TEST } SplitKind;

// What a task reports; the primary score of each is in brackets.
typedef enum {
    METRIC_ACCURACY,         // SST-2, QNLI, RTE, WNLI, MNLI, custom [accuracy]
    METRIC_ACCURACY_F1,      // MRPC, QQP [(accuracy + F1) / 2]
    METRIC_MATTHEWS,         // CoLA [Matthews correlation]
    METRIC_PEARSON_SPEARMAN, // STS-B, custom regression [(Pearson + Spearman) / 2]
    METRIC_MULTI_LABEL       // --multi-label, debtags [micro-F1]
} MetricKind;

// Options of `--task custom`, filled by the main from argv.
typedef struct {
    const char *name;    // shown in logs; NULL = "custom"
    const char *train;   // file paths; any may be NULL, but not all three
    const char *dev;
    const char *test;    // the label column is not read from the test file
    // Columns: a 0-based index ("2") or, when the file has a header, a
    // header name ("sentence1").
    const char *text_a;  // required
    const char *text_b;  // NULL for single-text tasks
    const char *label;   // required unless the task only has a test file
    bool header;         // first line of each file names the columns
    char separator;      // '\t' (TSV: plain split on tabs) or ',' (CSV, RFC 4180);
                         // a file named *.jsonl is JSON lines whatever this says:
                         // {"text": ..., "text_b": ..., "label": ... or [...]}, the
                         // columns then name keys (as the datasets library writes it)
    bool regression;     // float targets, one output
    // Classification label set, in canonical order: "neg,pos" when given;
    // else the distinct labels of the train file sorted byte-wise (as
    // Python's sorted()); with neither, the checkpoint's non-generic
    // id2label names.
    const char *labels;
    // Multi-label: the label column holds a list of labels joined by
    // label_sep (0: ',').  Labels outside the label set are left out of a
    // row; a row left with none is dropped (both counted in BadRowCounts).
    // Without --labels the set is the train file's labels that occur at
    // least min_label_count times (0 or 1: every label).
    bool multi_label;
    char label_sep;
    int min_label_count;
    // Text = "A: B" (text_a and text_b joined) instead of a text pair.
    bool join_texts;
} CustomTaskOptions;

// GLUE task by name, case-insensitive, ignoring '-' and '_': the folder
// name (SST-2, STS-B, CoLA, ...) or the short name (sst2, stsb, mnli,
// mnli-mm = MNLI evaluated on the mismatched sets only).  glue_root holds
// the task folders (SST-2/, MNLI/, ...).  Files are opened by task_load.
Task *task_glue(const char *name, const char *glue_root,
                const char *const *id2label /* [num_id2label] or NULL */, int num_id2label,
                Err *err);
// Reads the train file's labels when opts->labels is NULL (classification).
Task *task_custom(const CustomTaskOptions *opts,
                  const char *const *id2label /* [num_id2label] or NULL */, int num_id2label,
                  Err *err);
// Debian package tags (data/debtags, see scripts/fetch_debtags.sh): the
// protocol of its SOURCES.txt: text "package: description", the tags that
// occur at least 100 times in train.tsv as labels, rows with none of them
// dropped from every split; every split is labeled.
Task *task_debtags(const char *data_root, const char *const *id2label, int num_id2label,
                   Err *err);
void task_free(Task *task);

const char *task_name(const Task *task);  // "SST-2", "MNLI-mm", "custom", ...
bool task_is_regression(const Task *task);
bool task_is_multi_label(const Task *task);
int task_num_outputs(const Task *task);  // number of labels; 1 for regression
// Name of class `id` in model id order; NULL for regression or a bad id.
const char *task_label_name(const Task *task, int id);
MetricKind task_metric(const Task *task);

// Splits: GLUE train, dev, test; MNLI train, dev_matched, dev_mismatched,
// test_matched, test_mismatched; custom: those whose file was given.
int task_num_splits(const Task *task);
const char *task_split_name(const Task *task, int split);
SplitKind task_split_kind(const Task *task, int split);
const char *task_split_path(const Task *task, int split);
// GLUE leaderboard file name for a test split ("SST-2.tsv", "MNLI-m.tsv");
// NULL for other splits and custom tasks.
const char *task_split_submission_name(const Task *task, int split);

// Rows that break the file's layout.  Loading stops at the first one with
// "FILE:LINE: what" (LINE is the 1-based physical line), unless
// skip_bad_rows is set: then they are left out and counted here.
typedef enum {
    BAD_COLUMNS,     // wrong number of columns (an empty line has 0)
    BAD_LABEL,       // label not in the task's label set
    BAD_EMPTY_TEXT,  // a text column empty or only ASCII whitespace
    BAD_ENCODING,    // invalid UTF-8 or a NUL byte
    BAD_TARGET,      // regression target that is not a finite number
    BAD_QUOTING,     // CSV: unterminated quote, or text after a closing quote
    BAD_INDEX,       // test file index column that is not an integer
    BAD_JSON,        // JSONL: not a JSON object, or a field of the wrong type
    BAD_ROW_KINDS
} BadRowKind;

typedef struct {
    int count[BAD_ROW_KINDS];
    int total;
    char first[ERR_MSG_MAX];  // message of the first skipped row ("" if none)
    // Multi-label: labels left out because they are not in the label set,
    // and rows dropped because none of their labels is (always dropped, not
    // errors: the label set's frequency floor decides them).
    long labels_not_kept;
    int rows_without_kept_label;
} BadRowCounts;

const char *bad_row_kind_name(BadRowKind kind);  // "wrong column count", ...

// Loads one split.  `skipped` (may be NULL) is zeroed, then filled.  A file
// header that does not match the task's layout always stops loading.
Dataset *task_load(const Task *task, int split, bool skip_bad_rows, BadRowCounts *skipped,
                   Err *err);

typedef struct {
    const char *text_a;
    const char *text_b;  // NULL for single-text tasks
    int label;           // class id in model order; -1 when the split is unlabeled or regression
                         // (multi-label: the first id of label_set)
    const int *label_set;  // multi-label: the row's label ids, ascending, [label_set_size]
    int label_set_size;    // 0 unless multi-label
    float target;        // regression target; NAN when unlabeled or classification
    long index;          // the test file's index column, else the 0-based data row in the file
    int line;            // 1-based physical line in the file where the row starts
} Example;

// A dataset built in memory, unlabeled (./predict): `name` stands for the
// path in messages.  dataset_add copies the texts (b may be NULL); `line`
// becomes the example's line and index.  dataset_clear empties it and keeps
// the memory for the next batch of texts.
Dataset *dataset_new(const char *name, Err *err);
int dataset_add(Dataset *ds, const char *text_a, const char *text_b, int line, Err *err);
void dataset_clear(Dataset *ds);

void dataset_free(Dataset *ds);
int dataset_size(const Dataset *ds);
const Example *dataset_example(const Dataset *ds, int i);
bool dataset_is_labeled(const Dataset *ds);  // false for test splits
const char *dataset_path(const Dataset *ds);

#endif
