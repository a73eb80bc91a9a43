// Task registry (GLUE), custom tasks and the label order.
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tasks/table.h"
#include "tasks/task_impl.h"
#include "util/buf.h"
#include "util/fileio.h"

// One split file of a GLUE task, laid out as in the official GLUE
// distribution and read the way transformers' GLUE processors read it.
typedef struct {
    const char *name;
    SplitKind kind;
    const char *file;
    const char *submission;
    bool header;
    int ncols;
    int text_a, text_b, label, index;  // 0-based columns, -1 = none
} GlueSplit;

typedef struct {
    const char *name;     // shown in logs
    const char *folder;   // directory under the GLUE root
    const char *aliases;  // accepted names, normalised (lower case, no '-' '_'), space-separated
    MetricKind metric;
    bool regression;
    int num_labels;
    const char *labels[3];  // canonical order: transformers' processors' get_labels()
    int num_splits;
    GlueSplit splits[TASK_MAX_SPLITS];
} GlueTask;

// Adding a GLUE-style task is one row here.
static const GlueTask GLUE_TASKS[] = {
    {"CoLA", "CoLA", "cola", METRIC_MATTHEWS, false, 2, {"0", "1"}, 3,
     {{"train", SPLIT_TRAIN, "train.tsv", NULL, false, 4, 3, -1, 1, -1},
      {"dev", SPLIT_DEV, "dev.tsv", NULL, false, 4, 3, -1, 1, -1},
      {"test", SPLIT_TEST, "test.tsv", "CoLA.tsv", true, 2, 1, -1, -1, 0}}},
    {"SST-2", "SST-2", "sst2", METRIC_ACCURACY, false, 2, {"0", "1"}, 3,
     {{"train", SPLIT_TRAIN, "train.tsv", NULL, true, 2, 0, -1, 1, -1},
      {"dev", SPLIT_DEV, "dev.tsv", NULL, true, 2, 0, -1, 1, -1},
      {"test", SPLIT_TEST, "test.tsv", "SST-2.tsv", true, 2, 1, -1, -1, 0}}},
    {"MRPC", "MRPC", "mrpc", METRIC_ACCURACY_F1, false, 2, {"0", "1"}, 3,
     {{"train", SPLIT_TRAIN, "train.tsv", NULL, true, 5, 3, 4, 0, -1},
      {"dev", SPLIT_DEV, "dev.tsv", NULL, true, 5, 3, 4, 0, -1},
      {"test", SPLIT_TEST, "test.tsv", "MRPC.tsv", true, 5, 3, 4, -1, 0}}},
    {"STS-B", "STS-B", "stsb", METRIC_PEARSON_SPEARMAN, true, 0, {NULL}, 3,
     {{"train", SPLIT_TRAIN, "train.tsv", NULL, true, 10, 7, 8, 9, -1},
      {"dev", SPLIT_DEV, "dev.tsv", NULL, true, 10, 7, 8, 9, -1},
      {"test", SPLIT_TEST, "test.tsv", "STS-B.tsv", true, 9, 7, 8, -1, 0}}},
    {"QQP", "QQP", "qqp", METRIC_ACCURACY_F1, false, 2, {"0", "1"}, 3,
     {{"train", SPLIT_TRAIN, "train.tsv", NULL, true, 6, 3, 4, 5, -1},
      {"dev", SPLIT_DEV, "dev.tsv", NULL, true, 6, 3, 4, 5, -1},
      {"test", SPLIT_TEST, "test.tsv", "QQP.tsv", true, 3, 1, 2, -1, 0}}},
    {"MNLI", "MNLI", "mnli mnlim mnlimatched", METRIC_ACCURACY, false, 3, {"contradiction", "entailment", "neutral"},
     5,
     {{"train", SPLIT_TRAIN, "train.tsv", NULL, true, 12, 8, 9, 11, -1},
      {"dev_matched", SPLIT_DEV, "dev_matched.tsv", NULL, true, 16, 8, 9, 15, -1},
      {"dev_mismatched", SPLIT_DEV, "dev_mismatched.tsv", NULL, true, 16, 8, 9, 15, -1},
      {"test_matched", SPLIT_TEST, "test_matched.tsv", "MNLI-m.tsv", true, 10, 8, 9, -1, 0},
      {"test_mismatched", SPLIT_TEST, "test_mismatched.tsv", "MNLI-mm.tsv", true, 10, 8, 9, -1,
       0}}},
    {"MNLI-mm", "MNLI", "mnlimm mnlimismatched", METRIC_ACCURACY, false, 3,
     {"contradiction", "entailment", "neutral"}, 3,
     {{"train", SPLIT_TRAIN, "train.tsv", NULL, true, 12, 8, 9, 11, -1},
      {"dev_mismatched", SPLIT_DEV, "dev_mismatched.tsv", NULL, true, 16, 8, 9, 15, -1},
      {"test_mismatched", SPLIT_TEST, "test_mismatched.tsv", "MNLI-mm.tsv", true, 10, 8, 9, -1,
       0}}},
    {"QNLI", "QNLI", "qnli", METRIC_ACCURACY, false, 2, {"entailment", "not_entailment"}, 3,
     {{"train", SPLIT_TRAIN, "train.tsv", NULL, true, 4, 1, 2, 3, -1},
      {"dev", SPLIT_DEV, "dev.tsv", NULL, true, 4, 1, 2, 3, -1},
      {"test", SPLIT_TEST, "test.tsv", "QNLI.tsv", true, 3, 1, 2, -1, 0}}},
    {"RTE", "RTE", "rte", METRIC_ACCURACY, false, 2, {"entailment", "not_entailment"}, 3,
     {{"train", SPLIT_TRAIN, "train.tsv", NULL, true, 4, 1, 2, 3, -1},
      {"dev", SPLIT_DEV, "dev.tsv", NULL, true, 4, 1, 2, 3, -1},
      {"test", SPLIT_TEST, "test.tsv", "RTE.tsv", true, 3, 1, 2, -1, 0}}},
    {"WNLI", "WNLI", "wnli", METRIC_ACCURACY, false, 2, {"0", "1"}, 3,
     {{"train", SPLIT_TRAIN, "train.tsv", NULL, true, 4, 1, 2, 3, -1},
      {"dev", SPLIT_DEV, "dev.tsv", NULL, true, 4, 1, 2, 3, -1},
      {"test", SPLIT_TEST, "test.tsv", "WNLI.tsv", true, 3, 1, 2, -1, 0}}},
};
#define NUM_GLUE_TASKS ((int)(sizeof GLUE_TASKS / sizeof GLUE_TASKS[0]))

