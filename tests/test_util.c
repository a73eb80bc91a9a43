// util/: the strict UTF-8 decoder against the Unicode Standard's table 3-7
// (well-formed byte sequences) and its boundary vectors; the growable
// buffers, the vocabulary map and the clock against plain reference
// implementations; and the White_Space class the SentencePiece engine
// splits at against Unicode's PropList.txt.
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/testutil.h"
#include "tokenizer/unicode.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/rng.h"
#include "util/strmap.h"
#include "util/utf8.h"

// ------------------------------------------------------------------ UTF-8

// The Unicode Standard, chapter 3, table 3-7 "Well-Formed UTF-8 Byte
// Sequences": every row as the byte range allowed at each position.
static const struct {
    uint32_t first, last;  // code points of the row
    int len;
    unsigned char lo[4], hi[4];
} TABLE_3_7[] = {
    {0x0000, 0x007F, 1, {0x00}, {0x7F}},
    {0x0080, 0x07FF, 2, {0xC2, 0x80}, {0xDF, 0xBF}},
    {0x0800, 0x0FFF, 3, {0xE0, 0xA0, 0x80}, {0xE0, 0xBF, 0xBF}},
    {0x1000, 0xCFFF, 3, {0xE1, 0x80, 0x80}, {0xEC, 0xBF, 0xBF}},
    {0xD000, 0xD7FF, 3, {0xED, 0x80, 0x80}, {0xED, 0x9F, 0xBF}},
    {0xE000, 0xFFFF, 3, {0xEE, 0x80, 0x80}, {0xEF, 0xBF, 0xBF}},
    {0x10000, 0x3FFFF, 4, {0xF0, 0x90, 0x80, 0x80}, {0xF0, 0xBF, 0xBF, 0xBF}},
    {0x40000, 0xFFFFF, 4, {0xF1, 0x80, 0x80, 0x80}, {0xF3, 0xBF, 0xBF, 0xBF}},
    {0x100000, 0x10FFFF, 4, {0xF4, 0x80, 0x80, 0x80}, {0xF4, 0x8F, 0xBF, 0xBF}},
};
enum { TABLE_ROWS = sizeof TABLE_3_7 / sizeof TABLE_3_7[0] };

// Length of the well-formed sequence starting s[0..n) per table 3-7, or 0.
static int table_length(const unsigned char *s, size_t n) {
    for (int r = 0; r < TABLE_ROWS; r++) {
        int len = TABLE_3_7[r].len, ok = (size_t)len <= n;
        for (int k = 0; ok && k < len; k++)
            ok = s[k] >= TABLE_3_7[r].lo[k] && s[k] <= TABLE_3_7[r].hi[k];
        if (ok) return len;
    }
    return 0;
}

// Each row's first and last sequences decode to the row's first and last
// code points, and encoding those code points gives the sequences back.
START_TEST(utf8_table_boundaries) {
    for (int r = 0; r < TABLE_ROWS; r++) {
        const unsigned char *ends[2] = {TABLE_3_7[r].lo, TABLE_3_7[r].hi};
        uint32_t cps[2] = {TABLE_3_7[r].first, TABLE_3_7[r].last};
        for (int e = 0; e < 2; e++) {
            uint32_t cp = 0xFFFFFFFF;
            int len = TABLE_3_7[r].len;
            ck_assert_int_eq(utf8_decode((const char *)ends[e], (size_t)len, &cp), len);
            ck_assert_uint_eq(cp, cps[e]);
            char out[4];
            ck_assert_int_eq(utf8_encode(cps[e], out), len);
            ck_assert_mem_eq(out, ends[e], (size_t)len);
            // One byte short is never a sequence.
            ck_assert_int_eq(utf8_decode((const char *)ends[e], (size_t)len - 1, &cp), 0);
        }
    }
}
END_TEST

