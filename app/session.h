// What ./finetune and ./evaluate share: the options that pick a model, a
// task and its data, and opening them together (config, tokenizer, task
// with the checkpoint's label order, model with a head for the task), plus
// the evaluation loop.
#ifndef APP_SESSION_H
#define APP_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "model/bert.h"
#include "tasks/batcher.h"
#include "tasks/metrics.h"
#include "tasks/task.h"
#include "tokenizer/tokenizer.h"
#include "util/dist.h"
#include "util/err.h"
#include "weights/hf_model.h"

typedef struct {
    const char *model_dir;     // HF directory or checkpoint: config, weights, tokenizer
    const char *task;          // GLUE name (sst2, SST-2, mnli, ...) or "custom"; NULL: no
                               // task, the checkpoint's own head (./predict)
    const char *data_dir;      // GLUE root holding SST-2/, CoLA/, ...
    CustomTaskOptions custom;  // --task custom
    int max_len;
    int batch_size;
    bool attn_given;           // --attn on the command line
    AttnMap attn;
    bool skip_bad_rows;
    const char *output_map;    // multi-label: --output-map NAME (NULL: sigmoid)
    const char *output_r;      // multi-label r-softmax: --output-r R | auto
    bool allow_nonfinite;      // ./evaluate --allow-nonfinite: load NaN / Inf weights
    Precision precision;       // --precision (fp32 when zeroed)
} SessionOptions;

typedef struct {
    HfConfig config;
    Tokenizer *tok;
    Task *task;
    Bert *model;
    HfLoadReport load;
    const char *label_names[HF_MAX_LABELS];  // the task's labels in model order (no task: NULL)
    bool attn_overridden;                    // --attn differs from the checkpoint's
    AttnMap checkpoint_attn;
    int max_len;  // --max-len, capped by the checkpoint's position table
    // Multi-label tasks: the output map of the head (docs/output-maps.md);
    // output_r_auto: r is set from the train set's mean label count.
    OutputMap output_map;
    bool output_r_auto;
} Session;

// Opens config, task, tokenizer and model.  max_batch is the largest batch
// the model will see.  init_seed seeds a head the checkpoint lacks.
int session_open(Session *s, const SessionOptions *opt, int max_batch, uint64_t init_seed, Err *err);
void session_close(Session *s);

// Refuses (with the figure and a suggestion) batches of batch x T tokens
// whose model memory (bert_memory_bytes) plus extra_bytes exceed what this
// process can have (MemAvailable, the cgroup limit).
int session_check_memory(const BertConfig *cfg, int batch, int T, int training,
                         Precision precision, size_t extra_bytes, Err *err);

// Loads a split and tokenizes it; prints skipped bad rows on stderr.
int session_load_split(const Session *s, const SessionOptions *opt, int split, Dataset **ds,
                       TokenizedSet **ts, Err *err);

// Multi-label tasks: the model's outputs out [N, C] become the output map's
// probabilities, in place; with tune, a map without zeros (softmax) gets
// its threshold tuned on this (labeled) split (docs/output-maps.md).  Other
// tasks: nothing to do.
int session_output_probs(Session *s, const Dataset *ds, float *out, bool tune, Err *err);
// Scores a labeled split from out as session_output_probs left it:
// task_score, or for multi-label tasks the sets {p > threshold}.
int session_score(const Session *s, const Dataset *ds, const float *out, TaskScores *scores,
                  Err *err);

// Runs the model over a tokenized split (no dropout) and writes the outputs
// in dataset order: out [N, num_outputs].
int session_predict(Session *s, const TokenizedSet *ts, int batch_size, float *out, Err *err);
// The same, printing "LABEL: k/N examples (Xs, ETA Ys)" on stderr every few
// seconds of a long pass (label NULL: silent).
int session_predict_progress(Session *s, const TokenizedSet *ts, int batch_size, float *out,
                             const char *label, Err *err);
// The same over the ranks of `dist`: rank r runs batches r, r + N, ... of
// the one plan and the outputs are summed over the ranks (each row is
// written by one rank, the others give 0), so every rank gets all of out,
// equal to one process's.  Attention zero counts stay per rank.
int session_predict_sharded(Session *s, const TokenizedSet *ts, int batch_size, float *out,
                            const char *label, const Dist *dist, Err *err);
// The exact-zero attention counts of the last prediction pass summed over
// the ranks: counts [2 L] = zeros per layer, then probabilities per layer
// (doubles: exact below 2^53).
int session_zero_counts(const Session *s, const Dist *dist, double *counts, Err *err);

#endif
