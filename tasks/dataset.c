// Loading a task split into a Dataset: row checks, labels, texts.
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "tasks/table.h"
#include "tasks/task_impl.h"
#include "util/buf.h"
#include "util/fileio.h"

struct Dataset {
    char *path;
    bool labeled;
    int n, cap;
    Example *ex;    // [cap]
    size_t *a_off;  // [cap] text offsets in arena while loading
    size_t *b_off;  // [cap] SIZE_MAX = no text_b
    Buf arena;      // all texts, NUL-terminated
    // multi-label: every row's label ids, ascending; row i's start at set_off[i]
    int *label_ids;
    size_t num_label_ids, label_ids_cap;
    size_t *set_off;  // [cap]
};

static const char *const BAD_ROW_NAMES[BAD_ROW_KINDS] = {
    "wrong column count", "unknown label",      "empty text",      "invalid encoding",
    "bad regression target", "bad CSV quoting", "bad index", "bad JSON line",
};

const char *bad_row_kind_name(BadRowKind kind) {
    return kind >= 0 && kind < BAD_ROW_KINDS ? BAD_ROW_NAMES[kind] : "?";
}

void dataset_free(Dataset *ds) {
    if (!ds) return;
    free(ds->path);
    free(ds->ex);
    free(ds->a_off);
    free(ds->b_off);
    free(ds->label_ids);
    free(ds->set_off);
    buf_free(&ds->arena);
    free(ds);
}

int dataset_size(const Dataset *ds) { return ds->n; }
bool dataset_is_labeled(const Dataset *ds) { return ds->labeled; }
const char *dataset_path(const Dataset *ds) { return ds->path; }

const Example *dataset_example(const Dataset *ds, int i) {
    return i >= 0 && i < ds->n ? &ds->ex[i] : NULL;
}

int task_resolve_column(const ColumnRef *ref, const TableRecord *header, const char *path,
                        int *index, Err *err) {
    *index = ref->index;
    if (!ref->name) return 0;
    *index = -1;
    for (int i = 0; i < header->nfields; i++) {
        if (strcmp(header->fields[i], ref->name) != 0) continue;
        // Two columns of one name: which one was meant is a guess.
        if (*index >= 0)
            return err_set(err, "%s:%d: the header names two columns \"%s\" (%d and %d)", path,
                           header->line, ref->name, *index, i);
        *index = i;
    }
    if (*index >= 0) return 0;
    return err_set(err, "%s:%d: no column named \"%s\" in the header", path, header->line,
                   ref->name);
}

static int arena_add(Dataset *ds, const char *s, size_t *off, Err *err) {
    *off = ds->arena.len;
    return buf_append(&ds->arena, s, strlen(s) + 1, "dataset texts", err);
}

static int grow_examples(Dataset *ds, Err *err) {
    if (ds->n < ds->cap) return 0;
    size_t cap = grow_capacity((size_t)ds->cap, (size_t)ds->n + 1);
    if (cap > INT32_MAX) return err_set(err, "%s: too many examples", ds->path);
    if (RESIZE(ds->ex, cap, "examples", err) || RESIZE(ds->a_off, cap, "examples", err) ||
        RESIZE(ds->b_off, cap, "examples", err) || RESIZE(ds->set_off, cap, "examples", err))
        return -1;
    ds->cap = (int)cap;
    return 0;
}

Dataset *dataset_new(const char *name, Err *err) {
    Dataset *ds = err_calloc(err, 1, sizeof *ds, "dataset");
    if (!ds) return NULL;
    if (!(ds->path = strdup(name))) {
        err_set(err, "out of memory copying a name");
        free(ds);
        return NULL;
    }
    return ds;
}

// Points the texts of examples [from, n) into the arena (after it moved,
// from 0).
static void point_texts(Dataset *ds, int from) {
    for (int i = from; i < ds->n; i++) {
        ds->ex[i].text_a = ds->arena.data + ds->a_off[i];
        ds->ex[i].text_b = ds->b_off[i] == SIZE_MAX ? NULL : ds->arena.data + ds->b_off[i];
    }
}

