#include "app/finetune.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/report.h"
#include "app/score_print.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "train/early_stop.h"
#include "train/step.h"
#include "weights/checkpoint.h"

enum { MAX_DEV_SPLITS = 4 };

typedef struct {
    const TrainOptions *opt;
    Session s;
    Dataset *train_ds;
    TokenizedSet *train_ts;
    int num_dev;
    int dev_split[MAX_DEV_SPLITS];
    Dataset *dev_ds[MAX_DEV_SPLITS];
    TokenizedSet *dev_ts[MAX_DEV_SPLITS];
    float *dev_out;
    real *multi_hot;  // multi-label: the batch's targets [batch_size, C]
    Optimizer *optim;
    Batch **micro;    // [grad_accum]: this rank's micro-batches of a step
    MicroBatch *shards;  // [grad_accum]: them, with their place in the global batch
    int micro_rows;   // their capacity: --batch-size / (ranks x grad_accum), rounded up
    BatchPlan *plan;
    int plan_epoch;
    FILE *log;
    Dropout dropout;  // the run's rates and seed (run_dropout)
    long step, total_steps, warmup_steps;
    int batches_per_epoch;
    double best_score;
    long best_step;
    EarlyStop early;  // best metric and patience count (--metric-for-best, --patience)
    bool stop_early;
    char path_last[4096], path_best[4096], path_log[4096];
    const char *train_path;  // the training file and its fingerprint (file_fingerprint)
    size_t train_size;
    uint64_t train_hash;
} Trainer;

static void format_duration(char *out, size_t cap, double seconds) {
    long s = seconds > 0 ? (long)(seconds + 0.5) : 0;
    if (s >= 3600)
        snprintf(out, cap, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else
        snprintf(out, cap, "%ldm%02lds", s / 60, s % 60);
}

// ------------------------------------------------------------ run config

// Multi-label runs: the label options and the output map (r as used, after
// --output-r auto).
static void add_multilabel_config(const Trainer *t, cJSON *j) {
    const CustomTaskOptions *c = &t->opt->data.custom;
    if (strcmp(t->opt->data.task, "custom") == 0) {
        char sep[2] = {c->label_sep ? c->label_sep : ',', '\0'};
        cJSON_AddBoolToObject(j, "multi_label", true);
        cJSON_AddStringToObject(j, "label_sep", sep);
        cJSON_AddNumberToObject(j, "min_label_count", c->min_label_count > 1 ? c->min_label_count : 1);
    }
    cJSON_AddStringToObject(j, "output_map", output_map_name(t->s.output_map.kind));
    if (output_map_info(t->s.output_map.kind)->has_r)
        cJSON_AddNumberToObject(j, "output_r", t->s.output_map.r);
}

// A custom task's layout, so that run_config loads back as --config.
static void add_custom_columns(const CustomTaskOptions *c, cJSON *j) {
    cJSON_AddStringToObject(j, "text_col", c->text_a ? c->text_a : "");
    if (c->text_b) cJSON_AddStringToObject(j, "text_b_col", c->text_b);
    if (c->label) cJSON_AddStringToObject(j, "label_col", c->label);
    if (c->labels) cJSON_AddStringToObject(j, "labels", c->labels);
    cJSON_AddStringToObject(j, "separator", c->separator == ',' ? "comma" : "tab");
    cJSON_AddBoolToObject(j, "no_header", !c->header);
    cJSON_AddBoolToObject(j, "regression", c->regression);
}

// Everything that defines the run: a resumed run must match it exactly.
static cJSON *run_config_json(const Trainer *t) {
    const TrainOptions *o = t->opt;
    const CustomTaskOptions *c = &o->data.custom;
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddStringToObject(j, "model", o->data.model_dir);
    cJSON_AddStringToObject(j, "task", task_name(t->s.task));
    cJSON_AddStringToObject(j, "data_dir", o->data.data_dir ? o->data.data_dir : "");
    if (strcmp(o->data.task, "custom") == 0) {
        cJSON_AddStringToObject(j, "train_file", c->train ? c->train : "");
        cJSON_AddStringToObject(j, "dev_file", c->dev ? c->dev : "");
        add_custom_columns(c, j);
    }
    cJSON_AddNumberToObject(j, "max_len", t->s.max_len);
    cJSON_AddNumberToObject(j, "batch_size", o->data.batch_size);
    cJSON_AddStringToObject(j, "attn", attn_kind_name(bert_config(t->s.model)->attn.kind));
    cJSON_AddNumberToObject(j, "r", bert_config(t->s.model)->attn.r);
    cJSON_AddStringToObject(j, "precision", precision_info(o->data.precision)->name);
    cJSON_AddNumberToObject(j, "epochs", o->epochs);
    cJSON_AddNumberToObject(j, "max_steps", (double)o->max_steps);
    cJSON_AddNumberToObject(j, "lr", o->lr);
    cJSON_AddNumberToObject(j, "warmup", o->warmup);
    cJSON_AddNumberToObject(j, "weight_decay", o->weight_decay);
    cJSON_AddNumberToObject(j, "clip", o->clip);
    cJSON_AddNumberToObject(j, "seed", (double)o->seed);
    cJSON_AddNumberToObject(j, "dropout_hidden", t->dropout.hidden);
    cJSON_AddNumberToObject(j, "dropout_attention", t->dropout.attention);
    cJSON_AddNumberToObject(j, "dropout_classifier", t->dropout.classifier);
    cJSON_AddStringToObject(j, "optim", o->optim == OPTIM_SGD ? "sgd" : "adamw");
    cJSON_AddBoolToObject(j, "skip_bad_rows", o->data.skip_bad_rows);
    if (task_is_multi_label(t->s.task)) add_multilabel_config(t, j);
    // Only when set, so that older checkpoints still resume.
    if (o->patience > 0) cJSON_AddNumberToObject(j, "patience", o->patience);
    if (o->min_delta != 0) cJSON_AddNumberToObject(j, "min_delta", o->min_delta);
    if (o->metric_for_best) cJSON_AddStringToObject(j, "metric_for_best", o->metric_for_best);
    return j;
}

static char *state_json(const Trainer *t) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddNumberToObject(j, "step", (double)t->step);
    cJSON_AddNumberToObject(j, "total_steps", (double)t->total_steps);
    cJSON_AddNumberToObject(j, "epoch", (double)(t->step / t->batches_per_epoch));
    cJSON_AddNumberToObject(j, "batch_in_epoch", (double)(t->step % t->batches_per_epoch));
    cJSON_AddNumberToObject(j, "batches_per_epoch", t->batches_per_epoch);
    cJSON_AddNumberToObject(j, "train_examples", tokset_size(t->train_ts));
    // Data order and dropout masks are pure functions of (seed, epoch) and
    // (seed, step): the step is the whole RNG state.
    cJSON_AddStringToObject(j, "rng", "shuffle: xoshiro256**(seed, epoch); dropout: hash(seed, step)");
    cJSON_AddNumberToObject(j, "best_score", isfinite(t->best_score) ? t->best_score : -1e300);
    cJSON_AddNumberToObject(j, "best_step", (double)t->best_step);
    cJSON_AddNumberToObject(j, "evals_without_improvement", t->early.bad_evals);
    cJSON_AddNumberToObject(j, "threads", omp_get_max_threads());
    cJSON_AddNumberToObject(j, "ranks", t->opt->dist->size);
    cJSON_AddNumberToObject(j, "grad_accum", t->opt->grad_accum);
    cJSON_AddItemToObject(j, "run_config", run_config_json(t));
    cJSON *data = cJSON_AddObjectToObject(j, "train_data");
    char hash[32];
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)t->train_hash);
    cJSON_AddStringToObject(data, "path", t->train_path);
    cJSON_AddNumberToObject(data, "bytes", (double)t->train_size);
    cJSON_AddStringToObject(data, "fnv1a64", hash);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    return text;
}

