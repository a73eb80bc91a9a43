// WordPiece engine: raw text -> the ids transformers 5.x's BertTokenizer
// gives.  That class is a thin shell over the Rust `tokenizers` library; per
// call it does, in this order:
//   1. added tokens ([CLS], [SEP], [MASK], ... and any from the configs)
//      whose `normalized` flag is off are found in the RAW text
//      (leftmost-longest, honouring single_word / lstrip / rstrip); the text
//      between them is processed on its own;
//   2. BertNormalizer: drop controls / U+FFFD and turn whitespace into ' ',
//      put spaces around CJK ideographs, NFD + drop Mn (strip accents),
//      lowercase per code point (no final-sigma rule);
//   3. added tokens with `normalized` on are found in the normalized text;
//   4. BertPreTokenizer: split at White_Space, isolate each punctuation char;
//   5. WordPiece: greedy longest-prefix match with "##" continuations; a word
//      over 100 chars, or with any unmatched rest, becomes one unk token.
// The character tables (tokenizer/unicode_tables.c) are generated against
// the installed library, so they follow its mixed Unicode versions.
//
// Loading mimics BertTokenizer.from_pretrained(dir): the vocabulary comes
// from tokenizer.json when present (else vocab.txt), but the normalizer
// settings come ONLY from tokenizer_config.json (do_lower_case,
// strip_accents, tokenize_chinese_chars; defaults true / follow-lowercase /
// true) -- transformers rebuilds the normalizer and ignores tokenizer.json's.
#include <cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/engines.h"
#include "tokenizer/unicode.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/strmap.h"
#include "util/utf8.h"

#define WP_PATH_MAX 4096
enum { MAX_WORD_CHARS = 100 };  // BertTokenizer's max_input_chars_per_word
static const char SUBWORD_PREFIX[] = "##";
enum { SUBWORD_PREFIX_LEN = 2 };
// Ids beyond this are rejected at load so a corrupt file cannot make us
// allocate an absurd id -> piece table.
enum { MAX_ID = 1 << 24 };
// Texts are limited so every count fits an int: normalization turns one
// input byte into at most 2 code points (NFD, CJK padding, İ -> i + dot),
// and each id takes at least one of them.
#define MAX_TEXT_BYTES ((size_t)1 << 26)

typedef struct {
    char *content;  // as configured [len]
    size_t len;
    char *pattern;  // what is searched for: content, or its normalized form [plen]
    size_t plen;
    int id;
    bool single_word, lstrip, rstrip, normalized, special;
} AddedToken;

// The named special tokens BertTokenizer knows, in transformers' order.
enum { NAMED_BOS, NAMED_EOS, NAMED_UNK, NAMED_SEP, NAMED_PAD, NAMED_CLS, NAMED_MASK, N_NAMED };
static const char *const NAMED_KEYS[N_NAMED] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                                "pad_token", "cls_token", "mask_token"};
static const char *const NAMED_DEFAULTS[N_NAMED] = {NULL,    NULL,    "[UNK]", "[SEP]",
                                                    "[PAD]", "[CLS]", "[MASK]"};

struct WordPiece {
    StrMap *vocab;          // piece -> id
    int n_pieces;           // distinct vocab entries (the model's vocab size)
    size_t max_piece_len;   // bytes of the longest vocab entry
    int n_ids;              // max id + 1 over vocab and added tokens
    const char **id_piece;  // [n_ids], NULL for unused ids
    int unk_model_id;       // id of the unk token in the vocab, -1 if absent
    bool lowercase, strip_accents, split_cjk;
    bool split_special;  // split_special_tokens: special tokens in the text are plain text
    AddedToken *added;   // [n_added]
    int n_added;
    bool raw_first[256], norm_first[256];  // first bytes of raw / normalized patterns
    bool has_norm_patterns;
    SpecialTokens specials;
};

// ---------------------------------------------------------------- buffers

typedef struct {
    uint32_t *v;
    size_t len, cap;
} CpBuf;

typedef struct {
    char *v;
    size_t len, cap;
} ByteBuf;

typedef struct {
    size_t start, end;
    int id;  // added token id, or -1 for text
} Segment;

typedef struct {
    Segment *v;
    size_t len, cap;
} SegBuf;

static int cp_push(CpBuf *b, uint32_t c, Err *err) {
    if (GROW(b->v, b->cap, b->len + 1, "tokenizer buffer", err)) return -1;
    b->v[b->len++] = c;
    return 0;
}

static int seg_push(SegBuf *b, size_t start, size_t end, int id, Err *err) {
    if (GROW(b->v, b->cap, b->len + 1, "tokenizer buffer", err)) return -1;
    b->v[b->len++] = (Segment){start, end, id};
    return 0;
}

