// Internal to tasks/: the Task struct shared by task.c (registry, label
// order) and dataset.c (file parsing).  Use tasks/task.h.
#ifndef TASKS_TASK_IMPL_H
#define TASKS_TASK_IMPL_H

#include "tasks/table.h"
#include "tasks/task.h"

#define TASK_MAX_SPLITS 5

// A column given by 0-based index, or by header name (then index is -1).
// Neither (index -1, name NULL) means the file has no such column.
typedef struct {
    int index;
    const char *name;
} ColumnRef;

typedef struct {
    const char *name;  // "train", "dev_matched", ...
    SplitKind kind;
    char *path;
    const char *submission;  // GLUE leaderboard file name, test splits only
    bool header;
    int ncols;  // expected columns; 0 = as many as the file's first record
    ColumnRef text_a, text_b, label, index;
} TaskSplit;

struct Task {
    char *name;
    bool regression;
    MetricKind metric;
    char sep;
    int num_labels;  // 0 for regression
    char **labels;   // [num_labels] names in model id order
    int *by_name;    // [num_labels] ids sorted by name, for bsearch
    int num_splits;
    TaskSplit splits[TASK_MAX_SPLITS];
    char *column_names[3];  // owned copies of custom column names
    bool multi_label;       // label column: a list joined by label_sep
    char label_sep;
    bool join_texts;        // text = "a: b"
};

// Calls add(ctx, label, err) for each label of a multi-label field (split on
// task->label_sep, spaces around a label trimmed, empty pieces skipped);
// stops at the first non-zero return and returns it.
int task_each_label(const Task *task, const char *field,
                    int (*add)(void *ctx, const char *label, Err *err), void *ctx, Err *err);

// Whether a task file is JSON lines (named *.jsonl).
bool task_path_is_jsonl(const char *path);

// One JSONL line as a record [text_a, text_b, label]: the values of the
// keys the split's columns name ("" where a column is not set).  A list
// label is joined with the task's label separator.
typedef struct {
    char *fields[3];
    const char *view[3];  // the record's fields
    char problem[160];    // what is wrong with the line; "" when it is good
} JsonlRow;
// Fills jr from one line (its old fields freed); -1 only when out of memory.
int jsonl_parse(const Task *task, const TaskSplit *sp, const char *text, size_t len,
                JsonlRow *jr);
void jsonl_row_clear(JsonlRow *jr);

// Class id of a label as written in a data file (exact match), or -1.
int task_label_id(const Task *task, const char *label);

// The 0-based index of `ref` in a file whose header is `header` (a named
// column must be in it); -1 into *index when ref names no column.
int task_resolve_column(const ColumnRef *ref, const TableRecord *header, const char *path,
                        int *index, Err *err);

#endif
