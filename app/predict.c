// ./predict: answers texts from the command line, a file or stdin with a
// fine-tuned model, in input order, batched by length within windows.
#define _GNU_SOURCE  // vasprintf
#include "app/predict.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tasks/metrics.h"
#include "tasks/table.h"
#include "util/clock.h"

// ------------------------------------------------------------ reading lines

// A byte stream cut into lines ("\n" or "\r\n"), read as it arrives.
typedef struct {
    int fd;
    char *buf;
    size_t start, len, cap;  // unread bytes: buf[start, len)
    int line;                // number of the last line handed out
    size_t max_line;         // longer lines are reported, not buffered
    bool eof, skipping, started;
} Reader;

enum { READ_CHUNK = 1 << 16 };

// True when a read would not block (data or the end of the input is there).
static bool reader_ready(const Reader *r) {
    struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
    return poll(&pfd, 1, 0) != 0;
}

// Appends what one read() returns (blocking until something comes).
static int reader_fill(Reader *r, const char *name, Err *err) {
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->len - r->start);
        r->len -= r->start;
        r->start = 0;
    }
    if (r->cap - r->len < READ_CHUNK) {
        size_t cap = r->len + 2 * (size_t)READ_CHUNK;
        char *p = err_realloc(err, r->buf, cap, "input buffer");
        if (!p) return -1;
        r->buf = p;
        r->cap = cap;
    }
    ssize_t n;
    do n = read(r->fd, r->buf + r->len, r->cap - r->len);
    while (n < 0 && errno == EINTR);
    if (n < 0) return err_set(err, "%s: read: %s", name, strerror(errno));
    if (n == 0) r->eof = true;
    r->len += (size_t)n;
    static const char bom[] = "\xEF\xBB\xBF";  // a UTF-8 byte order mark is not text
    if (!r->started && (r->len >= 3 || r->eof || memcmp(r->buf, bom, r->len) != 0)) {
        r->started = true;
        if (r->len >= 3 && memcmp(r->buf, bom, 3) == 0) r->start = 3;
    }
    return 0;
}

typedef enum { LINE_NONE_YET, LINE_OK, LINE_TOO_LONG, LINE_END } LineStatus;

// The next whole line through *text, *n (without its line end) and *line.
// LINE_TOO_LONG: a line over max_line bytes, numbered in *line; its bytes
// are dropped as they come.  LINE_NONE_YET: reader_fill first.
static LineStatus reader_line(Reader *r, const char **text, size_t *n, int *line) {
    for (;;) {
        if (!r->started && !r->eof) return LINE_NONE_YET;
        char *s = r->buf + r->start;
        size_t avail = r->len - r->start;
        char *nl = avail ? memchr(s, '\n', avail) : NULL;
        if (r->skipping) {
            if (!nl) {
                r->start = r->len;
                return r->eof ? LINE_END : LINE_NONE_YET;
            }
            r->start += (size_t)(nl - s) + 1;
            r->skipping = false;
            continue;
        }
        size_t len = nl ? (size_t)(nl - s) : avail;
        if (len > r->max_line) {
            *line = ++r->line;
            r->start += nl ? len + 1 : len;
            r->skipping = !nl && !r->eof;
            return LINE_TOO_LONG;
        }
        if (!nl && !r->eof) return LINE_NONE_YET;
        if (!nl && avail == 0) return LINE_END;
        r->start += nl ? len + 1 : len;
        if (len > 0 && s[len - 1] == '\r') len--;
        *text = s;
        *n = len;
        *line = ++r->line;
        return LINE_OK;
    }
}

// ------------------------------------------------------------ the predictor

// One input of the window: an example of the dataset, or a bad input.
typedef struct {
    int line;
    int row;      // dataset row; -1 for a bad input
    char *error;  // what is wrong with a bad input
} Entry;

typedef struct Predictor Predictor;