// OUT/best holds no optimizer state (nothing resumes from it; it is for
// ./evaluate, ./predict and ./export), which halves what it writes; OUT/last
// saved at the best's step links the best's weights file instead of writing
// it again.
static int save_checkpoint(Trainer *t, const char *dir, Err *err) {
    if (!dist_is_root(t->opt->dist)) return 0;  // every rank holds the same weights
    // The log must hold every step the checkpoint holds: a run killed after
    // the swap and resumed from it would otherwise lose those lines.
    if (fflush(t->log) != 0 || ferror(t->log))
        return err_set(err, "%s: write failed: %s", t->path_log, strerror(errno));
    char *state = state_json(t);
    if (!state) return err_set(err, "%s: out of memory writing the trainer state", dir);
    size_t n = 0;
    CheckpointContents c = {.source_dir = t->opt->data.model_dir,
                            .family = t->s.config.family,
                            .label_names = task_is_regression(t->s.task) ? NULL : t->s.label_names,
                            .state_json = state,
                            .output_map = task_is_multi_label(t->s.task) ? &t->s.output_map : NULL};
    const int is_best = strcmp(dir, t->path_best) == 0;
    if (!is_best) {
        c.moments[0] = optim_moments(t->optim, 0, &n);
        c.moments[1] = optim_moments(t->optim, 1, NULL);
        c.num_moments = n;
        if (t->best_step == t->step && dir_exists(t->path_best)) c.same_weights_dir = t->path_best;
    }
    int rc = ckpt_save(dir, t->s.model, &c, err);
    free(state);
    return rc;
}

// ------------------------------------------------------------ resume

static double json_number(const cJSON *obj, const char *key, double fallback) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(item) ? item->valuedouble : fallback;
}

