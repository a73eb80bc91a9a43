// Error reporting without global state: every fallible call takes an Err*
// and, on failure, fills it with one line of context ("path: tensor X: ...")
// and returns -1 (or NULL).  Mains print err.msg and exit non-zero.
#ifndef UTIL_ERR_H
#define UTIL_ERR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ERR_MSG_MAX 1024

typedef struct Err {
    char msg[ERR_MSG_MAX];
} Err;

// Sets the message; always returns -1 so callers can `return err_set(...)`.
int err_set(Err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Prepends "context: " to an existing message; returns -1.
int err_prefix(Err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Checked allocation: on failure sets "out of memory allocating WHAT (N bytes)".
void *err_malloc(Err *err, size_t bytes, const char *what);
void *err_calloc(Err *err, size_t count, size_t size, const char *what);
void *err_realloc(Err *err, void *ptr, size_t bytes, const char *what);

#ifdef __cplusplus
}
#endif

#endif
