#include "app/options.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fileio.h"

// Names for the CLI_* bits, in messages.
typedef struct {
    unsigned bit;
    const char *name;
} BitName;

static const BitName COMMANDS[] = {
    {CLI_FINETUNE, "./finetune"},
    {CLI_EVALUATE, "./evaluate"},
    {CLI_EXPORT, "./export"},
    {CLI_BENCH, "build/bench"},
    {CLI_PREDICT, "./predict"},
    {CLI_REPORT, "./report"},
    {CLI_ATTENTION, "./attention"},
};
static const BitName TASKS[] = {
    {CLI_CUSTOM_TASK, "--task custom"},
    {CLI_GLUE_TASK, "a GLUE task"},
};

// The names of table[n] whose bits are in `bits`, joined by " or ".
static const char *names_of(const BitName *table, int n, unsigned bits, char *out, size_t cap) {
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n && used < cap; i++)
        if (bits & table[i].bit)
            used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? " or " : "", table[i].name);
    return out;
}
#define NAMES_OF(table, bits, out) names_of(table, CLI_COUNT(table), bits, out, sizeof out)

static bool for_command(const CliOption *o, const CliCommand *cmd) {
    unsigned commands = o->applies & CLI_COMMANDS;
    return commands == 0 || (commands & cmd->command);
}

static void print_default(const CliOption *o) {
    if (o->required) {
        printf(" (required)");
        return;
    }
    if (o->default_text) {
        printf(" (default: %s)", o->default_text);
        return;
    }
    switch (o->type) {
        case CLI_STRING: {
            const char *v = *(const char **)o->dest;
            printf(" (default: %s)", v ? v : "none");
            break;
        }
        case CLI_INT: printf(" (default: %d)", *(int *)o->dest); break;
        case CLI_LONG: printf(" (default: %ld)", *(long *)o->dest); break;
        case CLI_FLOAT: printf(" (default: %g)", *(float *)o->dest); break;
        case CLI_DOUBLE: printf(" (default: %g)", *(double *)o->dest); break;
        case CLI_U64: printf(" (default: %llu)", (unsigned long long)*(uint64_t *)o->dest); break;
        case CLI_FLAG: printf(" (default: off)"); break;
    }
}

// A row's range: ">= 1", "in [0, 1)"; after "an integer " / "a number "
// when with_type.
static void describe_range(const CliOption *o, bool with_type, char *out, size_t cap) {
    const CliRange *r = &o->range;
    const char *what = !with_type                                      ? ""
                       : o->type == CLI_FLOAT || o->type == CLI_DOUBLE ? "a number "
                                                                       : "an integer ";
    if (isinf(r->max))
        snprintf(out, cap, "%s%s %g", what, r->min_open ? ">" : ">=", r->min);
    else
        snprintf(out, cap, "%sin %c%g, %g%c", what, r->min_open ? '(' : '[', r->min, r->max,
                 r->max_open ? ')' : ']');
}

// "usage: ./export --checkpoint DIR --out DIR [options]": the required rows,
// then the others as [options].
static void print_help(const CliCommand *cmd, const CliOption *const *opts, int n) {
    printf("usage: %s", cmd->path);
    for (int i = 0; i < n; i++)
        if (opts[i]->required) printf(" --%s %s", opts[i]->name, opts[i]->meta);
    printf(" [options]\n%s\n\nOptions:\n", cmd->about);
    for (int i = 0; i < n; i++) {
        const CliOption *o = opts[i];
        if (!for_command(o, cmd)) continue;
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->meta ? " " : "", o->meta ? o->meta : "");
        printf("  %-24s %s", left, o->help);
        if (o->range.set) {
            char range[96];
            describe_range(o, false, range, sizeof range);
            printf(", %s", range);
        }
        print_default(o);
        printf("\n");
    }
    printf("  %-24s %s\n", "--help", "show this help and exit");
    if (cmd->epilog) printf("\n%s", cmd->epilog);
}

static int check_range(const CliOption *o, const char *arg, double v, Err *err) {
    const CliRange *r = &o->range;
    if (!r->set) return 0;
    bool low_ok = r->min_open ? v > r->min : v >= r->min;
    bool high_ok = r->max_open ? v < r->max : v <= r->max;
    if (low_ok && high_ok) return 0;
    char want[96];
    describe_range(o, true, want, sizeof want);
    return err_set(err, "--%s %s: expected %s", o->name, arg, want);
}