// A step or count of the trainer state: `fallback` when it is missing, not
// a whole number or out of range (casting 1e300 to long is undefined).
static long json_count(const cJSON *obj, const char *key, long fallback) {
    double v = json_number(obj, key, NAN);
    return v == floor(v) && fabs(v) < 1e15 ? (long)v : fallback;
}

// Keeps the log lines of steps up to `step`: what follows was not saved.
static int truncate_log(const char *path, long step, Err *err) {
    if (!file_exists(path)) return 0;
    char *text;
    size_t len;
    if (file_read_all(path, &text, &len, err) != 0) return -1;
    char *out = err_malloc(err, len + 1, "log");
    if (!out) {
        free(text);
        return -1;
    }
    size_t kept = 0;
    for (char *line = text, *next; *line; line = next) {
        char *nl = strchr(line, '\n');
        next = nl ? nl + 1 : line + strlen(line);
        cJSON *j = cJSON_ParseWithLength(line, (size_t)(next - line));
        int keep = j && json_number(j, "step", 1e300) <= (double)step;
        cJSON_Delete(j);
        if (!keep) continue;
        memcpy(out + kept, line, (size_t)(next - line));
        kept += (size_t)(next - line);
    }
    int rc = file_write_atomic(path, out, kept, err);
    free(text);
    free(out);
    return rc;
}

// The training file must be the one the checkpoint was trained on (same
// size and content hash): resuming over other data mixes two runs.
static int check_train_data(const Trainer *t, const cJSON *state, Err *err) {
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(state, "train_data");
    const char *hash = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "fnv1a64"));
    if (!hash) {
        fprintf(stderr, "warning: %s/trainer_state.json records no training-file fingerprint: "
                        "cannot check that %s is unchanged\n", t->path_last, t->train_path);
        return 0;
    }
    char mine[32];
    snprintf(mine, sizeof mine, "%016llx", (unsigned long long)t->train_hash);
    double bytes = json_number(data, "bytes", -1);
    if (strcmp(hash, mine) == 0 && bytes == (double)t->train_size) return 0;
    return err_set(err, "%s: the training file changed since %s was saved (%.0f -> %zu bytes, "
                        "FNV-1a %s -> %s): resume with the data of the interrupted run",
                   t->train_path, t->path_last, bytes, t->train_size, hash, mine);
}

static int resume(Trainer *t, Err *err) {
    char *text;
    if (ckpt_load_state(t->path_last, &text, err) != 0) return -1;
    cJSON *state = cJSON_Parse(text);
    free(text);
    int rc = -1;
    cJSON *mine = run_config_json(t);
    const cJSON *saved = cJSON_GetObjectItemCaseSensitive(state, "run_config");
    if (!state || !saved || !mine) {
        err_set(err, "%s/trainer_state.json: not a trainer state", t->path_last);
        goto done;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, mine) {
        const cJSON *other = cJSON_GetObjectItemCaseSensitive(saved, item->string);
        if (!other || !cJSON_Compare(item, other, 1)) {
            char *a = cJSON_PrintUnformatted(item), *b = other ? cJSON_PrintUnformatted(other) : NULL;
            err_set(err, "%s/trainer_state.json: run_config.%s is %s, this command gives %s; "
                    "resume with the options of the interrupted run",
                    t->path_last, item->string, b ? b : "missing", a ? a : "?");
            free(a);
            free(b);
            goto done;
        }
    }
    if (check_train_data(t, state, err) != 0) goto done;
    const int ranks = (int)json_count(state, "ranks", 1);
    if (ranks != t->opt->dist->size && dist_is_root(t->opt->dist))
        fprintf(stderr, "warning: resuming on %d ranks, the run used %d: the same global batches, "
                        "results equal to float32 summation order\n", t->opt->dist->size, ranks);
    if ((int)json_count(state, "threads", 0) != omp_get_max_threads() &&
        dist_is_root(t->opt->dist))
        fprintf(stderr, "warning: resuming with %d threads, the run used %d: results will not be "
                        "bit-identical to an uninterrupted run\n",
                omp_get_max_threads(), (int)json_count(state, "threads", 0));
    t->step = json_count(state, "step", -1);
    t->best_score = json_number(state, "best_score", -1e300);
    t->best_step = json_count(state, "best_step", -1);
    t->early.has_best = t->best_step >= 0;
    t->early.best = t->best_score;
    t->early.bad_evals = (int)json_count(state, "evals_without_improvement", 0);
    if (t->step < 0 || t->step > t->total_steps ||
        json_count(state, "total_steps", -1) != t->total_steps) {
        err_set(err, "%s/trainer_state.json: step %ld of %ld does not fit this run of %ld steps",
                t->path_last, t->step, json_count(state, "total_steps", -1), t->total_steps);
        goto done;
    }
    if (hf_load_params(t->s.model, t->s.config.family, t->path_last, err) != 0) goto done;
    bert_sync_weights(t->s.model);  // bf16: the copies of the loaded weights
    size_t n;
    float *m = optim_moments(t->optim, 0, &n);
    if (m && ckpt_load_moments(t->path_last, m, optim_moments(t->optim, 1, NULL), n, err) != 0)
        goto done;
    if (dist_is_root(t->opt->dist) && truncate_log(t->path_log, t->step, err) != 0) goto done;
    if (dist_is_root(t->opt->dist))
        fprintf(stderr, "resuming %s at step %ld of %ld (epoch %ld, batch %ld)\n", t->path_last, t->step,
            t->total_steps, t->step / t->batches_per_epoch, t->step % t->batches_per_epoch);
    rc = 0;
done:
    cJSON_Delete(state);
    cJSON_Delete(mine);
    return rc;
}