void task_free(Task *task) {
    if (!task) return;
    free(task->name);
    for (int i = 0; i < task->num_labels; i++) free(task->labels[i]);
    free(task->labels);
    free(task->by_name);
    for (int s = 0; s < task->num_splits; s++) free(task->splits[s].path);
    for (int i = 0; i < 3; i++) free(task->column_names[i]);
    free(task);
}

static char *dup_or_err(const char *s, Err *err) {
    char *d = strdup(s);
    if (!d) err_set(err, "out of memory copying \"%.40s\"", s);
    return d;
}

// Adopts `names` (owned, num entries) as the label set in canonical order.
static int set_labels(Task *task, char **names, int num, Err *err) {
    task->labels = names;
    task->num_labels = num;
    task->by_name = err_malloc(err, (size_t)num * sizeof(int), "label index");
    if (!task->by_name) return -1;
    for (int i = 0; i < num; i++) {
        int j = i;
        while (j > 0 && strcmp(names[task->by_name[j - 1]], names[i]) > 0) {
            task->by_name[j] = task->by_name[j - 1];
            j--;
        }
        task->by_name[j] = i;
    }
    for (int i = 0; i + 1 < num; i++)
        if (strcmp(names[task->by_name[i]], names[task->by_name[i + 1]]) == 0)
            return err_set(err, "%s: label \"%s\" is listed twice", task->name,
                           names[task->by_name[i]]);
    for (int i = 0; i < num; i++)
        if (names[i][0] == '\0' || strpbrk(names[i], "\t\r\n"))
            return err_set(err, "%s: label \"%s\" is empty or holds a tab or line break",
                           task->name, names[i]);
    return 0;
}

int task_label_id(const Task *task, const char *label) {
    int lo = 0, hi = task->num_labels - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(label, task->labels[task->by_name[mid]]);
        if (c == 0) return task->by_name[mid];
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return -1;
}

