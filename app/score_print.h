// Printing and JSON of task scores, shared by training and evaluation.
#ifndef APP_SCORE_PRINT_H
#define APP_SCORE_PRINT_H

#include <stddef.h>

#include <cJSON.h>

#include "tasks/metrics.h"

// "accuracy 0.9128 f1 0.8812 (primary 0.8970)": the metrics the task has.
void scores_format(char *out, size_t cap, const TaskScores *scores);
// Adds "n", each metric the task has, and "primary" to obj.
void scores_to_json(cJSON *obj, const TaskScores *scores);

#endif
