#include "train/early_stop.h"

#include <math.h>

bool early_stop_update(EarlyStop *e, double value, bool *stop) {
    *stop = false;
    if (!isfinite(value)) return false;
    double gain = e->has_best ? (value - e->best) * (e->direction < 0 ? -1 : 1) : INFINITY;
    bool better = gain > 0;
    if (gain > e->min_delta)
        e->bad_evals = 0;
    else
        e->bad_evals++;
    if (better) {
        e->best = value;
        e->has_best = true;
    }
    *stop = e->patience > 0 && e->bad_evals >= e->patience;
    return better;
}
