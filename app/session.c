#include "app/session.h"

#include "util/clock.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/memory.h"

// Where scripts/fetch_debtags.sh (make data) puts the debtags set.
#define DEBTAGS_DIR "data/debtags"

static Task *open_task(const SessionOptions *opt, const HfConfig *cfg, Err *err) {
    const char *names[HF_MAX_LABELS];
    for (int i = 0; i < cfg->num_label_names; i++) names[i] = cfg->label_names[i];
    const char *const *id2label = cfg->has_label_names ? names : NULL;
    int n = cfg->has_label_names ? cfg->num_label_names : 0;
    if (strcmp(opt->task, "custom") == 0) return task_custom(&opt->custom, id2label, n, err);
    if (strcmp(opt->task, "debtags") == 0) return task_debtags(DEBTAGS_DIR, id2label, n, err);
    return task_glue(opt->task, opt->data_dir, id2label, n, err);
}

// The label limits of a checkpoint (config.json's id2label, HfConfig),
// checked when the task is opened so that a run never trains a model that
// ./evaluate and ./export would then refuse.
// --output-map / --output-r: only for multi-label tasks, where the map is
// sigmoid unless given.
static int session_output_map(Session *s, const SessionOptions *opt, Err *err) {
    bool multi = s->task && task_is_multi_label(s->task);
    if (!multi && (opt->output_map || opt->output_r))
        return err_set(err, "--output-map / --output-r: only for multi-label tasks "
                       "(--multi-label, --task debtags)");
    if (!multi) return 0;
    // Not given: the checkpoint's (a multi-label checkpoint), else sigmoid.
    const OutputMap *saved = s->config.has_output_map ? &s->config.output_map : NULL;
    const char *name = opt->output_map ? opt->output_map
                       : saved         ? output_map_name(saved->kind)
                                       : "sigmoid";
    float r = saved && !opt->output_map ? saved->r : 0.5f;
    s->output_r_auto = opt->output_r && strcmp(opt->output_r, "auto") == 0;
    if (opt->output_r && !s->output_r_auto) {
        char *end;
        r = strtof(opt->output_r, &end);
        if (end == opt->output_r || *end)
            return err_set(err, "--output-r %s: expected a number in [0, 1] or auto",
                           opt->output_r);
    }
    if (output_map_parse(name, r, &s->output_map, err) != 0)
        return err_prefix(err, "--output-map %s", name);
    if (opt->output_r && !output_map_info(s->output_map.kind)->has_r)
        return err_set(err, "--output-r: only for --output-map rsoftmax");
    // The threshold the checkpoint predicted with (softmax: tuned on dev).
    if (saved && saved->kind == s->output_map.kind) s->output_map.threshold = saved->threshold;
    return 0;
}

int session_output_probs(Session *s, const Dataset *ds, float *out, bool tune, Err *err) {
    if (!task_is_multi_label(s->task)) return 0;
    const int n = dataset_size(ds), C = task_num_outputs(s->task);
    real *scratch = err_calloc(err, (size_t)output_map_scratch(C) + (size_t)C, sizeof(real),
                               "output map scratch");
    if (!scratch) return -1;
    real *row = scratch + output_map_scratch(C);
    for (int i = 0; i < n; i++) {
        float *z = out + (size_t)i * C;
        output_map_probs(s->output_map, z, row, C, scratch);
        memcpy(z, row, (size_t)C * sizeof(float));
    }
    free(scratch);
    if (!tune || !output_map_info(s->output_map.kind)->threshold_tuned) return 0;
    unsigned char *gold = err_calloc(err, (size_t)n * C, 1, "true sets");
    if (!gold) return -1;
    for (int i = 0; i < n; i++) {
        const Example *ex = dataset_example(ds, i);
        for (int j = 0; j < ex->label_set_size; j++) gold[(size_t)i * C + ex->label_set[j]] = 1;
    }
    int rc = metric_tune_threshold(out, gold, n, C, &s->output_map.threshold, err);
    free(gold);
    return rc;
}

int session_score(const Session *s, const Dataset *ds, const float *out, TaskScores *scores,
                  Err *err) {
    if (!task_is_multi_label(s->task)) return task_score(s->task, ds, out, scores, err);
    return task_score_multilabel(s->task, ds, out, s->output_map.threshold, scores, err);
}