// One input format: how a line becomes an input.  `take` with text NULL
// means the input has ended (a record still open is finished or bad).
typedef struct {
    const char *name;
    int (*take)(Predictor *p, const char *text, size_t len, int line, Err *err);
    const char *default_text_col;
    bool columns;  // takes --text-col / --text-b-col (table: --separator, --no-header too)
} Format;

struct Predictor {
    const PredictOptions *o;
    const Format *format;
    const char *name;  // of the input, in messages: "stdin", FILE, "argument"
    Session s;
    int width;  // model outputs; 1 = regression
    const char *labels[HF_MAX_LABELS];
    char generic_labels[HF_MAX_LABELS][16];
    const char *text_col;
    int col_a, col_b;  // table columns; col_b -1: single texts
    bool columns_known;
    Dataset *ds;
    Entry *entries;  // [o->window]
    int num_entries;
    float *out;     // [o->window, width]
    double *probs;  // [width]
    char *record;   // a CSV record that continues on the next line
    size_t record_len, record_cap;
    int record_line;
    long answered, bad;
    double tokenize_s, model_s;
};

static int add_bad(Predictor *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int add_bad(Predictor *p, int line, const char *fmt, ...) {
    Entry *e = &p->entries[p->num_entries++];
    *e = (Entry){.line = line, .row = -1};
    va_list ap;
    va_start(ap, fmt);
    int k = vasprintf(&e->error, fmt, ap);
    va_end(ap);
    if (k < 0) e->error = NULL;  // printed as "bad input"
    return 0;
}

static bool is_blank(const char *s) { return s[strspn(s, " \t\n\r\v\f")] == '\0'; }

// An input with its texts (b NULL for a single text), or the reason it is bad.
static int add_texts(Predictor *p, int line, const char *a, const char *b, Err *err) {
    if (is_blank(a)) return add_bad(p, line, b ? "empty first text" : "empty text");
    if (b && is_blank(b)) return add_bad(p, line, "a pair without its second text");
    if (dataset_add(p->ds, a, b, line, err) != 0) return -1;
    p->entries[p->num_entries++] = (Entry){.line = line, .row = dataset_size(p->ds) - 1};
    return 0;
}

// --text-col / --text-b-col COL: a 0-based index, or a name in the header.
static int column_index(const Predictor *p, const char *option, const char *col,
                        const TableRecord *header, int *index, Err *err) {
    char *end;
    long v = strtol(col, &end, 10);
    if (*col && *end == '\0' && v >= 0 && v < 1 << 20) {
        *index = (int)v;
        return 0;
    }
    if (!header)
        return err_set(err, "%s %s: a column name needs a header line (or give a 0-based index)",
                       option, col);
    for (int i = 0; i < header->nfields; i++)
        if (strcmp(header->fields[i], col) == 0) {
            *index = i;
            return 0;
        }
    return err_set(err, "%s:%d: %s %s: no such column in the header", p->name, header->line,
                   option, col);
}

static int resolve_columns(Predictor *p, const TableRecord *header, Err *err) {
    p->col_b = -1;
    if (column_index(p, "--text-col", p->text_col, header, &p->col_a, err) != 0) return -1;
    if (p->o->text_b_col &&
        column_index(p, "--text-b-col", p->o->text_b_col, header, &p->col_b, err) != 0)
        return -1;
    p->columns_known = true;
    return 0;
}

// One record of a lines or table input.
static int take_record(Predictor *p, const TableRecord *rec, Err *err) {
    int line = rec->line;
    if (rec->problem != TABLE_OK) return add_bad(p, line, "%s", rec->problem_msg);
    if (rec->nfields == 0) return add_bad(p, line, "empty line");
    if (!p->format->columns) {  // lines: a text, or a pair of tab-separated texts
        if (rec->nfields > 2)
            return add_bad(p, line, "%d tab-separated fields: expected a text or a pair of texts",
                           rec->nfields);
        return add_texts(p, line, rec->fields[0], rec->nfields == 2 ? rec->fields[1] : NULL, err);
    }
    if (p->o->header && !p->columns_known) {
        if (resolve_columns(p, rec, err) != 0) return -1;
        return 1;  // the header is no input
    }
    int need = (p->col_a > p->col_b ? p->col_a : p->col_b) + 1;
    if (rec->nfields < need) {
        if (p->col_b >= 0 && rec->nfields == p->col_b)
            return add_bad(p, line, "a pair without its second text (no column %s)",
                           p->o->text_b_col);
        return add_bad(p, line, "%d columns, expected at least %d", rec->nfields, need);
    }
    return add_texts(p, line, rec->fields[p->col_a], p->col_b >= 0 ? rec->fields[p->col_b] : NULL,
                     err);
}

static int record_append(Predictor *p, const char *text, size_t len, Err *err) {
    size_t need = p->record_len + len + 2;
    if (need > p->record_cap) {
        size_t cap = need * 2;
        char *q = err_realloc(err, p->record, cap, "input record");
        if (!q) return -1;
        p->record = q;
        p->record_cap = cap;
    }
    if (p->record_len) p->record[p->record_len++] = '\n';
    memcpy(p->record + p->record_len, text, len);
    p->record_len += len;
    return 0;
}

// Lines and tables: each line is a record, except that a CSV field in
// quotes may go on over several lines (collected in p->record until the
// quote closes).
static int take_table(Predictor *p, const char *text, size_t len, int line, Err *err) {
    if (text) {
        if (p->record_len == 0) p->record_line = line;
        if (record_append(p, text, len, err) != 0) return -1;
        if (p->record_len > (size_t)p->o->max_line_bytes) {
            p->record_len = 0;
            return add_bad(p, p->record_line, "record longer than %d bytes", p->o->max_line_bytes);
        }
    } else if (p->record_len == 0) {
        return 0;
    }
    char sep = p->format->columns ? p->o->separator : '\t';
    // The table reader would end the record at a lone "\r" and drop the rest.
    if (sep == '\t' && memchr(p->record, '\r', p->record_len)) {
        p->record_len = 0;
        return add_bad(p, p->record_line, "a carriage return inside the line");
    }
    Table *t = table_open_text(p->name, p->record, p->record_len, sep, p->record_line, err);
    if (!t) return -1;
    TableRecord rec;
    int r = table_next(t, &rec, err), rc = 0;
    if (r < 0) {
        rc = -1;
    } else if (r == 0) {
        rc = add_bad(p, p->record_line, "empty line");
    } else if (text && rec.problem == TABLE_BAD_QUOTING &&
               strncmp(rec.problem_msg, "unterminated", 12) == 0) {
        table_close(t);  // the quoted field goes on in the next line
        return 0;
    } else {
        rc = take_record(p, &rec, err);
        if (rc == 1) rc = 0;
    }
    table_close(t);
    p->record_len = 0;
    return rc;
}

// JSON lines: {"text": ..., "text_b": ...} (keys --text-col, --text-b-col).
static int take_jsonl(Predictor *p, const char *text, size_t len, int line, Err *err) {
    if (!text) return 0;
    bool nul;
    size_t bad = utf8_first_bad(text, len, &nul);
    if (bad < len) return add_bad(p, line, "%s at byte %zu", nul ? "NUL byte" : "invalid UTF-8", bad + 1);
    size_t blank = 0;
    while (blank < len && (text[blank] == ' ' || text[blank] == '\t')) blank++;
    if (blank == len) return add_bad(p, line, "empty line");
    cJSON *j = cJSON_ParseWithLength(text, len);
    int rc;
    const char *key_b = p->o->text_b_col ? p->o->text_b_col : "text_b";
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, p->text_col);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, key_b);
    if (!j)
        rc = add_bad(p, line, "not valid JSON (expected an object such as {\"%s\": \"...\"})",
                     p->text_col);
    else if (!cJSON_IsObject(j))
        rc = add_bad(p, line, "expected a JSON object such as {\"%s\": \"...\"}", p->text_col);
    else if (!cJSON_IsString(a))
        rc = add_bad(p, line, "no string \"%s\"", p->text_col);
    else if ((!b || cJSON_IsNull(b)) && p->o->text_b_col)
        rc = add_bad(p, line, "a pair without its second text (no \"%s\")", key_b);
    else if (b && !cJSON_IsNull(b) && !cJSON_IsString(b))
        rc = add_bad(p, line, "\"%s\" is not a string", key_b);
    else
        rc = add_texts(p, line, a->valuestring, cJSON_IsString(b) ? b->valuestring : NULL, err);
    cJSON_Delete(j);
    return rc;
}

