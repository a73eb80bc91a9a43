// ./evaluate: scores a model on the dev (or test) split(s) of a task and
// measures attention sparsity.
#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/score_print.h"
#include "app/evaluation.h"
#include "util/clock.h"
#include "util/fileio.h"

// FILE for one split, FILE with "_SPLIT" before its extension when a task
// has several (MNLI's matched and mismatched sets).
static void split_path(char *out, size_t cap, const char *path, const char *split, int several) {
    if (!several) {
        snprintf(out, cap, "%s", path);
        return;
    }
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) dot = path + strlen(path);
    snprintf(out, cap, "%.*s_%s%s", (int)(dot - path), path, split, dot);
}

// Adds the fraction of exact zeros among real attention probabilities,
// overall and per layer (every rank's share), to obj and prints it (root).
static int report_sparsity(const Session *s, const Dist *dist, cJSON *obj, Err *err) {
    const int L = bert_config(s->model)->num_layers, root = dist_is_root(dist);
    double counts[2 * L], z = 0, t = 0;
    if (session_zero_counts(s, dist, counts, err) != 0) return -1;
    cJSON *per_layer = cJSON_AddArrayToObject(obj, "per_layer");
    if (root) fprintf(stderr, "attention zeros by layer:");
    for (int l = 0; l < L; l++) {
        double frac = counts[L + l] ? counts[l] / counts[L + l] : 0.0;
        cJSON_AddItemToArray(per_layer, cJSON_CreateNumber(frac));
        if (root) fprintf(stderr, " %.4f", frac);
        z += counts[l];
        t += counts[L + l];
    }
    double overall = t ? z / t : 0.0;
    cJSON_AddNumberToObject(obj, "overall", overall);
    cJSON_AddNumberToObject(obj, "zeros", z);
    cJSON_AddNumberToObject(obj, "probabilities", t);
    if (root) fprintf(stderr, "; overall %.4f (%.0f of %.0f)\n", overall, z, t);
    return 0;
}

static int score_split(Session *s, const EvaluationOptions *o, int split, int several, cJSON *out,
                          Err *err) {
    Dataset *ds;
    TokenizedSet *ts;
    if (session_load_split(s, &o->data, split, &ds, &ts, err) != 0) return -1;
    int rc = -1, n = tokset_size(ts), width = task_num_outputs(s->task);
    const int root = dist_is_root(o->dist);
    const char *name = task_split_name(s->task, split);
    float *outputs = err_calloc(err, (size_t)n * width, sizeof(float), "model outputs");
    cJSON *j = cJSON_AddObjectToObject(out, name);
    if (!outputs || !j) goto done;
    bert_reset_zero_counts(s->model);
    double t0 = clock_seconds();
    if (session_predict_sharded(s, ts, o->data.batch_size, outputs, name, o->dist, err) != 0)
        goto done;
    double took = clock_seconds() - t0;
    if (root) fprintf(stderr, "%s %s: %d examples in %.1fs (%.1f examples/s)\n", task_name(s->task), name, n,
            took, n / took);
    cJSON_AddNumberToObject(j, "examples", n);
    cJSON_AddNumberToObject(j, "examples_per_second", n / took);
    if (session_output_probs(s, ds, outputs, false, err) != 0) goto done;
    if (dataset_is_labeled(ds)) {
        TaskScores sc;
        if (session_score(s, ds, outputs, &sc, err) != 0) goto done;
        char line[512];
        scores_format(line, sizeof line, &sc);
        if (root) printf("%s %s: %s\n", task_name(s->task), name, line);
        scores_to_json(cJSON_AddObjectToObject(j, "metrics"), &sc);
    }
    if (bert_counts_zeros(s->model) &&
        report_sparsity(s, o->dist, cJSON_AddObjectToObject(j, "attention_sparsity"), err) != 0)
        goto done;
    if (o->predictions && root) {
        char path[4096];
        split_path(path, sizeof path, o->predictions, name, several);
        int submission = task_split_kind(s->task, split) == SPLIT_TEST && !task_is_multi_label(s->task);
        if (task_is_multi_label(s->task) ? predictions_write_multilabel(path, s->task, ds, outputs,
                                                                        s->output_map.threshold, err)
                                         : predictions_write(path, s->task, ds, outputs, submission,
                                                             err))
            goto done;
        fprintf(stderr, "predictions: %s%s\n", path, submission ? " (GLUE submission format)" : "");
    }
    rc = 0;
done:
    free(outputs);
    tokset_free(ts);
    dataset_free(ds);
    return rc;
}

