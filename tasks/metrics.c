#include "tasks/metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/fileio.h"

double metric_accuracy(const int *pred, const int *gold, int n) {
    if (n <= 0) return NAN;
    long correct = 0;
    for (int i = 0; i < n; i++) correct += pred[i] == gold[i];
    return (double)correct / n;
}

double metric_f1(const int *pred, const int *gold, int n) {
    if (n <= 0) return NAN;
    long tp = 0, fp = 0, fn = 0;
    for (int i = 0; i < n; i++) {
        tp += pred[i] == 1 && gold[i] == 1;
        fp += pred[i] == 1 && gold[i] != 1;
        fn += pred[i] != 1 && gold[i] == 1;
    }
    return tp + fp + fn == 0 ? 0.0 : 2.0 * tp / (2.0 * tp + fp + fn);
}

int metric_multilabel(const unsigned char *pred, const unsigned char *gold, int n, int C,
                      MultiLabelScores *out, Err *err) {
    if (n <= 0 || C <= 0) {
        *out = (MultiLabelScores){NAN, NAN, NAN, NAN, NAN};
        return 0;
    }
    long *counts = err_calloc(err, (size_t)C * 3, sizeof(long), "per-label counts");  // tp, fp, fn
    if (!counts) return -1;
    long exact = 0, predicted = 0, true_labels = 0;
    for (int i = 0; i < n; i++) {
        int same = 1;
        for (int k = 0; k < C; k++) {
            int p = pred[(size_t)i * C + k] != 0, g = gold[(size_t)i * C + k] != 0;
            counts[3 * k] += p && g;
            counts[3 * k + 1] += p && !g;
            counts[3 * k + 2] += !p && g;
            same &= p == g;
            predicted += p;
            true_labels += g;
        }
        exact += same;
    }
    long tp = 0, fp = 0, fn = 0;
    double macro = 0;
    for (int k = 0; k < C; k++) {
        long a = counts[3 * k], b = counts[3 * k + 1], c = counts[3 * k + 2];
        tp += a, fp += b, fn += c;
        macro += a + b + c == 0 ? 0.0 : 2.0 * a / (2.0 * a + b + c);
    }
    free(counts);
    out->micro_f1 = tp + fp + fn == 0 ? 0.0 : 2.0 * tp / (2.0 * tp + fp + fn);
    out->macro_f1 = macro / C;
    out->exact = (double)exact / n;
    out->mean_set_size = (double)predicted / n;
    out->mean_true_size = (double)true_labels / n;
    return 0;
}

typedef struct {
    float p;
    unsigned char gold;
} ScoredLabel;

static int cmp_scored_desc(const void *a, const void *b) {
    float x = ((const ScoredLabel *)a)->p, y = ((const ScoredLabel *)b)->p;
    return (x < y) - (x > y);
}

int metric_tune_threshold(const float *probs, const unsigned char *gold, int n, int C,
                          float *threshold, Err *err) {
    size_t m = (size_t)n * (size_t)C;
    ScoredLabel *all = err_malloc(err, (m ? m : 1) * sizeof *all, "threshold tuning");
    if (!all) return -1;
    long positives = 0;
    for (size_t i = 0; i < m; i++) {
        all[i] = (ScoredLabel){probs[i], gold[i] != 0};
        positives += all[i].gold;
    }
    qsort(all, m, sizeof *all, cmp_scored_desc);
    // Sweep the threshold down through the distinct probabilities: after a
    // group of equal p, the set {p > t} for t just below it is everything so far.
    double best = -1;
    float best_t = m ? all[0].p : 0.5f;  // above every p: the empty sets (F1 0)
    long tp = 0, selected = 0;
    for (size_t i = 0; i < m;) {
        size_t j = i;
        for (; j < m && all[j].p == all[i].p; j++) tp += all[j].gold;
        selected += (long)(j - i);
        double f1 = 2.0 * tp / (double)(selected + positives);
        if (f1 > best) {
            best = f1;
            float below = j < m ? all[j].p : 0.0f;
            best_t = below + (all[i].p - below) * 0.5f;
            if (!(best_t < all[i].p)) best_t = below;  // neighbouring floats
        }
        i = j;
    }
    free(all);
    *threshold = best_t;
    return 0;
}

