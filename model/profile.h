// Time by phase of a training step or an eval forward (`build/bench
// --profile`).  The phases are one table, PHASES in model/profile.c: one row
// per phase, its name and what it covers.  A Profile is built and owned by
// the caller and lent to the model (bert_set_profile); bert_forward,
// bert_backward and train_step add each timed span to its phase.  With no
// profile lent, every hook is a NULL check: profiling off costs nothing, and
// profiling on never changes a result (only clocks are read).
//
// Spans are timed from the calling thread around whole calls, outside any
// parallel region: each layer function opens its own.  The one exception is
// attention, which does its score and P.V products, its map and its
// probability dropout per (batch, head) inside one parallel loop: there each
// thread sums its time per part (profile_lap) and the region's wall time is
// shared among the parts in proportion (profile_split).
#ifndef MODEL_PROFILE_H
#define MODEL_PROFILE_H

#include "model/real.h"  // the double build's _f64 names
#include "util/clock.h"
#include "util/err.h"

typedef enum {
    PHASE_EMBEDDINGS,
    PHASE_GEMM_FWD,
    PHASE_GEMM_BWD,
    PHASE_ATTN_PRODUCTS_FWD,
    PHASE_ATTN_PRODUCTS_BWD,
    PHASE_ATTN_MAP_FWD,
    PHASE_ATTN_MAP_BWD,
    PHASE_LAYERNORM,
    PHASE_GELU,
    PHASE_DROPOUT,
    PHASE_ELEMENTWISE,
    PHASE_HEAD_LOSS,
    PHASE_CLIP_CHECKS,
    PHASE_OPTIMIZER,
    PHASE_BF16_CONVERT,
    PHASE_WEIGHT_REFRESH,
    PHASE_COUNT
} Phase;

typedef struct {
    const char *name;    // the table's row label
    const char *covers;  // what is timed in it
} PhaseInfo;

const PhaseInfo *profile_phase(Phase phase);

typedef struct Profile Profile;

Profile *profile_build(Err *err);  // every phase at 0 s, 0 calls
void profile_free(Profile *prof);
void profile_reset(Profile *prof);

double profile_seconds(const Profile *prof, Phase phase);
long profile_calls(const Profile *prof, Phase phase);
double profile_total_seconds(const Profile *prof);  // over every phase

// One call of `seconds` to phase.  Calling thread only, outside parallel
// regions.
void profile_add(Profile *prof, Phase phase, double seconds);

// A parallel region's wall time shared among the phases of its n parts in
// proportion to part_seconds[i], each part's time summed over the threads;
// one call to each phase.  No-op without a profile.
void profile_split(Profile *prof, double wall, const Phase *phases, const double *part_seconds,
                   int n);

// A span's start: the clock, or 0 without a profile (no clock read).
static inline double profile_now(const Profile *prof) { return prof ? clock_seconds() : 0.0; }

// Ends a span begun at t0 (profile_now) as one call of phase.
static inline void profile_end(Profile *prof, Phase phase, double t0) {
    if (prof) profile_add(prof, phase, clock_seconds() - t0);
}

// Inside a parallel region, per thread: adds the time since *t to *part (a
// reduction variable of the region) and restarts *t.
static inline void profile_lap(const Profile *prof, double *t, double *part) {
    if (!prof) return;
    const double now = clock_seconds();
    *part += now - *t;
    *t = now;
}

// PROFILE_SCOPE(prof, PHASE_X) statement-or-block: times it as one call of
// PHASE_X (prof may be NULL).  The body must not return, break or goto out
// of the scope: the span would not be recorded.
#define PROFILE_CAT_(a, b) a##b
#define PROFILE_VAR_(base, line) PROFILE_CAT_(base, line)
#define PROFILE_SCOPE(prof, phase)                                                            \
    for (double PROFILE_VAR_(profile_t0_, __LINE__) = profile_now(prof),                      \
                PROFILE_VAR_(profile_once_, __LINE__) = 1;                                    \
         PROFILE_VAR_(profile_once_, __LINE__);                                               \
         PROFILE_VAR_(profile_once_, __LINE__) = 0,                                           \
                profile_end((prof), (phase), PROFILE_VAR_(profile_t0_, __LINE__)))

#endif
