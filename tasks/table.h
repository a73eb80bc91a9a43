// Record reader for the delimited text files tasks are stored in.
//
//   Table *t = table_open("x.tsv", '\t', &err);
//   TableRecord rec;
//   int r;
//   while ((r = table_next(t, &rec, &err)) == 1) { ... rec.fields[i] ... }
//   table_close(t);                      // r == -1: err says why
//
// Conventions, chosen to give the rows Python's csv.reader yields on a file
// opened with encoding="utf-8-sig" and universal newlines, which is how
// transformers' GLUE processors read GLUE:
//   - a UTF-8 BOM at the start of the file is dropped;
//   - "\n", "\r\n" and a lone "\r" each end a physical line;
//   - the last line needs no line end, and empty lines at the end of the file
//     are ignored (an empty line elsewhere is a record with 0 fields);
//   - sep '\t': TSV, a plain split on tabs, quotes are ordinary characters
//     (GLUE's files are read with quotechar=None);
//   - sep ',': CSV with RFC 4180 quoting: a field that starts with '"' runs
//     to the next lone '"', "" inside it is one quote, and it may span
//     lines.  A quote inside an unquoted field is an ordinary character.
// A malformed record (invalid UTF-8, a NUL byte, bad quoting) is still
// returned, with `problem` set, so the caller can skip it or stop.
#ifndef TASKS_TABLE_H
#define TASKS_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

typedef struct Table Table;

// TABLE_BAD_JSON: a JSONL line of a task file (tasks/dataset.c).
typedef enum { TABLE_OK = 0, TABLE_BAD_UTF8, TABLE_BAD_QUOTING, TABLE_BAD_JSON } TableProblem;

typedef struct {
    int line;                   // 1-based physical line where the record starts
    int nfields;                // 0 for an empty line
    const char *const *fields;  // [nfields] NUL-terminated; valid until the next table_next
    TableProblem problem;
    const char *problem_msg;    // e.g. "invalid UTF-8 at byte 17 of the row"; NULL when OK
} TableRecord;

Table *table_open(const char *path, char sep, Err *err);
// The same over a copy of text[len] (a record or a few lines of a stream);
// `name` stands for the path in messages, lines count from first_line.
Table *table_open_text(const char *name, const char *text, size_t len, char sep, int first_line,
                       Err *err);
void table_close(Table *t);
const char *table_path(const Table *t);
// Reads the next record: returns 1, 0 at the end of the file, -1 on error.
int table_next(Table *t, TableRecord *rec, Err *err);

// Offset of the first byte that is not part of valid UTF-8 (strict: no
// overlong forms, no surrogates, nothing above U+10FFFF), or of a NUL byte;
// n when the text is clean.  *is_nul tells which.
size_t utf8_first_bad(const char *s, size_t n, bool *is_nul);

#endif