// The run's configuration as the log's first record (the report shows it).
static int log_config(Trainer *t, Err *err) {
    if (!t->log) return 0;  // not the root rank
    cJSON *j = run_config_json(t);
    if (!j) return err_set(err, "%s: out of memory", t->path_log);
    cJSON_AddItemToObjectCS(j, "event", cJSON_CreateString("config"));
    cJSON_AddNumberToObject(j, "step", 0);
    cJSON_AddNumberToObject(j, "total_steps", (double)t->total_steps);
    cJSON_AddNumberToObject(j, "batches_per_epoch", t->batches_per_epoch);
    cJSON_AddNumberToObject(j, "train_examples", tokset_size(t->train_ts));
    cJSON_AddNumberToObject(j, "threads", omp_get_max_threads());
    cJSON_AddNumberToObject(j, "ranks", t->opt->dist->size);
    cJSON_AddNumberToObject(j, "grad_accum", t->opt->grad_accum);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) return err_set(err, "%s: out of memory", t->path_log);
    fprintf(t->log, "%s\n", text);
    free(text);
    if (fflush(t->log) != 0 || ferror(t->log)) return err_set(err, "%s: write failed", t->path_log);
    return 0;
}

// ------------------------------------------------------------ evaluation

// Adds the fraction of exact zeros among real attention probabilities of
// the last prediction pass, per layer and overall (what ./evaluate reports),
// over every rank's share.
static int add_zero_fractions(const Session *s, const Dist *dist, cJSON *j, Err *err) {
    const int L = bert_config(s->model)->num_layers;
    double counts[2 * L], z = 0, n = 0;
    if (session_zero_counts(s, dist, counts, err) != 0) return -1;
    cJSON *per_layer = cJSON_AddArrayToObject(j, "attention_zeros");
    for (int l = 0; l < L; l++) {
        cJSON_AddItemToArray(per_layer, cJSON_CreateNumber(counts[L + l] ? counts[l] / counts[L + l] : 0.0));
        z += counts[l];
        n += counts[L + l];
    }
    cJSON_AddNumberToObject(j, "attention_zeros_overall", n ? z / n : 0.0);
    return 0;
}

static int score_dev_splits(Trainer *t, const char *why, double t_start, Err *err) {
    // Every rank predicts its share of the dev batches, gets all outputs and
    // scores them (so every rank knows the best step); the root writes.
    const Dist *dist = t->opt->dist;
    const int root = dist_is_root(dist);
    double primary = NAN;  // the --metric-for-best value of the first dev split
    // Sparse maps: count exact zeros on the dev set for the log and the report.
    const int sparse = attn_map_is_sparse(bert_config(t->s.model)->attn.kind);
    bert_count_zeros(t->s.model, sparse);
    for (int d = 0; d < t->num_dev; d++) {
        double t0 = clock_seconds();
        char label[96];
        snprintf(label, sizeof label, "eval %s", task_split_name(t->s.task, t->dev_split[d]));
        bert_reset_zero_counts(t->s.model);
        if (session_predict_sharded(&t->s, t->dev_ts[d], t->micro_rows, t->dev_out, label, dist,
                                    err) != 0)
            return err_prefix(err, "step %ld: evaluating %s (lr %g): stopped, nothing saved",
                              t->step, task_split_name(t->s.task, t->dev_split[d]),
                              lr_at(t->opt->lr, t->step - 1, t->total_steps, t->warmup_steps));
        TaskScores sc;
        if (session_output_probs(&t->s, t->dev_ds[d], t->dev_out, d == 0, err) != 0 ||
            session_score(&t->s, t->dev_ds[d], t->dev_out, &sc, err) != 0)
            return -1;
        if (d == 0 && scores_metric(&sc, t->opt->metric_for_best, &primary,
                                    &t->early.direction, err) != 0)
            return -1;
        char line[512];
        scores_format(line, sizeof line, &sc);
        if (root) fprintf(stderr, "eval %s step %ld/%ld %s: %s (%.1fs)\n", why, t->step, t->total_steps,
                task_split_name(t->s.task, t->dev_split[d]), line, clock_seconds() - t0);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "event", "eval");
        cJSON_AddNumberToObject(j, "step", (double)t->step);
        cJSON_AddStringToObject(j, "split", task_split_name(t->s.task, t->dev_split[d]));
        scores_to_json(j, &sc);
        if (sparse && add_zero_fractions(&t->s, dist, j, err) != 0) {
            cJSON_Delete(j);
            return -1;
        }
        // Wall-clock fields last ("seconds" as in the step records).
        cJSON_AddNumberToObject(j, "seconds", clock_seconds() - t_start);
        cJSON_AddNumberToObject(j, "eval_seconds", clock_seconds() - t0);
        char *text = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (text && t->log) fprintf(t->log, "%s\n", text);
        free(text);
        if (t->log && (fflush(t->log) != 0 || ferror(t->log)))
            return err_set(err, "%s: write failed: %s", t->path_log, strerror(errno));
    }
    bert_count_zeros(t->s.model, 0);
    Err report_err;
    if (root && report_write(t->opt->out_dir, &report_err) != 0)
        fprintf(stderr, "warning: report: %s\n", report_err.msg);
    if (early_stop_update(&t->early, primary, &t->stop_early)) {
        t->best_score = primary;
        t->best_step = t->step;
        if (root)
            fprintf(stderr, "new best %.4f at step %ld: writing %s\n", primary, t->step,
                    t->path_best);
        if (save_checkpoint(t, t->path_best, err) != 0) return -1;
    }
    return 0;
}

