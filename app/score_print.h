// Printing and JSON of task scores, shared by training and evaluation.
#ifndef APP_SCORE_PRINT_H
#define APP_SCORE_PRINT_H

#include <stddef.h>

#include <cJSON.h>

#include "tasks/metrics.h"
#include "util/err.h"

// "accuracy 0.9128 f1 0.8812 (primary 0.8970)": the metrics the task has.
void scores_format(char *out, size_t cap, const TaskScores *scores);
// Adds "n", each metric the task has, and "primary" to obj.
void scores_to_json(cJSON *obj, const TaskScores *scores);
// The metric `name` (NULL or "primary": the primary score) of scores, with
// its direction (+1: higher is better, -1: lower).  Fails, listing the
// metrics the task reports, for a name it does not report or a statistic
// that is not a quality (mean_set_size, threshold).
int scores_metric(const TaskScores *scores, const char *name, double *value, int *direction,
                  Err *err);

#endif