// Reorders the labels to the checkpoint's id2label when it names them; see
// tasks/task.h for the rule.  Labels keep the task's own spelling, which is
// what the data files and GLUE submissions use.
static int apply_id2label(Task *task, const char *const *id2label, int n, Err *err) {
    if (task->regression || !id2label || n <= 0) return 0;
    int k = task->num_labels;
    int *match = err_malloc(err, (size_t)n * sizeof(int), "label order");  // [n] task label, -1
    int *owner = err_malloc(err, (size_t)k * sizeof(int), "label order");  // [k] checkpoint id, -1
    if (!match || !owner) {
        free(match);
        free(owner);
        return -1;
    }
    int rc = 0, matched = 0;
    for (int i = 0; i < k; i++) owner[i] = -1;
    for (int j = 0; j < n && rc == 0; j++) {
        match[j] = -1;
        if (!id2label[j]) continue;
        for (int i = 0; i < k; i++)
            if (strcasecmp(id2label[j], task->labels[i]) == 0) match[j] = i;
        if (match[j] < 0) continue;
        if (owner[match[j]] >= 0)
            rc = err_set(err, "%s: checkpoint id2label names label \"%s\" twice (ids %d and %d)",
                         task->name, task->labels[match[j]], owner[match[j]], j);
        owner[match[j]] = j;
        matched++;
    }
    if (rc == 0 && matched > 0 && matched < k) {
        int missing = 0;
        while (owner[missing] >= 0) missing++;
        rc = err_set(err,
                     "%s: checkpoint id2label names %d of the task's %d labels but not \"%s\"",
                     task->name, matched, k, task->labels[missing]);
    }
    if (rc == 0 && matched == k && n != k)
        rc = err_set(err, "%s: checkpoint id2label has %d labels, the task has %d", task->name,
                     n, k);
    if (rc == 0 && matched == k) {
        char **ordered = err_malloc(err, (size_t)k * sizeof(char *), "labels");
        if (!ordered) {
            rc = -1;
        } else {
            for (int j = 0; j < k; j++) ordered[j] = task->labels[match[j]];
            free(task->labels);
            free(task->by_name);
            task->labels = NULL;
            task->by_name = NULL;
            rc = set_labels(task, ordered, k, err);
        }
    }
    free(match);
    free(owner);
    return rc;
}

// Lower case, letters and digits only: "SST-2", "sst_2" and "sst2" agree.
static void normalise_name(const char *in, char *out, size_t cap) {
    size_t n = 0;
    for (; *in && n + 1 < cap; in++)
        if (isalnum((unsigned char)*in)) out[n++] = (char)tolower((unsigned char)*in);
    out[n] = '\0';
}

static bool alias_matches(const char *aliases, const char *name) {
    size_t len = strlen(name);
    if (len == 0) return false;
    for (const char *p = aliases; *p;) {
        const char *end = strchr(p, ' ');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && strncmp(p, name, n) == 0) return true;
        p += n;
        while (*p == ' ') p++;
    }
    return false;
}

static const GlueTask *find_glue(const char *name) {
    char norm[64];
    normalise_name(name, norm, sizeof norm);
    for (int t = 0; t < NUM_GLUE_TASKS; t++) {
        char folder[64];
        normalise_name(GLUE_TASKS[t].name, folder, sizeof folder);
        if (strcmp(norm, folder) == 0 || alias_matches(GLUE_TASKS[t].aliases, norm))
            return &GLUE_TASKS[t];
    }
    return NULL;
}