// ------------------------------------------------------------ setup

// The run's dropout: --dropout for all three sites, else what the
// checkpoint's config.json says; the seed is the run's (train_step hashes it
// with the step).
static Dropout run_dropout(const HfConfig *hc, const TrainOptions *o) {
    Dropout d = o->dropout_given ? (Dropout){o->dropout, o->dropout, o->dropout, 0} : hc->dropout;
    d.seed = o->seed;
    return d;
}

// Multi-label: the targets buffer, and r for --output-r auto from the train
// set's mean label count.
static int setup_multilabel(Trainer *t, Err *err) {
    const int C = task_num_outputs(t->s.task), n = dataset_size(t->train_ds);
    t->multi_hot = err_calloc(err, (size_t)t->opt->data.batch_size * C, sizeof(real),
                              "multi-label targets");
    if (!t->multi_hot) return -1;
    long labels = 0;
    for (int i = 0; i < n; i++) labels += dataset_example(t->train_ds, i)->label_set_size;
    double mean = n ? (double)labels / n : 0;
    if (t->s.output_r_auto) t->s.output_map.r = output_map_r_for_labels(mean, C);
    fprintf(stderr, "multi-label: %d labels, %.2f per train row; output map %s (%s)", C, mean,
            output_map_name(t->s.output_map.kind), output_map_info(t->s.output_map.kind)->loss_name);
    if (output_map_info(t->s.output_map.kind)->has_r)
        fprintf(stderr, ", r %g%s", (double)t->s.output_map.r, t->s.output_r_auto ? " (auto)" : "");
    fprintf(stderr, "; predicts %s\n", output_map_info(t->s.output_map.kind)->predict_help);
    return 0;
}

// Rows of one rank's micro-batch: the global batch over ranks x micro-batches.
static int micro_batch_rows(const TrainOptions *o) {
    const int pieces = o->dist->size * o->grad_accum;
    return (o->data.batch_size + pieces - 1) / pieces;
}