// Ids written into the caller's buffer up to cap; the count goes on.
typedef struct {
    int *ids;  // [cap]
    int cap;
    int count;
} IdSink;

static void sink_push(IdSink *out, int id) {
    if (out->count < out->cap) out->ids[out->count] = id;
    out->count++;
}

// ---------------------------------------------------------------- UTF-8

// Decoder for text already validated.
static int utf8_next(const char *s, size_t n, size_t i, uint32_t *cp) {
    return utf8_decode(s + i, n - i, cp);
}

// The code point ending just before byte `end`.
static uint32_t utf8_last(const char *s, size_t end) {
    size_t i = end - 1;
    while (i > 0 && utf8_is_continuation(s[i])) i--;
    uint32_t cp = 0;
    utf8_next(s, end, i, &cp);
    return cp;
}

// ---------------------------------------------------------------- vocab

// Id of prefix [plen] followed by s [n] in the vocab, or -1 (no copy).
static int vocab_find(const WordPiece *wp, const char *prefix, size_t plen, const char *s,
                      size_t n) {
    uint64_t h = strmap_hash(strmap_hash(STRMAP_SEED, prefix, plen), s, n);
    return strmap_find_hashed(wp->vocab, h, prefix, plen, s, n);
}

// Inserts piece [n] -> id; a repeated piece takes the later id (as a
// HashMap insert does in tokenizers).
static int vocab_add(WordPiece *wp, const char *piece, size_t n, int id, Err *err) {
    if (strmap_put(wp->vocab, piece, n, id, err) != 0) return -1;
    wp->n_pieces = (int)strmap_count(wp->vocab);
    wp->max_piece_len = strmap_max_key_len(wp->vocab);
    return 0;
}

// vocab.txt: one piece per line, id = line number.  Like tokenizers'
// WordPiece::read_file, lines end at '\n' and lose trailing White_Space
// (so "\r\n" files work and "tok \n" is "tok").
static int read_vocab_txt(WordPiece *wp, const char *path, Err *err) {
    char *data;
    size_t len;
    if (file_read_all(path, &data, &len, err)) return -1;
    size_t bad = utf8_invalid_at(data, len);
    if (bad < len) {
        int line = 1;
        for (size_t i = 0; i < bad; i++) line += data[i] == '\n';
        free(data);
        return err_set(err, "%s:%d: invalid UTF-8 at byte %zu", path, line, bad);
    }
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += data[i] == '\n';
    wp->vocab = strmap_new(lines, err);
    int rc = wp->vocab ? 0 : -1;
    size_t start = 0;
    int id = 0;
    while (rc == 0 && start < len) {
        const char *nl = memchr(data + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - data) : len;
        size_t trimmed = end;
        while (trimmed > start && uni_is_white_space(utf8_last(data + start, trimmed - start)))
            while (--trimmed > start && utf8_is_continuation(data[trimmed])) {
            }
        if (id >= MAX_ID) {
            rc = err_set(err, "%s: more than %d lines", path, MAX_ID);
            break;
        }
        rc = vocab_add(wp, data + start, trimmed - start, id++, err);
        start = end + 1;
    }
    free(data);
    if (rc == 0 && id == 0)
        rc = err_set(err, "%s: empty file: a WordPiece vocabulary needs at least its special tokens",
                     path);
    return rc;
}

static int json_id(const cJSON *v, int *id) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= MAX_ID ||
        v->valuedouble != (double)(int)v->valuedouble)
        return -1;
    *id = (int)v->valuedouble;
    return 0;
}

// tokenizer.json model.vocab: {"piece": id, ...} (or a list of pieces, or of
// [piece, score] pairs, which transformers numbers in order).
static int read_vocab_json(WordPiece *wp, const char *path, const cJSON *vocab, Err *err) {
    if (!cJSON_IsObject(vocab) && !cJSON_IsArray(vocab))
        return err_set(err, "%s: model.vocab is neither an object nor a list", path);
    wp->vocab = strmap_new((size_t)cJSON_GetArraySize(vocab), err);
    if (!wp->vocab) return -1;
    int index = 0;
    for (const cJSON *e = vocab->child; e; e = e->next, index++) {
        const char *piece;
        int id = index;
        if (cJSON_IsObject(vocab)) {
            piece = e->string;
            if (json_id(e, &id))
                return err_set(err, "%s: model.vocab[\"%s\"]: id is not an integer in [0, %d)",
                               path, piece, MAX_ID);
        } else {
            piece = cJSON_IsArray(e) ? cJSON_GetStringValue(cJSON_GetArrayItem(e, 0))
                                     : cJSON_GetStringValue(e);
            if (!piece) return err_set(err, "%s: model.vocab[%d] is not a piece", path, index);
            if (index >= MAX_ID) return err_set(err, "%s: model.vocab too long", path);
        }
        if (vocab_add(wp, piece, strlen(piece), id, err)) return -1;
    }
    return 0;
}