int metric_matthews(const int *pred, const int *gold, int n, int num_classes, double *out,
                    Err *err) {
    *out = NAN;
    if (n <= 0) return 0;
    if (num_classes < 1) return err_set(err, "matthews: %d classes", num_classes);
    int64_t *t_sum = err_calloc(err, (size_t)num_classes, sizeof *t_sum, "matthews counts");
    int64_t *p_sum = err_calloc(err, (size_t)num_classes, sizeof *p_sum, "matthews counts");
    if (!t_sum || !p_sum) {
        free(t_sum);
        free(p_sum);
        return -1;
    }
    int64_t correct = 0;
    for (int i = 0; i < n; i++) {
        if (pred[i] < 0 || pred[i] >= num_classes || gold[i] < 0 || gold[i] >= num_classes) {
            free(t_sum);
            free(p_sum);
            return err_set(err, "matthews: row %d has class %d / %d outside [0, %d)", i,
                           pred[i], gold[i], num_classes);
        }
        t_sum[gold[i]]++;
        p_sum[pred[i]]++;
        correct += pred[i] == gold[i];
    }
    // sklearn's multi-class form: covariances of the one-hot indicators,
    // exact in integers up to n ~ 3e9.
    int64_t tp = 0, tt = 0, pp = 0, nn = (int64_t)n * n;
    for (int k = 0; k < num_classes; k++) {
        tp += t_sum[k] * p_sum[k];
        tt += t_sum[k] * t_sum[k];
        pp += p_sum[k] * p_sum[k];
    }
    free(t_sum);
    free(p_sum);
    double cov_tp = (double)(correct * n - tp), cov_tt = (double)(nn - tt),
           cov_pp = (double)(nn - pp);
    *out = cov_tt == 0 || cov_pp == 0 ? 0.0 : cov_tp / sqrt(cov_tt * cov_pp);
    return 0;
}

// Element i of a float (is_float) or double array.
static double at(const void *v, bool is_float, int i) {
    return is_float ? ((const float *)v)[i] : ((const double *)v)[i];
}

static bool is_constant(const void *v, bool is_float, int n) {
    for (int i = 1; i < n; i++)
        if (at(v, is_float, i) != at(v, is_float, 0)) return false;
    return true;
}

// Pearson's r as scipy computes it: centred vectors, normalised, dotted,
// clipped to [-1, 1]; NaN for constant input or n < 2.
static double pearson(const void *x, const void *y, bool is_float, int n) {
    if (n < 2 || is_constant(x, is_float, n) || is_constant(y, is_float, n)) return NAN;
    double mx = 0, my = 0;
    for (int i = 0; i < n; i++) {
        mx += at(x, is_float, i);
        my += at(y, is_float, i);
    }
    mx /= n;
    my /= n;
    double sxx = 0, syy = 0, sxy = 0;
    for (int i = 0; i < n; i++) {
        double dx = at(x, is_float, i) - mx, dy = at(y, is_float, i) - my;
        sxx += dx * dx;
        syy += dy * dy;
        sxy += dx * dy;
    }
    double r = sxy / (sqrt(sxx) * sqrt(syy));
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

double metric_pearson(const float *x, const float *y, int n) { return pearson(x, y, true, n); }

typedef struct {
    double value;
    int index;
} Ranked;

static int cmp_ranked(const void *a, const void *b) {
    double x = ((const Ranked *)a)->value, y = ((const Ranked *)b)->value;
    return (x > y) - (x < y);
}

// 1-based ranks into out[n]; tied values share their average rank.
static int average_ranks(const float *v, int n, double *out, Err *err) {
    Ranked *r = err_malloc(err, (size_t)n * sizeof *r, "ranks");
    if (!r) return -1;
    for (int i = 0; i < n; i++) r[i] = (Ranked){v[i], i};
    qsort(r, (size_t)n, sizeof *r, cmp_ranked);
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && r[j + 1].value == r[i].value) j++;
        double rank = (i + j) / 2.0 + 1.0;
        for (int k = i; k <= j; k++) out[r[k].index] = rank;
        i = j + 1;
    }
    free(r);
    return 0;
}