int evaluation_run(const EvaluationOptions *o, Err *err) {
    SplitKind want;
    if (strcmp(o->split, "dev") == 0)
        want = SPLIT_DEV;
    else if (strcmp(o->split, "test") == 0)
        want = SPLIT_TEST;
    else if (strcmp(o->split, "train") == 0)
        want = SPLIT_TRAIN;
    else
        return err_set(err, "--split %s: expected dev, test or train", o->split);
    Session s;
    if (session_open(&s, &o->data, o->data.batch_size, 0, err) != 0) return -1;
    int rc = -1;
    cJSON *root = cJSON_CreateObject();
    const AttnMap attn = bert_config(s.model)->attn;
    if (s.load.classifier_initialised && dist_is_root(o->dist))
        fprintf(stderr, "warning: %s has no classifier head for %d outputs: scoring a randomly "
                        "initialised head\n", o->data.model_dir, task_num_outputs(s.task));
    char shown[64], checkpoint[64];
    if (s.attn_overridden && dist_is_root(o->dist))
        fprintf(stderr, "attention: %s (--attn overrides the checkpoint's %s)\n",
                attn_map_format(shown, sizeof shown, attn),
                attn_map_format(checkpoint, sizeof checkpoint, s.checkpoint_attn));
    if (dist_is_root(o->dist))
        fprintf(stderr, "attention map: %s (%s)\n", attn_map_format(shown, sizeof shown, attn),
            o->data.attn_given ? "command line" : s.config.has_attn ? "checkpoint" : "default");
    cJSON_AddStringToObject(root, "model", o->data.model_dir);
    cJSON_AddStringToObject(root, "task", task_name(s.task));
    cJSON *a = cJSON_AddObjectToObject(root, "attention");
    cJSON_AddStringToObject(a, "map", attn_kind_name(attn.kind));
    if (attn_map_has_param(attn)) cJSON_AddNumberToObject(a, "r", attn.r);
    cJSON_AddStringToObject(a, "source", o->data.attn_given ? "command line" :
                                         s.config.has_attn ? "checkpoint" : "default");
    cJSON *splits = cJSON_AddObjectToObject(root, "splits");
    // Sparse maps' exact zeros are counted (as ./finetune's dev evaluations
    // do); softmax has none, and counting would run the last layer on every
    // token instead of [CLS] only (an eighth of the forward).
    bert_count_zeros(s.model, attn_map_is_sparse(attn.kind));
    int matching = 0;
    for (int sp = 0; sp < task_num_splits(s.task); sp++) matching += task_split_kind(s.task, sp) == want;
    if (matching == 0) {
        err_set(err, "task %s has no %s split", task_name(s.task), o->split);
        goto done;
    }
    for (int sp = 0; sp < task_num_splits(s.task); sp++)
        if (task_split_kind(s.task, sp) == want &&
            score_split(&s, o, sp, matching > 1, splits, err) != 0)
            goto done;
    if (o->metrics_out && dist_is_root(o->dist)) {
        char *text = cJSON_Print(root);
        if (!text) {
            err_set(err, "%s: out of memory", o->metrics_out);
            goto done;
        }
        int w = file_write_atomic(o->metrics_out, text, strlen(text), err);
        free(text);
        if (w != 0) goto done;
    }
    rc = 0;
done:
    cJSON_Delete(root);
    session_close(&s);
    return rc;
}