Task *task_glue(const char *name, const char *glue_root, const char *const *id2label,
                int num_id2label, Err *err) {
    const GlueTask *g = find_glue(name);
    if (!g) {
        char known[256] = "";
        for (int t = 0; t < NUM_GLUE_TASKS; t++) {
            strncat(known, t ? ", " : "", sizeof known - strlen(known) - 1);
            strncat(known, GLUE_TASKS[t].name, sizeof known - strlen(known) - 1);
        }
        err_set(err, "unknown task \"%.60s\" (GLUE tasks: %s; or custom)", name, known);
        return NULL;
    }
    Task *task = err_calloc(err, 1, sizeof *task, "task");
    if (!task) return NULL;
    task->regression = g->regression;
    task->metric = g->metric;
    task->sep = '\t';
    if (!(task->name = dup_or_err(g->name, err))) goto fail;
    for (int s = 0; s < g->num_splits; s++) {
        const GlueSplit *gs = &g->splits[s];
        TaskSplit *sp = &task->splits[s];
        char dir[4096], path[4096];
        if (path_join(dir, sizeof dir, glue_root, g->folder, err) != 0 ||
            path_join(path, sizeof path, dir, gs->file, err) != 0)
            goto fail;
        if (!(sp->path = dup_or_err(path, err))) goto fail;
        task->num_splits = s + 1;
        sp->name = gs->name;
        sp->kind = gs->kind;
        sp->submission = gs->submission;
        sp->header = gs->header;
        sp->ncols = gs->ncols;
        sp->text_a = (ColumnRef){gs->text_a, NULL};
        sp->text_b = (ColumnRef){gs->text_b, NULL};
        sp->label = (ColumnRef){gs->label, NULL};
        sp->index = (ColumnRef){gs->index, NULL};
    }
    if (!g->regression) {
        char **names = err_calloc(err, (size_t)g->num_labels, sizeof(char *), "labels");
        if (!names) goto fail;
        for (int i = 0; i < g->num_labels; i++)
            if (!(names[i] = dup_or_err(g->labels[i], err))) {
                for (int j = 0; j < i; j++) free(names[j]);
                free(names);
                goto fail;
            }
        if (set_labels(task, names, g->num_labels, err) != 0) goto fail;
    }
    if (apply_id2label(task, id2label, num_id2label, err) != 0) goto fail;
    return task;
fail:
    task_free(task);
    return NULL;
}

// "3" -> index 3; anything else is a header name.
static int parse_column(const char *spec, bool header, const char *what, ColumnRef *ref,
                        char **owned, Err *err) {
    *ref = (ColumnRef){-1, NULL};
    if (!spec) return 0;
    if (spec[0] == '\0') return err_set(err, "custom task: %s column is empty", what);
    size_t digits = strspn(spec, "0123456789");
    if (spec[digits] == '\0') {
        if (digits > 6) return err_set(err, "custom task: %s column %s is too large", what, spec);
        ref->index = atoi(spec);
        return 0;
    }
    if (!header)
        return err_set(err,
                       "custom task: %s column \"%s\" is a name, but the files have no header",
                       what, spec);
    if (!(*owned = dup_or_err(spec, err))) return -1;
    ref->name = *owned;
    return 0;
}

// The distinct labels seen so far, sorted, with how often each occurred.
// Counts are of rows: a label listed twice in one row counts once.
typedef struct {
    char **labels;  // [n]
    int *counts;    // [n]
    int *last_row;  // [n] the last row that counted it
    int n, row;
    size_t cap, counts_cap, rows_cap;
} LabelCounts;