// ---------------------------------------------------------------- normalizer

// Canonical ordering of NFD: every run of non-starters is stably sorted by
// combining class.  Short runs (the norm) use insertion sort; long ones go
// through qsort on (class, position) keys so hostile input stays n log n.
static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

// v [n] code points, reordered in place.
static int canonical_order(uint32_t *v, size_t n, Err *err) {
    size_t i = 0;
    while (i < n) {
        if (uni_combining_class(v[i]) == 0) {
            i++;
            continue;
        }
        size_t run = i;
        while (i < n && uni_combining_class(v[i]) != 0) i++;
        size_t len = i - run;
        if (len <= 32) {
            for (size_t a = run + 1; a < i; a++) {
                uint32_t c = v[a];
                int cc = uni_combining_class(c);
                size_t b = a;
                while (b > run && uni_combining_class(v[b - 1]) > cc) {
                    v[b] = v[b - 1];
                    b--;
                }
                v[b] = c;
            }
            continue;
        }
        uint64_t *keys = err_malloc(err, len * sizeof *keys, "canonical ordering");
        if (!keys) return -1;
        for (size_t k = 0; k < len; k++)
            keys[k] =
                (uint64_t)uni_combining_class(v[run + k]) << 40 | (uint64_t)k << 21 | v[run + k];
        qsort(keys, len, sizeof *keys, cmp_u64);
        for (size_t k = 0; k < len; k++) v[run + k] = (uint32_t)(keys[k] & 0x1FFFFF);
        free(keys);
    }
    return 0;
}

typedef struct {
    CpBuf a, b;
    ByteBuf norm;
    SegBuf raw_segs, norm_segs;
} Scratch;

static void scratch_free(Scratch *sc) {
    free(sc->a.v);
    free(sc->b.v);
    free(sc->norm.v);
    free(sc->raw_segs.v);
    free(sc->norm_segs.v);
}

// BertNormalizer over s[0..n) (valid UTF-8) into sc->norm (UTF-8).
static int normalize(const WordPiece *wp, const char *s, size_t n, Scratch *sc, Err *err) {
    CpBuf *cur = &sc->a, *next = &sc->b;
    cur->len = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        i += (size_t)utf8_next(s, n, i, &c);
        if (uni_is_removed_control(c)) continue;
        if (uni_is_clean_space(c)) c = ' ';
        if (wp->split_cjk && uni_is_cjk(c)) {
            if (cp_push(cur, ' ', err) || cp_push(cur, c, err) || cp_push(cur, ' ', err)) return -1;
        } else if (cp_push(cur, c, err)) {
            return -1;
        }
    }
    if (wp->strip_accents) {
        next->len = 0;
        for (size_t i = 0; i < cur->len; i++) {
            uint32_t d[UNI_MAX_DECOMP];
            int nd = uni_decompose(cur->v[i], d);
            for (int k = 0; k < nd; k++)
                if (cp_push(next, d[k], err)) return -1;
        }
        if (canonical_order(next->v, next->len, err)) return -1;
        size_t kept = 0;
        for (size_t i = 0; i < next->len; i++)
            if (!uni_is_nonspacing_mark(next->v[i])) next->v[kept++] = next->v[i];
        next->len = kept;
        CpBuf *t = cur;
        cur = next, next = t;
    }
    if (wp->lowercase) {
        next->len = 0;
        for (size_t i = 0; i < cur->len; i++) {
            uint32_t low[UNI_MAX_LOWER];
            int nl = uni_to_lower(cur->v[i], low);
            for (int k = 0; k < nl; k++)
                if (cp_push(next, low[k], err)) return -1;
        }
        CpBuf *t = cur;
        cur = next, next = t;
    }
    ByteBuf *out = &sc->norm;
    out->len = 0;
    if (GROW(out->v, out->cap, cur->len * 4 + 1, "tokenizer buffer", err)) return -1;
    for (size_t i = 0; i < cur->len; i++)
        out->len += (size_t)utf8_encode(cur->v[i], out->v + out->len);
    return 0;
}

// ---------------------------------------------------------------- added tokens

