// Self-contained HTML pages with inline SVG, for ./report and ./attention:
// a growing text buffer, escaping, and a line chart.  No JavaScript, no
// network: a page is one file a browser shows as it is.
#ifndef APP_HTML_H
#define APP_HTML_H

#include <stddef.h>

#include "util/err.h"

// A growing text buffer.  A failed allocation is remembered and reported by
// html_write (so the many small appends need no check of their own).
typedef struct {
    char *data;
    size_t len, cap;
    int out_of_memory;
} Html;

void html_printf(Html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Appends s with &, <, >, " and ' escaped (valid in text and in attributes).
void html_text(Html *h, const char *s);
// <!DOCTYPE html> ... <body>, with the shared style sheet; html_page_end closes it.
void html_page_begin(Html *h, const char *title);
void html_page_end(Html *h);
// Writes the buffer to path atomically; an earlier allocation failure is
// reported here.
int html_write(const Html *h, const char *path, Err *err);
void html_free(Html *h);

// The n-th colour of the plotting palette (cycles).
const char *html_color(int i);

// One curve of a chart: n points (x[i], y[i]); points that are not finite
// (or not positive on a log axis) are left out.
typedef struct {
    const char *label;
    const double *x, *y;
    int n;
} ChartCurve;

typedef struct {
    const char *title;
    const char *x_label;
    const char *y_label;
    int log_y;   // logarithmic y axis
    int unit_y;  // y axis from 0 to 1 (fractions)
} ChartSpec;

// An inline <svg class="chart"> with axes, ticks, a legend and one
// <polyline class="curve"> per curve that has at least one point to draw
// (points also get <circle> markers when a curve has few of them).
void html_chart(Html *h, const ChartSpec *spec, const ChartCurve *curves, int n_curves);

#endif