static const Format FORMATS[] = {
    {"lines", take_table, NULL, false},
    {"table", take_table, "0", true},
    {"jsonl", take_jsonl, "text", true},
};

// ------------------------------------------------------------ answers

static void print_header(const Predictor *p) {
    if (p->o->json) return;
    if (p->width == 1) {
        printf("score\n");
    } else {
        printf("%s", p->s.config.has_output_map ? "labels" : "label");
        for (int k = 0; k < p->width; k++) printf("\t%s", p->labels[k]);
        printf("\n");
    }
    fflush(stdout);
}

// A multi-label checkpoint (config.json's output_map): its map's
// probabilities into p->probs, and the set {p > threshold} as "a,b" into set.
static int multilabel_answer(Predictor *p, const float *row, char *set, size_t cap, Err *err) {
    const OutputMap *map = &p->s.config.output_map;
    real *scratch = err_calloc(err, (size_t)output_map_scratch(p->width) + (size_t)p->width,
                               sizeof(real), "output map scratch");
    if (!scratch) return -1;
    real *probs = scratch + output_map_scratch(p->width);
    output_map_probs(*map, row, probs, p->width, scratch);
    size_t used = 0;
    set[0] = '\0';
    for (int k = 0; k < p->width; k++) {
        p->probs[k] = probs[k];
        if (probs[k] > map->threshold && used < cap)
            used += (size_t)snprintf(set + used, cap - used, "%s%s", used ? "," : "", p->labels[k]);
    }
    free(scratch);
    return 0;
}

