#include "tasks/table.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/fileio.h"
#include "util/utf8.h"

struct Table {
    char *path;
    char *data;  // the whole file, BOM included
    size_t len, pos;
    char sep;
    int line;  // physical line number of data[pos]
    // Field bytes of the current record, unescaped and NUL-terminated.
    Buf scratch;
    size_t *offsets;  // [fcap] field starts in scratch
    const char **fields;  // [fcap]
    int nfields;
    size_t fcap;
    char msg[96];
};

// A table over `data` (malloc'ed, owned from here on; freed on failure).
static Table *table_over(const char *path, char *data, size_t len, char sep, int first_line,
                         Err *err) {
    if (sep != '\t' && sep != ',') {
        err_set(err, "%s: separator must be tab or comma", path);
        free(data);
        return NULL;
    }
    Table *t = err_calloc(err, 1, sizeof *t, "table");
    if (!t) {
        free(data);
        return NULL;
    }
    t->sep = sep;
    t->line = first_line;
    t->data = data;
    t->len = len;
    t->path = strdup(path);
    if (!t->path) {
        err_set(err, "out of memory copying a path");
        table_close(t);
        return NULL;
    }
    if (t->len >= 3 && memcmp(t->data, "\xEF\xBB\xBF", 3) == 0) t->pos = 3;
    return t;
}

Table *table_open(const char *path, char sep, Err *err) {
    char *data;
    size_t len;
    if (file_read_all(path, &data, &len, err) != 0) return NULL;
    return table_over(path, data, len, sep, 1, err);
}

Table *table_open_text(const char *name, const char *text, size_t len, char sep, int first_line,
                       Err *err) {
    char *data = err_malloc(err, len + 1, "table text");
    if (!data) return NULL;
    memcpy(data, text, len);
    data[len] = '\0';
    return table_over(name, data, len, sep, first_line, err);
}

void table_close(Table *t) {
    if (!t) return;
    free(t->path);
    free(t->data);
    buf_free(&t->scratch);
    free(t->offsets);
    free(t->fields);
    free(t);
}

const char *table_path(const Table *t) { return t->path; }

static int scratch_append(Table *t, const char *src, size_t n, Err *err) {
    return buf_append(&t->scratch, src, n, "table row buffer", err);
}

static int field_begin(Table *t, Err *err) {
    if ((size_t)t->nfields == t->fcap) {
        size_t cap = grow_capacity(t->fcap, t->fcap + 1);
        if (RESIZE(t->offsets, cap, "table fields", err) ||
            RESIZE(t->fields, cap, "table fields", err))
            return -1;
        t->fcap = cap;
    }
    t->offsets[t->nfields++] = t->scratch.len;
    return 0;
}

static bool at_line_end(const Table *t) {
    return t->pos < t->len && (t->data[t->pos] == '\n' || t->data[t->pos] == '\r');
}

// Consumes "\n", "\r\n" or "\r" at pos, if there is one.
static void skip_line_end(Table *t) {
    if (t->pos >= t->len) return;
    if (t->data[t->pos] == '\r') {
        t->pos++;
        if (t->pos < t->len && t->data[t->pos] == '\n') t->pos++;
        t->line++;
    } else if (t->data[t->pos] == '\n') {
        t->pos++;
        t->line++;
    }
}

// Offset of the first byte that is not part of valid UTF-8, or of a NUL
// byte; n when the text is clean.  *is_nul tells which.
size_t utf8_first_bad(const char *s, size_t n, bool *is_nul) {
    size_t bad = utf8_invalid_at(s, n);
    const char *nul = memchr(s, '\0', bad);
    *is_nul = nul != NULL;
    return nul ? (size_t)(nul - s) : bad;
}

// Reads one quoted CSV field starting at the opening quote.  Returns 0 with
// *closed false when the file ends inside the quotes.
static int read_quoted(Table *t, bool *closed, Err *err) {
    t->pos++;
    *closed = false;
    while (t->pos < t->len) {
        size_t start = t->pos;
        while (t->pos < t->len && t->data[t->pos] != '"' && t->data[t->pos] != '\r' &&
               t->data[t->pos] != '\n')
            t->pos++;
        if (scratch_append(t, t->data + start, t->pos - start, err) != 0) return -1;
        if (t->pos >= t->len) break;
        char c = t->data[t->pos];
        if (c == '"') {
            if (t->pos + 1 < t->len && t->data[t->pos + 1] == '"') {
                if (scratch_append(t, "\"", 1, err) != 0) return -1;
                t->pos += 2;
                continue;
            }
            t->pos++;
            *closed = true;
            return 0;
        }
        // A line break inside quotes belongs to the field; universal
        // newlines make it "\n" whatever the file used.
        skip_line_end(t);
        if (scratch_append(t, "\n", 1, err) != 0) return -1;
    }
    return 0;
}

int table_next(Table *t, TableRecord *rec, Err *err) {
    memset(rec, 0, sizeof *rec);
    if (t->pos >= t->len) return 0;
    if (at_line_end(t)) {
        size_t p = t->pos;
        while (p < t->len && (t->data[p] == '\n' || t->data[p] == '\r')) p++;
        if (p == t->len) {
            t->pos = t->len;
            return 0;
        }
    }
    size_t start = t->pos;
    rec->line = t->line;
    t->scratch.len = 0;
    t->nfields = 0;
    TableProblem problem = TABLE_OK;
    if (at_line_end(t)) {
        skip_line_end(t);
    } else {
        for (;;) {
            if (field_begin(t, err) != 0) return -1;
            bool more = false;
            if (t->sep == ',' && t->pos < t->len && t->data[t->pos] == '"') {
                bool closed;
                if (read_quoted(t, &closed, err) != 0) return -1;
                if (!closed) {
                    problem = TABLE_BAD_QUOTING;
                    snprintf(t->msg, sizeof t->msg, "unterminated quoted field");
                } else if (t->pos < t->len && t->data[t->pos] == t->sep) {
                    t->pos++;
                    more = true;
                } else if (t->pos < t->len && !at_line_end(t)) {
                    problem = TABLE_BAD_QUOTING;
                    snprintf(t->msg, sizeof t->msg, "unexpected character after a closing quote");
                    while (t->pos < t->len && !at_line_end(t)) t->pos++;
                }
            } else {
                size_t s = t->pos;
                while (t->pos < t->len && t->data[t->pos] != t->sep && !at_line_end(t)) t->pos++;
                if (scratch_append(t, t->data + s, t->pos - s, err) != 0) return -1;
                if (t->pos < t->len && t->data[t->pos] == t->sep) {
                    t->pos++;
                    more = true;
                }
            }
            if (scratch_append(t, "", 1, err) != 0) return -1;
            if (!more) break;
        }
        size_t end = t->pos;
        skip_line_end(t);
        bool is_nul;
        size_t bad = utf8_first_bad(t->data + start, end - start, &is_nul);
        if (bad < end - start) {
            problem = TABLE_BAD_UTF8;
            snprintf(t->msg, sizeof t->msg, "%s at byte %zu of the row",
                     is_nul ? "NUL byte" : "invalid UTF-8", bad + 1);
        }
    }
    for (int i = 0; i < t->nfields; i++) t->fields[i] = t->scratch.data + t->offsets[i];
    rec->nfields = t->nfields;
    rec->fields = t->fields;
    rec->problem = problem;
    rec->problem_msg = problem == TABLE_OK ? NULL : t->msg;
    return 1;
}
