#include "util/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

typedef struct {
    uint64_t hash;
    int32_t id;  // -1: empty slot
    uint32_t len;
    size_t off;  // into arena
} Slot;

struct StrMap {
    Slot *slots;  // power-of-two count, at most half full
    size_t mask;
    size_t count, max_len;
    Buf arena;  // every key, NUL-terminated
};

static Slot *new_slots(size_t n, Err *err) {
    Slot *s = err_malloc(err, n * sizeof *s, "vocabulary hash table");
    if (s)
        for (size_t i = 0; i < n; i++) s[i].id = -1;
    return s;
}

StrMap *strmap_new(size_t expected, Err *err) {
    StrMap *m = err_calloc(err, 1, sizeof *m, "vocabulary");
    if (!m) return NULL;
    size_t n = 1024;
    while (n < 2 * expected + 2) n *= 2;
    m->slots = new_slots(n, err);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    m->mask = n - 1;
    return m;
}

void strmap_free(StrMap *m) {
    if (!m) return;
    free(m->slots);
    buf_free(&m->arena);
    free(m);
}

int strmap_find_hashed(const StrMap *m, uint64_t h, const char *prefix, size_t plen, const char *s,
                       size_t n) {
    for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
        const Slot *slot = &m->slots[i];
        if (slot->id < 0) return -1;
        if (slot->hash == h && slot->len == plen + n) {
            const char *key = m->arena.data + slot->off;
            if (memcmp(key, prefix, plen) == 0 && memcmp(key + plen, s, n) == 0) return slot->id;
        }
    }
}

int strmap_find(const StrMap *m, const char *s, size_t n) {
    return strmap_find_hashed(m, strmap_hash(STRMAP_SEED, s, n), "", 0, s, n);
}

// Rehashes into a table twice the size.
static int grow(StrMap *m, Err *err) {
    size_t n = (m->mask + 1) * 2;
    Slot *slots = new_slots(n, err);
    if (!slots) return -1;
    for (size_t i = 0; i <= m->mask; i++) {
        if (m->slots[i].id < 0) continue;
        size_t j = m->slots[i].hash & (n - 1);
        while (slots[j].id >= 0) j = (j + 1) & (n - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->mask = n - 1;
    return 0;
}

int strmap_put(StrMap *m, const char *s, size_t n, int id, Err *err) {
    if (id < 0) return err_set(err, "vocabulary: negative id %d", id);
    if (n > UINT32_MAX) return err_set(err, "vocabulary: key of %zu bytes is too long", n);
    if (2 * m->count + 2 > m->mask + 1 && grow(m, err) != 0) return -1;
    uint64_t h = strmap_hash(STRMAP_SEED, s, n);
    size_t i = h & m->mask;
    for (;; i = (i + 1) & m->mask) {
        Slot *slot = &m->slots[i];
        if (slot->id < 0) break;
        if (slot->hash == h && slot->len == n && memcmp(m->arena.data + slot->off, s, n) == 0) {
            slot->id = id;
            return 0;
        }
    }
    size_t off = m->arena.len;
    // Each key keeps its NUL: append it with the key, then the buffer's own.
    if (buf_append(&m->arena, s, n, "vocabulary", err) != 0 ||
        buf_append(&m->arena, "", 1, "vocabulary", err) != 0)
        return -1;
    m->slots[i] = (Slot){h, id, (uint32_t)n, off};
    m->count++;
    if (n > m->max_len) m->max_len = n;
    return 0;
}

size_t strmap_count(const StrMap *m) { return m->count; }
size_t strmap_max_key_len(const StrMap *m) { return m->max_len; }

void strmap_each(const StrMap *m, void (*fn)(void *ctx, const char *key, size_t len, int id),
                 void *ctx) {
    for (size_t i = 0; i <= m->mask; i++)
        if (m->slots[i].id >= 0)
            fn(ctx, m->arena.data + m->slots[i].off, m->slots[i].len, m->slots[i].id);
}