// Every lead byte followed by every second and third byte (and a fourth
// continuation or not): accepted exactly when table 3-7 says so.
START_TEST(utf8_exhaustive_prefixes) {
    static const unsigned char fourth[] = {0x80, 0xBF, 0x41, 0xC0};
    for (unsigned b0 = 0; b0 < 256; b0++)
        for (unsigned b1 = 0; b1 < 256; b1++)
            for (unsigned b2 = 0; b2 < 256; b2++)
                for (size_t f = 0; f < sizeof fourth; f++) {
                    unsigned char s[4] = {(unsigned char)b0, (unsigned char)b1,
                                          (unsigned char)b2, fourth[f]};
                    uint32_t cp;
                    int got = utf8_decode((const char *)s, 4, &cp);
                    int want = table_length(s, 4);
                    if (got != want)
                        ck_abort_msg("%02X %02X %02X %02X: decoded length %d, table 3-7 says %d",
                                     s[0], s[1], s[2], s[3], got, want);
                }
}
END_TEST

// Ill-formed sequences named by the standard (section 3.9 and its
// examples): overlongs, surrogates, past U+10FFFF, stray continuations,
// truncation, and bytes that never occur.
START_TEST(utf8_ill_formed) {
    static const char *const bad[] = {
        "\xC0\x80",         "\xC1\xBF",         "\xE0\x80\x80",     "\xE0\x9F\xBF",
        "\xF0\x80\x80\x80", "\xF0\x8F\xBF\xBF", "\xED\xA0\x80",     "\xED\xBF\xBF",
        "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xF7\xBF\xBF\xBF", "\xF8\x88\x80\x80\x80",
        "\x80",             "\xBF",             "\xFE",             "\xFF",
        "\xC3\x28",         "\xE2\x82",         "\xE2\x28\xA1",     "\xF0\x9F\x98",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t cp;
        size_t n = strlen(bad[i]);
        ck_assert_msg(utf8_decode(bad[i], n, &cp) == 0, "case %zu decoded", i);
        ck_assert_uint_eq(utf8_invalid_at(bad[i], n), 0);
    }
    // utf8_invalid_at points at the first bad sequence, or returns n.
    const char *text = "ab\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80" "c\xED\xA0\x80z";
    ck_assert_uint_eq(utf8_invalid_at(text, strlen(text)), 12);
    ck_assert_uint_eq(utf8_invalid_at(text, 12), 12);
    ck_assert_uint_eq(utf8_invalid_at("", 0), 0);
    // NUL is a character like any other.
    ck_assert_uint_eq(utf8_invalid_at("a\0b", 3), 3);
}
END_TEST

// Every scalar value round-trips, with the length table 3-7's rows give.
START_TEST(utf8_round_trip_all_scalars) {
    for (uint32_t c = 0; c <= 0x10FFFF; c++) {
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        char s[4];
        int len = utf8_encode(c, s);
        int want = 0;
        for (int r = 0; r < TABLE_ROWS; r++)
            if (c >= TABLE_3_7[r].first && c <= TABLE_3_7[r].last) want = TABLE_3_7[r].len;
        uint32_t back = 0xFFFFFFFF;
        if (len != want || utf8_decode(s, (size_t)len, &back) != len || back != c)
            ck_abort_msg("U+%04X: length %d (want %d), decoded U+%04X", c, len, want, back);
    }
}
END_TEST

// ---------------------------------------------------------------- buffers

START_TEST(grow_capacity_rule) {
    ck_assert_uint_eq(grow_capacity(0, 1), 16);
    ck_assert_uint_eq(grow_capacity(0, 17), 32);
    ck_assert_uint_eq(grow_capacity(16, 16), 16);
    ck_assert_uint_eq(grow_capacity(16, 100), 128);
    ck_assert_uint_eq(grow_capacity(3, 4), 6);
    // Where doubling would overflow, exactly what is asked.
    ck_assert_uint_eq(grow_capacity(SIZE_MAX / 2 + 1, SIZE_MAX - 1), SIZE_MAX - 1);
}
END_TEST