int metric_spearman(const float *x, const float *y, int n, double *out, Err *err) {
    *out = NAN;
    if (n < 2) return 0;
    for (int i = 0; i < n; i++)
        if (isnan(x[i]) || isnan(y[i])) return 0;  // scipy propagates NaN
    double *rx = err_malloc(err, (size_t)n * sizeof(double), "ranks");
    double *ry = err_malloc(err, (size_t)n * sizeof(double), "ranks");
    int rc = !rx || !ry ? -1 : 0;
    if (rc == 0) rc = average_ranks(x, n, rx, err);
    if (rc == 0) rc = average_ranks(y, n, ry, err);
    if (rc == 0) *out = pearson(rx, ry, false, n);
    free(rx);
    free(ry);
    return rc;
}

int logits_argmax(const float *row, int k) {
    int best = 0;
    for (int j = 1; j < k; j++)
        if (row[j] > row[best]) best = j;
    return best;
}

void logits_softmax(const float *row, int k, double *probs) {
    double top = row[logits_argmax(row, k)], sum = 0.0;
    for (int j = 0; j < k; j++) sum += probs[j] = exp((double)row[j] - top);
    for (int j = 0; j < k; j++) probs[j] /= sum;
}

void multilabel_targets(const Dataset *ds, const int *rows, int n, int C, float *out) {
    for (int r = 0; r < n; r++) {
        const Example *ex = dataset_example(ds, rows ? rows[r] : r);
        float *row = out + (size_t)r * C;
        for (int k = 0; k < C; k++) row[k] = 0;
        for (int j = 0; j < ex->label_set_size; j++) row[ex->label_set[j]] = 1;
    }
}

int task_score_multilabel(const Task *task, const Dataset *ds, const float *probs,
                          float threshold, TaskScores *s, Err *err) {
    int n = dataset_size(ds), C = task_num_outputs(task);
    *s = (TaskScores){.n = n, .accuracy = NAN, .f1 = NAN, .matthews = NAN, .pearson = NAN,
                      .spearman = NAN, .threshold = threshold};
    if (!task_is_multi_label(task))
        return err_set(err, "%s is not a multi-label task", task_name(task));
    if (!dataset_is_labeled(ds)) return err_set(err, "%s: no labels to score", dataset_path(ds));
    size_t m = (size_t)n * (size_t)C;
    unsigned char *pred = err_malloc(err, m ? m : 1, "predicted sets");
    unsigned char *gold = err_calloc(err, m ? m : 1, 1, "true sets");
    int rc = -1;
    if (pred && gold) {
        for (size_t i = 0; i < m; i++) pred[i] = probs[i] > threshold;
        for (int r = 0; r < n; r++) {
            const Example *ex = dataset_example(ds, r);
            for (int j = 0; j < ex->label_set_size; j++) gold[(size_t)r * C + ex->label_set[j]] = 1;
        }
        MultiLabelScores ml;
        rc = metric_multilabel(pred, gold, n, C, &ml, err);
        s->micro_f1 = ml.micro_f1;
        s->macro_f1 = ml.macro_f1;
        s->exact_set = ml.exact;
        s->mean_set_size = ml.mean_set_size;
        s->mean_true_size = ml.mean_true_size;
        s->primary = ml.micro_f1;
    }
    free(pred);
    free(gold);
    return rc;
}

int task_score(const Task *task, const Dataset *ds, const float *outputs, TaskScores *s,
               Err *err) {
    int n = dataset_size(ds), k = task_num_outputs(task);
    *s = (TaskScores){.n = n, .accuracy = NAN, .f1 = NAN, .matthews = NAN, .pearson = NAN,
                      .spearman = NAN, .micro_f1 = NAN, .macro_f1 = NAN, .exact_set = NAN,
                      .mean_set_size = NAN, .mean_true_size = NAN, .threshold = NAN,
                      .primary = NAN};
    if (task_is_multi_label(task))
        return err_set(err, "%s: a multi-label task is scored from the output map's "
                       "probabilities (task_score_multilabel)", task_name(task));
    if (!dataset_is_labeled(ds)) return err_set(err, "%s: split has no labels", dataset_path(ds));
    int rc = 0;
    if (task_is_regression(task)) {
        float *gold = err_malloc(err, (size_t)n * sizeof(float), "gold targets");
        if (!gold) return -1;
        for (int i = 0; i < n; i++) gold[i] = dataset_example(ds, i)->target;
        s->pearson = metric_pearson(outputs, gold, n);
        rc = metric_spearman(outputs, gold, n, &s->spearman, err);
        s->primary = (s->pearson + s->spearman) / 2;
        free(gold);
        return rc;
    }
    int *pred = err_malloc(err, (size_t)n * sizeof(int), "predictions");
    int *gold = err_malloc(err, (size_t)n * sizeof(int), "gold labels");
    if (!pred || !gold) {
        free(pred);
        free(gold);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        pred[i] = logits_argmax(outputs + (size_t)i * k, k);
        gold[i] = dataset_example(ds, i)->label;
    }
    s->accuracy = metric_accuracy(pred, gold, n);
    switch (task_metric(task)) {
    case METRIC_ACCURACY_F1:
        s->f1 = metric_f1(pred, gold, n);
        s->primary = (s->accuracy + s->f1) / 2;
        break;
    case METRIC_MATTHEWS:
        rc = metric_matthews(pred, gold, n, k, &s->matthews, err);
        s->primary = s->matthews;
        break;
    default:
        s->primary = s->accuracy;
        break;
    }
    free(pred);
    free(gold);
    return rc;
}

