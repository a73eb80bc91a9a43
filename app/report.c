#include "app/report.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/html.h"
#include "util/fileio.h"

// ------------------------------------------------------------ the log

typedef struct {
    double *v;
    int n, cap;
} Series;

static int series_push(Series *s, double v, Err *err) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 256;
        double *p = err_realloc(err, s->v, sizeof(double) * (size_t)cap, "report series");
        if (!p) return -1;
        s->v = p;
        s->cap = cap;
    }
    s->v[s->n++] = v;
    return 0;
}

enum { MAX_SERIES = 48, MAX_LAYERS = 64 };

// One named curve against steps (a dev metric, a layer's zero fraction).
typedef struct {
    char name[96];
    Series step, value;
} NamedSeries;

typedef struct {
    const char *path;
    cJSON *config;    // the run's configuration record (or NULL)
    cJSON *results;   // results.json (or NULL)
    cJSON *last_eval[8];  // the last eval record of each split (owned)
    int num_splits;
    Series step, loss, lr, grad_norm, tokens, step_seconds;
    NamedSeries metrics[MAX_SERIES];
    int num_metrics;
    NamedSeries zeros[MAX_LAYERS];
    int num_layers;
    double eval_seconds;
} RunLog;

static double num_field(const cJSON *obj, const char *key) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(item) ? item->valuedouble : NAN;
}

static NamedSeries *named(NamedSeries *all, int *count, int cap, const char *name, Err *err,
                          const char *where) {
    for (int i = 0; i < *count; i++)
        if (strcmp(all[i].name, name) == 0) return &all[i];
    if (*count == cap) {
        err_set(err, "%s: more than %d curves", where, cap);
        return NULL;
    }
    NamedSeries *s = &all[(*count)++];
    snprintf(s->name, sizeof s->name, "%s", name);
    return s;
}

static int add_point(NamedSeries *s, double step, double value, Err *err) {
    return s && series_push(&s->step, step, err) == 0 && series_push(&s->value, value, err) == 0
               ? 0 : -1;
}

static int read_step(RunLog *g, const cJSON *j, Err *err) {
    if (series_push(&g->step, num_field(j, "step"), err) != 0 ||
        series_push(&g->loss, num_field(j, "loss"), err) != 0 ||
        series_push(&g->lr, num_field(j, "lr"), err) != 0 ||
        series_push(&g->grad_norm, num_field(j, "grad_norm"), err) != 0 ||
        series_push(&g->tokens, num_field(j, "tokens"), err) != 0 ||
        series_push(&g->step_seconds, num_field(j, "step_seconds"), err) != 0)
        return -1;
    return 0;
}

// Metrics are every number of an eval record but these.
static int is_bookkeeping(const char *key) {
    static const char *skip[] = {"step", "n", "primary", "seconds", "eval_seconds",
                                 "attention_zeros_overall"};
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (strcmp(key, skip[i]) == 0) return 1;
    return 0;
}

static int read_eval(RunLog *g, cJSON *j, const char *where, Err *err) {
    double step = num_field(j, "step");
    const cJSON *split = cJSON_GetObjectItemCaseSensitive(j, "split");
    const char *split_name = cJSON_IsString(split) ? split->valuestring : "dev";
    const cJSON *item;
    cJSON_ArrayForEach(item, j) {
        if (!cJSON_IsNumber(item) || is_bookkeeping(item->string)) continue;
        char name[96];
        snprintf(name, sizeof name, "%s %s", split_name, item->string);
        if (add_point(named(g->metrics, &g->num_metrics, MAX_SERIES, name, err, where), step,
                      item->valuedouble, err) != 0)
            return -1;
    }
    double secs = num_field(j, "eval_seconds");
    if (isfinite(secs)) g->eval_seconds += secs;
    // The zero fractions of the first split only: one curve per layer.
    const cJSON *zeros = cJSON_GetObjectItemCaseSensitive(j, "attention_zeros");
    int first_split = g->num_splits == 0 ||
                      strcmp(cJSON_GetObjectItemCaseSensitive(g->last_eval[0], "split")->valuestring,
                             split_name) == 0;
    if (cJSON_IsArray(zeros) && first_split) {
        int l = 0;
        cJSON_ArrayForEach(item, zeros) {
            char name[32];
            snprintf(name, sizeof name, "layer %d", l++);
            if (add_point(named(g->zeros, &g->num_layers, MAX_LAYERS, name, err, where), step,
                          cJSON_IsNumber(item) ? item->valuedouble : NAN, err) != 0)
                return -1;
        }
    }
    // Keep the latest record of each split for the final table.
    for (int s = 0; s < g->num_splits; s++) {
        const cJSON *other = cJSON_GetObjectItemCaseSensitive(g->last_eval[s], "split");
        if (cJSON_IsString(other) && strcmp(other->valuestring, split_name) == 0) {
            cJSON_Delete(g->last_eval[s]);
            g->last_eval[s] = j;
            return 1;
        }
    }
    if (g->num_splits == (int)(sizeof g->last_eval / sizeof g->last_eval[0]))
        return err_set(err, "%s: more than %d dev splits", where, g->num_splits);
    cJSON *copy = j;
    if (!cJSON_IsString(split)) cJSON_AddStringToObject(copy, "split", split_name);
    g->last_eval[g->num_splits++] = copy;
    return 1;  // kept: the caller must not free j
}