static int setup(Trainer *t, const TrainOptions *o, Err *err) {
    t->opt = o;
    t->micro_rows = micro_batch_rows(o);
    t->best_score = -INFINITY;
    t->best_step = -1;
    t->early = (EarlyStop){.patience = o->patience, .min_delta = o->min_delta, .direction = 1};
    t->plan_epoch = -1;
    if (path_join(t->path_last, sizeof t->path_last, o->out_dir, "last", err) != 0 ||
        path_join(t->path_best, sizeof t->path_best, o->out_dir, "best", err) != 0 ||
        path_join(t->path_log, sizeof t->path_log, o->out_dir, "log.jsonl", err) != 0)
        return -1;
    if (session_open(&t->s, &o->data, t->micro_rows, o->seed, err) != 0) return -1;
    const HfConfig *hc = &t->s.config;
    if (t->s.load.pooler_initialised)
        fprintf(stderr, "%s: no pooler in the checkpoint: initialised normal(0, %g), bias 0\n",
                o->data.model_dir, hc->initializer_range);
    if (t->s.load.classifier_initialised)
        fprintf(stderr, "%s: classifier head %s: initialised for %d outputs, normal(0, %g), bias 0\n",
                o->data.model_dir,
                t->s.load.checkpoint_labels ? "has another number of labels" : "absent",
                task_num_outputs(t->s.task), hc->initializer_range);
    t->dropout = run_dropout(hc, o);
    for (int sp = 0; sp < task_num_splits(t->s.task); sp++) {
        SplitKind kind = task_split_kind(t->s.task, sp);
        if (kind == SPLIT_TRAIN && !t->train_ds) {
            if (session_load_split(&t->s, &o->data, sp, &t->train_ds, &t->train_ts, err) != 0)
                return -1;
            t->train_path = dataset_path(t->train_ds);
            if (file_fingerprint(t->train_path, &t->train_size, &t->train_hash, err) != 0)
                return -1;
        } else if (kind == SPLIT_DEV && t->num_dev < MAX_DEV_SPLITS) {
            const char *path = task_split_path(t->s.task, sp);
            if (path && !path_exists(path)) {
                fprintf(stderr, "%s: no such dev file: training without evaluation (no OUT/best)\n",
                        path);
                continue;
            }
            int d = t->num_dev;
            if (session_load_split(&t->s, &o->data, sp, &t->dev_ds[d], &t->dev_ts[d], err) != 0)
                return -1;
            t->dev_split[t->num_dev++] = sp;
        }
    }
    if (!t->train_ds) return err_set(err, "task %s has no train split", task_name(t->s.task));
    if (task_is_multi_label(t->s.task) && setup_multilabel(t, err) != 0) return -1;
    int max_dev = 0;
    for (int d = 0; d < t->num_dev; d++)
        if (tokset_size(t->dev_ts[d]) > max_dev) max_dev = tokset_size(t->dev_ts[d]);
    t->dev_out = err_calloc(err, (size_t)max_dev * task_num_outputs(t->s.task) + 1, sizeof(float),
                            "dev outputs");
    size_t num_params;
    bert_params(t->s.model, &num_params);
    size_t moments = o->optim == OPTIM_ADAMW ? 2 * num_params * sizeof(float) : 0;
    if (!t->dev_out ||
        session_check_memory(bert_config(t->s.model), t->micro_rows, t->s.max_len, 1,
                             bert_precision(t->s.model), moments, err) != 0 ||
        bert_enable_grads(t->s.model, err) != 0)
        return -1;
    OptimConfig oc = {o->optim, o->lr, o->weight_decay, 0.9f, 0.999f, 1e-8f};
    t->optim = optim_build(&oc, t->s.model, err);
    t->micro = err_calloc(err, (size_t)o->grad_accum, sizeof *t->micro, "micro-batches");
    t->shards = err_calloc(err, (size_t)o->grad_accum, sizeof *t->shards, "micro-batches");
    if (!t->optim || !t->micro || !t->shards) return -1;
    for (int k = 0; k < o->grad_accum; k++)
        if (!(t->micro[k] = batch_alloc(t->micro_rows, t->s.max_len, err))) return -1;
    t->batches_per_epoch = (tokset_size(t->train_ts) + o->data.batch_size - 1) / o->data.batch_size;
    t->total_steps = o->max_steps > 0 ? o->max_steps : (long)o->epochs * t->batches_per_epoch;
    t->warmup_steps = warmup_steps_for(o->warmup, t->total_steps);
    if (o->resume) {
        if (!dir_exists(t->path_last))
            return err_set(err, "%s: nothing to resume (no checkpoint there)", t->path_last);
        if (resume(t, err) != 0) return -1;
    } else if (dir_exists(t->path_last)) {
        return err_set(err, "%s: a run is already there; pass --resume to continue it or choose "
                            "another --out", t->path_last);
    }
    if (!dist_is_root(o->dist)) return 0;  // the root alone writes OUT
    if (dir_make(o->out_dir, err) != 0) return -1;
    t->log = fopen(t->path_log, o->resume ? "a" : "w");
    if (!t->log) return err_set(err, "%s: cannot open for writing: %s", t->path_log, strerror(errno));
    return 0;
}

static void teardown(Trainer *t) {
    if (t->log && fclose(t->log) != 0) fprintf(stderr, "warning: %s: close failed\n", t->path_log);
    plan_free(t->plan);
    for (int k = 0; t->micro && k < t->opt->grad_accum; k++) batch_free(t->micro[k]);
    free(t->micro);
    free(t->shards);
    optim_free(t->optim);
    free(t->dev_out);
    free(t->multi_hot);
    for (int d = 0; d < t->num_dev; d++) {
        tokset_free(t->dev_ts[d]);
        dataset_free(t->dev_ds[d]);
    }
    tokset_free(t->train_ts);
    dataset_free(t->train_ds);
    session_close(&t->s);
}

// ------------------------------------------------------------ the loop

