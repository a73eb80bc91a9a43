// The all-reduce figure of docs/scaling.md: one blocking MPI_Allreduce of
// MiniLM-L6's whole fp32 gradient (22,713,986 floats), 9 runs, median.
//   mpicc -O2 bench/allreduce_time.c -o /tmp/allreduce_time
//   mpirun -np 2 --bind-to core /tmp/allreduce_time
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank; MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const int n = 22713986; float *g = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) g[i] = 1e-3f * (i % 97);
    double t[9];
    for (int r = 0; r < 9; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, g, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        t[r] = MPI_Wtime() - t0;
    }
    qsort(t, 9, sizeof *t, cmp);
    if (rank == 0) printf("MPI_Allreduce of %d floats (%.1f MB), 2 ranks: median %.4f s (min %.4f, max %.4f)\n", n, n * 4e-6, t[4], t[0], t[8]);
    MPI_Finalize();
}
