// Small, fully checked file helpers shared by every folder.
#ifndef UTIL_FILEIO_H
#define UTIL_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

// Opens path for reading if it is a regular file (a FIFO, a directory or a
// device is refused without blocking, naming what it is); returns the fd or -1.
int file_open_regular(const char *path, Err *err);
// Reads a whole regular file into a NUL-terminated heap buffer (caller frees).
int file_read_all(const char *path, char **data, size_t *len, Err *err);
bool file_exists(const char *path);
bool dir_exists(const char *path);
// Anything at path (a file, a directory, a FIFO, a dangling link).
bool path_exists(const char *path);
// Writes `len` bytes to path via path.tmp + fsync + rename, so an existing
// file is never left half-written.
int file_write_atomic(const char *path, const void *data, size_t len, Err *err);
// mkdir -p.
int dir_make(const char *path, Err *err);
// rm -rf; missing path is not an error.
int dir_remove_tree(const char *path, Err *err);
// Atomically replaces directory `dst` by directory `src` (both on one file
// system): after the call `dst` holds what `src` held and `src` is gone.
int dir_replace(const char *src, const char *dst, Err *err);
// snprintf into out[cap] of "a/b"; error if it would truncate.
int path_join(char *out, size_t cap, const char *a, const char *b, Err *err);
// Copies a file byte for byte (atomically).
int file_copy(const char *src, const char *dst, Err *err);
// Size and 64-bit FNV-1a hash of a file's bytes: what a checkpoint records
// of its training data, so that a resumed run can tell the data changed.
int file_fingerprint(const char *path, size_t *size, uint64_t *hash, Err *err);

// Mains call this first: a file-size limit then makes writes fail with
// EFBIG (a reported error) instead of killing the process with SIGXFSZ.
void file_size_limit_as_error(void);

// Parses dir/name as JSON into *out (free with cJSON_Delete); a missing
// file is not an error (*out = NULL), invalid JSON is.
typedef struct cJSON cJSON;
int json_read_optional(const char *dir, const char *name, cJSON **out, Err *err);

#endif