// AddedVocabulary::find_matches: splits s[0..n) into text and added-token
// segments.  Matches are leftmost-longest and non-overlapping; a
// single_word token must not touch a word character on either side; lstrip
// / rstrip widen a match over adjacent White_Space.  Candidates are found
// by a first-byte filter and a scan of the (few) tokens: O(len * tokens).
static int find_added(const WordPiece *wp, bool normalized, const char *s, size_t n, SegBuf *out,
                      Err *err) {
    const bool *first = normalized ? wp->norm_first : wp->raw_first;
    out->len = 0;
    size_t emitted = 0, from = 0;
    while (from < n) {
        const AddedToken *best = NULL;
        size_t start = from;
        for (; start < n; start++) {
            if (!first[(unsigned char)s[start]]) continue;
            for (int k = 0; k < wp->n_added; k++) {
                const AddedToken *t = &wp->added[k];
                if (t->normalized != normalized || t->plen == 0 || t->plen > n - start) continue;
                if (memcmp(s + start, t->pattern, t->plen) != 0) continue;
                if (!best || t->plen > best->plen) best = t;
            }
            if (best) break;
        }
        if (!best) break;
        size_t stop = start + best->plen;
        from = stop;
        // Like a failed single_word check, a special token found while
        // split_special_tokens is on is dropped, and the search goes on
        // after it (so it also hides tokens overlapping it).
        if (best->special && wp->split_special) continue;
        if (best->single_word) {
            bool word_before = start > 0 && uni_is_word_char(utf8_last(s, start));
            uint32_t c = 0;
            bool word_after = stop < n && utf8_next(s, n, stop, &c) && uni_is_word_char(c);
            if (word_before || word_after) continue;
        }
        if (best->lstrip) {
            size_t ws = start;
            while (ws > 0 && uni_is_white_space(utf8_last(s, ws)))
                while (--ws > 0 && utf8_is_continuation(s[ws])) {
                }
            start = ws > emitted ? ws : emitted;
        }
        if (best->rstrip) {
            uint32_t c;
            int len;
            while (stop < n && (len = utf8_next(s, n, stop, &c)) > 0 && uni_is_white_space(c))
                stop += (size_t)len;
        }
        if (emitted < start && seg_push(out, emitted, start, -1, err)) return -1;
        if (seg_push(out, start, stop, best->id, err)) return -1;
        emitted = stop;
    }
    if (emitted < n && seg_push(out, emitted, n, -1, err)) return -1;
    return 0;
}

// ---------------------------------------------------------------- model

static int unk_id(const WordPiece *wp, Err *err) {
    if (wp->unk_model_id < 0)
        return err_set(err, "WordPiece: the unk token %s is not in the vocabulary",
                       wp->specials.unk_id >= 0 ? wp->id_piece[wp->specials.unk_id] : "?");
    return wp->unk_model_id;
}

// One pre-token w [n] bytes (nchars code points) -> pieces.
static int tokenize_word(const WordPiece *wp, const char *w, size_t n, size_t nchars, IdSink *out,
                         Err *err) {
    int word_start = out->count;
    if (nchars <= MAX_WORD_CHARS) {
        size_t start = 0;
        while (start < n) {
            // No piece is longer than max_piece_len bytes, so shorter
            // candidates are the only ones that can match.
            size_t end = n - start > wp->max_piece_len ? start + wp->max_piece_len : n;
            while (end > start && end < n && utf8_is_continuation(w[end])) end--;
            int id = -1;
            while (end > start) {
                id = start > 0 ? vocab_find(wp, SUBWORD_PREFIX, SUBWORD_PREFIX_LEN, w + start,
                                            end - start)
                               : vocab_find(wp, "", 0, w + start, end - start);
                if (id >= 0) break;
                while (--end > start && utf8_is_continuation(w[end])) {
                }
            }
            if (id < 0) break;
            sink_push(out, id);
            start = end;
        }
        if (start == n) return 0;
    }
    int unk = unk_id(wp, err);
    if (unk < 0) return -1;
    out->count = word_start;
    sink_push(out, unk);
    return 0;
}

// BertPreTokenizer + WordPiece over normalized text s[0..n).
static int tokenize_normalized(const WordPiece *wp, const char *s, size_t n, IdSink *out,
                               Err *err) {
    size_t word = 0, nchars = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c = 0;
        size_t len = (size_t)utf8_next(s, n, i, &c);
        bool space = uni_is_white_space(c), punct = !space && uni_is_punctuation(c);
        if (space || punct) {
            if (nchars && tokenize_word(wp, s + word, i - word, nchars, out, err)) return -1;
            if (punct && tokenize_word(wp, s + i, len, 1, out, err)) return -1;
            nchars = 0;
        } else if (nchars++ == 0) {
            word = i;
        }
        i += len;
    }
    if (nchars && tokenize_word(wp, s + word, n - word, nchars, out, err)) return -1;
    return 0;
}

