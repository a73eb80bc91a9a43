#define _GNU_SOURCE  // vasprintf
#include "util/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Stores text in err->msg.  Text too long for it loses its middle, not its
// end: a message starts with where (a path) and ends with why, and the why
// is what the user needs most.
static void store_shortened(Err *err, const char *text) {
    static const char cut[] = " [...] ";
    size_t n = strlen(text), cap = sizeof err->msg - 1;
    if (n <= cap) {
        memcpy(err->msg, text, n + 1);
        return;
    }
    size_t head = (cap - (sizeof cut - 1)) / 3, tail = cap - (sizeof cut - 1) - head;
    memcpy(err->msg, text, head);
    memcpy(err->msg + head, cut, sizeof cut - 1);
    memcpy(err->msg + head + sizeof cut - 1, text + n - tail, tail + 1);
}

// err->msg = the formatted text, followed by ": " and `rest` when given.
static void store_formatted(Err *err, const char *rest, const char *fmt, va_list ap) {
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0) {
        snprintf(err->msg, sizeof err->msg, "out of memory formatting an error message");
        return;
    }
    if (rest) {
        char *joined = NULL;
        if (asprintf(&joined, "%s: %s", text, rest) < 0) {
            free(text);
            snprintf(err->msg, sizeof err->msg, "out of memory formatting an error message");
            return;
        }
        free(text);
        text = joined;
    }
    store_shortened(err, text);
    free(text);
}

int err_set(Err *err, const char *fmt, ...) {
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    store_formatted(err, NULL, fmt, ap);
    va_end(ap);
    return -1;
}

int err_prefix(Err *err, const char *fmt, ...) {
    if (!err) return -1;
    char old[ERR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    store_formatted(err, old, fmt, ap);
    va_end(ap);
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
