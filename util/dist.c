#include "util/dist.h"

#include <mpi.h>
#include <string.h>

// MPI's own error text after "what": "MPI_Allreduce: ...".
static int mpi_fail(Err *err, int code, const char *what) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) strcpy(text, "unknown MPI error");
    return err_set(err, "%s: %s", what, text);
}

int dist_init(Dist *d, int *argc, char ***argv, Err *err) {
    *d = dist_single();
    int started = 0, rc;
    MPI_Initialized(&started);
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

void dist_abort(const Dist *d, int code) {
    if (d->size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

Dist dist_single(void) { return (Dist){0, 1, 0}; }

int dist_allreduce_sum(const Dist *d, float *x, size_t n, Err *err) {
    // MPI counts are ints: reduce in chunks (BERT-large has 335M parameters).
    const size_t chunk = (size_t)1 << 30;
    for (size_t at = 0; d->size > 1 && at < n; at += chunk) {
        int c = (int)(n - at < chunk ? n - at : chunk);
        int rc = MPI_Allreduce(MPI_IN_PLACE, x + at, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(err, rc, "all-reducing gradients");
    }
    return 0;
}

int dist_allreduce_sum_f64(const Dist *d, double *x, size_t n, Err *err) {
    if (d->size == 1) return 0;
    int rc = MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(err, rc, "all-reducing step statistics");
}

int dist_allgather(const Dist *d, const float *mine, const int *counts, float *all, Err *err) {
    if (d->size == 1) {
        if (all != mine) memmove(all, mine, sizeof(float) * (size_t)counts[0]);
        return 0;
    }
    int displs[d->size];
    for (int r = 0, at = 0; r < d->size; at += counts[r++]) displs[r] = at;
    int rc = MPI_Allgatherv(mine, counts[d->rank], MPI_FLOAT, all, counts, displs, MPI_FLOAT,
                            MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(err, rc, "gathering evaluation outputs");
}

int dist_bcast_int(const Dist *d, int *flag, Err *err) {
    if (d->size == 1) return 0;
    int rc = MPI_Bcast(flag, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : mpi_fail(err, rc, "sharing the root's decision");
}

void dist_shard(int n, int rank, int size, int *lo, int *hi) {
    *lo = (int)((long)n * rank / size);
    *hi = (int)((long)n * (rank + 1) / size);
}