// Byte buffer and typed arrays against the same data built in one piece.
START_TEST(buffers_match_reference) {
    Err err;
    Buf b = {0};
    size_t want_len = 0;
    char *want = malloc(1 << 20);
    ck_assert_ptr_nonnull(want);
    Rng rng;
    rng_seed(&rng, 7);
    for (int i = 0; i < 5000; i++) {
        char chunk[64];
        size_t n = (size_t)rng_below(&rng, sizeof chunk);
        for (size_t k = 0; k < n; k++) chunk[k] = (char)rng_below(&rng, 256);
        if (i % 3 == 0) {
            ck_assert_int_eq(buf_printf(&b, "test", &err, "<%d:%s>", i, "x"), 0);
            want_len += (size_t)sprintf(want + want_len, "<%d:%s>", i, "x");
        } else {
            ck_assert_int_eq(buf_append(&b, chunk, n, "test", &err), 0);
            memcpy(want + want_len, chunk, n);
            want_len += n;
        }
        ck_assert_uint_eq(b.len, want_len);
        ck_assert(b.cap > b.len);
        ck_assert_int_eq(b.data[b.len], '\0');
    }
    ck_assert_mem_eq(b.data, want, want_len);
    buf_free(&b);
    ck_assert_ptr_null(b.data);
    free(want);

    int *v = NULL;
    double *w = NULL;
    size_t cap = 0, n = 0, wcap = 0;
    for (int i = 0; i < 100000; i++) {
        ck_assert_int_eq(GROW(v, cap, n + 1, "ints", &err), 0);
        v[n++] = i * 7;
    }
    ck_assert_uint_ge(cap, n);
    for (size_t i = 0; i < n; i++) ck_assert_int_eq(v[i], (int)i * 7);
    ck_assert_int_eq(RESIZE(w, 3, "doubles", &err), 0);
    w[2] = 1.5;
    ck_assert_int_eq(GROW(w, wcap, 3, "doubles", &err), 0);
    ck_assert(wcap >= 3);
    free(v);
    free(w);
    // An impossible size fails with a message, leaving the array as it was.
    int *big = NULL;
    ck_assert_int_eq(RESIZE(big, SIZE_MAX / 2, "huge array", &err), -1);
    ck_assert_ptr_null(big);
    ck_assert_ptr_nonnull(strstr(err.msg, "huge array"));
}
END_TEST

// ------------------------------------------------------------ vocabulary

// Random keys (short ones collide often; some repeat with a new id) against
// a linear list: every lookup, the prefix form, the count and iteration.
START_TEST(strmap_matches_linear_reference) {
    enum { N = 20000 };
    Err err;
    StrMap *m = strmap_new(16, &err);  // far too small: it must grow
    ck_assert_ptr_nonnull(m);
    char (*keys)[12] = calloc(N, sizeof *keys);
    int *ids = calloc(N, sizeof *ids);
    ck_assert(keys && ids);
    int nkeys = 0;
    size_t max_len = 0;
    Rng rng;
    rng_seed(&rng, 11);
    for (int i = 0; i < N; i++) {
        char key[12];
        size_t len = 1 + (size_t)rng_below(&rng, 5);
        for (size_t k = 0; k < len; k++) key[k] = (char)('a' + rng_below(&rng, 4));
        key[len] = '\0';
        ck_assert_int_eq(strmap_put(m, key, len, i, &err), 0);
        int k = 0;
        while (k < nkeys && strcmp(keys[k], key) != 0) k++;
        if (k == nkeys) strcpy(keys[nkeys++], key);
        ids[k] = i;  // a repeated key takes the later id
        if (len > max_len) max_len = len;
    }
    ck_assert_uint_eq(strmap_count(m), (size_t)nkeys);
    ck_assert_uint_eq(strmap_max_key_len(m), max_len);
    for (int k = 0; k < nkeys; k++) {
        size_t len = strlen(keys[k]);
        ck_assert_int_eq(strmap_find(m, keys[k], len), ids[k]);
        // The same key as prefix + rest, hashed in two steps.
        uint64_t h = strmap_hash(strmap_hash(STRMAP_SEED, keys[k], 1), keys[k] + 1, len - 1);
        ck_assert_int_eq(strmap_find_hashed(m, h, keys[k], 1, keys[k] + 1, len - 1), ids[k]);
    }
    ck_assert_int_eq(strmap_find(m, "e", 1), -1);
    ck_assert_int_eq(strmap_find(m, "aaaaaa", 6), -1);
    ck_assert_int_eq(strmap_find(m, "", 0), -1);
    free(keys);
    free(ids);
    strmap_free(m);
}
END_TEST