static int print_multilabel_answer(Predictor *p, int line, const float *row, Err *err) {
    char set[4096];
    if (multilabel_answer(p, row, set, sizeof set, err) != 0) return -1;
    if (!p->o->json) {
        printf("%s", set);
        for (int k = 0; k < p->width; k++) printf("\t%.6f", p->probs[k]);
        printf("\n");
        return 0;
    }
    cJSON *j = cJSON_CreateObject(), *labels = cJSON_CreateArray(), *probs = cJSON_CreateObject();
    bool ok = j && labels && probs && cJSON_AddNumberToObject(j, "line", line);
    for (int k = 0; k < p->width && ok; k++) {
        if (p->probs[k] > p->s.config.output_map.threshold)
            ok = cJSON_AddItemToArray(labels, cJSON_CreateString(p->labels[k]));
        ok = ok && cJSON_AddNumberToObject(probs, p->labels[k], p->probs[k]);
    }
    if (j && labels) cJSON_AddItemToObject(j, "labels", labels);
    if (j && probs) cJSON_AddItemToObject(j, "probabilities", probs);
    char *text = ok ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!j) {
        cJSON_Delete(labels);
        cJSON_Delete(probs);
    }
    if (!text) return err_set(err, "out of memory writing an answer");
    printf("%s\n", text);
    free(text);
    return 0;
}