int dataset_add(Dataset *ds, const char *text_a, const char *text_b, int line, Err *err) {
    if (grow_examples(ds, err) != 0) return -1;
    int i = ds->n;
    const char *arena = ds->arena.data;
    ds->ex[i] = (Example){.label = -1, .target = NAN, .index = line, .line = line};
    ds->b_off[i] = SIZE_MAX;
    if (arena_add(ds, text_a, &ds->a_off[i], err) != 0 ||
        (text_b && arena_add(ds, text_b, &ds->b_off[i], err) != 0))
        return -1;
    ds->n++;
    point_texts(ds, ds->arena.data == arena ? i : 0);
    return 0;
}

void dataset_clear(Dataset *ds) {
    ds->n = 0;
    ds->arena.len = 0;
}

// snprintf at msg + *n that never runs past cap.
static void append(char *msg, size_t cap, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *msg, size_t cap, size_t *n, const char *fmt, ...) {
    if (*n >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(msg + *n, cap - *n, fmt, ap);
    va_end(ap);
    if (k > 0) *n += (size_t)k;
}

static bool is_blank(const char *s) { return s[strspn(s, " \t\n\r\v\f")] == '\0'; }

// Columns of one split, resolved for its file.
typedef struct {
    int ncols, a, b, label, index;
} Layout;

// Checks a record and fills `ex` from it; returns -1 when the row is good,
// else the BadRowKind with the reason in msg.
static int check_row(const Task *task, const Layout *L, const TableRecord *rec, Example *ex,
                     char *msg, size_t cap) {
    if (rec->problem != TABLE_OK) {
        snprintf(msg, cap, "%s", rec->problem_msg);
        return rec->problem == TABLE_BAD_UTF8   ? BAD_ENCODING
               : rec->problem == TABLE_BAD_JSON ? BAD_JSON
                                                : BAD_QUOTING;
    }
    if (rec->nfields != L->ncols) {
        snprintf(msg, cap, "expected %d columns, found %d", L->ncols, rec->nfields);
        return BAD_COLUMNS;
    }
    const int text_cols[2] = {L->a, L->b};
    for (int k = 0; k < 2; k++)
        if (text_cols[k] >= 0 && is_blank(rec->fields[text_cols[k]])) {
            snprintf(msg, cap, "empty text in column %d", text_cols[k]);
            return BAD_EMPTY_TEXT;
        }
    ex->label = -1;
    ex->target = NAN;
    ex->label_set = NULL;
    ex->label_set_size = 0;
    if (L->label >= 0) {
        const char *s = rec->fields[L->label];
        if (task->regression) {
            char *end;
            errno = 0;
            double v = strtod(s, &end);
            while (end != s && (*end == ' ' || *end == '\t')) end++;
            if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v) ||
                fabs(v) > 3.0e38) {
                snprintf(msg, cap, "cannot parse regression target \"%.60s\"", s);
                return BAD_TARGET;
            }
            ex->target = (float)v;
        } else if (task->multi_label) {
            ex->label_set_size = 0;  // read_row_label_set fills it
        } else if ((ex->label = task_label_id(task, s)) < 0) {
            size_t n = 0;
            append(msg, cap, &n, "unknown label \"%.60s\" (expected one of: ", s);
            for (int i = 0; i < task->num_labels && i < 8; i++)
                append(msg, cap, &n, "%s%s", i ? ", " : "", task->labels[i]);
            append(msg, cap, &n, "%s)", task->num_labels > 8 ? ", ..." : "");
            return BAD_LABEL;
        }
    }
    if (L->index >= 0) {
        const char *s = rec->fields[L->index];
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || *end != '\0' || errno == ERANGE || !strchr("0123456789-", s[0])) {
            snprintf(msg, cap, "index \"%.60s\" is not an integer", s);
            return BAD_INDEX;
        }
        ex->index = v;
    }
    return -1;
}