// The whole pipeline over text [n] (valid UTF-8).
static int tokenize_into(const WordPiece *wp, const char *text, size_t n, IdSink *out, Scratch *sc,
                         Err *err) {
    if (find_added(wp, false, text, n, &sc->raw_segs, err)) return -1;
    for (size_t r = 0; r < sc->raw_segs.len; r++) {
        Segment seg = sc->raw_segs.v[r];
        if (seg.id >= 0) {
            sink_push(out, seg.id);
            continue;
        }
        if (normalize(wp, text + seg.start, seg.end - seg.start, sc, err)) return -1;
        const char *norm = sc->norm.v;
        size_t norm_len = sc->norm.len;
        if (!wp->has_norm_patterns) {
            if (tokenize_normalized(wp, norm, norm_len, out, err)) return -1;
            continue;
        }
        if (find_added(wp, true, norm, norm_len, &sc->norm_segs, err)) return -1;
        for (size_t k = 0; k < sc->norm_segs.len; k++) {
            Segment ns = sc->norm_segs.v[k];
            if (ns.id >= 0)
                sink_push(out, ns.id);
            else if (tokenize_normalized(wp, norm + ns.start, ns.end - ns.start, out, err))
                return -1;
        }
    }
    return 0;
}

int wordpiece_tokenize(const void *engine, const char *text, int *ids, int cap, Err *err) {
    const WordPiece *wp = engine;
    if (!text) return err_set(err, "wordpiece_tokenize: text is NULL");
    size_t n = strlen(text);
    if (n > MAX_TEXT_BYTES)
        return err_set(err, "wordpiece_tokenize: text of %zu bytes is over the %zu byte limit", n,
                       MAX_TEXT_BYTES);
    size_t bad = utf8_invalid_at(text, n);
    if (bad < n)
        return err_set(err, "wordpiece_tokenize: invalid UTF-8 at byte offset %zu (byte 0x%02X)",
                       bad, (unsigned char)text[bad]);
    IdSink out = {ids, cap < 0 ? 0 : cap, 0};
    Scratch sc = {0};
    int rc = tokenize_into(wp, text, n, &out, &sc, err);
    scratch_free(&sc);
    return rc ? -1 : out.count;
}

// ---------------------------------------------------------------- loading

// A token setting: "text", or an AddedToken object {"content": "text", ...}.
static const char *token_content(const cJSON *v) {
    if (cJSON_IsString(v)) return v->valuestring;
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "content"));
}

static bool json_flag(const cJSON *obj, const char *key, bool dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : dflt;
}

// An AddedToken as transformers builds it from a config value: a plain
// string is special with every flag off; an object keeps its flags, with
// `normalized` defaulting to !special.
static AddedToken added_from_json(const cJSON *v, bool special_default) {
    AddedToken t = {0};
    t.content = (char *)token_content(v);
    if (cJSON_IsObject(v)) {
        t.special = json_flag(v, "special", special_default);
        t.single_word = json_flag(v, "single_word", false);
        t.lstrip = json_flag(v, "lstrip", false);
        t.rstrip = json_flag(v, "rstrip", false);
        t.normalized = json_flag(v, "normalized", !t.special);
    } else {
        t.special = special_default;
        t.normalized = !special_default;
    }
    return t;
}

// The model-side list of added tokens, in the order transformers adds them
// (tokens from the configs sorted by their saved index, then the named
// special tokens not among them).  Contents point into the cJSON trees.
typedef struct {
    AddedToken *v;  // [len]
    int *index;     // saved index per entry, for the sort [len]
    size_t len, cap, index_cap;
} TokenList;

static int list_put(TokenList *l, AddedToken t, int index, Err *err) {
    if (!t.content) return 0;
    for (size_t i = 0; i < l->len; i++) {
        if (l->index[i] == index) {  // a later source for the same index wins
            l->v[i] = t;
            return 0;
        }
    }
    if (GROW(l->v, l->cap, l->len + 1, "added tokens", err) ||
        GROW(l->index, l->index_cap, l->len + 1, "added tokens", err))
        return -1;
    l->v[l->len] = t;
    l->index[l->len++] = index;
    return 0;
}

// Appends after everything sorted so far, unless the text is already there.
static int list_append(TokenList *l, AddedToken t, Err *err) {
    for (size_t i = 0; t.content && i < l->len; i++)
        if (strcmp(l->v[i].content, t.content) == 0) return 0;
    return list_put(l, t, MAX_ID + (int)l->len, err);
}

static void list_sort(TokenList *l) {
    for (size_t a = 1; a < l->len; a++) {
        AddedToken t = l->v[a];
        int idx = l->index[a];
        size_t b = a;
        while (b > 0 && l->index[b - 1] > idx) {
            l->v[b] = l->v[b - 1];
            l->index[b] = l->index[b - 1];
            b--;
        }
        l->v[b] = t;
        l->index[b] = idx;
    }
}

static int parse_index(const char *s, int *index) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 0 || v >= MAX_ID) return -1;
    *index = (int)v;
    return 0;
}

