// Strict UTF-8 (Unicode table 3-7: no overlong forms, no surrogates,
// nothing above U+10FFFF), the one decoder every parser uses.
#ifndef UTIL_UTF8_H
#define UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Decodes the well-formed sequence at the start of s[0..n); returns its
// length (1-4) and the code point in *cp, or 0 if s does not start with one
// (also when n == 0).
int utf8_decode(const char *s, size_t n, uint32_t *cp);

// Writes the UTF-8 form of scalar value c to out[4]; returns the byte count.
int utf8_encode(uint32_t c, char *out);

// Offset of the first byte that does not start a well-formed sequence, or
// n when all of s[0..n) is valid.
size_t utf8_invalid_at(const char *s, size_t n);

static inline bool utf8_is_continuation(char c) { return ((unsigned char)c & 0xC0) == 0x80; }

#endif
