// Table-driven long-option parsing for the commands: one row per option
// (name, type, destination, help, default, where it applies, valid range).
// The usage line, --help, the value and range errors, the required-option
// errors and the "does not apply" errors all come from the rows.
#ifndef APP_OPTIONS_H
#define APP_OPTIONS_H

#include <math.h>
#include <stdbool.h>

#include "app/session.h"
#include "util/err.h"

// The model every command uses unless --model says otherwise; the Makefile
// and scripts/fetch_model.sh fetch it there.
#define CLI_DEFAULT_MODEL "models/all-MiniLM-L6-v2"

#define CLI_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

// The SessionOptions defaults ./finetune and ./evaluate start from.
#define CLI_SESSION_DEFAULTS                                                        \
    {.model_dir = CLI_DEFAULT_MODEL, .data_dir = "data/glue", .max_len = 128, \
     .batch_size = 32}

typedef enum { CLI_STRING, CLI_INT, CLI_LONG, CLI_FLOAT, CLI_DOUBLE, CLI_U64, CLI_FLAG } CliType;

// Where a row applies (CliOption.applies): the commands that take it (no
// command bit: every command that lists it) and the tasks it is for (no
// task bit: every task).  Anywhere else it is refused with a message.
enum {
    CLI_FINETUNE = 1 << 0,
    CLI_EVALUATE = 1 << 1,
    CLI_EXPORT = 1 << 2,
    CLI_BENCH = 1 << 3,
    CLI_PREDICT = 1 << 4,
    CLI_REPORT = 1 << 5,
    CLI_ATTENTION = 1 << 6,
    CLI_COMMANDS = CLI_FINETUNE | CLI_EVALUATE | CLI_EXPORT | CLI_BENCH | CLI_PREDICT | CLI_REPORT |
                   CLI_ATTENTION,
    CLI_CUSTOM_TASK = 1 << 8,  // --task custom
    CLI_GLUE_TASK = 1 << 9,    // a GLUE task
};

// The values a numeric row accepts, checked as it is parsed.
typedef struct {
    bool set;
    double min, max;
    bool min_open, max_open;  // > min / < max rather than >= / <=
} CliRange;
#define CLI_AT_LEAST(a) {true, (a), INFINITY, false, false}
#define CLI_ABOVE(a) {true, (a), INFINITY, true, false}
#define CLI_IN(a, b) {true, (a), (b), false, false}              // [a, b]
#define CLI_IN_HALF_OPEN(a, b) {true, (a), (b), false, true}     // [a, b)

typedef struct {
    const char *name;  // long option without "--"
    CliType type;
    void *dest;        // const char **, int *, long *, float *, double *, uint64_t *, bool *
    const char *meta;  // value placeholder in --help ("N", "DIR"); NULL for flags
    const char *help;  // one line; the default is printed after it
    bool *given;       // set when the option appears (may be NULL)
    // Shown as the default instead of the destination's value ("the
    // checkpoint's config"); NULL: the value itself, "none" for a NULL string.
    const char *default_text;
    bool required;     // refused when absent; --help says "(required)"
    unsigned applies;  // CLI_* bits, see above
    CliRange range;    // numbers only; unset: any value of the type
} CliOption;

// The --threads row of the commands that run the model (dest: int *).
#define CLI_THREADS_ROW(dest) \
    {"threads", CLI_INT, (dest), "N", "OpenMP and BLAS threads", .range = CLI_AT_LEAST(1)}

// One table of rows.
typedef struct {
    const CliOption *rows;
    int n;
} CliTable;
#define CLI_TABLE(a) ((CliTable){(a), CLI_COUNT(a)})

typedef struct {
    const char *path;    // how the user runs it: "./finetune", "build/bench"
    const char *about;   // what it does: printed under the usage line
    unsigned command;    // its CLI_* command bit
    const char *epilog;  // printed after the options (may be NULL)
    // The task bits (CLI_CUSTOM_TASK, CLI_GLUE_TASK) that hold once the
    // values are parsed; NULL: the command has no task.
    unsigned (*task_bits)(const void *ctx);
    const void *ctx;
    // Non-NULL: the command also takes arguments that are not options
    // (getopt moves them to the end): they are argv[*first_arg .. argc).
    int *first_arg;
} CliCommand;

// Parses argv against the rows of tables[num_tables].  Returns 0, 1 when
// --help was printed (the main exits 0), -1 on a bad option or value (err
// says which).  Defaults are whatever the destinations hold before the call.
int cli_parse(int argc, char **argv, const CliCommand *cmd, const CliTable *tables, int num_tables,
              Err *err);

// The rows ./finetune and ./evaluate share: model, task, data, custom-task
// columns, max-len, batch-size, attention, bad rows.  cli_session_rows fills
// x->rows (and the --attn / --r texts, from the attention map table);
// cli_finish_session validates and converts what they collected.
enum { CLI_SESSION_ROWS = 32 };
typedef struct {
    const char *attn_name;
    float r;
    bool model_given, attn_given, r_given;
    const char *separator;  // "tab" | "comma"
    bool no_header;
    CliOption rows[CLI_SESSION_ROWS];
    int num_rows;
    char attn_help[256], r_help[256], r_default[128], maps[2048];  // from the map table
    const char *precision_name;
    char precision_help[512];  // from the precision table
    const char *label_sep;  // --label-sep
    char output_maps[384];  // --output-map's help, from the output map table
} CliSessionExtras;
// "compute precision: fp32 (...); bf16 (...)" from the precision table, for
// the --precision row of every command that runs the model.
void cli_precision_help(char *buf, size_t size);
void cli_session_rows(SessionOptions *s, CliSessionExtras *x);
// The task bits of a SessionOptions (CliCommand.task_bits).
unsigned cli_session_task_bits(const void *session_options);
int cli_finish_session(SessionOptions *s, const CliSessionExtras *x, Err *err);
// Its model part (the default model is there, --attn / --r), for a command
// without a task (./predict).
int cli_finish_model(SessionOptions *s, const CliSessionExtras *x, Err *err);
// --separator tab|comma as a character.
int cli_separator(const char *name, char *sep, Err *err);

#endif