static int parse_value(const CliOption *o, const char *arg, Err *err) {
    char *end = NULL;
    errno = 0;
    switch (o->type) {
        case CLI_STRING: *(const char **)o->dest = arg; return 0;
        case CLI_FLAG: *(bool *)o->dest = true; return 0;
        case CLI_INT:
        case CLI_LONG: {
            long v = strtol(arg, &end, 10);
            if (errno || end == arg || *end || (o->type == CLI_INT && (v < INT32_MIN || v > INT32_MAX)))
                return err_set(err, "--%s %s: expected an integer", o->name, arg);
            if (check_range(o, arg, (double)v, err) != 0) return -1;
            if (o->type == CLI_INT)
                *(int *)o->dest = (int)v;
            else
                *(long *)o->dest = v;
            return 0;
        }
        case CLI_U64: {
            unsigned long long v = strtoull(arg, &end, 10);
            if (errno || end == arg || *end || arg[0] == '-')
                return err_set(err, "--%s %s: expected a non-negative integer", o->name, arg);
            if (check_range(o, arg, (double)v, err) != 0) return -1;
            *(uint64_t *)o->dest = v;
            return 0;
        }
        case CLI_FLOAT:
        case CLI_DOUBLE: {
            double v = strtod(arg, &end);
            if (errno || end == arg || *end || !isfinite(v) ||
                (o->type == CLI_FLOAT && !isfinite((float)v)))
                return err_set(err, "--%s %s: expected a number", o->name, arg);
            // A float row is checked as the float it stores.
            if (check_range(o, arg, o->type == CLI_FLOAT ? (double)(float)v : v, err) != 0) return -1;
            if (o->type == CLI_FLOAT)
                *(float *)o->dest = (float)v;
            else
                *(double *)o->dest = v;
            return 0;
        }
    }
    return err_set(err, "--%s: unknown option type", o->name);
}

// After parsing: each required row was given, and each given row applies
// to the command and to the task.
static int check_given(const CliCommand *cmd, const CliOption *const *opts, const bool *seen, int n,
                       Err *err) {
    unsigned task = cmd->task_bits ? cmd->task_bits(cmd->ctx) : 0;
    char names[128];
    for (int i = 0; i < n; i++) {
        const CliOption *o = opts[i];
        if (!seen[i]) {
            if (o->required) return err_set(err, "--%s is required (see --help)", o->name);
            continue;
        }
        if (!for_command(o, cmd))
            return err_set(err, "--%s does not apply to %s (it is for %s)", o->name, cmd->path,
                           NAMES_OF(COMMANDS, o->applies, names));
        unsigned tasks = o->applies & ~(unsigned)CLI_COMMANDS;
        if (tasks && task && !(tasks & task))
            return err_set(err, "--%s belongs to %s", o->name, NAMES_OF(TASKS, tasks, names));
    }
    return 0;
}

int cli_parse(int argc, char **argv, const CliCommand *cmd, const CliTable *tables, int num_tables,
              Err *err) {
    int n = 0;
    for (int t = 0; t < num_tables; t++) n += tables[t].n;
    const CliOption **opts = err_calloc(err, (size_t)n + 1, sizeof *opts, "options");
    bool *seen = opts ? err_calloc(err, (size_t)n + 1, sizeof *seen, "options") : NULL;
    struct option *longs = seen ? err_calloc(err, (size_t)n + 2, sizeof(struct option), "options") : NULL;
    if (!longs) {
        free(opts);
        free(seen);
        return -1;
    }
    for (int t = 0, i = 0; t < num_tables; t++)
        for (int k = 0; k < tables[t].n; k++, i++) opts[i] = &tables[t].rows[k];
    for (int i = 0; i < n; i++)
        longs[i] = (struct option){opts[i]->name, opts[i]->type == CLI_FLAG ? no_argument : required_argument,
                                   NULL, 1000 + i};
    longs[n] = (struct option){"help", no_argument, NULL, 'h'};
    optind = 1;
    opterr = 0;
    int rc = 0, c, index;
    while (rc == 0 && (c = getopt_long(argc, argv, ":", longs, &index)) != -1) {
        if (c == 'h') {
            print_help(cmd, opts, n);
            rc = 1;
        } else if (c >= 1000) {
            const CliOption *o = opts[c - 1000];
            rc = parse_value(o, optarg, err);
            seen[c - 1000] = true;
            if (rc == 0 && o->given) *o->given = true;
        } else if (c == ':') {
            rc = err_set(err, "%s: missing value (see --help)", argv[optind - 1]);
        } else {
            rc = err_set(err, "%s: unknown option (see --help)", argv[optind - 1]);
        }
    }
    if (cmd->first_arg) *cmd->first_arg = optind;
    if (rc == 0 && optind < argc && !cmd->first_arg)
        rc = err_set(err, "%s: unexpected argument (options are --name value; see --help)", argv[optind]);
    if (rc == 0) rc = check_given(cmd, opts, seen, n, err);
    free(longs);
    free(seen);
    free(opts);
    return rc;
}

