// Table-driven long-option parsing for the three commands: one row per
// option (name, type, destination, default shown in --help, help text).
#ifndef APP_OPTIONS_H
#define APP_OPTIONS_H

#include <stdbool.h>

#include "app/session.h"
#include "util/err.h"

typedef enum { CLI_STRING, CLI_INT, CLI_LONG, CLI_FLOAT, CLI_DOUBLE, CLI_U64, CLI_FLAG } CliType;

typedef struct {
    const char *name;  // long option without "--"
    CliType type;
    void *dest;        // const char **, int *, long *, float *, double *, uint64_t *, bool *
    const char *meta;  // value placeholder in --help ("N", "DIR"); NULL for flags
    const char *help;  // one line; the default is printed after it
    bool *given;       // set when the option appears (may be NULL)
    // Shown as the default instead of the destination's value ("required",
    // "the checkpoint's config"); NULL: the value itself, "none" for a NULL
    // string.
    const char *default_text;
} CliOption;

// Parses argv against opts[n].  Returns 0, 1 when --help was printed (the
// main exits 0), -1 on a bad option or value (err says which).  Defaults are
// whatever the destinations hold before the call.
int cli_parse(int argc, char **argv, const CliOption *opts, int n, const char *usage, Err *err);
// The same, also accepting arguments that are not options (getopt moves them
// to the end of argv): they are argv[*first_arg .. argc).
int cli_parse_with_args(int argc, char **argv, const CliOption *opts, int n, const char *usage,
                        int *first_arg, Err *err);

// The rows ./finetune and ./evaluate share: model, task, data, custom-task
// columns, max-len, batch-size, attention, bad rows.  Writes at most 32 rows
// into out and returns the count.  `attn_name` / `r` / `r_given` receive
// --attn and --r for cli_finish_session.
enum { CLI_SESSION_ROWS = 32 };
typedef struct {
    const char *attn_name;
    float r;
    bool attn_given, r_given;
    const char *separator;  // "tab" | "comma"
    bool no_header;
} CliSessionExtras;
int cli_session_rows(SessionOptions *s, CliSessionExtras *x, CliOption *out);
// Validates and converts what cli_session_rows collected.
int cli_finish_session(SessionOptions *s, const CliSessionExtras *x, Err *err);
// Its --max-len, --batch-size, --attn / --r part, for a command without a
// task (./predict).
int cli_finish_model(SessionOptions *s, const CliSessionExtras *x, Err *err);
// --separator tab|comma as a character.
int cli_separator(const char *name, char *sep, Err *err);

#endif
