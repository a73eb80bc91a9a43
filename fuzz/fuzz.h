// Shared by the libFuzzer harnesses (fuzz/fuzz_*.c): every reader under test
// takes a path, so each input is written to a file in a private scratch
// directory (on /dev/shm when there is one) and read back from there.
#ifndef FUZZ_FUZZ_H
#define FUZZ_FUZZ_H

#define _GNU_SOURCE  // nftw, mkdtemp

#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_scratch[64];

static inline int fuzz_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    remove(path);  // best effort: keep removing the rest
    return 0;
}

static inline void fuzz_remove_scratch(void) { nftw(fuzz_scratch, fuzz_remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

// The scratch directory, made on first use (one per fuzzing process) and
// removed when the process exits normally (a crash leaves it for a look).
static inline const char *fuzz_dir(void) {
    if (!fuzz_scratch[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fuzz_scratch, sizeof fuzz_scratch, "%s/fuzz.XXXXXX", base);
        if (!mkdtemp(fuzz_scratch)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fuzz_remove_scratch);
    }
    return fuzz_scratch;
}

// "SCRATCH/name" in a static buffer per call site's choice of out[].
static inline const char *fuzz_path(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", fuzz_dir(), name);
    return out;
}

// Writes data[len] to SCRATCH/name (making SCRATCH/dirname(name) if needed);
// aborts on I/O failure, which is the harness's problem, not the input's.
static inline void fuzz_write(const char *name, const uint8_t *data, size_t len) {
    char path[512];
    fuzz_path(path, sizeof path, name);
    for (char *slash = strchr(path + strlen(fuzz_dir()) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(path, 0700);
        *slash = '/';
    }
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

// Removes SCRATCH/name (no error if absent).
static inline void fuzz_remove(const char *name) {
    char path[512];
    unlink(fuzz_path(path, sizeof path, name));
}

#endif