static int read_log(RunLog *g, const char *dir, Err *err) {
    char path[4096];
    if (path_join(path, sizeof path, dir, "log.jsonl", err) != 0) return -1;
    char *text;
    size_t len;
    if (file_read_all(path, &text, &len, err) != 0) return -1;
    int rc = 0, line_no = 0;
    for (char *line = text, *next; *line && rc == 0; line = next) {
        char *nl = strchr(line, '\n');
        next = nl ? nl + 1 : line + strlen(line);
        line_no++;
        if (nl) *nl = '\0';
        if (line[strspn(line, " \t\r")] == '\0') continue;
        char where[4200];
        snprintf(where, sizeof where, "%s:%d", path, line_no);
        cJSON *j = cJSON_Parse(line);
        const cJSON *event = cJSON_GetObjectItemCaseSensitive(j, "event");
        if (!j || !cJSON_IsString(event)) {
            rc = err_set(err, "%s: not a log record (a JSON object with \"event\")", where);
        } else if (strcmp(event->valuestring, "step") == 0) {
            rc = read_step(g, j, err);
        } else if (strcmp(event->valuestring, "eval") == 0) {
            int kept = read_eval(g, j, where, err);
            if (kept == 1) j = NULL;
            rc = kept < 0 ? -1 : 0;
        } else if (strcmp(event->valuestring, "config") == 0 && !g->config) {
            g->config = j;
            j = NULL;
        }
        cJSON_Delete(j);
    }
    free(text);
    if (rc == 0 && path_join(path, sizeof path, dir, "results.json", err) == 0 && file_exists(path)) {
        if (file_read_all(path, &text, &len, err) != 0) return -1;
        g->results = cJSON_Parse(text);
        free(text);
        if (!g->results) return err_set(err, "%s: not JSON", path);
    }
    return rc;
}

static void free_log(RunLog *g) {
    cJSON_Delete(g->config);
    cJSON_Delete(g->results);
    for (int s = 0; s < g->num_splits; s++) cJSON_Delete(g->last_eval[s]);
    Series *all[] = {&g->step, &g->loss, &g->lr, &g->grad_norm, &g->tokens, &g->step_seconds};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]->v);
    for (int i = 0; i < g->num_metrics; i++) free(g->metrics[i].step.v), free(g->metrics[i].value.v);
    for (int i = 0; i < g->num_layers; i++) free(g->zeros[i].step.v), free(g->zeros[i].value.v);
}

// ------------------------------------------------------------ reductions

enum { MAX_POINTS = 1500 };

typedef enum { REDUCE_MEAN, REDUCE_MAX } Reduce;

// Cuts n points into at most MAX_POINTS buckets (mean x, then the mean or
// the max of y), so a long run stays a small page; the max keeps the
// gradient-norm spikes visible.  Returns the count written to xo / yo.
static int bucket(const double *x, const double *y, int n, Reduce how, double *xo, double *yo) {
    int per = (n + MAX_POINTS - 1) / MAX_POINTS, m = 0;
    if (per < 1) per = 1;
    for (int i = 0; i < n; i += per) {
        double sx = 0, acc = how == REDUCE_MAX ? -INFINITY : 0;
        int k = 0, finite = 0;
        for (; k < per && i + k < n; k++) {
            sx += x[i + k];
            double v = y[i + k];
            if (!isfinite(v)) continue;
            finite++;
            acc = how == REDUCE_MAX ? fmax(acc, v) : acc + v;
        }
        xo[m] = sx / k;
        yo[m++] = finite == 0 ? NAN : how == REDUCE_MAX ? acc : acc / finite;
    }
    return m;
}