// The --attn and --r texts and the maps' list for --help, from the map
// table.
static void describe_maps(CliSessionExtras *x) {
    char names[256];
    snprintf(x->attn_help, sizeof x->attn_help, "attention map: %s (see below)",
             attn_map_names(names, sizeof names, " | "));
    size_t used_r = 0, used_d = 0, used_m = 0;
    x->r_help[0] = x->r_default[0] = '\0';
    used_m = (size_t)snprintf(x->maps, sizeof x->maps, "Attention maps (--attn MAP [--r R]):\n");
    for (int k = 0; k < attn_map_count(); k++) {
        const AttnMapInfo *m = attn_map_info((AttnKind)k);
        if (used_m < sizeof x->maps)
            used_m += (size_t)snprintf(x->maps + used_m, sizeof x->maps - used_m, "  %-10s %s\n",
                                       m->name, m->help);
        if (!m->param_help) continue;
        if (used_m < sizeof x->maps)
            used_m += (size_t)snprintf(x->maps + used_m, sizeof x->maps - used_m,
                                       "  %-10s --r R: %s, in [%g, %g] (default %g)\n", "",
                                       m->param_help, (double)m->param_min, (double)m->param_max,
                                       (double)m->param_default);
        if (used_r < sizeof x->r_help)
            used_r += (size_t)snprintf(x->r_help + used_r, sizeof x->r_help - used_r,
                                       "%sthe parameter of --attn %s, in [%g, %g]",
                                       used_r ? "; " : "", m->name, (double)m->param_min,
                                       (double)m->param_max);
        if (used_d < sizeof x->r_default)
            used_d += (size_t)snprintf(x->r_default + used_d, sizeof x->r_default - used_d,
                                       "%s%g with %s", used_d ? ", " : "", (double)m->param_default,
                                       m->name);
    }
}

void cli_precision_help(char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "compute precision: ");
    for (int p = 0; p < PRECISION_COUNT && used < size; p++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s (%s)", p ? "; " : "",
                                 precision_info((Precision)p)->name,
                                 precision_info((Precision)p)->help);
}

