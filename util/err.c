#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int err_set(Err *err, const char *fmt, ...) {
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int err_prefix(Err *err, const char *fmt, ...) {
    if (!err) return -1;
    char prefix[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[ERR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    size_t n = strnlen(prefix, sizeof err->msg - 3);
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t room = sizeof err->msg - n - 3, len = strnlen(old, room);
    memcpy(err->msg + n + 2, old, len);
    err->msg[n + 2 + len] = '\0';
    return -1;
}

void *err_malloc(Err *err, size_t bytes, const char *what) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) err_set(err, "out of memory allocating %s (%zu bytes)", what, bytes);
    return p;
}

void *err_calloc(Err *err, size_t count, size_t size, const char *what) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) err_set(err, "out of memory allocating %s (%zu x %zu bytes)", what, count, size);
    return p;
}

void *err_realloc(Err *err, void *ptr, size_t bytes, const char *what) {
    void *p = realloc(ptr, bytes ? bytes : 1);
    if (!p) err_set(err, "out of memory growing %s to %zu bytes", what, bytes);
    return p;
}
