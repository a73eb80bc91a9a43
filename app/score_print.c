#include "app/score_print.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    double value;
} NamedScore;

enum { NUM_SCORES = 11 };

// The metrics every task may report, by the names logs, JSON and
// --metric-for-best use; NaN ones (not reported by the task) are left out.
static int named_scores(const TaskScores *s, NamedScore out[NUM_SCORES]) {
    const NamedScore all[NUM_SCORES] = {
        {"accuracy", s->accuracy},       {"f1", s->f1},
        {"matthews", s->matthews},       {"pearson", s->pearson},
        {"spearman", s->spearman},       {"micro_f1", s->micro_f1},
        {"macro_f1", s->macro_f1},       {"exact_set", s->exact_set},
        {"mean_set_size", s->mean_set_size}, {"mean_true_size", s->mean_true_size},
        {"threshold", s->threshold}};
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
