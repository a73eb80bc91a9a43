// Data parallelism over MPI: one Dist per process, passed to whoever needs
// the rank, the rank count or a collective.  Run alone, a binary is one rank
// (MPI's singleton mode); under `mpirun -np N` it is one of N.  Every
// collective is a no-op copy when there is one rank, so single-process
// results do not depend on MPI being there.
#ifndef UTIL_DIST_H
#define UTIL_DIST_H

#include <stddef.h>

#include "util/err.h"

typedef struct {
    int rank, size;
    int owns_mpi;  // dist_init called MPI_Init (dist_finalize calls MPI_Finalize)
} Dist;

// Starts MPI (or joins a running one); errors come back as return codes.
int dist_init(Dist *d, int *argc, char ***argv, Err *err);
void dist_finalize(Dist *d);
// After a rank's error: ends every rank of the job (those waiting in a
// collective would otherwise wait for mpirun to notice); no-op with one rank.
void dist_abort(const Dist *d, int code);
// A Dist of one rank without MPI (library code and tests that never call MPI).
Dist dist_single(void);
static inline int dist_is_root(const Dist *d) { return d->rank == 0; }

// x [n] = the sum of every rank's x [n] (fp32).
int dist_allreduce_sum(const Dist *d, float *x, size_t n, Err *err);
// x [n] = the sum of every rank's x [n] (fp64: loss and row counts).
int dist_allreduce_sum_f64(const Dist *d, double *x, size_t n, Err *err);
// all [total] = the ranks' parts in rank order: rank r gives counts[r] floats
// (mine = its part); every rank gets the whole.
int dist_allgather(const Dist *d, const float *mine, const int *counts, float *all, Err *err);
// Takes the root's value of *flag (an error or stop decision every rank must share).
int dist_bcast_int(const Dist *d, int *flag, Err *err);
// [lo, hi) of n items that rank `rank` of `size` takes: contiguous, in rank order.
void dist_shard(int n, int rank, int size, int *lo, int *hi);

#endif