static int print_answer(Predictor *p, int line, const float *row, Err *err) {
    if (p->s.config.has_output_map) return print_multilabel_answer(p, line, row, err);
    if (p->width > 1) logits_softmax(row, p->width, p->probs);
    int best = p->width > 1 ? logits_argmax(row, p->width) : 0;
    if (!p->o->json) {
        if (p->width == 1) {
            printf("%.6g\n", (double)row[0]);
            return 0;
        }
        printf("%s", p->labels[best]);
        for (int k = 0; k < p->width; k++) printf("\t%.6f", p->probs[k]);
        printf("\n");
        return 0;
    }
    cJSON *j = cJSON_CreateObject();
    bool ok = j && cJSON_AddNumberToObject(j, "line", line);
    if (p->width == 1) {
        ok = ok && cJSON_AddNumberToObject(j, "score", row[0]);
    } else {
        ok = ok && cJSON_AddStringToObject(j, "label", p->labels[best]);
        cJSON *probs = ok ? cJSON_AddObjectToObject(j, "probabilities") : NULL;
        for (int k = 0; k < p->width && probs; k++)
            ok = ok && cJSON_AddNumberToObject(probs, p->labels[k], p->probs[k]);
        ok = ok && probs;
    }
    char *text = ok ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!text) return err_set(err, "out of memory writing an answer");
    printf("%s\n", text);
    free(text);
    return 0;
}

// Answers the window's inputs and prints them in order.
static int run_window(Predictor *p, Err *err) {
    int n = dataset_size(p->ds);
    if (n > 0) {
        double t0 = clock_seconds();
        TokenizedSet *ts = tokset_encode(p->ds, p->s.tok, p->s.max_len, err);
        if (!ts) return -1;
        double t1 = clock_seconds();
        int rc = session_predict(&p->s, ts, p->o->model.batch_size, p->out, err);
        tokset_free(ts);
        p->tokenize_s += t1 - t0;
        p->model_s += clock_seconds() - t1;
        if (rc != 0) return -1;
    }
    for (int i = 0; i < p->num_entries; i++) {
        Entry *e = &p->entries[i];
        if (e->row < 0) {
            fprintf(stderr, "%s:%d: %s\n", p->name, e->line, e->error ? e->error : "bad input");
            free(e->error);
            p->bad++;
        } else {
            if (print_answer(p, e->line, p->out + (size_t)e->row * p->width, err) != 0) return -1;
            p->answered++;
        }
    }
    fflush(stdout);
    p->num_entries = 0;
    dataset_clear(p->ds);
    return 0;
}

static int take_line(Predictor *p, const char *text, size_t len, int line, Err *err) {
    if (p->num_entries == p->o->window && run_window(p, err) != 0) return -1;
    return p->format->take(p, text, len, line, err);
}

// Reads fd to its end, answering each window when it is full or when no
// more input is ready.
static int run_stream(Predictor *p, int fd, Err *err) {
    Reader r = {.fd = fd, .max_line = (size_t)p->o->max_line_bytes};
    int rc = -1;
    for (;;) {
        const char *text;
        size_t len;
        int line;
        LineStatus st = reader_line(&r, &text, &len, &line);
        if (st == LINE_END) break;
        if (st == LINE_OK) {
            if (take_line(p, text, len, line, err) != 0) goto done;
        } else if (st == LINE_TOO_LONG) {
            if (p->num_entries == p->o->window && run_window(p, err) != 0) goto done;
            add_bad(p, line, "line longer than %d bytes", p->o->max_line_bytes);
        } else {
            if (p->num_entries > 0 && !reader_ready(&r) && run_window(p, err) != 0) goto done;
            if (reader_fill(&r, p->name, err) != 0) goto done;
        }
    }
    if (take_line(p, NULL, 0, r.line, err) != 0 || run_window(p, err) != 0) goto done;
    rc = 0;
done:
    free(r.buf);
    return rc;
}

static int run_texts(Predictor *p, Err *err) {
    for (int i = 0; i < p->o->num_texts; i++) {
        const char *t = p->o->texts[i];
        if (strpbrk(t, "\r\n")) {
            if (p->num_entries == p->o->window && run_window(p, err) != 0) return -1;
            add_bad(p, i + 1, "a line break inside the argument");
            continue;
        }
        if (take_line(p, t, strlen(t), i + 1, err) != 0 ||
            take_line(p, NULL, 0, i + 1, err) != 0)
            return -1;
    }
    return run_window(p, err);
}

