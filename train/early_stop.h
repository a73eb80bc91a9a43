// When to stop and which evaluation is the best, in the manner of
// transformers' metric_for_best_model and EarlyStoppingCallback
// (early_stopping_threshold = min_delta).  Each evaluation's metric value is
// fed in order:
//   - it is the new best when it beats the best so far (by any amount, in
//     the metric's direction; the first finite value always does);
//   - it resets the patience count only when it beats the best so far by
//     more than min_delta; otherwise the count grows, and the run stops once
//     `patience` evaluations in a row brought no such improvement
//     (patience 0: never stops early).
// Non-finite values are neither best nor counted.
#ifndef TRAIN_EARLY_STOP_H
#define TRAIN_EARLY_STOP_H

#include <stdbool.h>

typedef struct {
    int patience;      // evaluations without improvement before stopping; 0: off
    double min_delta;  // improvement needed to reset the count
    int direction;     // +1: higher is better, -1: lower is better
    // state (saved with checkpoints)
    bool has_best;
    double best;
    int bad_evals;     // evaluations in a row without an improvement > min_delta
} EarlyStop;

// Feeds one evaluation; returns true when it is the new best.  *stop is set
// when the run should stop after this evaluation.
bool early_stop_update(EarlyStop *e, double value, bool *stop);

#endif