static int check_layout(const Layout *L, const char *path, Err *err) {
    const int cols[4] = {L->a, L->b, L->label, L->index};
    for (int k = 0; k < 4; k++)
        if (cols[k] >= L->ncols)
            return err_set(err, "%s: column %d does not exist (the file has %d columns)", path,
                           cols[k], L->ncols);
    return 0;
}

// Whether a row read as the header is a data row: its label column holds a
// label (or a number, for a regression target) or its index column a whole
// number.  The file then has no header, and reading on would silently drop
// that row.  Returns the field that gives it away, or NULL.
static const char *header_holds_data(const Task *task, const Layout *L, const TableRecord *rec) {
    if (L->label >= 0 && L->label < rec->nfields) {
        const char *s = rec->fields[L->label];
        char *end;
        if (task->regression ? (strtod(s, &end), end != s && *end == '\0')
                             : task_label_id(task, s) >= 0)
            return s;
    }
    if (L->index >= 0 && L->index < rec->nfields) {
        const char *s = rec->fields[L->index];
        if (s[0] && strspn(s, "0123456789") == strlen(s)) return s;
    }
    return NULL;
}

// Multi-label: the ids of a row's labels that are in the label set,
// appended to ds->label_ids (ascending, each once).
typedef struct {
    const Task *task;
    Dataset *ds;
    size_t start;
    long not_kept;
} LabelSetReader;

static int add_label_id(void *ctx, const char *label, Err *err) {
    LabelSetReader *r = ctx;
    Dataset *ds = r->ds;
    int id = task_label_id(r->task, label);
    if (id < 0) {
        r->not_kept++;
        return 0;
    }
    size_t at = ds->num_label_ids;
    while (at > r->start && ds->label_ids[at - 1] > id) at--;
    if (at > r->start && ds->label_ids[at - 1] == id) return 0;  // listed twice
    if (GROW(ds->label_ids, ds->label_ids_cap, ds->num_label_ids + 1, "label ids", err) != 0)
        return -1;
    memmove(ds->label_ids + at + 1, ds->label_ids + at,
            (ds->num_label_ids - at) * sizeof(int));
    ds->label_ids[at] = id;
    ds->num_label_ids++;
    return 0;
}

// Reads row ds->n's label list; returns its kept labels' count, -1 on error.
static int read_row_label_set(const Task *task, Dataset *ds, const char *field,
                              BadRowCounts *bad, Err *err) {
    LabelSetReader r = {task, ds, ds->num_label_ids, 0};
    ds->set_off[ds->n] = r.start;
    if (task_each_label(task, field, add_label_id, &r, err) != 0) return -1;
    bad->labels_not_kept += r.not_kept;
    int kept = (int)(ds->num_label_ids - r.start);
    ds->ex[ds->n].label_set_size = kept;
    ds->ex[ds->n].label = kept ? ds->label_ids[r.start] : -1;
    return kept;
}

// "a: b" for tasks whose text is two columns joined (debtags).
static int arena_add_joined(Dataset *ds, const char *a, const char *b, size_t *off, Err *err) {
    *off = ds->arena.len;
    return buf_append(&ds->arena, a, strlen(a), "dataset texts", err) ||
           buf_append(&ds->arena, ": ", 2, "dataset texts", err) ||
           buf_append(&ds->arena, b, strlen(b) + 1, "dataset texts", err);
}