static void count_key(void *ctx, const char *key, size_t len, int id) {
    int *seen = ctx;
    ck_assert_uint_eq(strlen(key), len);  // NUL-terminated, no embedded NUL here
    seen[id]++;
}

START_TEST(strmap_each_visits_every_key_once) {
    Err err;
    StrMap *m = strmap_new(4, &err);
    ck_assert_ptr_nonnull(m);
    int seen[3000] = {0};
    for (int i = 0; i < 3000; i++) {
        char key[16];
        int n = snprintf(key, sizeof key, "k%d", i);
        ck_assert_int_eq(strmap_put(m, key, (size_t)n, i, &err), 0);
    }
    strmap_each(m, count_key, seen);
    for (int i = 0; i < 3000; i++) ck_assert_int_eq(seen[i], 1);
    ck_assert_int_eq(strmap_put(m, "x", 1, -1, &err), -1);
    strmap_free(m);
}
END_TEST

// --------------------------------------------------------------- clock

START_TEST(clock_is_monotonic_seconds) {
    double t0 = clock_seconds(), prev = t0;
    for (int i = 0; i < 1000; i++) {
        double t = clock_seconds();
        ck_assert(t >= prev);
        prev = t;
    }
    struct timespec pause = {0, 50 * 1000 * 1000};
    nanosleep(&pause, NULL);
    double slept = clock_seconds() - t0;
    ck_assert_msg(slept >= 0.049 && slept < 5.0, "50 ms sleep measured as %g s", slept);
}
END_TEST

// ----------------------------------------------------------- White_Space

// Unicode 15 PropList.txt, property White_Space: the characters the
// SentencePiece engine splits words at (tokenizers' WhitespaceSplit).
START_TEST(white_space_matches_proplist) {
    static const uint32_t ranges[][2] = {
        {0x0009, 0x000D}, {0x0020, 0x0020}, {0x0085, 0x0085}, {0x00A0, 0x00A0},
        {0x1680, 0x1680}, {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F},
        {0x205F, 0x205F}, {0x3000, 0x3000},
    };
    int count = 0;
    for (uint32_t c = 0; c <= 0x10FFFF; c++) {
        if (c >= 0xD800 && c <= 0xDFFF) continue;
        bool want = false;
        for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++)
            want |= c >= ranges[r][0] && c <= ranges[r][1];
        if (uni_is_white_space(c) != want) ck_abort_msg("U+%04X: White_Space should be %d", c, want);
        count += want;
    }
    ck_assert_int_eq(count, 25);
}
END_TEST

Suite *util_suite(void) {
    Suite *s = suite_create("util");
    TCase *utf8 = tcase_create("utf8");
    tcase_set_timeout(utf8, 120);
    tcase_add_test(utf8, utf8_table_boundaries);
    tcase_add_test(utf8, utf8_exhaustive_prefixes);
    tcase_add_test(utf8, utf8_ill_formed);
    tcase_add_test(utf8, utf8_round_trip_all_scalars);
    tcase_add_test(utf8, white_space_matches_proplist);
    suite_add_tcase(s, utf8);
    TCase *containers = tcase_create("containers");
    tcase_set_timeout(containers, 60);
    tcase_add_test(containers, grow_capacity_rule);
    tcase_add_test(containers, buffers_match_reference);
    tcase_add_test(containers, strmap_matches_linear_reference);
    tcase_add_test(containers, strmap_each_visits_every_key_once);
    tcase_add_test(containers, clock_is_monotonic_seconds);
    suite_add_tcase(s, containers);
    return s;
}