typedef struct {
    cJSON *tok_config, *tok_json, *special_map, *added_json;
    const cJSON *named[N_NAMED];  // value of each named token setting, or NULL
    const char *dir;
} Configs;

// Collects the added tokens and named special tokens exactly as
// transformers' _from_pretrained + TokenizersBackend.__init__ do.
static int collect_added(const Configs *c, TokenList *list, AddedToken named[N_NAMED], Err *err) {
    const cJSON *decoder = cJSON_GetObjectItemCaseSensitive(c->tok_config, "added_tokens_decoder");
    for (int k = 0; k < N_NAMED; k++) {
        named[k] = (AddedToken){.content = (char *)NAMED_DEFAULTS[k], .special = true};
        if (c->named[k]) named[k] = added_from_json(c->named[k], true);
    }
    const cJSON *extra_list =
        cJSON_GetObjectItemCaseSensitive(c->tok_config, "extra_special_tokens");
    if (!extra_list)
        extra_list = cJSON_GetObjectItemCaseSensitive(c->tok_config, "additional_special_tokens");
    if (cJSON_IsObject(decoder)) {
        for (const cJSON *e = decoder->child; e; e = e->next) {
            int index;
            if (parse_index(e->string, &index) || !token_content(e))
                return err_set(err,
                               "%s/tokenizer_config.json: added_tokens_decoder[\"%s\"] is not "
                               "a token with an integer index",
                               c->dir, e->string);
            if (list_put(list, added_from_json(e, false), index, err)) return -1;
        }
    } else {
        // Legacy path: special_tokens_map.json overrides the named tokens,
        // then added_tokens.json and tokenizer.json's added_tokens.
        for (const cJSON *e = c->special_map ? c->special_map->child : NULL; e; e = e->next) {
            for (int k = 0; k < N_NAMED; k++)
                if (strcmp(e->string, NAMED_KEYS[k]) == 0 && token_content(e))
                    named[k] = added_from_json(e, true);
            if ((!strcmp(e->string, "additional_special_tokens") ||
                 !strcmp(e->string, "extra_special_tokens")) &&
                cJSON_IsArray(e) && !extra_list)
                extra_list = e;
        }
        for (const cJSON *e = c->added_json ? c->added_json->child : NULL; e; e = e->next) {
            int index;
            if (json_id(e, &index))
                return err_set(err, "%s/added_tokens.json: \"%s\": index is not an integer", c->dir,
                               e->string);
            bool special = false;
            for (int k = 0; k < N_NAMED; k++)
                special |= named[k].content && strcmp(named[k].content, e->string) == 0;
            AddedToken t = {.content = e->string, .special = special, .normalized = !special};
            if (list_put(list, t, index, err)) return -1;
        }
        const cJSON *tj_added = cJSON_GetObjectItemCaseSensitive(c->tok_json, "added_tokens");
        int i = 0;
        for (const cJSON *e = tj_added ? tj_added->child : NULL; e; e = e->next, i++) {
            int index;
            if (json_id(cJSON_GetObjectItemCaseSensitive(e, "id"), &index) || !token_content(e))
                return err_set(err, "%s/tokenizer.json: added_tokens[%d] has no content or id",
                               c->dir, i);
            if (list_put(list, added_from_json(e, false), index, err)) return -1;
        }
    }
    list_sort(list);
    // A named token whose text is among the added tokens takes that entry.
    for (int k = 0; k < N_NAMED; k++)
        for (size_t i = 0; named[k].content && i < list->len; i++)
            if (strcmp(list->v[i].content, named[k].content) == 0) named[k] = list->v[i];
    for (int k = 0; k < N_NAMED; k++)
        if (list_append(list, named[k], err)) return -1;
    for (const cJSON *e = cJSON_IsArray(extra_list) ? extra_list->child : NULL; e; e = e->next)
        if (list_append(list, added_from_json(e, true), err)) return -1;
    return 0;
}

static int id_of(const WordPiece *wp, const char *piece) {
    for (int i = 0; i < wp->n_added; i++)
        if (strcmp(wp->added[i].content, piece) == 0) return wp->added[i].id;
    return vocab_find(wp, "", 0, piece, strlen(piece));
}

