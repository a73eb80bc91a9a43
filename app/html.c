#include "app/html.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fileio.h"

static int html_reserve(Html *h, size_t more) {
    if (h->out_of_memory) return -1;
    if (h->len + more + 1 <= h->cap) return 0;
    size_t cap = h->cap ? h->cap : 4096;
    while (cap < h->len + more + 1) cap *= 2;
    char *p = realloc(h->data, cap);
    if (!p) {
        h->out_of_memory = 1;
        return -1;
    }
    h->data = p;
    h->cap = cap;
    return 0;
}

void html_printf(Html *h, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0 || html_reserve(h, (size_t)need) != 0) return;
    va_start(ap, fmt);
    vsnprintf(h->data + h->len, (size_t)need + 1, fmt, ap);
    va_end(ap);
    h->len += (size_t)need;
}

void html_text(Html *h, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
            case '&': html_printf(h, "&amp;"); break;
            case '<': html_printf(h, "&lt;"); break;
            case '>': html_printf(h, "&gt;"); break;
            case '"': html_printf(h, "&quot;"); break;
            case '\'': html_printf(h, "&#39;"); break;
            default:
                if (html_reserve(h, 1) == 0) {
                    h->data[h->len++] = *s;
                    h->data[h->len] = '\0';
                }
        }
    }
}

void html_page_begin(Html *h, const char *title) {
    html_printf(h, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    html_text(h, title);
    html_printf(h,
                "</title>\n<style>\n"
                "body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}\n"
                "h1{font-size:22px}h2{font-size:17px;margin-top:28px}\n"
                "table{border-collapse:collapse;font-size:13px;margin:8px 0}\n"
                "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}\n"
                "th{background:#f3f3f3}\n"
                ".charts{display:flex;flex-wrap:wrap;gap:12px}\n"
                "svg{font-family:sans-serif;background:#fff}\n"
                "svg text{font-size:11px;fill:#333}\n"
                ".note{color:#666;font-size:13px}\n"
                "</style>\n</head>\n<body>\n");
}

void html_page_end(Html *h) { html_printf(h, "</body>\n</html>\n"); }

int html_write(const Html *h, const char *path, Err *err) {
    if (h->out_of_memory) return err_set(err, "%s: out of memory building the page", path);
    return file_write_atomic(path, h->data ? h->data : "", h->len, err);
}

void html_free(Html *h) {
    free(h->data);
    memset(h, 0, sizeof *h);
}

const char *html_color(int i) {
    static const char *palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                                    "#393b79", "#637939"};
    const int n = (int)(sizeof palette / sizeof palette[0]);
    return palette[((i % n) + n) % n];
}

// ------------------------------------------------------------ charts

enum { CHART_W = 620, CHART_H = 250, PAD_L = 62, PAD_R = 170, PAD_T = 26, PAD_B = 40 };

static int point_ok(double x, double y, int log_y) {
    return isfinite(x) && isfinite(y) && (!log_y || y > 0);
}

// A step of 1, 2 or 5 times a power of ten, about range / 5.
static double nice_step(double range) {
    if (!(range > 0)) return 1;
    double raw = range / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

typedef struct {
    double x0, x1, y0, y1;  // data range (log10 of y on a log axis)
    int log_y;
} Axes;

static double px_x(const Axes *a, double x) {
    return PAD_L + (x - a->x0) / (a->x1 - a->x0) * (CHART_W - PAD_L - PAD_R);
}

static double px_y(const Axes *a, double y) {
    double v = a->log_y ? log10(y) : y;
    return CHART_H - PAD_B - (v - a->y0) / (a->y1 - a->y0) * (CHART_H - PAD_T - PAD_B);
}

// Enough decimals to tell ticks `step` apart; exponents for tiny or huge steps.
static void tick_label(char *out, size_t cap, double v, double step) {
    if (v == 0)
        snprintf(out, cap, "0");
    else if (step < 1e-3 || fabs(v) >= 1e5)
        snprintf(out, cap, "%.2g", v);
    else
        snprintf(out, cap, "%.*f", step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9), v);
}