static const Format *find_format(const char *name, Err *err) {
    for (size_t i = 0; i < sizeof FORMATS / sizeof FORMATS[0]; i++)
        if (strcmp(FORMATS[i].name, name) == 0) return &FORMATS[i];
    err_set(err, "--format %s: expected lines, table or jsonl", name);
    return NULL;
}

static int check_options(const PredictOptions *o, const Format *f, Err *err) {
    if (o->window < 1 || o->window > 1 << 20)
        return err_set(err, "--window %d: expected 1 to 1048576", o->window);
    if (o->max_line_bytes < 16) return err_set(err, "--max-line-bytes %d: expected >= 16", o->max_line_bytes);
    if (o->input && o->num_texts > 0)
        return err_set(err, "%s: texts as arguments and --input %s: give one of them", o->texts[0],
                       o->input);
    if (!f->columns && (o->text_col || o->text_b_col))
        return err_set(err, "--text-col/--text-b-col belong to --format table or jsonl");
    return 0;
}

static void report_timing(const Predictor *p, double total) {
    long n = p->answered;
    fprintf(stderr,
            "predict: %ld inputs answered in %.2fs (%.1f/s); tokenizing %.2fs (%.1f%%), model "
            "%.2fs (%.1f%%)\n",
            n, total, total > 0 ? n / total : 0.0, p->tokenize_s,
            total > 0 ? 100 * p->tokenize_s / total : 0.0, p->model_s,
            total > 0 ? 100 * p->model_s / total : 0.0);
}

int predict_run(const PredictOptions *o, Err *err) {
    const Format *f = find_format(o->format, err);
    if (!f || check_options(o, f, err) != 0) return -1;
    double t_start = clock_seconds();
    Predictor p = {.o = o, .format = f, .text_col = o->text_col ? o->text_col : f->default_text_col};
    p.name = o->num_texts > 0 ? "argument" : o->input ? o->input : "stdin";
    if (f->columns && f->take == take_table && !o->header && resolve_columns(&p, NULL, err) != 0)
        return -1;
    int rc = -1, fd = -1;
    if (o->input && (fd = open(o->input, O_RDONLY)) < 0)
        return err_set(err, "%s: %s", o->input, strerror(errno));
    if (session_open(&p.s, &o->model, o->model.batch_size, 0, err) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    p.width = bert_config(p.s.model)->num_labels;
    for (int k = 0; k < p.width; k++) {
        snprintf(p.generic_labels[k], sizeof p.generic_labels[k], "LABEL_%d", k);
        p.labels[k] = p.s.config.num_label_names == p.width ? p.s.config.label_names[k]
                                                             : p.generic_labels[k];
    }
    if (p.s.load.classifier_initialised)
        fprintf(stderr, "warning: %s has no classifier head for %d outputs: answering with a "
                        "randomly initialised head\n", o->model.model_dir, p.width);
    p.ds = dataset_new(p.name, err);
    p.entries = err_calloc(err, (size_t)o->window, sizeof *p.entries, "inputs");
    p.out = err_calloc(err, (size_t)o->window * p.width, sizeof *p.out, "model outputs");
    p.probs = err_calloc(err, (size_t)p.width, sizeof *p.probs, "probabilities");
    if (!p.ds || !p.entries || !p.out || !p.probs) goto done;
    print_header(&p);
    if (o->num_texts > 0 ? run_texts(&p, err) : run_stream(&p, fd >= 0 ? fd : 0, err)) goto done;
    if (o->timing) report_timing(&p, clock_seconds() - t_start);
    if (p.bad > 0)
        fprintf(stderr, "predict: %ld bad input%s (named above) not answered, %ld answered\n",
                p.bad, p.bad == 1 ? "" : "s", p.answered);
    rc = p.bad > 0 ? 1 : 0;
done:
    for (int i = 0; i < p.num_entries; i++) free(p.entries[i].error);
    if (fd >= 0) close(fd);
    free(p.entries);
    free(p.out);
    free(p.probs);
    free(p.record);
    dataset_free(p.ds);
    session_close(&p.s);
    return rc;
}
