#include "util/dist.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// MPI's own error text after "what": "MPI_Allreduce: ...".
static int mpi_fail(Err *err, int code, const char *what) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) strcpy(text, "unknown MPI error");
    return err_set(err, "%s: %s", what, text);
}

// Whether an MPI launcher started this process: Open MPI's mpirun sets
// OMPI_COMM_WORLD_SIZE, PMIx launchers (srun --mpi=pmix, prterun) PMIX_RANK,
// MPICH's Hydra and PMI-2 launchers PMI_RANK / PMI_SIZE.
static int launched_by_mpi(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

int dist_init(Dist *d, int *argc, char ***argv, Err *err) {
    *d = dist_single();
    int started = 0, rc;
    MPI_Initialized(&started);
    // Run alone, the process is one rank either way; MPI's singleton start
    // (Open MPI forks an orted and probes the hardware) cost 0.31 s of every
    // run here, a seventh of ./evaluate on SST-2 dev, so it is skipped.
    if (!started && !launched_by_mpi()) return 0;
    if (!started) {
        if ((rc = MPI_Init(argc, argv)) != MPI_SUCCESS) return mpi_fail(err, rc, "MPI_Init");
        d->owns_mpi = 1;
    }
    // A failed collective (a peer gone) comes back as a code, so the
    // surviving rank can say which step failed; mpirun then ends the job.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    return 0;
}

void dist_finalize(Dist *d) {
    if (d->owns_mpi) MPI_Finalize();
    d->owns_mpi = 0;
}

int dist_exit(const char *program, Dist *d, int rc, const Err *err) {
    if (rc == 0) {
        dist_finalize(d);
        return 0;
    }
    if (d->size > 1) {
        fprintf(stderr, "%s: rank %d of %d: %s\n", program, d->rank, d->size, err->msg);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    fprintf(stderr, "%s: %s\n", program, err->msg);
    dist_finalize(d);
    return 1;
}

Dist dist_single(void) { return (Dist){0, 1, 0}; }

int dist_allreduce_sum(const Dist *d, float *x, size_t n, const char *what, Err *err) {
    // MPI counts are ints: reduce in chunks (BERT-large has 335M parameters).
    const size_t chunk = (size_t)1 << 30;
    for (size_t at = 0; d->size > 1 && at < n; at += chunk) {
        int c = (int)(n - at < chunk ? n - at : chunk);
        int rc = MPI_Allreduce(MPI_IN_PLACE, x + at, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(err, rc, what);
    }
    return 0;
}

int dist_allreduce_sum_f64(const Dist *d, double *x, size_t n, Err *err) {
    if (d->size == 1) return 0;
    int rc = MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(err, rc, "all-reducing step statistics");
}

struct DistReduce {
    const Dist *dist;
    int num, cap;
    MPI_Request *pending;  // [cap]: started, not yet waited for
};

DistReduce *dist_reduce_new(const Dist *d, int max_pending, Err *err) {
    DistReduce *r = err_calloc(err, 1, sizeof *r, "all-reduce requests");
    if (!r) return NULL;
    r->dist = d;
    r->cap = max_pending;
    r->pending = err_calloc(err, (size_t)max_pending, sizeof *r->pending, "all-reduce requests");
    if (!r->pending) {
        free(r);
        return NULL;
    }
    return r;
}

void dist_reduce_free(DistReduce *r) {
    if (!r) return;
    free(r->pending);
    free(r);
}

int dist_reduce_start(DistReduce *r, float *x, size_t n, Err *err) {
    if (r->dist->size == 1 || n == 0) return 0;
    if (r->num == r->cap || n > (size_t)1 << 30)
        return err_set(err, "all-reduce: %d requests of at most 2^30 floats, asked one more of %zu",
                       r->cap, n);
    int rc = MPI_Iallreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                            &r->pending[r->num++]);
    if (rc != MPI_SUCCESS) return mpi_fail(err, rc, "starting an all-reduce");
    int done;
    rc = MPI_Testall(r->num, r->pending, &done, MPI_STATUSES_IGNORE);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(err, rc, "testing all-reduces");
}

int dist_reduce_finish(DistReduce *r, const char *what, Err *err) {
    if (r->num == 0) return 0;
    int rc = MPI_Waitall(r->num, r->pending, MPI_STATUSES_IGNORE);
    r->num = 0;
    return rc == MPI_SUCCESS ? 0 : mpi_fail(err, rc, what);
}

void dist_shard(int n, int rank, int size, int *lo, int *hi) {
    *lo = (int)((long)n * rank / size);
    *hi = (int)((long)n * (rank + 1) / size);
}