// Checks one record and adds its example (data row `row` of the file), or
// counts it as bad (skip_bad_rows) or dropped (no kept label).
static int take_row(const Task *task, const TaskSplit *sp, const Layout *L, const TableRecord *rec,
                    long row, Dataset *ds, bool skip_bad_rows, BadRowCounts *bad, Err *err) {
    if (grow_examples(ds, err) != 0) return -1;
    Example *ex = &ds->ex[ds->n];
    ex->index = row;
    ex->line = rec->line;
    char msg[ERR_MSG_MAX - 64];
    int kind = check_row(task, L, rec, ex, msg, sizeof msg);
    if (kind >= 0) {
        if (!skip_bad_rows) return err_set(err, "%s:%d: %s", sp->path, rec->line, msg);
        if (bad->total++ == 0)
            snprintf(bad->first, sizeof bad->first, "%s:%d: %s", sp->path, rec->line, msg);
        bad->count[kind]++;
        return 0;
    }
    if (task->multi_label && L->label >= 0) {
        int kept = read_row_label_set(task, ds, rec->fields[L->label], bad, err);
        if (kept < 0) return -1;
        if (kept == 0) {  // none of its labels is kept: dropped, counted
            ds->num_label_ids = ds->set_off[ds->n];
            bad->rows_without_kept_label++;
            return 0;
        }
    }
    ds->b_off[ds->n] = SIZE_MAX;
    if (task->join_texts && L->b >= 0) {
        if (arena_add_joined(ds, rec->fields[L->a], rec->fields[L->b], &ds->a_off[ds->n], err))
            return -1;
    } else if (arena_add(ds, rec->fields[L->a], &ds->a_off[ds->n], err) != 0 ||
               (L->b >= 0 && arena_add(ds, rec->fields[L->b], &ds->b_off[ds->n], err) != 0)) {
        return -1;
    }
    ds->n++;
    return 0;
}

static int check_not_empty(const TaskSplit *sp, const Dataset *ds, const BadRowCounts *bad,
                           Err *err);

static int read_rows(const Task *task, const TaskSplit *sp, Table *t, Dataset *ds,
                     bool skip_bad_rows, BadRowCounts *bad, Err *err) {
    Layout L = {sp->ncols, sp->text_a.index, sp->text_b.index, sp->label.index, sp->index.index};
    TableRecord rec;
    int r;
    if (sp->header) {
        if ((r = table_next(t, &rec, err)) <= 0)
            return r < 0 ? -1 : err_set(err, "%s: empty file, expected a header", sp->path);
        if (rec.problem != TABLE_OK)
            return err_set(err, "%s:%d: header: %s", sp->path, rec.line, rec.problem_msg);
        if (L.ncols && rec.nfields != L.ncols)
            return err_set(err, "%s:%d: header has %d columns, expected %d", sp->path, rec.line,
                           rec.nfields, L.ncols);
        L.ncols = rec.nfields;
        if (task_resolve_column(&sp->text_a, &rec, sp->path, &L.a, err) != 0 ||
            task_resolve_column(&sp->text_b, &rec, sp->path, &L.b, err) != 0 ||
            task_resolve_column(&sp->label, &rec, sp->path, &L.label, err) != 0 ||
            task_resolve_column(&sp->index, &rec, sp->path, &L.index, err) != 0 ||
            check_layout(&L, sp->path, err) != 0)
            return -1;
        const char *data = header_holds_data(task, &L, &rec);
        if (data)
            return err_set(err, "%s:%d: expected a header, found a data row (\"%.60s\" is a value, "
                                "not a column name): the file lacks its header line", sp->path,
                           rec.line, data);
    }
    long row = 0;
    while ((r = table_next(t, &rec, err)) == 1) {
        if (L.ncols == 0) {  // no header and no fixed layout: the first row decides
            L.ncols = rec.nfields;
            if (check_layout(&L, sp->path, err) != 0) return -1;
        }
        if (take_row(task, sp, &L, &rec, row++, ds, skip_bad_rows, bad, err) != 0) return -1;
    }
    if (r < 0) return -1;
    return check_not_empty(sp, ds, bad, err);
}