// Text with a sticky failure, so a run of printfs needs one check.
typedef struct {
    Buf buf;
    bool failed;
} Text;

static void text_printf(Text *t, Err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void text_printf(Text *t, Err *err, const char *fmt, ...) {
    if (t->failed) return;
    va_list ap;
    va_start(ap, fmt);
    t->failed = buf_vprintf(&t->buf, "predictions text", err, fmt, ap) != 0;
    va_end(ap);
}

int predictions_write(const char *path, const Task *task, const Dataset *ds,
                      const float *outputs, bool glue_submission, Err *err) {
    int n = dataset_size(ds), k = task_num_outputs(task);
    bool regression = task_is_regression(task);
    Text t = {0};
    double *probs = err_malloc(err, (size_t)k * sizeof *probs, "probabilities");
    if (!probs) return -1;
    text_printf(&t, err, "index\tprediction");
    if (!glue_submission && !regression) {
        for (int j = 0; j < k; j++) text_printf(&t, err, "\tlogit_%d", j);
        for (int j = 0; j < k; j++) text_printf(&t, err, "\tprob_%d", j);
    }
    text_printf(&t, err, "\n");
    for (int i = 0; i < n && !t.failed; i++) {
        const float *row = outputs + (size_t)i * k;
        long index = dataset_example(ds, i)->index;
        if (regression) {
            text_printf(&t, err, glue_submission ? "%ld\t%.3f\n" : "%ld\t%.9g\n", index,
                        (double)row[0]);
            continue;
        }
        text_printf(&t, err, "%ld\t%s", index, task_label_name(task, logits_argmax(row, k)));
        if (!glue_submission) {
            logits_softmax(row, k, probs);
            for (int j = 0; j < k; j++) text_printf(&t, err, "\t%.9g", (double)row[j]);
            for (int j = 0; j < k; j++) text_printf(&t, err, "\t%.9g", probs[j]);
        }
        text_printf(&t, err, "\n");
    }
    int rc = t.failed ? -1 : file_write_atomic(path, t.buf.data, t.buf.len, err);
    buf_free(&t.buf);
    free(probs);
    return rc;
}

int predictions_write_multilabel(const char *path, const Task *task, const Dataset *ds,
                                 const float *probs, float threshold, Err *err) {
    int n = dataset_size(ds), k = task_num_outputs(task);
    Text t = {0};
    text_printf(&t, err, "index\tprediction");
    for (int j = 0; j < k; j++) text_printf(&t, err, "\tprob_%d", j);
    text_printf(&t, err, "\n");
    for (int i = 0; i < n && !t.failed; i++) {
        const float *row = probs + (size_t)i * k;
        text_printf(&t, err, "%ld\t", dataset_example(ds, i)->index);
        int shown = 0;
        for (int j = 0; j < k; j++)
            if (row[j] > threshold) text_printf(&t, err, "%s%s", shown++ ? "," : "", task_label_name(task, j));
        for (int j = 0; j < k; j++) text_printf(&t, err, "\t%.9g", (double)row[j]);
        text_printf(&t, err, "\n");
    }
    int rc = t.failed ? -1 : file_write_atomic(path, t.buf.data, t.buf.len, err);
    buf_free(&t.buf);
    return rc;
}