// Registers the tokens as tokenizers' AddedVocabulary::add_tokens does:
// a token already known (added or in the vocab) keeps that id, a new one
// gets the next id past both; a repeat with other flags replaces the flags.
static int add_tokens(WordPiece *wp, const TokenList *list, Err *err) {
    wp->added = err_calloc(err, (size_t)list->len + 1, sizeof *wp->added, "added tokens");
    if (!wp->added) return -1;
    int max_added = -1;
    for (size_t i = 0; i < list->len; i++) {
        const AddedToken *t = &list->v[i];
        size_t len = strlen(t->content);
        if (len == 0) continue;
        if (utf8_invalid_at(t->content, len) < len)
            return err_set(err, "added token \"%s\": invalid UTF-8", t->content);
        int id = id_of(wp, t->content);
        AddedToken *slot = NULL;
        for (int k = 0; k < wp->n_added; k++)
            if (strcmp(wp->added[k].content, t->content) == 0) slot = &wp->added[k];
        if (id < 0) {
            if (max_added < 0)
                id = wp->n_pieces;
            else
                id = max_added >= wp->n_pieces || wp->n_pieces == 0 ? max_added + 1 : wp->n_pieces;
        }
        if (!slot) {
            slot = &wp->added[wp->n_added++];
            slot->content = strdup(t->content);
            if (!slot->content) return err_set(err, "out of memory copying added token");
        }
        char *content = slot->content;
        *slot = *t;
        slot->content = content;
        slot->len = len;
        slot->id = id;
        if (id > max_added) max_added = id;
    }
    return 0;
}

// Patterns: the content itself, or for normalized tokens the content as
// the normalizer rewrites it.
static int build_patterns(WordPiece *wp, Err *err) {
    Scratch sc = {0};
    int rc = 0;
    for (int i = 0; i < wp->n_added && rc == 0; i++) {
        AddedToken *t = &wp->added[i];
        const char *p = t->content;
        size_t plen = t->len;
        if (t->normalized) {
            rc = normalize(wp, t->content, t->len, &sc, err);
            p = sc.norm.v, plen = sc.norm.len;
            wp->has_norm_patterns |= plen > 0;
        }
        if (rc) break;
        t->pattern = err_malloc(err, plen + 1, "added token pattern");
        if (!t->pattern)
            rc = -1;
        else {
            memcpy(t->pattern, p, plen);
            t->pattern[plen] = '\0';
            t->plen = plen;
            if (plen) (t->normalized ? wp->norm_first : wp->raw_first)[(unsigned char)p[0]] = true;
        }
    }
    scratch_free(&sc);
    return rc;
}

static void max_id_of(void *ctx, const char *key, size_t len, int id) {
    int *n = ctx;
    if (id >= *n) *n = id + 1;
}

static void set_piece(void *ctx, const char *key, size_t len, int id) {
    WordPiece *wp = ctx;
    wp->id_piece[id] = key;
}

static int build_id_table(WordPiece *wp, Err *err) {
    int n = 0;
    strmap_each(wp->vocab, max_id_of, &n);
    for (int i = 0; i < wp->n_added; i++)
        if (wp->added[i].id >= n) n = wp->added[i].id + 1;
    if (n > MAX_ID) return err_set(err, "token ids exceed %d", MAX_ID);
    wp->n_ids = n;
    wp->id_piece = err_calloc(err, (size_t)n + 1, sizeof *wp->id_piece, "id table");
    if (!wp->id_piece) return -1;
    strmap_each(wp->vocab, set_piece, wp);
    // tokenizers reports a normalized added token by its normalized text.
    for (int i = 0; i < wp->n_added; i++) {
        const AddedToken *t = &wp->added[i];
        wp->id_piece[t->id] = t->normalized ? t->pattern : t->content;
    }
    return 0;
}

static bool is_wordpiece_json(const cJSON *tok_json) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(tok_json, "model");
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(model, "type"));
    return type && strcmp(type, "WordPiece") == 0;
}

// Normalizer switches and named tokens, as BertTokenizer reads them from
// tokenizer_config.json (absent keys take BertTokenizer's defaults).
static void load_settings(WordPiece *wp, Configs *c) {
    const cJSON *tc = c->tok_config;
    wp->lowercase = json_flag(tc, "do_lower_case", true);
    const cJSON *strip = cJSON_GetObjectItemCaseSensitive(tc, "strip_accents");
    wp->strip_accents = cJSON_IsBool(strip) ? cJSON_IsTrue(strip) : wp->lowercase;
    wp->split_cjk = json_flag(tc, "tokenize_chinese_chars", true);
    wp->split_special = json_flag(tc, "split_special_tokens", false);
    for (int k = 0; k < N_NAMED; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(tc, NAMED_KEYS[k]);
        c->named[k] = v && token_content(v) ? v : NULL;
    }
}

// Every encoding writes the [CLS], [SEP] and [PAD] ids, and [UNK]'s for an
// unknown word: a named token that resolves to no id (empty, or in neither
// the vocabulary nor the added tokens) would put -1 into the model's input.
static int check_named_ids(const WordPiece *wp, const AddedToken *named, const char *dir,
                           Err *err) {
    const struct {
        int named, id;
    } needed[] = {{NAMED_CLS, wp->specials.cls_id},
                  {NAMED_SEP, wp->specials.sep_id},
                  {NAMED_PAD, wp->specials.pad_id},
                  {NAMED_UNK, wp->specials.unk_id}};
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++)
        if (needed[i].id < 0)
            return err_set(err, "%s: %s \"%.60s\" is neither in the vocabulary nor an added token",
                           dir, NAMED_KEYS[needed[i].named], named[needed[i].named].content);
    return 0;
}