void cli_session_rows(SessionOptions *s, CliSessionExtras *x) {
    CustomTaskOptions *c = &s->custom;
    describe_maps(x);
    cli_precision_help(x->precision_help, sizeof x->precision_help);
    if (!x->precision_name) x->precision_name = precision_info(s->precision)->name;
    char names[256];
    snprintf(x->output_maps, sizeof x->output_maps,
             "multi-label tasks: the output map over the labels (%s; docs/output-maps.md)",
             output_map_names(names, sizeof names, ", "));
    const CliOption rows[] = {
        {"model", CLI_STRING, &s->model_dir, "DIR", "Hugging Face model directory or checkpoint; scripts/fetch_model.sh fetches the default", &x->model_given},
        {"task", CLI_STRING, &s->task, "NAME", "GLUE task (sst2, cola, mrpc, stsb, qqp, mnli, qnli, rte, wnli), debtags (multi-label, data/debtags) or custom", .required = true},
        {"data-dir", CLI_STRING, &s->data_dir, "DIR", "GLUE root holding the task folders", .applies = CLI_GLUE_TASK},
        {"max-len", CLI_INT, &s->max_len, "N", "truncate inputs to N tokens (longest_first)", .range = CLI_IN(3, 4096)},
        {"batch-size", CLI_INT, &s->batch_size, "N", "examples per batch", .range = CLI_IN(1, 65536)},
        {"attn", CLI_STRING, &x->attn_name, "MAP", x->attn_help, &x->attn_given, "the checkpoint's, else softmax"},
        {"r", CLI_FLOAT, &x->r, "R", x->r_help, &x->r_given, x->r_default},
        {"precision", CLI_STRING, &x->precision_name, "P", x->precision_help},
        {"skip-bad-rows", CLI_FLAG, &s->skip_bad_rows, NULL, "skip and count malformed data rows instead of stopping"},
        {"train", CLI_STRING, &c->train, "FILE", "custom task: training file (TSV or CSV)", .applies = CLI_CUSTOM_TASK},
        {"dev", CLI_STRING, &c->dev, "FILE", "custom task: dev file", .applies = CLI_CUSTOM_TASK},
        {"test", CLI_STRING, &c->test, "FILE", "custom task: test file (labels not read)", .applies = CLI_EVALUATE | CLI_CUSTOM_TASK},
        {"text-col", CLI_STRING, &c->text_a, "COL", "custom task: text column, 0-based index or header name", .applies = CLI_CUSTOM_TASK},
        {"text-b-col", CLI_STRING, &c->text_b, "COL", "custom task: second text column for pairs", .applies = CLI_CUSTOM_TASK},
        {"label-col", CLI_STRING, &c->label, "COL", "custom task: label column", .applies = CLI_CUSTOM_TASK},
        {"labels", CLI_STRING, &c->labels, "A,B,..", "custom task: label names in order", .default_text = "the sorted labels of the train file", .applies = CLI_CUSTOM_TASK},
        {"separator", CLI_STRING, &x->separator, "SEP", "custom task: tab or comma", .applies = CLI_CUSTOM_TASK},
        {"no-header", CLI_FLAG, &x->no_header, NULL, "custom task: files have no header line", .applies = CLI_CUSTOM_TASK},
        {"regression", CLI_FLAG, &c->regression, NULL, "custom task: float targets, MSE loss, one output", .applies = CLI_CUSTOM_TASK},
        {"multi-label", CLI_FLAG, &c->multi_label, NULL, "custom task: the label column lists a row's labels (--label-sep)", .applies = CLI_CUSTOM_TASK},
        {"label-sep", CLI_STRING, &x->label_sep, "C", "custom multi-label task: the character between a row's labels", .default_text = ",", .applies = CLI_CUSTOM_TASK},
        {"min-label-count", CLI_INT, &c->min_label_count, "N", "custom multi-label task: keep the train file's labels on at least N rows (rows left without a label are dropped and counted)", .default_text = "1", .applies = CLI_CUSTOM_TASK, .range = CLI_AT_LEAST(1)},
        {"output-map", CLI_STRING, &s->output_map, "MAP", x->output_maps, .default_text = "sigmoid"},
        {"output-r", CLI_STRING, &s->output_r, "R", "multi-label --output-map rsoftmax: the share r of labels zeroed, in [0, 1], or auto (from the train set's mean label count)", .default_text = "0.5"},
    };
    _Static_assert(CLI_COUNT(rows) <= CLI_SESSION_ROWS, "raise CLI_SESSION_ROWS");
    memcpy(x->rows, rows, sizeof rows);
    x->num_rows = CLI_COUNT(rows);
}

unsigned cli_session_task_bits(const void *session_options) {
    const SessionOptions *s = session_options;
    if (!s->task) return 0;  // --task missing: reported as such
    return strcmp(s->task, "custom") == 0 ? CLI_CUSTOM_TASK : CLI_GLUE_TASK;
}

int cli_finish_session(SessionOptions *s, const CliSessionExtras *x, Err *err) {
    if (cli_finish_model(s, x, err) != 0 || cli_separator(x->separator, &s->custom.separator, err) != 0)
        return -1;
    s->custom.header = !x->no_header;
    if (x->label_sep && strlen(x->label_sep) != 1)
        return err_set(err, "--label-sep \"%s\": expected one character", x->label_sep);
    s->custom.label_sep = x->label_sep ? x->label_sep[0] : ',';
    return 0;
}

int cli_separator(const char *name, char *sep, Err *err) {
    if (strcmp(name, "tab") == 0)
        *sep = '\t';
    else if (strcmp(name, "comma") == 0)
        *sep = ',';
    else
        return err_set(err, "--separator %s: expected tab or comma", name);
    return 0;
}

int cli_finish_model(SessionOptions *s, const CliSessionExtras *x, Err *err) {
    if (!x->model_given && !dir_exists(s->model_dir))
        return err_set(err,
                       "--model: the default model %s is not there: fetch it with "
                       "scripts/fetch_model.sh %s (or give --model DIR)",
                       s->model_dir, s->model_dir);
    s->attn_given = x->attn_given;
    if (x->attn_given) {
        if (attn_map_parse(x->attn_name, x->r_given, x->r, &s->attn, err) != 0)
            return err_prefix(err, "--attn %s", x->attn_name);
    } else if (x->r_given) {
        return err_set(err, "--r needs --attn: %s", x->r_help);
    }
    return precision_parse(x->precision_name, "--precision", &s->precision, err);
}
