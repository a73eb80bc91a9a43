// Data parallelism over MPI: one Dist per process, passed to whoever needs
// the rank, the rank count or a collective.  Run alone, a binary is one rank
// and does not start MPI at all; under `mpirun -np N` (or another MPI
// launcher) it is one of N.  Every
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

// Starts MPI when an MPI launcher started this process (or joins a running
// MPI); otherwise one rank without MPI.  Errors come back as return codes.
int dist_init(Dist *d, int *argc, char ***argv, Err *err);
void dist_finalize(Dist *d);
// A main's exit: rc 0 finalizes MPI and returns 0; otherwise prints
// "PROGRAM: [rank R of N: ]MESSAGE" and ends every rank of the job (those
// waiting in a collective would otherwise wait for mpirun to notice), 1.
int dist_exit(const char *program, Dist *d, int rc, const Err *err);
// A Dist of one rank without MPI (library code and tests that never call MPI).
Dist dist_single(void);
static inline int dist_is_root(const Dist *d) { return d->rank == 0; }

// x [n] = the sum of every rank's x [n] (fp32); `what` names it in errors.
int dist_allreduce_sum(const Dist *d, float *x, size_t n, const char *what, Err *err);
// x [n] = the sum of every rank's x [n] (fp64: loss and row counts).
int dist_allreduce_sum_f64(const Dist *d, double *x, size_t n, Err *err);
// Non-blocking sums in place (MPI_Iallreduce), for buffers whose values are
// final before the others: started one by one, finished together.  Open MPI
// advances them inside MPI calls, so each start also tests those before it.
typedef struct DistReduce DistReduce;
DistReduce *dist_reduce_new(const Dist *d, int max_pending, Err *err);
void dist_reduce_free(DistReduce *r);
// Starts x [n] = the sum over the ranks of x [n] (fp32).
int dist_reduce_start(DistReduce *r, float *x, size_t n, Err *err);
// Waits for every started sum; `what` names them in errors.
int dist_reduce_finish(DistReduce *r, const char *what, Err *err);

// [lo, hi) of n items that rank `rank` of `size` takes: contiguous, in rank order.
void dist_shard(int n, int rank, int size, int *lo, int *hi);

#endif