// An empty split is almost always a wrong path or a wrong layout.
static int check_not_empty(const TaskSplit *sp, const Dataset *ds, const BadRowCounts *bad,
                           Err *err) {
    if (ds->n == 0 && bad->total)
        return err_set(err, "all %d rows are bad, the first: %.900s", bad->total, bad->first);
    if (ds->n == 0 && bad->rows_without_kept_label)
        return err_set(err, "%s: all %d rows were dropped: none of their labels is in the label "
                       "set", sp->path, bad->rows_without_kept_label);
    if (ds->n == 0) return err_set(err, "%s: no data rows", sp->path);
    return 0;
}

// ---- JSON lines ------------------------------------------------------------

bool task_path_is_jsonl(const char *path) {
    size_t n = path ? strlen(path) : 0;
    return n >= 6 && strcmp(path + n - 6, ".jsonl") == 0;
}

void jsonl_row_clear(JsonlRow *jr) {
    for (int k = 0; k < 3; k++) {
        free(jr->fields[k]);
        jr->fields[k] = NULL;
        jr->view[k] = "";
    }
    jr->problem[0] = '\0';
}

static int jsonl_field(JsonlRow *jr, int k, const cJSON *v, const char *key, const Task *task,
                       bool is_label) {
    char num[64];
    if (cJSON_IsString(v)) {
        jr->fields[k] = strdup(v->valuestring);
    } else if (is_label && cJSON_IsNumber(v)) {
        snprintf(num, sizeof num, "%.17g", v->valuedouble);
        jr->fields[k] = strdup(num);
    } else if (is_label && task->multi_label && cJSON_IsArray(v)) {
        Buf b = {0};
        const cJSON *e;
        char sep = task->label_sep ? task->label_sep : ',';
        Err ignored;
        int i = 0;
        cJSON_ArrayForEach(e, v) {
            if (!cJSON_IsString(e)) {
                buf_free(&b);
                snprintf(jr->problem, sizeof jr->problem, "\"%s\": item %d is not a string", key, i);
                return -1;
            }
            if (strchr(e->valuestring, sep)) {
                buf_free(&b);
                snprintf(jr->problem, sizeof jr->problem, "\"%s\": label \"%.40s\" holds the "
                         "label separator '%c'", key, e->valuestring, sep);
                return -1;
            }
            if ((i++ && buf_append(&b, &sep, 1, "labels", &ignored)) ||
                buf_append(&b, e->valuestring, strlen(e->valuestring), "labels", &ignored)) {
                buf_free(&b);
                return -2;
            }
        }
        if (buf_append(&b, "", 1, "labels", &ignored)) return -2;
        jr->fields[k] = b.data;
    } else {
        snprintf(jr->problem, sizeof jr->problem, "\"%s\" is %s, expected a string%s", key,
                 v ? "of another type" : "missing",
                 is_label ? (task->multi_label ? ", a number or a list of strings" : " or a number")
                          : "");
        return -1;
    }
    if (!jr->fields[k]) return -2;
    jr->view[k] = jr->fields[k];
    return 0;
}

int jsonl_parse(const Task *task, const TaskSplit *sp, const char *text, size_t len,
                JsonlRow *jr) {
    jsonl_row_clear(jr);
    cJSON *j = cJSON_ParseWithLength(text, len);
    const ColumnRef *refs[3] = {&sp->text_a, &sp->text_b, &sp->label};
    int rc = 0;
    if (!cJSON_IsObject(j)) {
        snprintf(jr->problem, sizeof jr->problem, "not a JSON object (expected {\"%s\": ...})",
                 sp->text_a.name ? sp->text_a.name : "text");
    } else {
        for (int k = 0; k < 3 && rc == 0 && !jr->problem[0]; k++) {
            if (!refs[k]->name) continue;
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, refs[k]->name);
            rc = jsonl_field(jr, k, v, refs[k]->name, task, k == 2) == -2 ? -1 : 0;
        }
    }
    cJSON_Delete(j);
    return rc;
}