// The global batch of step t->step (batch t->step % batches_per_epoch of
// its epoch's plan, the same on every rank) and this rank's shards of it:
// piece k * ranks + rank of ranks x grad_accum contiguous pieces goes to
// micro-batch k.  Fills micro [grad_accum] and *global.
static int next_micro_batches(Trainer *t, MicroBatch *micro, StepGlobal *global, Err *err) {
    const TrainOptions *o = t->opt;
    int epoch = (int)(t->step / t->batches_per_epoch), k = (int)(t->step % t->batches_per_epoch);
    if (t->plan_epoch != epoch) {
        plan_free(t->plan);
        t->plan = plan_train(tokset_lengths(t->train_ts), tokset_size(t->train_ts),
                             o->data.batch_size, o->seed, epoch, err);
        if (!t->plan) return -1;
        t->plan_epoch = epoch;
    }
    const int *rows;
    const int n = plan_batch(t->plan, k, &rows), *lengths = tokset_lengths(t->train_ts);
    const Dist *d = o->dist;
    const int C = task_num_outputs(t->s.task);
    *global = (StepGlobal){d, n, 0};
    for (int i = 0; i < n; i++)
        if (lengths[rows[i]] > global->global_seq) global->global_seq = lengths[rows[i]];
    for (int m = 0; m < o->grad_accum; m++) {
        int lo, hi;
        dist_shard(n, m * d->size + d->rank, d->size * o->grad_accum, &lo, &hi);
        real *multi_hot = t->multi_hot ? t->multi_hot + (size_t)lo * C : NULL;
        micro[m] = (MicroBatch){hi > lo ? t->micro[m] : NULL, lo, hi > lo ? multi_hot : NULL};
        if (hi > lo && batch_fill(t->micro[m], t->train_ts, rows + lo, hi - lo, err) != 0) return -1;
        if (hi > lo && multi_hot) multilabel_targets(t->train_ds, rows + lo, hi - lo, C, multi_hot);
    }
    return 0;
}

static StepSchedule step_schedule(const Trainer *t) {
    return (StepSchedule){t->opt->lr, t->total_steps, t->warmup_steps, t->opt->clip,
                          t->s.output_map};
}

static int write_results(Trainer *t, double wall, Err *err) {
    char path[4096];
    if (path_join(path, sizeof path, t->opt->out_dir, "results.json", err) != 0) return -1;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "task", task_name(t->s.task));
    cJSON_AddStringToObject(j, "attn", attn_kind_name(bert_config(t->s.model)->attn.kind));
    cJSON_AddNumberToObject(j, "r", bert_config(t->s.model)->attn.r);
    cJSON_AddNumberToObject(j, "seed", (double)t->opt->seed);
    cJSON_AddNumberToObject(j, "steps", (double)t->step);
    if (t->best_step >= 0) {
        cJSON_AddNumberToObject(j, "best_score", t->best_score);
        cJSON_AddNumberToObject(j, "best_step", (double)t->best_step);
    }
    cJSON_AddNumberToObject(j, "wall_seconds_this_process", wall);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) return err_set(err, "%s: out of memory", path);
    int rc = file_write_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}

// Whether the dev sets are scored after `step`: every epoch end, the last
// step and every --eval-every steps.
static int evaluates_at(const Trainer *t, long step) {
    return step % t->batches_per_epoch == 0 || step == t->total_steps ||
           (t->opt->eval_every > 0 && step % t->opt->eval_every == 0);
}

static long evals_after(const Trainer *t, long step) {
    long n = 0;
    if (t->num_dev == 0) return 0;
    for (long s = step + 1; s <= t->total_steps; s++) n += evaluates_at(t, s);
    return n;
}