// Mean of the last `window` finite values at each point.
static void moving_mean(const double *y, int n, int window, double *out) {
    double sum = 0;
    int count = 0;
    for (int i = 0; i < n; i++) {
        if (isfinite(y[i])) sum += y[i], count++;
        if (i >= window && isfinite(y[i - window])) sum -= y[i - window], count--;
        out[i] = count ? sum / count : NAN;
    }
}

// Tokens per second of training over windows of `window` steps (step
// compute time only: evaluation and checkpoints are not in step_seconds).
static int throughput(const RunLog *g, int window, double *xo, double *yo) {
    int m = 0;
    for (int i = 0; i < g->step.n; i += window) {
        double tok = 0, secs = 0, sx = 0;
        int k = 0;
        for (; k < window && i + k < g->step.n; k++) {
            sx += g->step.v[i + k];
            if (isfinite(g->step_seconds.v[i + k]) && isfinite(g->tokens.v[i + k]))
                tok += g->tokens.v[i + k], secs += g->step_seconds.v[i + k];
        }
        xo[m] = sx / k;
        yo[m++] = secs > 0 ? tok / secs : NAN;
    }
    return m;
}

// ------------------------------------------------------------ the page

static void table_row(Html *h, const char *key, const cJSON *value) {
    html_printf(h, "<tr><th>");
    html_text(h, key);
    html_printf(h, "</th><td>");
    if (cJSON_IsString(value)) {
        html_text(h, value->valuestring);
    } else if (cJSON_IsNumber(value)) {
        html_printf(h, "%.6g", value->valuedouble);
    } else {
        char *text = cJSON_PrintUnformatted(value);
        html_text(h, text ? text : "?");
        free(text);
    }
    html_printf(h, "</td></tr>\n");
}

static void config_section(Html *h, const RunLog *g) {
    html_printf(h, "<h2>Configuration</h2>\n");
    if (!g->config) {
        html_printf(h, "<p class=\"note\">no configuration record in the log (a run from an older "
                       "version)</p>\n");
        return;
    }
    html_printf(h, "<table>\n");
    const cJSON *item;
    cJSON_ArrayForEach(item, g->config) {
        if (strcmp(item->string, "event") == 0 || strcmp(item->string, "step") == 0) continue;
        table_row(h, item->string, item);
    }
    html_printf(h, "</table>\n");
}

static void summary_section(Html *h, const RunLog *g) {
    double tokens = 0, secs = 0;
    for (int i = 0; i < g->step.n; i++)
        if (isfinite(g->step_seconds.v[i]) && isfinite(g->tokens.v[i]))
            tokens += g->tokens.v[i], secs += g->step_seconds.v[i];
    html_printf(h, "<h2>Throughput and final metrics</h2>\n<table>\n");
    html_printf(h, "<tr><th>steps logged</th><td>%d</td></tr>\n", g->step.n);
    if (secs > 0)
        html_printf(h, "<tr><th>training time (steps only)</th><td>%.1f s</td></tr>\n"
                       "<tr><th>throughput</th><td>%.0f tokens/s, %.2f steps/s</td></tr>\n",
                    secs, tokens / secs, g->step.n / secs);
    if (g->eval_seconds > 0)
        html_printf(h, "<tr><th>evaluation time</th><td>%.1f s</td></tr>\n", g->eval_seconds);
    for (int s = 0; s < g->num_splits; s++) {
        const cJSON *e = g->last_eval[s], *item;
        char key[128];
        cJSON_ArrayForEach(item, e) {
            if (!cJSON_IsNumber(item) || strstr(item->string, "seconds")) continue;
            snprintf(key, sizeof key, "last eval %s: %s",
                     cJSON_GetObjectItemCaseSensitive(e, "split")->valuestring, item->string);
            table_row(h, key, item);
        }
    }
    if (g->results) {
        const cJSON *item;
        cJSON_ArrayForEach(item, g->results) {
            char key[128];
            snprintf(key, sizeof key, "results.json: %s", item->string);
            table_row(h, key, item);
        }
    }
    html_printf(h, "</table>\n");
}

