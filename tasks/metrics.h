// Metrics (as scikit-learn / scipy define them) and prediction files.
//
// Usage (after running the model over a dataset in its original order):
//
//   float *out;  // [N, task_num_outputs(task)] logits, or [N, 1] scores
//   TaskScores s;
//   if (task_score(task, dev, out, &s, &err) != 0) die(err.msg);
//   log("%s %s: primary %.4f", task_name(task), split_name, s.primary);
//   // ./evaluate:
//   predictions_write("run/dev_predictions.tsv", task, dev, out, false, &err);
//   predictions_write("run/SST-2.tsv", task, test, out, true, &err);  // GLUE submission
//
// Degenerate inputs follow the references: Matthews correlation is 0 when
// either side holds a single class (sklearn), F1 is 0 without any true or
// predicted positive (sklearn's zero_division), Pearson and Spearman are NaN
// when either side is constant or n < 2 (scipy).  Every metric of n == 0
// examples is NaN.
#ifndef TASKS_METRICS_H
#define TASKS_METRICS_H

#include <stdbool.h>

#include "tasks/task.h"
#include "util/err.h"

double metric_accuracy(const int *pred, const int *gold, int n);  // pred, gold [n]
// Binary F1 of the positive class 1 (sklearn f1_score, pos_label=1).
double metric_f1(const int *pred, const int *gold, int n);  // pred, gold [n]
// Matthews correlation coefficient, binary or multi-class (sklearn's
// generalisation through the confusion matrix); classes in [0, num_classes).
int metric_matthews(const int *pred, const int *gold /* [n] each */, int n, int num_classes,
                    double *out, Err *err);
double metric_pearson(const float *x, const float *y, int n);  // x, y [n]
// Spearman rank correlation with average ranks for ties.
int metric_spearman(const float *x, const float *y /* [n] each */, int n, double *out, Err *err);

// Multi-label scores of n rows over C labels; pred and gold are [n, C]
// with 1 for a label in the row's set (sklearn's multilabel-indicator
// format).  micro-F1 pools every (row, label) decision; macro-F1 is the mean
// of the C per-label F1s (0 for a label never true nor predicted, sklearn's
// zero_division=0); exact is the share of rows whose predicted set equals
// the true set (sklearn accuracy_score); mean_set_size / mean_true_size are
// the mean predicted / true set sizes.
typedef struct {
    double micro_f1, macro_f1, exact, mean_set_size, mean_true_size;
} MultiLabelScores;
int metric_multilabel(const unsigned char *pred, const unsigned char *gold, int n, int C,
                      MultiLabelScores *out, Err *err);
// The threshold t that maximises micro-F1 of the sets {k : probs[k] > t}
// over n rows of C probabilities (ties: the highest such t): halfway
// between two neighbouring distinct probabilities, or half the lowest.
// For maps without exact zeros (softmax), tuned on dev.
int metric_tune_threshold(const float *probs, const unsigned char *gold, int n, int C,
                          float *threshold, Err *err);

// Scores of one evaluated split; NaN where the task does not report a metric.
// primary: the single number for model selection (GLUE convention):
//   accuracy (SST-2, QNLI, RTE, WNLI, MNLI, custom classification),
//   (accuracy + F1) / 2 (MRPC, QQP), Matthews (CoLA),
//   (Pearson + Spearman) / 2 (STS-B, custom regression).
typedef struct {
    int n;
    double accuracy, f1, matthews, pearson, spearman;
    // multi-label tasks (primary: micro_f1); threshold: the one used
    double micro_f1, macro_f1, exact_set, mean_set_size, mean_true_size, threshold;
    double primary;
} TaskScores;

// Scores model outputs against a labeled dataset.  Classification
// predictions are the argmax of each row (first maximum on ties).
int task_score(const Task *task, const Dataset *ds, const float *outputs /* [N, num_outputs] */,
               TaskScores *scores, Err *err);

// Scores a multi-label task from label probabilities [N, C] (the output
// map's): a row's predicted set is {k : probs[k] > threshold}.
int task_score_multilabel(const Task *task, const Dataset *ds, const float *probs,
                          float threshold, TaskScores *scores, Err *err);
// The true label sets of rows[n] of a multi-label dataset as multi-hot rows
// out[n, C] (1 for a true label).
void multilabel_targets(const Dataset *ds, const int *rows, int n, int C, float *out);

// The predicted class of a row of logits [k]: the first maximum.
int logits_argmax(const float *row, int k);
// Softmax of a row of logits [k] in double precision into probs [k].
void logits_softmax(const float *row, int k, double *probs);

// Writes predictions atomically, one row per example in dataset order.
//   glue_submission false: "index\tprediction\tlogit_0..logit_{k-1}\t
//     prob_0..prob_{k-1}" where prediction is the label name and logit_j,
//     prob_j (the softmax of the logits) belong to task_label_name(j);
//     regression "index\tprediction".
//   glue_submission true: GLUE's leaderboard format "index\tprediction",
//     the label name, or for regression the score with 3 decimals (as
//     transformers' run_glue.py writes them).
int predictions_write(const char *path, const Task *task, const Dataset *ds,
                      const float *outputs /* [N, num_outputs] */, bool glue_submission,
                      Err *err);
// Multi-label: "index\tprediction\tprob_0..prob_{C-1}", the prediction the
// labels with prob > threshold joined by ',' (empty for an empty set).
int predictions_write_multilabel(const char *path, const Task *task, const Dataset *ds,
                                 const float *probs /* [N, C] */, float threshold, Err *err);

#endif