static int check_label_limits(const Task *task, Err *err) {
    if (task_is_regression(task)) return 0;
    int n = task_num_outputs(task);
    if (n > HF_MAX_LABELS)
        return err_set(err, "task %s: %d labels; at most %d are supported", task_name(task), n,
                       HF_MAX_LABELS);
    for (int i = 0; i < n; i++)
        if (strlen(task_label_name(task, i)) >= HF_LABEL_MAX)
            return err_set(err, "task %s: label \"%.40s...\" is %zu bytes; label names must be "
                                "under %d bytes", task_name(task), task_label_name(task, i),
                           strlen(task_label_name(task, i)), HF_LABEL_MAX);
    return 0;
}

int session_check_memory(const BertConfig *cfg, int batch, int T, int training,
                         Precision precision, size_t extra_bytes, Err *err) {
    // A first bound in floating point: the attention scores alone, so that
    // absurd sizes cannot overflow the exact count below.
    double scores = (double)batch * cfg->num_heads * T * T * sizeof(real) *
                    (training ? 4.0 * cfg->num_layers : 2.0);
    size_t need = 0, have;
    const char *source;
    if (scores < 1e18 &&
        bert_memory_bytes(cfg, batch, T, training, precision, &need, err) != 0)
        return -1;
    double total = scores < 1e18 ? (double)need + (double)extra_bytes : scores;
    if (mem_available(&have, &source) != 0 || total <= (double)have) return 0;
    char need_text[32], have_text[32];
    mem_format(need_text, sizeof need_text, total);
    mem_format(have_text, sizeof have_text, (double)have);
    return err_set(err, "batches of %d x %d tokens need about %s for %s, but this process can "
                        "have %s (%s): use a smaller --batch-size or --max-len",
                   batch, T, need_text,
                   training ? "training (weights, gradients, optimizer state, activations)"
                            : "the model and its activations",
                   have_text, source);
}

int session_open(Session *s, const SessionOptions *opt, int max_batch, uint64_t init_seed,
                 Err *err) {
    memset(s, 0, sizeof *s);
    if (hf_config_load(opt->model_dir, &s->config, err) != 0) return -1;
    s->config.allow_nonfinite = opt->allow_nonfinite;
    if (opt->task && !(s->task = open_task(opt, &s->config, err))) return -1;
    s->tok = tok_load_kind(opt->model_dir, s->config.family->tokenizer, err);
    if (!s->tok) goto fail;
    if (tok_vocab_size(s->tok) > s->config.bert.vocab_size) {
        err_set(err, "%s: the tokenizer has %d tokens but the model only %d embeddings",
                opt->model_dir, tok_vocab_size(s->tok), s->config.bert.vocab_size);
        goto fail;
    }
    if (s->task && check_label_limits(s->task, err) != 0) goto fail;
    if (session_output_map(s, opt, err) != 0) goto fail;
    int outputs = s->task ? task_num_outputs(s->task) : s->config.bert.num_labels;
    for (int i = 0; i < outputs && s->task && !task_is_regression(s->task); i++)
        s->label_names[i] = task_label_name(s->task, i);
    s->checkpoint_attn = s->config.bert.attn;
    if (opt->attn_given) {
        s->attn_overridden = s->config.has_attn && (opt->attn.kind != s->config.bert.attn.kind ||
                                                    opt->attn.r != s->config.bert.attn.r);
        s->config.bert.attn = opt->attn;
    }
    s->max_len = opt->max_len;
    int positions = s->config.bert.max_position - s->config.bert.position_offset;
    if (s->max_len > positions) {
        fprintf(stderr, "%s: --max-len %d exceeds the model's %d positions: using %d\n",
                opt->model_dir, opt->max_len, positions, positions);
        s->max_len = positions;
    }
    BertConfig sized = s->config.bert;
    sized.num_labels = outputs;
    if (session_check_memory(&sized, max_batch, s->max_len, 0, opt->precision, 0, err) != 0)
        goto fail;
    s->model = hf_load_model(opt->model_dir, &s->config, outputs, max_batch, s->max_len,
                             init_seed, &s->load, err);
    if (!s->model) goto fail;
    if (bert_set_precision(s->model, opt->precision, err) != 0) {
        err_prefix(err, "--precision");  // the message names the precision
        goto fail;
    }
    return 0;
fail:
    session_close(s);
    return -1;
}

void session_close(Session *s) {
    bert_free(s->model);
    tok_free(s->tok);
    task_free(s->task);
    memset(s, 0, sizeof *s);
}