// Adds one occurrence of `s` in row lc->row to the list.
static int insert_sorted(LabelCounts *lc, const char *s, Err *err) {
    int lo = 0, hi = lc->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(lc->labels[mid], s);
        if (c == 0) {
            lc->counts[mid] += lc->last_row[mid] != lc->row;
            lc->last_row[mid] = lc->row;
            return 0;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (GROW(lc->labels, lc->cap, (size_t)lc->n + 1, "labels", err) != 0 ||
        GROW(lc->counts, lc->counts_cap, (size_t)lc->n + 1, "label counts", err) != 0 ||
        GROW(lc->last_row, lc->rows_cap, (size_t)lc->n + 1, "label counts", err) != 0)
        return -1;
    char *copy = dup_or_err(s, err);
    if (!copy) return -1;
    memmove(lc->labels + lo + 1, lc->labels + lo, (size_t)(lc->n - lo) * sizeof(char *));
    memmove(lc->counts + lo + 1, lc->counts + lo, (size_t)(lc->n - lo) * sizeof(int));
    memmove(lc->last_row + lo + 1, lc->last_row + lo, (size_t)(lc->n - lo) * sizeof(int));
    lc->labels[lo] = copy;
    lc->counts[lo] = 1;
    lc->last_row[lo] = lc->row;
    lc->n++;
    return 0;
}

static int insert_label(void *lc, const char *s, Err *err) { return insert_sorted(lc, s, err); }

int task_each_label(const Task *task, const char *field,
                    int (*add)(void *ctx, const char *label, Err *err), void *ctx, Err *err) {
    char *copy = dup_or_err(field, err);
    if (!copy) return -1;
    int rc = 0;
    char sep[2] = {task->label_sep ? task->label_sep : ',', '\0'};
    for (char *save = NULL, *piece = strtok_r(copy, sep, &save); piece && rc == 0;
         piece = strtok_r(NULL, sep, &save)) {
        while (*piece == ' ') piece++;
        size_t len = strlen(piece);
        while (len && piece[len - 1] == ' ') piece[--len] = '\0';
        if (len) rc = add(ctx, piece, err);
    }
    free(copy);
    return rc;
}

// The distinct labels of the train file, sorted.  Rows that break the
// layout are passed over here; loading the split reports them.
// The labels of lc on at least min_count rows into *out [*num] (lc's
// memory is taken over or freed).
static int keep_frequent(LabelCounts *lc, const TaskSplit *sp, int min_count, char ***out,
                         int *num, Err *err) {
    int distinct = lc->n;
    *num = 0;
    for (int i = 0; i < lc->n; i++)
        if (lc->counts[i] >= min_count)
            lc->labels[(*num)++] = lc->labels[i];
        else
            free(lc->labels[i]);
    *out = lc->labels;
    free(lc->counts);
    free(lc->last_row);
    if (*num == 0 && distinct > 0)
        return err_set(err, "%s: none of the %d labels occurs at least %d times "
                       "(--min-label-count)", sp->path, distinct, min_count);
    return 0;
}

// Multi-label: every label of each row, kept when it occurs at least
// min_count times.
// Adds the labels of one row's label field to lc.
static int count_row_labels(const Task *task, LabelCounts *lc, const char *field, Err *err) {
    lc->row++;
    return task->multi_label ? task_each_label(task, field, insert_label, lc, err)
                             : insert_sorted(lc, field, err);
}

// A JSONL train file's labels (lines that do not parse are passed over
// here; loading the split reports them).
static int scan_jsonl_labels(const Task *task, const TaskSplit *sp, LabelCounts *lc, Err *err) {
    char *text;
    size_t len;
    if (file_read_all(sp->path, &text, &len, err) != 0) return -1;
    JsonlRow jr = {0};
    int rc = 0;
    for (size_t at = 0; at < len && rc == 0;) {
        size_t end = at;
        while (end < len && text[end] != '\n') end++;
        if (jsonl_parse(task, sp, text + at, end - at, &jr) != 0)
            rc = err_set(err, "%s: out of memory", sp->path);
        else if (!jr.problem[0] && jr.view[2][0])
            rc = count_row_labels(task, lc, jr.view[2], err);
        at = end + 1;
    }
    jsonl_row_clear(&jr);
    free(text);
    return rc;
}

static int scan_train_labels(const Task *task, const TaskSplit *sp, int min_count, char ***out,
                             int *num, Err *err) {
    *out = NULL;
    *num = 0;
    LabelCounts lc = {0};
    if (task_path_is_jsonl(sp->path)) {
        if (scan_jsonl_labels(task, sp, &lc, err) != 0) goto fail_nofile;
        if (keep_frequent(&lc, sp, min_count, out, num, err) != 0) return -1;
        return *num ? 0 : err_set(err, "%s: no labels found under \"%s\"", sp->path,
                                  sp->label.name ? sp->label.name : "?");
    }
    int ncols = 0, col = sp->label.index, r;
    char broken_msg[128] = "";
    Table *t = table_open(sp->path, task->sep, err);
    if (!t) return -1;
    TableRecord rec, broken = {0};
    if (sp->header) {
        if ((r = table_next(t, &rec, err)) <= 0) {
            if (r == 0) err_set(err, "%s: empty file, expected a header", sp->path);
            goto fail;
        }
        ncols = rec.nfields;
        if (task_resolve_column(&sp->label, &rec, sp->path, &col, err) != 0) goto fail;
    }
    while ((r = table_next(t, &rec, err)) == 1) {
        if (ncols == 0) ncols = rec.nfields;
        if (rec.problem != TABLE_OK && !broken.problem_msg) {
            broken = rec;
            snprintf(broken_msg, sizeof broken_msg, "%s", rec.problem_msg);
        }
        if (rec.problem != TABLE_OK || rec.nfields != ncols || col >= rec.nfields ||
            rec.fields[col][0] == '\0')
            continue;
        if (count_row_labels(task, &lc, rec.fields[col], err) != 0) goto fail;
    }
    if (r < 0) goto fail;
    table_close(t);
    if (keep_frequent(&lc, sp, min_count, out, num, err) != 0) return -1;
    // An unterminated quote swallows the rest of the file: say so, not
    // only that no labels were left.
    if (*num == 0 && broken.problem_msg)
        return err_set(err, "%s:%d: %s; no labels found in column %d", sp->path, broken.line,
                       broken_msg, col);
    if (*num == 0) return err_set(err, "%s: no labels found in column %d", sp->path, col);
    return 0;
fail:
    table_close(t);
fail_nofile:
    for (int i = 0; i < lc.n; i++) free(lc.labels[i]);
    free(lc.labels);
    free(lc.counts);
    free(lc.last_row);
    return -1;
}

static int split_label_list(const char *list, char ***out, int *num, Err *err) {
    *num = 1;
    for (const char *p = list; *p; p++) *num += *p == ',';
    *out = err_calloc(err, (size_t)*num, sizeof(char *), "labels");
    if (!*out) return -1;
    const char *p = list;
    for (int i = 0; i < *num; i++) {
        size_t n = strcspn(p, ",");
        (*out)[i] = strndup(p, n);
        if (!(*out)[i]) return err_set(err, "out of memory copying labels");
        p += n + (p[n] == ',');
    }
    return 0;
}

static bool is_generic_label(const char *name) {
    return name && strncasecmp(name, "LABEL_", 6) == 0 && name[6] &&
           strspn(name + 6, "0123456789") == strlen(name + 6);
}

Task *task_custom(const CustomTaskOptions *o, const char *const *id2label, int num_id2label,
                  Err *err) {
    if (!o->train && !o->dev && !o->test) {
        err_set(err, "custom task: give at least one of --train, --dev, --test");
        return NULL;
    }
    if (o->separator != '\t' && o->separator != ',') {
        err_set(err, "custom task: separator must be tab or comma");
        return NULL;
    }
    if (!o->text_a) {
        err_set(err, "custom task: the text column is not set");
        return NULL;
    }
    if (!o->label && (o->train || o->dev)) {
        err_set(err, "custom task: the label column is not set");
        return NULL;
    }
    Task *task = err_calloc(err, 1, sizeof *task, "task");
    if (!task) return NULL;
    if (o->multi_label && o->regression) {
        free(task);
        err_set(err, "custom task: --multi-label and --regression exclude each other");
        return NULL;
    }
    task->regression = o->regression;
    task->metric = o->regression      ? METRIC_PEARSON_SPEARMAN
                   : o->multi_label ? METRIC_MULTI_LABEL
                                    : METRIC_ACCURACY;
    task->sep = o->separator;
    task->multi_label = o->multi_label;
    task->label_sep = o->label_sep ? o->label_sep : ',';
    task->join_texts = o->join_texts;
    ColumnRef a, b, label;
    // JSONL files: the columns are keys, names as with a header.
    bool named = o->header || task_path_is_jsonl(o->train) || task_path_is_jsonl(o->dev) ||
                 task_path_is_jsonl(o->test);
    if (!(task->name = dup_or_err(o->name ? o->name : "custom", err)) ||
        parse_column(o->text_a, named, "text", &a, &task->column_names[0], err) != 0 ||
        parse_column(o->text_b, named, "second text", &b, &task->column_names[1], err) != 0 ||
        parse_column(o->label, named, "label", &label, &task->column_names[2], err) != 0)
        goto fail;
    const char *paths[3] = {o->train, o->dev, o->test};
    static const char *const names[3] = {"train", "dev", "test"};
    for (int s = 0; s < 3; s++) {
        if (!paths[s]) continue;
        TaskSplit *sp = &task->splits[task->num_splits];
        if (!(sp->path = dup_or_err(paths[s], err))) goto fail;
        task->num_splits++;
        sp->name = names[s];
        sp->kind = (SplitKind)s;
        sp->header = o->header;
        sp->text_a = a;
        sp->text_b = b;
        sp->label = s == SPLIT_TEST ? (ColumnRef){-1, NULL} : label;
        sp->index = (ColumnRef){-1, NULL};
    }
    if (!o->regression) {
        char **labels = NULL;
        int num = 0;
        int rc;
        if (o->labels) {
            rc = split_label_list(o->labels, &labels, &num, err);
        } else if (o->train) {
            rc = scan_train_labels(task, &task->splits[0],
                                   o->multi_label && o->min_label_count > 1 ? o->min_label_count
                                                                            : 1,
                                   &labels, &num, err);
        } else if (id2label && num_id2label > 0 && !is_generic_label(id2label[0])) {
            // Evaluating a fine-tuned checkpoint: its id2label is the label set.
            labels = err_calloc(err, (size_t)num_id2label, sizeof(char *), "labels");
            rc = labels ? 0 : -1;
            if (labels) num = num_id2label;
            for (int i = 0; i < num && rc == 0; i++)
                if (!id2label[i] || !(labels[i] = dup_or_err(id2label[i], err)))
                    rc = err_set(err, "custom task: checkpoint label %d has no name", i);
        } else {
            rc = err_set(err, "custom task: give --labels (no train file and no checkpoint "
                              "label names to take them from)");
        }
        if (rc == 0 && num < 2)
            rc = err_set(err, "custom task: classification needs at least 2 labels, found %d "
                              "(use regression for a single score)", num);
        if (rc != 0) {
            for (int i = 0; i < num; i++) free(labels[i]);
            free(labels);
            goto fail;
        }
        if (set_labels(task, labels, num, err) != 0) goto fail;
    }
    if (apply_id2label(task, id2label, num_id2label, err) != 0) goto fail;
    return task;
fail:
    task_free(task);
    return NULL;
}

Task *task_debtags(const char *data_root, const char *const *id2label, int num_id2label,
                   Err *err) {
    char paths[3][4096];
    static const char *const files[3] = {"train.tsv", "dev.tsv", "test.tsv"};
    for (int s = 0; s < 3; s++)
        if (path_join(paths[s], sizeof paths[s], data_root, files[s], err) != 0) return NULL;
    CustomTaskOptions o = {.name = "debtags", .train = paths[0], .dev = paths[1],
                           .test = paths[2], .text_a = "package", .text_b = "description",
                           .label = "tags", .header = true, .separator = '\t',
                           .multi_label = true, .label_sep = ',', .min_label_count = 100,
                           .join_texts = true};
    Task *task = task_custom(&o, id2label, num_id2label, err);
    if (!task) return NULL;
    // The protocol's test split carries its tags: score it like dev.
    task->splits[2].label = task->splits[0].label;
    return task;
}

const char *task_name(const Task *task) { return task->name; }
bool task_is_regression(const Task *task) { return task->regression; }
bool task_is_multi_label(const Task *task) { return task->multi_label; }
int task_num_outputs(const Task *task) { return task->regression ? 1 : task->num_labels; }
MetricKind task_metric(const Task *task) { return task->metric; }
int task_num_splits(const Task *task) { return task->num_splits; }

const char *task_label_name(const Task *task, int id) {
    if (task->regression || id < 0 || id >= task->num_labels) return NULL;
    return task->labels[id];
}

static const TaskSplit *split_at(const Task *task, int split) {
    return split >= 0 && split < task->num_splits ? &task->splits[split] : NULL;
}

const char *task_split_name(const Task *task, int split) {
    const TaskSplit *sp = split_at(task, split);
    return sp ? sp->name : NULL;
}

SplitKind task_split_kind(const Task *task, int split) {
    const TaskSplit *sp = split_at(task, split);
    return sp ? sp->kind : SPLIT_TEST;
}

const char *task_split_path(const Task *task, int split) {
    const TaskSplit *sp = split_at(task, split);
    return sp ? sp->path : NULL;
}

const char *task_split_submission_name(const Task *task, int split) {
    const TaskSplit *sp = split_at(task, split);
    return sp ? sp->submission : NULL;
}