static int read_jsonl_rows(const Task *task, const TaskSplit *sp, Dataset *ds, bool skip_bad_rows,
                           BadRowCounts *bad, Err *err) {
    const ColumnRef *refs[3] = {&sp->text_a, &sp->text_b, &sp->label};
    for (int k = 0; k < 3; k++)
        if (refs[k]->index >= 0)
            return err_set(err, "%s: a JSONL file's columns are keys, not column numbers (%d)",
                           sp->path, refs[k]->index);
    char *text;
    size_t len;
    if (file_read_all(sp->path, &text, &len, err) != 0) return -1;
    Layout L = {3, 0, sp->text_b.name ? 1 : -1, sp->label.name ? 2 : -1, -1};
    JsonlRow jr = {0};
    int rc = 0, line = 0;
    long row = 0;
    for (size_t at = 0; at < len && rc == 0;) {
        size_t end = at;
        while (end < len && text[end] != '\n') end++;
        size_t n = end - at;
        if (n && text[at + n - 1] == '\r') n--;
        line++;
        const char *s = text + at;
        at = end + 1;
        if (strspn(s, " \t") >= n) continue;  // blank lines are not rows in JSONL
        bool nul;
        size_t badbyte = utf8_first_bad(s, n, &nul);
        TableRecord rec = {.line = line, .nfields = 3, .fields = jr.view};
        if (badbyte < n) {
            jsonl_row_clear(&jr);
            snprintf(jr.problem, sizeof jr.problem, "%s at byte %zu of the line",
                     nul ? "NUL byte" : "invalid UTF-8", badbyte + 1);
            rec.problem = TABLE_BAD_UTF8;
        } else if (jsonl_parse(task, sp, s, n, &jr) != 0) {
            rc = err_set(err, "%s:%d: out of memory", sp->path, line);
            break;
        } else if (jr.problem[0]) {
            rec.problem = TABLE_BAD_JSON;
        }
        rec.problem_msg = rec.problem ? jr.problem : NULL;
        rc = take_row(task, sp, &L, &rec, row++, ds, skip_bad_rows, bad, err);
    }
    jsonl_row_clear(&jr);
    free(text);
    return rc != 0 ? -1 : check_not_empty(sp, ds, bad, err);
}

Dataset *task_load(const Task *task, int split, bool skip_bad_rows, BadRowCounts *skipped,
                   Err *err) {
    BadRowCounts local;
    BadRowCounts *bad = skipped ? skipped : &local;
    memset(bad, 0, sizeof *bad);
    if (split < 0 || split >= task->num_splits) {
        err_set(err, "%s: no split %d", task->name, split);
        return NULL;
    }
    const TaskSplit *sp = &task->splits[split];
    Dataset *ds = err_calloc(err, 1, sizeof *ds, "dataset");
    if (!ds) return NULL;
    ds->labeled = sp->label.index >= 0 || sp->label.name;
    if (!(ds->path = strdup(sp->path))) {
        err_set(err, "out of memory copying a path");
        dataset_free(ds);
        return NULL;
    }
    if (task_path_is_jsonl(sp->path)) {
        if (read_jsonl_rows(task, sp, ds, skip_bad_rows, bad, err) != 0) {
            dataset_free(ds);
            return NULL;
        }
    } else {
        Table *t = table_open(sp->path, task->sep, err);
        if (!t || read_rows(task, sp, t, ds, skip_bad_rows, bad, err) != 0) {
            table_close(t);
            dataset_free(ds);
            return NULL;
        }
        table_close(t);
    }
    point_texts(ds, 0);
    for (int i = 0; i < ds->n && ds->label_ids; i++)
        if (ds->ex[i].label_set_size) ds->ex[i].label_set = ds->label_ids + ds->set_off[i];
    free(ds->a_off);
    free(ds->b_off);
    ds->a_off = ds->b_off = NULL;
    return ds;
}
