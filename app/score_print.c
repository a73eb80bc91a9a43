#include "app/score_print.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    double value;
    int direction;  // +1 higher is better, -1 lower; 0: a statistic, not a quality
} NamedScore;

enum { NUM_SCORES = 11 };

// The metrics every task may report, by the names logs, JSON and
// --metric-for-best use; NaN ones (not reported by the task) are left out.
static int named_scores(const TaskScores *s, NamedScore out[NUM_SCORES]) {
    const NamedScore all[NUM_SCORES] = {
        {"accuracy", s->accuracy, 1},          {"f1", s->f1, 1},
        {"matthews", s->matthews, 1},          {"pearson", s->pearson, 1},
        {"spearman", s->spearman, 1},          {"micro_f1", s->micro_f1, 1},
        {"macro_f1", s->macro_f1, 1},          {"exact_set", s->exact_set, 1},
        {"mean_set_size", s->mean_set_size, 0}, {"mean_true_size", s->mean_true_size, 0},
        {"threshold", s->threshold, 0}};
    int n = 0;
    for (int i = 0; i < NUM_SCORES; i++)
        if (!isnan(all[i].value)) out[n++] = all[i];
    return n;
}

void scores_format(char *out, size_t cap, const TaskScores *s) {
    NamedScore named[NUM_SCORES];
    int n = named_scores(s, named);
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%s %.4f", i ? " " : "", named[i].name,
                                 named[i].value);
    if (used < cap) snprintf(out + used, cap - used, " (primary %.4f, n %d)", s->primary, s->n);
}

void scores_to_json(cJSON *obj, const TaskScores *s) {
    NamedScore named[NUM_SCORES];
    int n = named_scores(s, named);
    cJSON_AddNumberToObject(obj, "n", s->n);
    for (int i = 0; i < n; i++) cJSON_AddNumberToObject(obj, named[i].name, named[i].value);
    if (!isnan(s->primary)) cJSON_AddNumberToObject(obj, "primary", s->primary);
}

int scores_metric(const TaskScores *s, const char *name, double *value, int *direction,
                  Err *err) {
    if (!name || strcmp(name, "primary") == 0) {
        *value = s->primary;
        *direction = 1;
        return 0;
    }
    NamedScore named[NUM_SCORES];
    int n = named_scores(s, named);
    char have[256] = "primary";
    size_t used = strlen(have);
    for (int i = 0; i < n; i++) {
        if (strcmp(named[i].name, name) == 0 && named[i].direction != 0) {
            *value = named[i].value;
            *direction = named[i].direction;
            return 0;
        }
        if (named[i].direction != 0 && used < sizeof have)
            used += (size_t)snprintf(have + used, sizeof have - used, ", %s", named[i].name);
    }
    return err_set(err, "--metric-for-best %s: not a metric this task reports (it reports: %s)",
                   name, have);
}
