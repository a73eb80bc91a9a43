#include "util/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t grow_capacity(size_t cap, size_t need) {
    if (need <= cap) return cap;
    size_t grown = cap ? cap : 16;
    while (grown < need) {
        if (grown > SIZE_MAX / 2) return need;
        grown *= 2;
    }
    return grown;
}

void *resize_raw(void *ptr, size_t n, size_t elem, const char *what, Err *err) {
    if (elem && n > SIZE_MAX / elem) {
        err_set(err, "%s: %zu elements is too many", what, n);
        return NULL;
    }
    return err_realloc(err, ptr, n * elem, what);
}

int buf_append(Buf *b, const void *bytes, size_t n, const char *what, Err *err) {
    if (n > SIZE_MAX - b->len - 1) return err_set(err, "%s: too large", what);
    if (GROW(b->data, b->cap, b->len + n + 1, what, err) != 0) return -1;
    if (n) memcpy(b->data + b->len, bytes, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_vprintf(Buf *b, const char *what, Err *err, const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    int rc = n < 0 ? err_set(err, "%s: cannot format text", what)
                   : GROW(b->data, b->cap, b->len + (size_t)n + 1, what, err);
    if (rc == 0) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
    return rc;
}

int buf_printf(Buf *b, const char *what, Err *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, what, err, fmt, ap);
    va_end(ap);
    return rc;
}

void buf_free(Buf *b) {
    free(b->data);
    *b = (Buf){0};
}
