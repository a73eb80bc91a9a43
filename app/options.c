#include "app/options.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_default(const CliOption *o) {
    if (o->default_text) {
        if (strcmp(o->default_text, "required") == 0)
            printf(" (required)");
        else
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

static void print_help(const CliOption *opts, int n, const char *usage) {
    printf("%s\n\nOptions:\n", usage);
    for (int i = 0; i < n; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", opts[i].name, opts[i].meta ? " " : "",
                 opts[i].meta ? opts[i].meta : "");
        printf("  %-24s %s", left, opts[i].help);
        print_default(&opts[i]);
        printf("\n");
    }
    printf("  %-24s %s\n", "--help", "show this help and exit");
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
            *(uint64_t *)o->dest = v;
            return 0;
        }
        case CLI_FLOAT:
        case CLI_DOUBLE: {
            double v = strtod(arg, &end);
            if (errno || end == arg || *end || !isfinite(v) ||
                (o->type == CLI_FLOAT && !isfinite((float)v)))
                return err_set(err, "--%s %s: expected a number", o->name, arg);
            if (o->type == CLI_FLOAT)
                *(float *)o->dest = (float)v;
            else
                *(double *)o->dest = v;
            return 0;
        }
    }
    return err_set(err, "--%s: unknown option type", o->name);
}

int cli_parse(int argc, char **argv, const CliOption *opts, int n, const char *usage, Err *err) {
    return cli_parse_with_args(argc, argv, opts, n, usage, NULL, err);
}

int cli_parse_with_args(int argc, char **argv, const CliOption *opts, int n, const char *usage,
                        int *first_arg, Err *err) {
    struct option *longs = err_calloc(err, (size_t)n + 2, sizeof(struct option), "options");
    if (!longs) return -1;
    for (int i = 0; i < n; i++)
        longs[i] = (struct option){opts[i].name, opts[i].type == CLI_FLAG ? no_argument : required_argument,
                                   NULL, 1000 + i};
    longs[n] = (struct option){"help", no_argument, NULL, 'h'};
    optind = 1;
    opterr = 0;
    int rc = 0, c, index;
    while (rc == 0 && (c = getopt_long(argc, argv, ":", longs, &index)) != -1) {
        if (c == 'h') {
            print_help(opts, n, usage);
            rc = 1;
        } else if (c >= 1000) {
            const CliOption *o = &opts[c - 1000];
            rc = parse_value(o, optarg, err);
            if (rc == 0 && o->given) *o->given = true;
        } else if (c == ':') {
            rc = err_set(err, "%s: missing value (see --help)", argv[optind - 1]);
        } else {
            rc = err_set(err, "%s: unknown option (see --help)", argv[optind - 1]);
        }
    }
    if (first_arg) *first_arg = optind;
    if (rc == 0 && optind < argc && !first_arg)
        rc = err_set(err, "%s: unexpected argument (options are --name value; see --help)", argv[optind]);
    free(longs);
    return rc;
}

int cli_session_rows(SessionOptions *s, CliSessionExtras *x, CliOption *out) {
    CustomTaskOptions *c = &s->custom;
    const CliOption rows[] = {
        {"model", CLI_STRING, &s->model_dir, "DIR", "Hugging Face model directory or checkpoint", NULL, "required"},
        {"task", CLI_STRING, &s->task, "NAME", "GLUE task (sst2, cola, mrpc, stsb, qqp, mnli, qnli, rte, wnli) or custom", NULL, "required"},
        {"data-dir", CLI_STRING, &s->data_dir, "DIR", "GLUE root holding the task folders", NULL},
        {"max-len", CLI_INT, &s->max_len, "N", "truncate inputs to N tokens (longest_first)", NULL},
        {"batch-size", CLI_INT, &s->batch_size, "N", "examples per batch", NULL},
        {"attn", CLI_STRING, &x->attn_name, "MAP", "attention map: softmax | rsoftmax | sparsemax | entmax15", &x->attn_given, "the checkpoint's, else softmax"},
        {"r", CLI_FLOAT, &x->r, "R", "r-softmax sparsity rate in [0, 1], required with --attn rsoftmax", &x->r_given, "none"},
        {"skip-bad-rows", CLI_FLAG, &s->skip_bad_rows, NULL, "skip and count malformed data rows instead of stopping", NULL},
        {"train", CLI_STRING, &c->train, "FILE", "custom task: training file (TSV or CSV)", NULL},
        {"dev", CLI_STRING, &c->dev, "FILE", "custom task: dev file", NULL},
        {"test", CLI_STRING, &c->test, "FILE", "custom task: test file (labels not read)", NULL},
        {"text-col", CLI_STRING, &c->text_a, "COL", "custom task: text column, 0-based index or header name", NULL},
        {"text-b-col", CLI_STRING, &c->text_b, "COL", "custom task: second text column for pairs", NULL},
        {"label-col", CLI_STRING, &c->label, "COL", "custom task: label column", NULL},
        {"labels", CLI_STRING, &c->labels, "A,B,..", "custom task: label names in order (default: sorted labels of the train file)", NULL},
        {"separator", CLI_STRING, &x->separator, "SEP", "custom task: tab or comma", NULL},
        {"no-header", CLI_FLAG, &x->no_header, NULL, "custom task: files have no header line", NULL},
        {"regression", CLI_FLAG, &c->regression, NULL, "custom task: float targets, MSE loss, one output", NULL},
    };
    int n = (int)(sizeof rows / sizeof rows[0]);
    memcpy(out, rows, sizeof rows);
    return n;
}

int cli_finish_session(SessionOptions *s, const CliSessionExtras *x, Err *err) {
    if (!s->model_dir) return err_set(err, "--model is required (see --help)");
    if (!s->task) return err_set(err, "--task is required (see --help)");
    if (cli_finish_model(s, x, err) != 0) return -1;
    if (cli_separator(x->separator, &s->custom.separator, err) != 0) return -1;
    s->custom.header = !x->no_header;
    int custom = strcmp(s->task, "custom") == 0;
    if (!custom && (s->custom.train || s->custom.dev || s->custom.test || s->custom.text_a))
        return err_set(err, "--train/--dev/--test/--text-col belong to --task custom");
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
    if (s->max_len < 3 || s->max_len > 4096) return err_set(err, "--max-len %d: expected 3 to 4096", s->max_len);
    if (s->batch_size < 1 || s->batch_size > 65536)
        return err_set(err, "--batch-size %d: expected 1 to 65536", s->batch_size);
    s->attn_given = x->attn_given;
    if (x->attn_given) {
        if (attn_map_parse(x->attn_name, x->r_given, x->r, &s->attn, err) != 0)
            return err_prefix(err, "--attn %s", x->attn_name);
    } else if (x->r_given) {
        return err_set(err, "--r needs --attn rsoftmax");
    }
    return 0;
}
