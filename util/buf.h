// Growable arrays and a growable byte buffer: the one doubling rule every
// parser and writer uses.
#ifndef UTIL_BUF_H
#define UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "util/err.h"

// Capacity that holds `need` elements: cap doubled (from 16) until it does
// (just `need` where doubling would overflow).
size_t grow_capacity(size_t cap, size_t need);

// Reallocates ptr (any T *) to n elements; on failure ptr is unchanged and
// err says "out of memory allocating WHAT".  0 or -1.
#define RESIZE(ptr, n, what, err)                                                \
    ({                                                                           \
        void *resized_ = resize_raw((ptr), (n), sizeof *(ptr), (what), (err));  \
        if (resized_) (ptr) = resized_;                                          \
        resized_ ? 0 : -1;                                                       \
    })
void *resize_raw(void *ptr, size_t n, size_t elem, const char *what, Err *err);

// Makes room for `need` elements in ptr (any T *) whose capacity is the
// size_t lvalue cap, doubling it.  0 or -1.
#define GROW(ptr, cap, need, what, err)                              \
    ({                                                               \
        size_t need_ = (need), grown_ = grow_capacity((cap), need_); \
        int rc_ = need_ > (cap) ? RESIZE(ptr, grown_, what, err) : 0; \
        if (rc_ == 0) (cap) = grown_;                                \
        rc_;                                                         \
    })

// Bytes, always NUL-terminated once anything was appended ({0} is empty).
typedef struct {
    char *data;
    size_t len, cap;
} Buf;

int buf_append(Buf *b, const void *bytes, size_t n, const char *what, Err *err);
int buf_printf(Buf *b, const char *what, Err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int buf_vprintf(Buf *b, const char *what, Err *err, const char *fmt, va_list ap);
void buf_free(Buf *b);

#endif