static int load(WordPiece *wp, Configs *c, Err *err) {
    const char *dir = c->dir;
    if (json_read_optional(dir, "tokenizer_config.json", &c->tok_config, err) ||
        json_read_optional(dir, "tokenizer.json", &c->tok_json, err) ||
        json_read_optional(dir, "special_tokens_map.json", &c->special_map, err) ||
        json_read_optional(dir, "added_tokens.json", &c->added_json, err))
        return -1;
    load_settings(wp, c);
    char path[WP_PATH_MAX];
    if (c->tok_json && is_wordpiece_json(c->tok_json)) {
        if (path_join(path, sizeof path, dir, "tokenizer.json", err)) return -1;
        const cJSON *model = cJSON_GetObjectItemCaseSensitive(c->tok_json, "model");
        if (read_vocab_json(wp, path, cJSON_GetObjectItemCaseSensitive(model, "vocab"), err))
            return -1;
    } else {
        if (path_join(path, sizeof path, dir, "vocab.txt", err)) return -1;
        if (!file_exists(path))
            return err_set(err, "%s: no vocab.txt and no WordPiece tokenizer.json", dir);
        if (read_vocab_txt(wp, path, err)) return -1;
    }
    TokenList list = {0};
    AddedToken named[N_NAMED];
    int rc = collect_added(c, &list, named, err);
    if (rc == 0) rc = add_tokens(wp, &list, err);
    const char *unk = named[NAMED_UNK].content;
    if (rc == 0) {
        wp->unk_model_id = vocab_find(wp, "", 0, unk, strlen(unk));
        rc = build_patterns(wp, err);
    }
    if (rc == 0) rc = build_id_table(wp, err);
    if (rc == 0) {
        wp->specials = (SpecialTokens){
            .cls_id = id_of(wp, named[NAMED_CLS].content),
            .sep_id = id_of(wp, named[NAMED_SEP].content),
            .pad_id = id_of(wp, named[NAMED_PAD].content),
            .unk_id = id_of(wp, unk),
            .pair_separators = 1,
            .second_type_id = 1,
        };
        rc = check_named_ids(wp, named, dir, err);
    }
    free(list.v);
    free(list.index);
    return rc;
}

void *wordpiece_load(const char *model_dir, Err *err) {
    WordPiece *wp = err_calloc(err, 1, sizeof *wp, "WordPiece");
    if (!wp) return NULL;
    Configs c = {.dir = model_dir};
    int rc = load(wp, &c, err);
    cJSON_Delete(c.tok_config);
    cJSON_Delete(c.tok_json);
    cJSON_Delete(c.special_map);
    cJSON_Delete(c.added_json);
    if (rc) {
        wordpiece_free(wp);
        return NULL;
    }
    return wp;
}

void wordpiece_free(void *engine) {
    WordPiece *wp = engine;
    if (!wp) return;
    for (int i = 0; i < wp->n_added; i++) {
        free(wp->added[i].content);
        free(wp->added[i].pattern);
    }
    free(wp->added);
    strmap_free(wp->vocab);
    free(wp->id_piece);
    free(wp);
}

int wordpiece_vocab_size(const void *engine) { return ((const WordPiece *)engine)->n_ids; }

const char *wordpiece_id_to_piece(const void *engine, int id) {
    const WordPiece *wp = engine;
    return id >= 0 && id < wp->n_ids ? wp->id_piece[id] : NULL;
}

SpecialTokens wordpiece_specials(const void *engine) {
    return ((const WordPiece *)engine)->specials;
}

// ------------------------------------------------------------- engine row

// vocab.txt, or a tokenizer.json whose model is WordPiece.
static int wp_present(const char *dir, bool *yes, Err *err) {
    char path[WP_PATH_MAX];
    cJSON *tok_json;
    *yes = false;
    if (path_join(path, sizeof path, dir, "vocab.txt", err) ||
        json_read_optional(dir, "tokenizer.json", &tok_json, err))
        return -1;
    *yes = file_exists(path) || (tok_json && is_wordpiece_json(tok_json));
    cJSON_Delete(tok_json);
    return 0;
}

const TokEngine WORDPIECE_ENGINE = {
    TOK_WORDPIECE, "WordPiece", "vocab.txt or a WordPiece tokenizer.json", wp_present,
    wordpiece_load, wordpiece_free, wordpiece_tokenize, wordpiece_vocab_size,
    wordpiece_id_to_piece, wordpiece_specials,
};
