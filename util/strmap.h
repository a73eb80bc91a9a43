// Byte string -> int id, the vocabulary table of both tokenizer engines:
// open addressing over FNV-1a hashes, keys copied into one arena.
#ifndef UTIL_STRMAP_H
#define UTIL_STRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct StrMap StrMap;

// A map sized for about `expected` keys (it grows past that).
StrMap *strmap_new(size_t expected, Err *err);
void strmap_free(StrMap *m);

// Maps key s[n] to id (>= 0); an equal key already present takes the new
// id, as a HashMap insert does.
int strmap_put(StrMap *m, const char *s, size_t n, int id, Err *err);

// FNV-1a, continuable: strmap_hash(strmap_hash(STRMAP_SEED, a, na), b, nb)
// is the hash of a followed by b, so callers can extend a key byte by byte.
#define STRMAP_SEED 1469598103934665603ull
static inline uint64_t strmap_hash(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

// Id of the key prefix[plen] followed by s[n] (hash h, as above), or -1.
// Nothing is copied.
int strmap_find_hashed(const StrMap *m, uint64_t h, const char *prefix, size_t plen, const char *s,
                       size_t n);
int strmap_find(const StrMap *m, const char *s, size_t n);

size_t strmap_count(const StrMap *m);        // distinct keys
size_t strmap_max_key_len(const StrMap *m);  // bytes of the longest key

// Calls fn for every key (NUL-terminated; valid until the next put).
void strmap_each(const StrMap *m, void (*fn)(void *ctx, const char *key, size_t len, int id),
                 void *ctx);

#endif