int session_load_split(const Session *s, const SessionOptions *opt, int split, Dataset **ds,
                       TokenizedSet **ts, Err *err) {
    BadRowCounts bad;
    *ts = NULL;
    *ds = task_load(s->task, split, opt->skip_bad_rows, &bad, err);
    if (!*ds) return -1;
    if (bad.total > 0) {
        fprintf(stderr, "%s: skipped %d bad rows (--skip-bad-rows):", dataset_path(*ds), bad.total);
        for (int k = 0; k < BAD_ROW_KINDS; k++)
            if (bad.count[k]) fprintf(stderr, " %d %s;", bad.count[k], bad_row_kind_name(k));
        fprintf(stderr, " first: %s\n", bad.first);
    }
    if (bad.rows_without_kept_label || bad.labels_not_kept)
        fprintf(stderr, "%s: dropped %d rows: none of their labels is in the task's %d labels; "
                "left out %ld labels outside it\n", dataset_path(*ds), bad.rows_without_kept_label,
                task_num_outputs(s->task), bad.labels_not_kept);
    if (dataset_size(*ds) == 0) {
        err_set(err, "%s: no examples", dataset_path(*ds));
        goto fail;
    }
    *ts = tokset_encode(*ds, s->tok, s->max_len, err);
    if (!*ts) goto fail;
    return 0;
fail:
    dataset_free(*ds);
    *ds = NULL;
    return -1;
}


int session_predict(Session *s, const TokenizedSet *ts, int batch_size, float *out, Err *err) {
    return session_predict_progress(s, ts, batch_size, out, NULL, err);
}

int session_predict_progress(Session *s, const TokenizedSet *ts, int batch_size, float *out,
                             const char *label, Err *err) {
    const Dist one = dist_single();
    return session_predict_sharded(s, ts, batch_size, out, label, &one, err);
}

int session_predict_sharded(Session *s, const TokenizedSet *ts, int batch_size, float *out,
                            const char *label, const Dist *dist, Err *err) {
    enum { PROGRESS_EVERY_SECONDS = 5 };
    const double t0 = clock_seconds();
    double last_print = t0;
    int done_rows = 0;
    int rc = -1, width = bert_config(s->model)->num_labels;
    BatchPlan *plan = plan_eval(tokset_lengths(ts), tokset_size(ts), batch_size, err);
    Batch *batch = batch_alloc(batch_size, tokset_max_len(ts), err);
    if (!plan || !batch) goto done;
    if (dist->size > 1) memset(out, 0, sizeof(float) * (size_t)tokset_size(ts) * width);
    for (int k = dist->rank; k < plan_num_batches(plan); k += dist->size) {
        const int *rows;
        int n = plan_batch(plan, k, &rows);
        if (batch_fill(batch, ts, rows, n, err) != 0) goto done;
        BertInput in = {batch->size, batch->T, batch->ids, batch->type_ids, batch->lengths};
        if (bert_forward(s->model, &in, NULL, err) != 0) goto done;
        const real *logits = bert_logits(s->model);
        for (int i = 0; i < n * width; i++)
            if (!isfinite(logits[i])) {
                err_set(err, "example %d: output %d is %g: the model's outputs are not finite, no "
                        "metrics over them", rows[i / width], i % width, (double)logits[i]);
                goto done;
            }
        plan_scatter(plan, k, logits, width, out);
        done_rows += n;
        double now = clock_seconds();
        if (label && dist_is_root(dist) && now - last_print >= PROGRESS_EVERY_SECONDS &&
            k + dist->size < plan_num_batches(plan)) {
            // Longest rows come first, so the rate only improves: the ETA is an upper bound.
            const int all_rows = done_rows * dist->size;  // about: the ranks run alike
            double eta = (now - t0) / all_rows * (tokset_size(ts) - all_rows);
            fprintf(stderr, "%s: %d/%d examples (%.0fs, ETA %.0fs)\n", label, all_rows,
                    tokset_size(ts), now - t0, eta);
            last_print = now;
        }
    }
    rc = dist_allreduce_sum(dist, out, (size_t)tokset_size(ts) * width, "gathering outputs", err);
done:
    plan_free(plan);
    batch_free(batch);
    return rc;
}

int session_zero_counts(const Session *s, const Dist *dist, double *counts, Err *err) {
    const uint64_t *zeros, *total;
    bert_zero_counts(s->model, &zeros, &total);
    const int L = bert_config(s->model)->num_layers;
    for (int l = 0; l < L; l++) {
        counts[l] = (double)zeros[l];
        counts[L + l] = (double)total[l];
    }
    return dist_allreduce_sum_f64(dist, counts, 2 * (size_t)L, err);
}