static void draw_axes(Html *h, const Axes *a, const ChartSpec *spec) {
    const double left = PAD_L, right = CHART_W - PAD_R, top = PAD_T, bottom = CHART_H - PAD_B;
    html_printf(h, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#999\"/>\n",
                left, top, right - left, bottom - top);
    char label[32];
    double xs = nice_step(a->x1 - a->x0);
    for (double v = ceil(a->x0 / xs) * xs; v <= a->x1 + xs * 1e-9; v += xs) {
        double x = px_x(a, v);
        tick_label(label, sizeof label, fabs(v) < xs * 1e-9 ? 0 : v, xs);
        html_printf(h, "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#eee\"/>"
                       "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%s</text>\n",
                    x, top, x, bottom, x, bottom + 14, label);
    }
    double ys = a->log_y ? 1 : nice_step(a->y1 - a->y0);
    for (double v = ceil(a->y0 / ys) * ys; v <= a->y1 + ys * 1e-9; v += ys) {
        double value = a->log_y ? pow(10, v) : v;
        double y = px_y(a, value);
        if (a->log_y)
            snprintf(label, sizeof label, "%g", value);
        else
            tick_label(label, sizeof label, fabs(value) < ys * 1e-9 ? 0 : value, ys);
        html_printf(h, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#eee\"/>"
                       "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                    left, y, right, y, left - 4, y + 4, label);
    }
    html_printf(h, "<text x=\"%g\" y=\"%d\" text-anchor=\"middle\">", (left + right) / 2, CHART_H - 6);
    html_text(h, spec->x_label);
    html_printf(h, "</text>\n<text transform=\"translate(14,%g) rotate(-90)\" text-anchor=\"middle\">",
                (top + bottom) / 2);
    html_text(h, spec->y_label);
    html_printf(h, "%s</text>\n<text x=\"%g\" y=\"16\" style=\"font-size:13px;font-weight:bold\">",
                spec->log_y ? " (log)" : "", left);
    html_text(h, spec->title);
    html_printf(h, "</text>\n");
}

// Legend entries are cut to fit the space right of the plot.
static void draw_legend(Html *h, int slot, const char *color, const char *label) {
    enum { MAX_CHARS = 24 };
    double x = CHART_W - PAD_R + 10, y = PAD_T + 8 + 15 * slot;
    html_printf(h, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"%s\" stroke-width=\"2\"/>"
                   "<text x=\"%g\" y=\"%g\">", x, y, x + 16, y, color, x + 20, y + 4);
    char cut[MAX_CHARS + 4];
    size_t len = strlen(label);
    if (len > MAX_CHARS) {
        // Cut at a UTF-8 character boundary.
        size_t k = MAX_CHARS;
        while (k > 0 && ((unsigned char)label[k] & 0xC0) == 0x80) k--;
        snprintf(cut, sizeof cut, "%.*s...", (int)k, label);
        label = cut;
    }
    html_text(h, label);
    html_printf(h, "</text>\n");
}

void html_chart(Html *h, const ChartSpec *spec, const ChartCurve *curves, int n_curves) {
    Axes a = {INFINITY, -INFINITY, INFINITY, -INFINITY, spec->log_y};
    for (int c = 0; c < n_curves; c++)
        for (int i = 0; i < curves[c].n; i++) {
            double x = curves[c].x[i], y = curves[c].y[i];
            if (!point_ok(x, y, a.log_y)) continue;
            double v = a.log_y ? log10(y) : y;
            a.x0 = fmin(a.x0, x), a.x1 = fmax(a.x1, x);
            a.y0 = fmin(a.y0, v), a.y1 = fmax(a.y1, v);
        }
    html_printf(h, "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                   "viewBox=\"0 0 %d %d\">\n", CHART_W, CHART_H, CHART_W, CHART_H);
    if (!(a.x0 <= a.x1)) {
        html_printf(h, "<text x=\"%d\" y=\"%d\">", PAD_L, CHART_H / 2);
        html_text(h, spec->title);
        html_printf(h, ": nothing recorded yet</text>\n</svg>\n");
        return;
    }
    if (a.x1 - a.x0 < 1e-12) a.x0 -= 1, a.x1 += 1;
    if (spec->unit_y) {
        a.y0 = 0, a.y1 = 1;
    } else if (a.log_y) {
        a.y0 = floor(a.y0), a.y1 = ceil(a.y1);
        if (a.y1 - a.y0 < 1) a.y1 = a.y0 + 1;
    } else {
        double pad = (a.y1 - a.y0) * 0.05;
        if (pad < 1e-12) pad = fabs(a.y1) > 0 ? fabs(a.y1) * 0.1 : 1;
        a.y0 -= pad, a.y1 += pad;
    }
    draw_axes(h, &a, spec);
    int slot = 0;
    for (int c = 0; c < n_curves; c++) {
        const ChartCurve *cv = &curves[c];
        int drawn = 0;
        for (int i = 0; i < cv->n; i++) drawn += point_ok(cv->x[i], cv->y[i], a.log_y);
        if (drawn == 0) continue;
        const char *color = html_color(c);
        html_printf(h, "<polyline class=\"curve\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"",
                    color);
        for (int i = 0; i < cv->n; i++)
            if (point_ok(cv->x[i], cv->y[i], a.log_y))
                html_printf(h, "%.1f,%.1f ", px_x(&a, cv->x[i]), px_y(&a, cv->y[i]));
        html_printf(h, "\"/>\n");
        if (drawn <= 40)
            for (int i = 0; i < cv->n; i++)
                if (point_ok(cv->x[i], cv->y[i], a.log_y))
                    html_printf(h, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                                px_x(&a, cv->x[i]), px_y(&a, cv->y[i]), color);
        draw_legend(h, slot++, color, cv->label);
    }
    html_printf(h, "</svg>\n");
}
