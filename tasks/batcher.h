// Tokenized datasets, epoch orders and padded batches.
//
// Usage (training loop; resuming at global step s of a run with
// nb = plan_num_batches batches per epoch: epoch s / nb, batch s % nb):
//
//   TokenizedSet *ts = tokset_encode(train, tok, max_len, &err);
//   Batch *b = batch_alloc(batch_size, max_len, &err);
//   for (int epoch = first_epoch; epoch < epochs; epoch++) {
//       BatchPlan *plan = plan_train(tokset_lengths(ts), tokset_size(ts), batch_size,
//                                    seed, epoch, &err);
//       for (int k = skip; k < plan_num_batches(plan); k++) {
//           const int *rows;
//           int n = plan_batch(plan, k, &rows);
//           batch_fill(b, ts, rows, n, &err);  // b->ids [b->size, b->T], ...
//           ... forward / backward on b ...
//       }
//       plan_free(plan);
//   }
//
// Evaluation: plan_eval (longest rows first), run each batch, then
// plan_scatter(plan, k, logits /*[n, K]*/, K, all /*[N, K]*/) puts the rows
// back in dataset order for task_score / predictions_write.
#ifndef TASKS_BATCHER_H
#define TASKS_BATCHER_H

#include <stdint.h>

#include "tasks/task.h"
#include "tokenizer/tokenizer.h"
#include "util/err.h"

// ---- Tokenized dataset: one arena of ids and type ids, plus labels. ----
typedef struct TokenizedSet TokenizedSet;

// Encodes one example (b may be NULL) into ids and type_ids, [max_len] each;
// returns its length (1..max_len) or -1 with err set.  Called from several
// threads at once.
typedef int (*EncodeFn)(const void *ctx, const char *a, const char *b, int max_len, int *ids,
                        int *type_ids, Err *err);

// Tokenizes every example with the tokenizer (tok_encode: special tokens,
// longest-first truncation to max_len).
TokenizedSet *tokset_encode(const Dataset *ds, const Tokenizer *tok, int max_len, Err *err);
// The same with any encoder; pad_id is what batches are padded with.
TokenizedSet *tokset_build(const Dataset *ds, EncodeFn encode, const void *ctx, int max_len,
                           int pad_id, Err *err);
void tokset_free(TokenizedSet *ts);
int tokset_size(const TokenizedSet *ts);
int tokset_max_len(const TokenizedSet *ts);
const int *tokset_lengths(const TokenizedSet *ts);  // [N]
// Length of row i (-1 if out of range); its ids and type ids through *ids,
// *type_ids, [length] each.
int tokset_row(const TokenizedSet *ts, int i, const int **ids, const int **type_ids);

// ---- Batch orders. ----
typedef struct BatchPlan BatchPlan;

// Training order of one epoch, a pure function of (lengths, n, batch_size,
// seed, epoch): shuffle all rows; in chunks of 50 batches sort the rows by
// length (longest first); cut into batches; shuffle the batch order.  Rows
// of similar length share a batch, so little is padded, while every batch
// is still a random draw.  Every row appears once; only one batch may be
// short (n not a multiple of batch_size).
BatchPlan *plan_train(const int *lengths /* [n] */, int n, int batch_size, uint64_t seed,
                      int epoch, Err *err);
// Evaluation order: longest rows first (the first batch shows the peak
// memory at once), ties in dataset order.
BatchPlan *plan_eval(const int *lengths /* [n] */, int n, int batch_size, Err *err);
void plan_free(BatchPlan *plan);
int plan_num_batches(const BatchPlan *plan);  // ceil(n / batch_size)
// Rows (dataset indices) of batch k through *rows [count]; returns the
// count (0 when k is out of range).
int plan_batch(const BatchPlan *plan, int k, const int **rows);
// Copies the per-row results of batch k to their dataset positions.
void plan_scatter(const BatchPlan *plan, int k, const float *batch_out /* [size, width] */,
                  int width, float *out /* [N, width] */);

// ---- Padded batches. ----
typedef struct {
    int size;        // rows B
    int T;           // padded length: the longest row of the batch
    int *ids;        // [B, T] padded with the pad id
    int *type_ids;   // [B, T] padded with 0
    int *lengths;    // [B] attention mask is 1 for t < lengths[b]
    int *labels;     // [B] class ids; -1 when unlabeled or regression
    float *targets;  // [B] regression targets; NAN when unlabeled or classification
    int max_rows, max_len;  // capacity
} Batch;

Batch *batch_alloc(int max_rows, int max_len, Err *err);
void batch_free(Batch *b);
int batch_fill(Batch *b, const TokenizedSet *ts, const int *rows /* [n] */, int n, Err *err);

#endif