int finetune_run(const TrainOptions *o, Err *err) {
    Trainer t = {0};
    int rc = -1;
    if (setup(&t, o, err) != 0) goto done;
    const int root = dist_is_root(o->dist);
    char attn[64];
    if (root) fprintf(stderr,
            "fine-tuning %s on %s: %d train examples, %d batches/epoch, %ld steps (warmup %ld), "
            "attention %s",
            o->data.model_dir, task_name(t.s.task), tokset_size(t.train_ts), t.batches_per_epoch,
            t.total_steps, t.warmup_steps,
            attn_map_format(attn, sizeof attn, bert_config(t.s.model)->attn));
    if (root)
        fprintf(stderr, ", %s lr %g, %d threads x %d ranks, micro-batches of %d x %d per rank\n",
                o->optim == OPTIM_SGD ? "sgd" : "adamw", o->lr, omp_get_max_threads(),
                o->dist->size, t.micro_rows, o->grad_accum);

    if (!o->resume && log_config(&t, err) != 0) goto done;
    const long start_step = t.step;
    const double t_start = clock_seconds();
    // Time spent evaluating and writing checkpoints: not part of the
    // per-step rate behind the ETA and tokens/s.
    double paused = 0.0, eval_seconds = 0.0;
    long evals_done = 0;
    double loss_sum = 0.0, t_last = t_start;
    long tokens_total = 0, tokens_window = 0, window = 0;
    const StepSchedule schedule = step_schedule(&t);
    while (t.step < t.total_steps) {
        StepStats st;
        StepGlobal global;
        if (next_micro_batches(&t, t.shards, &global, err) != 0) goto done;
        const double t_step = clock_seconds();
        if (train_step_sharded(t.s.model, t.optim, t.shards, o->grad_accum, &global, &t.dropout,
                               t.step, &schedule, &st, err) != 0)
            goto done;
        const double step_seconds = clock_seconds() - t_step;
        t.step++;
        loss_sum += st.loss;
        window++;
        tokens_total += st.tokens;
        tokens_window += st.tokens;
        // The all-reduce time only in data-parallel runs: a single-process
        // log stays as it was.
        char reduce[48] = "";
        if (o->dist->size > 1)
            snprintf(reduce, sizeof reduce, ",\"reduce_seconds\":%.4f", st.reduce_seconds);
        if (t.log)
            fprintf(t.log,
                "{\"event\":\"step\",\"step\":%ld,\"epoch\":%ld,\"loss\":%.6g,\"lr\":%.6g,"
                "\"grad_norm\":%.6g,\"tokens\":%ld,\"seconds\":%.3f,\"step_seconds\":%.4f%s}\n",
                t.step, (t.step - 1) / t.batches_per_epoch, st.loss, st.lr, st.grad_norm, st.tokens,
                clock_seconds() - t_start, step_seconds, reduce);
        if (root && (t.step % o->log_every == 0 || t.step == t.total_steps)) {
            double now = clock_seconds(),
                   per_step = (now - t_start - paused) / (double)(t.step - start_step);
            char eta[32];
            // The evaluations still to come at the mean cost of those done.
            double per_eval = evals_done ? eval_seconds / (double)evals_done : 0.0;
            format_duration(eta, sizeof eta, per_step * (double)(t.total_steps - t.step) +
                                                 per_eval * (double)evals_after(&t, t.step));
            fprintf(stderr,
                    "step %ld/%ld | epoch %ld | loss %.4f | lr %.3g | %.0f tok/s | ETA %s\n",
                    t.step, t.total_steps, (t.step - 1) / t.batches_per_epoch + 1,
                    loss_sum / (double)window, st.lr, tokens_window / (now - t_last), eta);
            if (fflush(t.log) != 0 || ferror(t.log)) {
                err_set(err, "%s: write failed: %s", t.path_log, strerror(errno));
                goto done;
            }
            loss_sum = 0.0;
            window = 0;
            tokens_window = 0;
            t_last = now;
        }
        int epoch_end = t.step % t.batches_per_epoch == 0, last = t.step == t.total_steps;
        const double t_pause = clock_seconds();
        if (evaluates_at(&t, t.step)) {
            if (score_dev_splits(&t, epoch_end ? "epoch-end" : last ? "final" : "periodic",
                                 t_start, err) != 0)
                goto done;
            eval_seconds += clock_seconds() - t_pause;
            evals_done++;
        }
        int stop = (o->stop_after > 0 && t.step == o->stop_after) || t.stop_early;
        if (epoch_end || last || stop || (o->save_every > 0 && t.step % o->save_every == 0)) {
            if (save_checkpoint(&t, t.path_last, err) != 0) goto done;
        }
        paused += clock_seconds() - t_pause;
        t_last += clock_seconds() - t_pause;
        if (t.stop_early) {
            fprintf(stderr, "stopping early after step %ld: %d evaluations without an improvement "
                    "over %g (--patience, --min-delta)\n", t.step, t.early.bad_evals, o->min_delta);
            break;
        }
        if (stop) {
            if (root) fprintf(stderr, "stopping after step %ld (--stop-after); continue with --resume\n", t.step);
            break;
        }
    }
    double wall = clock_seconds() - t_start;
    if (!root) {
        rc = 0;
        goto done;
    }
    char took[32];
    format_duration(took, sizeof took, wall);
    fprintf(stderr, "done: %ld steps in %s (%.0f tok/s); ", t.step - start_step, took,
            tokens_total / (wall > 0 ? wall : 1));
    if (t.best_step >= 0)
        fprintf(stderr, "best dev %.4f at step %ld; %s, %s\n", t.best_score, t.best_step,
                t.path_last, t.path_best);
    else
        fprintf(stderr, "no dev score; %s\n", t.path_last);
    rc = write_results(&t, wall, err);
    if (rc == 0) rc = report_write(o->out_dir, err);
    if (rc == 0) fprintf(stderr, "report: %s/report.html\n", o->out_dir);
done:
    teardown(&t);
    return rc;
}