static int charts_section(Html *h, const RunLog *g, Err *err) {
    const int n = g->step.n;
    double *buf = err_calloc(err, (size_t)7 * (n + 1), sizeof(double), "report charts");
    if (!buf) return -1;
    double *x1 = buf, *y1 = buf + n + 1, *x2 = buf + 2 * (n + 1), *y2 = buf + 3 * (n + 1),
           *smooth = buf + 4 * (n + 1), *x3 = buf + 5 * (n + 1), *y3 = buf + 6 * (n + 1);
    html_printf(h, "<h2>Training</h2>\n<div class=\"charts\">\n");

    int window = n / 50 > 10 ? n / 50 : 10;
    moving_mean(g->loss.v, n, window, smooth);
    int m1 = bucket(g->step.v, g->loss.v, n, REDUCE_MEAN, x1, y1);
    int m2 = bucket(g->step.v, smooth, n, REDUCE_MEAN, x2, y2);
    char smooth_label[64];
    snprintf(smooth_label, sizeof smooth_label, "mean of %d steps", window);
    ChartCurve loss[] = {{"loss per step", x1, y1, m1}, {smooth_label, x2, y2, m2}};
    html_chart(h, &(ChartSpec){"Training loss", "step", "loss", 0, 0}, loss, 2);

    m1 = bucket(g->step.v, g->lr.v, n, REDUCE_MEAN, x1, y1);
    html_chart(h, &(ChartSpec){"Learning rate", "step", "lr", 0, 0},
               &(ChartCurve){"learning rate", x1, y1, m1}, 1);

    m1 = bucket(g->step.v, g->grad_norm.v, n, REDUCE_MAX, x1, y1);
    html_chart(h, &(ChartSpec){"Gradient norm before clipping", "step", "global L2 norm", 1, 0},
               &(ChartCurve){m1 < n ? "max over each bucket" : "per step", x1, y1, m1}, 1);

    int tp_window = n / 100 > 10 ? n / 100 : 10;
    m1 = throughput(g, tp_window, x3, y3);
    char tp_label[64];
    snprintf(tp_label, sizeof tp_label, "tokens/s, %d-step windows", tp_window);
    html_chart(h, &(ChartSpec){"Throughput (training steps only)", "step", "tokens/s", 0, 0},
               &(ChartCurve){tp_label, x3, y3, m1}, 1);

    ChartCurve curves[MAX_LAYERS];
    for (int i = 0; i < g->num_metrics; i++)
        curves[i] = (ChartCurve){g->metrics[i].name, g->metrics[i].step.v, g->metrics[i].value.v,
                                 g->metrics[i].step.n};
    html_chart(h, &(ChartSpec){"Dev metrics", "step", "score", 0, 0}, curves, g->num_metrics);
    if (g->num_layers > 0) {
        for (int i = 0; i < g->num_layers; i++)
            curves[i] = (ChartCurve){g->zeros[i].name, g->zeros[i].step.v, g->zeros[i].value.v,
                                     g->zeros[i].step.n};
        html_chart(h, &(ChartSpec){"Exact zeros in attention (dev, per layer)", "step",
                                   "fraction of probabilities = 0", 0, 1},
                   curves, g->num_layers);
    }
    html_printf(h, "</div>\n");
    free(buf);
    return 0;
}

int report_write(const char *run_dir, Err *err) {
    RunLog g = {0};
    Html h = {0};
    char path[4096];
    int rc = -1;
    if (read_log(&g, run_dir, err) != 0 ||
        path_join(path, sizeof path, run_dir, "report.html", err) != 0)
        goto done;
    char title[512];
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(g.config, "task"),
                *attn = cJSON_GetObjectItemCaseSensitive(g.config, "attn");
    snprintf(title, sizeof title, "Training report: %s%s%s (%s)",
             cJSON_IsString(task) ? task->valuestring : "run",
             cJSON_IsString(attn) ? ", attention " : "",
             cJSON_IsString(attn) ? attn->valuestring : "", run_dir);
    html_page_begin(&h, title);
    html_printf(&h, "<h1>");
    html_text(&h, title);
    html_printf(&h, "</h1>\n<p class=\"note\">Made from log.jsonl; rewrite it at any time with "
                    "<code>./report ");
    html_text(&h, run_dir);
    html_printf(&h, "</code>.</p>\n");
    if (charts_section(&h, &g, err) != 0) goto done;
    summary_section(&h, &g);
    config_section(&h, &g);
    html_page_end(&h);
    rc = html_write(&h, path, err);
done:
    html_free(&h);
    free_log(&g);
    return rc;
}
