// safetensors reader (strict, mmap-based) and writer (byte-compatible with
// the Python `safetensors` package).  Format: 8-byte little-endian header
// length N, N bytes of UTF-8 JSON, then the tensors' bytes back to back.
#define _GNU_SOURCE  // qsort_r
#include "weights/safetensors.h"

#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fileio.h"
#include "util/utf8.h"

// Tensor bytes are handed out as they lie in the file (little endian).
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

// Header integers are parsed by cJSON as doubles, exact below 2^53; larger
// offsets or dims (petabytes) are rejected rather than silently rounded.
#define ST_MAX_JSON_INT 9007199254740992.0

static const struct {
    const char *name;
    size_t size;
    // Position in the Rust library's Dtype enum: its writer orders tensors
    // by this, descending, so F64 sorts after I64 and U64 although all three
    // are 8 bytes wide.
    int write_rank;
} DTYPES[ST_DTYPE_COUNT] = {
    [ST_BOOL] = {"BOOL", 1, 0},       [ST_U8] = {"U8", 1, 1},           [ST_I8] = {"I8", 1, 2},
    [ST_F8_E5M2] = {"F8_E5M2", 1, 3}, [ST_F8_E4M3] = {"F8_E4M3", 1, 4}, [ST_I16] = {"I16", 2, 5},
    [ST_U16] = {"U16", 2, 6},         [ST_F16] = {"F16", 2, 7},         [ST_BF16] = {"BF16", 2, 8},
    [ST_I32] = {"I32", 4, 9},         [ST_U32] = {"U32", 4, 10},        [ST_F32] = {"F32", 4, 11},
    [ST_F64] = {"F64", 8, 12},        [ST_I64] = {"I64", 8, 13},        [ST_U64] = {"U64", 8, 14},
};

const char *st_dtype_name(StDtype dtype) {
    return (unsigned)dtype < ST_DTYPE_COUNT ? DTYPES[dtype].name : "?";
}

size_t st_dtype_size(StDtype dtype) { return (unsigned)dtype < ST_DTYPE_COUNT ? DTYPES[dtype].size : 0; }

static int dtype_from_name(const char *name) {
    for (int d = 0; d < ST_DTYPE_COUNT; d++)
        if (strcmp(name, DTYPES[d].name) == 0) return d;
    return -1;
}

// ---------------------------------------------------------------------------
// Header checks that cJSON cannot do

static bool is_json_space(unsigned c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static bool is_number_char(unsigned c) { return (c >= '0' && c <= '9') || (c && strchr("+-.eE", (int)c)); }

// cJSON is laxer than JSON (and than serde_json, which the Python library
// uses) in ways that matter here: it treats every byte <= 0x20 as
// whitespace, skips a leading byte order mark, accepts raw control
// characters in strings, decodes a malformed \u escape as U+0000 (which,
// like an escaped U+0000, cuts the C string short) and parses every number
// to a double, so 2.0, 2e0 and -0 would pass as integers.  This pass
// rejects all of those on the raw text.  A bad number is reported against
// the top-level key it sits under (the tensor name, raw as written); those
// under __metadata__ are left to the "must be a string" check.
static int header_lex_check(const char *path, const unsigned char *h, size_t n, Err *err) {
    int depth = 0;
    size_t key_start = 0, key_len = 0;  // last string seen at depth 1
    bool have_key = false;
    for (size_t i = 0; i < n; i++) {
        unsigned c = h[i];
        if (c == '"') {
            size_t start = ++i;
            for (; i < n && h[i] != '"'; i++) {
                if (h[i] < 0x20)
                    return err_set(err, "%s: header: raw control byte 0x%02x inside a string at byte %zu",
                                   path, h[i], i);
                if (h[i] == '\\' && i + 1 < n && h[i + 1] == 'u') {
                    bool hex = n - i >= 6;
                    for (size_t k = 2; hex && k < 6; k++) hex = isxdigit(h[i + k]);
                    if (!hex) return err_set(err, "%s: header: invalid \\u escape at byte %zu", path, i);
                    if (memcmp(h + i + 2, "0000", 4) == 0)
                        return err_set(err, "%s: header: \\u0000 inside a string at byte %zu", path, i);
                    i++;
                } else if (h[i] == '\\' && i + 1 < n) {
                    i++;
                }
            }
            if (depth == 1) {
                key_start = start;
                key_len = i - start;
                have_key = true;
            }
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth > 0) depth--;
        } else if (c < 0x20 && !is_json_space(c)) {
            return err_set(err, "%s: header: control byte 0x%02x at byte %zu", path, c, i);
        } else if (c >= 0x80) {  // includes a UTF-8 byte order mark, which cJSON would skip
            return err_set(err, "%s: header: non-ASCII byte 0x%02x outside a string at byte %zu", path, c, i);
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t end = i;
            while (end < n && is_number_char(h[end])) end++;
            size_t len = end - i;
            bool plain = h[i] != '-' && (h[i] != '0' || len == 1);
            for (size_t k = i; k < end; k++) plain = plain && h[k] >= '0' && h[k] <= '9';
            int shown = len > 40 ? 40 : (int)len;
            if (!plain && have_key && depth >= 2 &&
                !(key_len == 12 && memcmp(h + key_start, "__metadata__", 12) == 0))
                return err_set(err, "%s: tensor %.*s: number %.*s is not a non-negative integer", path,
                               (int)key_len, (const char *)h + key_start, shown, (const char *)h + i);
            if (!plain && !have_key)
                return err_set(err, "%s: header: number %.*s at byte %zu is not a non-negative integer", path,
                               shown, (const char *)h + i, i);
            i = end - 1;
        }
    }
    return 0;
}

// Names may hold (escaped) control characters; messages stay on one line.
static void err_one_line(Err *err) {
    if (!err) return;
    for (char *c = err->msg; *c; c++)
        if ((unsigned char)*c < 0x20) *c = '?';
}

static const char *json_type_name(const cJSON *item) {
    if (cJSON_IsObject(item)) return "an object";
    if (cJSON_IsArray(item)) return "an array";
    if (cJSON_IsString(item)) return "a string";
    if (cJSON_IsNumber(item)) return "a number";
    if (cJSON_IsBool(item)) return "a boolean";
    if (cJSON_IsNull(item)) return "null";
    return "invalid";
}

static int cstring_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// Sorts names[n] and returns a name that occurs twice, or NULL.  (cJSON
// keeps duplicate keys; sorting keeps hostile headers with millions of keys
// from going quadratic.)
static const char *sorted_duplicate(const char **names, size_t n) {
    qsort(names, n, sizeof *names, cstring_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0) return names[i];
    return NULL;
}

// Keys of a cJSON object into a new array (caller frees).
static const char **object_keys(const cJSON *object, size_t *count, Err *err) {
    size_t n = 0;
    for (const cJSON *kv = object->child; kv; kv = kv->next) n++;
    const char **keys = err_calloc(err, n, sizeof *keys, "JSON keys");
    if (!keys) return NULL;
    n = 0;
    for (const cJSON *kv = object->child; kv; kv = kv->next) keys[n++] = kv->string;
    *count = n;
    return keys;
}

// A JSON number (lexed as [0-9]+ when under a tensor key) as an exact
// integer; false for anything else or anything cJSON may have rounded.
static bool json_uint(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return false;
    double v = item->valuedouble;
    if (!(v >= 0 && v < ST_MAX_JSON_INT) || v != (double)(uint64_t)v) return false;
    *out = (uint64_t)v;
    return true;
}

// ---------------------------------------------------------------------------
// Reader

struct StFile {
    char *path;
    void *map;
    size_t map_size;
    int count;
    StTensor *tensors;  // [count], offset order
    int *by_name;       // [count] tensor indices sorted by name
    int meta_count;
    const char **meta;  // [2 * meta_count] key, value, ...
    char *strings;      // arena behind every name, key and value
};

// A tensor entry while the header is being checked.
typedef struct {
    StTensor t;
    uint64_t begin, end;
    int order;  // position in the header, to break ties between empty tensors
} Entry;

static int entry_by_offset(const void *a, const void *b) {
    const Entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->order - y->order;
}

static int check_tensor_entry(const char *path, const cJSON *item, Entry *e, Err *err) {
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return err_set(err, "%s: tensor %s: entry is %s, not an object", path, name, json_type_name(item));
    const cJSON *dtype = NULL, *shape = NULL, *offsets = NULL;
    for (const cJSON *f = item->child; f; f = f->next) {
        const cJSON **slot = strcmp(f->string, "dtype") == 0          ? &dtype
                             : strcmp(f->string, "shape") == 0        ? &shape
                             : strcmp(f->string, "data_offsets") == 0 ? &offsets
                                                                      : NULL;
        if (!slot) return err_set(err, "%s: tensor %s: unknown key \"%s\"", path, name, f->string);
        if (*slot) return err_set(err, "%s: tensor %s: duplicate key \"%s\"", path, name, f->string);
        *slot = f;
    }
    if (!dtype) return err_set(err, "%s: tensor %s: missing dtype", path, name);
    if (!shape) return err_set(err, "%s: tensor %s: missing shape", path, name);
    if (!offsets) return err_set(err, "%s: tensor %s: missing data_offsets", path, name);

    if (!cJSON_IsString(dtype))
        return err_set(err, "%s: tensor %s: dtype is %s, not a string", path, name, json_type_name(dtype));
    int d = dtype_from_name(dtype->valuestring);
    if (d < 0) return err_set(err, "%s: tensor %s: unknown dtype \"%s\"", path, name, dtype->valuestring);
    e->t.dtype = (StDtype)d;

    if (!cJSON_IsArray(shape))
        return err_set(err, "%s: tensor %s: shape is %s, not an array", path, name, json_type_name(shape));
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > ST_MAX_DIMS)
        return err_set(err, "%s: tensor %s: shape has %d dims, at most %d are supported", path, name, ndim,
                       ST_MAX_DIMS);
    e->t.ndim = ndim;
    // Overflow of the running product is an error even if a later dim is
    // 0, as in the Rust library.
    size_t numel = 1;
    bool overflow = false;
    int k = 0;
    for (const cJSON *dim = shape->child; dim; dim = dim->next, k++) {
        uint64_t v;
        if (!json_uint(dim, &v))
            return err_set(err, "%s: tensor %s: shape[%d] is not a non-negative integer below 2^53", path,
                           name, k);
        e->t.shape[k] = (int64_t)v;
        overflow = overflow || (v != 0 && numel > SIZE_MAX / v);
        numel *= (size_t)v;
    }
    size_t width = DTYPES[d].size;
    if (overflow || numel > SIZE_MAX / width)
        return err_set(err, "%s: tensor %s: shape overflows the addressable size", path, name);
    e->t.numel = numel;
    e->t.nbytes = numel * width;

    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2)
        return err_set(err, "%s: tensor %s: data_offsets must be [begin, end]", path, name);
    if (!json_uint(offsets->child, &e->begin) || !json_uint(offsets->child->next, &e->end))
        return err_set(err, "%s: tensor %s: data_offsets must be non-negative integers below 2^53", path,
                       name);
    if (e->begin > e->end)
        return err_set(err, "%s: tensor %s: data_offsets begin %" PRIu64 " > end %" PRIu64, path, name,
                       e->begin, e->end);
    if (e->end - e->begin != e->t.nbytes)
        return err_set(err,
                       "%s: tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                       " bytes but %zu x %s needs %zu",
                       path, name, e->begin, e->end, e->end - e->begin, numel, DTYPES[d].name, e->t.nbytes);
    return 0;
}

static int check_metadata(const char *path, const cJSON *meta, Err *err) {
    if (!cJSON_IsObject(meta))
        return err_set(err, "%s: header: __metadata__ is %s, not an object", path, json_type_name(meta));
    for (const cJSON *kv = meta->child; kv; kv = kv->next)
        if (!cJSON_IsString(kv))
            return err_set(err, "%s: header: __metadata__ value for \"%s\" is %s, not a string", path,
                           kv->string, json_type_name(kv));
    size_t n;
    const char **keys = object_keys(meta, &n, err);
    if (!keys) return -1;
    const char *dup = sorted_duplicate(keys, n);
    int rc = dup ? err_set(err, "%s: header: __metadata__ has key \"%s\" twice", path, dup) : 0;
    free(keys);
    return rc;
}

static int tensor_name_cmp(const void *a, const void *b, void *tensors) {
    const StTensor *t = tensors;
    return strcmp(t[*(const int *)a].name, t[*(const int *)b].name);
}

// Copies s into the arena at *cursor.
static const char *arena_put(char **cursor, const char *s) {
    size_t len = strlen(s) + 1;
    char *dst = memcpy(*cursor, s, len);
    *cursor += len;
    return dst;
}

// Validates the parsed header against the data region [data, data+data_size)
// and fills file->tensors / by_name / meta.
static int load_header(StFile *file, const cJSON *root, const unsigned char *data, uint64_t data_size,
                       Err *err) {
    const char *path = file->path;
    if (!cJSON_IsObject(root))
        return err_set(err, "%s: header: JSON is %s, not an object", path, json_type_name(root));
    const cJSON *meta = NULL;
    int count = 0;
    size_t string_bytes = 0;
    for (const cJSON *item = root->child; item; item = item->next) {
        string_bytes += strlen(item->string) + 1;
        if (strcmp(item->string, "__metadata__") != 0) {
            count++;
            continue;
        }
        if (meta) return err_set(err, "%s: header: __metadata__ appears twice", path);
        if (check_metadata(path, item, err) != 0) return -1;
        meta = item;
        for (const cJSON *kv = meta->child; kv; kv = kv->next) {
            string_bytes += strlen(kv->string) + strlen(kv->valuestring) + 2;
            file->meta_count++;
        }
    }

    int rc = -1;
    Entry *entries = err_calloc(err, (size_t)count, sizeof *entries, "tensor entries");
    file->tensors = err_calloc(err, (size_t)count, sizeof *file->tensors, "tensors");
    file->by_name = err_calloc(err, (size_t)count, sizeof *file->by_name, "tensor index");
    file->meta = err_calloc(err, 2 * (size_t)file->meta_count, sizeof *file->meta, "metadata");
    file->strings = err_malloc(err, string_bytes, "tensor names");
    if (!entries || !file->tensors || !file->by_name || !file->meta || !file->strings) goto done;

    char *cursor = file->strings;
    int n = 0;
    for (const cJSON *item = root->child; item; item = item->next) {
        if (item == meta) continue;
        Entry *e = &entries[n];
        e->order = n;
        e->t.name = item->string;
        if (check_tensor_entry(path, item, e, err) != 0) goto done;
        n++;
    }

    // Duplicates first: they would otherwise surface as a confusing overlap.
    for (int i = 0; i < count; i++) {
        file->tensors[i] = entries[i].t;
        file->by_name[i] = i;
    }
    qsort_r(file->by_name, (size_t)count, sizeof *file->by_name, tensor_name_cmp, file->tensors);
    for (int i = 1; i < count; i++)
        if (strcmp(file->tensors[file->by_name[i]].name, file->tensors[file->by_name[i - 1]].name) == 0) {
            err_set(err, "%s: tensor %s: name appears twice in the header", path,
                    file->tensors[file->by_name[i]].name);
            goto done;
        }

    qsort(entries, (size_t)count, sizeof *entries, entry_by_offset);
    uint64_t expect = 0;
    for (int i = 0; i < count; i++) {
        const Entry *e = &entries[i];
        if (e->begin > expect && i == 0) {
            err_set(err, "%s: tensor %s: data starts at offset %" PRIu64 ", not 0", path, e->t.name,
                    e->begin);
            goto done;
        }
        if (e->begin > expect) {
            err_set(err, "%s: tensor %s: gap: data starts at offset %" PRIu64 " but %s ends at %" PRIu64,
                    path, e->t.name, e->begin, entries[i - 1].t.name, expect);
            goto done;
        }
        if (e->begin < expect) {
            err_set(err, "%s: tensor %s: data [%" PRIu64 ", %" PRIu64 ") overlaps %s, which ends at %" PRIu64,
                    path, e->t.name, e->begin, e->end, entries[i - 1].t.name, expect);
            goto done;
        }
        if (e->end > data_size) {
            err_set(err,
                    "%s: tensor %s: data ends at offset %" PRIu64 " but the file holds only %" PRIu64
                    " data bytes (truncated?)",
                    path, e->t.name, e->end, data_size);
            goto done;
        }
        expect = e->end;
    }
    if (expect != data_size) {
        err_set(err,
                "%s: header: tensor data ends at offset %" PRIu64 " but the file holds %" PRIu64
                " data bytes (trailing bytes)",
                path, expect, data_size);
        goto done;
    }

    for (int i = 0; i < count; i++) {
        StTensor *t = &file->tensors[i];
        *t = entries[i].t;
        t->name = arena_put(&cursor, t->name);
        t->data = data + entries[i].begin;
        file->by_name[i] = i;
    }
    qsort_r(file->by_name, (size_t)count, sizeof *file->by_name, tensor_name_cmp, file->tensors);
    int m = 0;
    if (meta)
        for (const cJSON *kv = meta->child; kv; kv = kv->next) {
            file->meta[m++] = arena_put(&cursor, kv->string);
            file->meta[m++] = arena_put(&cursor, kv->valuestring);
        }
    file->count = count;
    rc = 0;
done:
    free(entries);
    return rc;
}

// Maps the file and checks the length prefix; leaves the header bytes at
// map + 8 and their count in *header_len.
static int map_file(StFile *file, uint64_t *header_len, Err *err) {
    const char *path = file->path;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // a FIFO must not block us
    if (fd < 0) return err_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return err_set(err, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, "%s: header: not a regular file", path);
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < 8) {
        close(fd);
        if (size == 0) return err_set(err, "%s: header: file is empty", path);
        return err_set(err, "%s: header: file is %" PRIu64 " bytes, too short for the 8-byte header length",
                       path, size);
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return err_set(err, "%s: cannot mmap: %s", path, strerror(e));
    file->map = map;
    file->map_size = (size_t)size;

    const unsigned char *p = map;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | p[i];
    if (n > ST_MAX_HEADER_BYTES)
        return err_set(err, "%s: header: length %" PRIu64 " exceeds the limit of %u bytes", path, n,
                       ST_MAX_HEADER_BYTES);
    if (n > size - 8)
        return err_set(err, "%s: header: length %" PRIu64 " runs past the end of the %" PRIu64 "-byte file",
                       path, n, size);
    if (n == 0) return err_set(err, "%s: header: length is 0", path);
    *header_len = n;
    return 0;
}

StFile *st_open(const char *path, Err *err) {
    StFile *file = err_calloc(err, 1, sizeof *file, "StFile");
    if (!file) return NULL;
    file->path = strdup(path);
    if (!file->path) {
        err_set(err, "out of memory copying path %s", path);
        free(file);
        return NULL;
    }
    uint64_t n = 0;
    char *text = NULL;
    cJSON *root = NULL;
    int rc = map_file(file, &n, err);
    const unsigned char *header = rc == 0 ? (const unsigned char *)file->map + 8 : NULL;
    if (rc == 0) {
        size_t bad = utf8_invalid_at((const char *)header, n);
        if (bad < n) rc = err_set(err, "%s: header: invalid UTF-8 at byte %zu", path, bad);
    }
    if (rc == 0) rc = header_lex_check(path, header, n, err);
    if (rc == 0) {
        text = err_malloc(err, n + 1, "header copy");  // cJSON wants a NUL-terminated string
        rc = text ? 0 : -1;
    }
    if (rc == 0) {
        memcpy(text, header, n);
        text[n] = '\0';
        const char *end = NULL;
        root = cJSON_ParseWithOpts(text, &end, 1);  // whitespace may pad the header, nothing else
        if (!root)
            rc = err_set(err, "%s: header: invalid JSON at byte %zu", path, end ? (size_t)(end - text) : 0);
    }
    if (rc == 0) rc = load_header(file, root, header + n, file->map_size - 8 - n, err);
    cJSON_Delete(root);
    free(text);
    if (rc != 0) {
        err_one_line(err);
        st_close(file);
        return NULL;
    }
    return file;
}

void st_close(StFile *file) {
    if (!file) return;
    if (file->map) munmap(file->map, file->map_size);
    free(file->tensors);
    free(file->by_name);
    free(file->meta);
    free(file->strings);
    free(file->path);
    free(file);
}

const char *st_path(const StFile *file) { return file->path; }
int st_count(const StFile *file) { return file->count; }

const StTensor *st_tensor_at(const StFile *file, int index) {
    return index >= 0 && index < file->count ? &file->tensors[index] : NULL;
}

const StTensor *st_find(const StFile *file, const char *name) {
    int lo = 0, hi = file->count;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        const StTensor *t = &file->tensors[file->by_name[mid]];
        int c = strcmp(t->name, name);
        if (c == 0) return t;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *st_metadata(const StFile *file, const char *key) {
    for (int i = 0; i < file->meta_count; i++)
        if (strcmp(file->meta[2 * i], key) == 0) return file->meta[2 * i + 1];
    return NULL;
}

// Exact: every binary16 value, subnormals included, is a float32.  NaN
// payloads are shifted into place unchanged (as numpy does; no quieting).
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    uint32_t bits;
    if (exp == 0x1F)
        bits = sign | 0x7F800000u | mant << 13;
    else if (exp != 0)
        bits = sign | (exp + 112) << 23 | mant << 13;
    else {
        float v = (float)mant * 0x1p-24f;  // subnormal (or zero): exact in float32
        return sign ? -v : v;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

int st_to_f32(const StFile *file, const StTensor *t, float *out, size_t count, Err *err) {
    // out [count]
    StDtype d = t->dtype;
    if (d != ST_F32 && d != ST_F16 && d != ST_BF16 && d != ST_F64)
        return err_set(err, "%s: tensor %s: cannot convert %s to float32", file->path, t->name,
                       st_dtype_name(d));
    if (count != t->numel)
        return err_set(err, "%s: tensor %s: output holds %zu floats but the tensor has %zu elements",
                       file->path, t->name, count, t->numel);
    if (count == 0) return 0;
    // Tensors are not necessarily aligned in the file: load through memcpy.
    const unsigned char *p = t->data;
    switch (d) {
        case ST_F32:
            memcpy(out, p, count * sizeof *out);
            return 0;
        case ST_F16:
            for (size_t i = 0; i < count; i++) {
                uint16_t h;
                memcpy(&h, p + 2 * i, 2);
                out[i] = f16_to_f32(h);
            }
            return 0;
        case ST_BF16:
            for (size_t i = 0; i < count; i++) {
                uint16_t h;
                memcpy(&h, p + 2 * i, 2);
                uint32_t bits = (uint32_t)h << 16;
                memcpy(&out[i], &bits, 4);
            }
            return 0;
        case ST_F64:
            for (size_t i = 0; i < count; i++) {
                double d;
                memcpy(&d, p + 8 * i, 8);
                out[i] = (float)d;  // round to nearest; out-of-range values become inf
            }
            return 0;
        default:
            return 0;  // excluded above
    }
}

// ---------------------------------------------------------------------------
// Model: one file or an index over shards

static const char SINGLE_NAME[] = "model.safetensors";
static const char INDEX_NAME[] = "model.safetensors.index.json";

typedef struct {
    const char *name;
    const StTensor *tensor;
    int shard;
} ModelEntry;

struct StModel {
    int shard_count;
    StFile **shards;  // [shard_count]
    int count;
    ModelEntry *by_name;  // [count] over all shards, sorted by name
};

static int model_entry_cmp(const void *a, const void *b) {
    return strcmp(((const ModelEntry *)a)->name, ((const ModelEntry *)b)->name);
}

void st_model_close(StModel *model) {
    if (!model) return;
    for (int i = 0; i < model->shard_count; i++) st_close(model->shards[i]);
    free(model->shards);
    free(model->by_name);
    free(model);
}

static int open_shard(StModel *model, const char *dir, const char *file, Err *err) {
    char path[4096];
    if (path_join(path, sizeof path, dir, file, err) != 0) return -1;
    StFile *f = st_open(path, err);
    if (!f) return -1;
    model->shards[model->shard_count++] = f;
    return 0;
}

// Distinct shard files of the weight map, sorted, into names[] (pointers
// into the cJSON tree); checks each entry on the way.
static int index_shard_names(const char *ipath, const cJSON *map, const char **names, int *count, Err *err) {
    int n = 0;
    for (const cJSON *e = map->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return err_set(err, "%s: tensor %s: shard is %s, not a string", ipath, e->string,
                           json_type_name(e));
        const char *s = e->valuestring;
        // Shards live in the model directory; anything else could point
        // the loader outside it.
        if (s[0] == '\0' || strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
            return err_set(err, "%s: tensor %s: shard \"%s\" is not a plain file name", ipath, e->string, s);
        names[n++] = s;
    }
    qsort(names, (size_t)n, sizeof *names, cstring_cmp);
    int distinct = 0;
    for (int i = 0; i < n; i++)
        if (distinct == 0 || strcmp(names[distinct - 1], names[i]) != 0) names[distinct++] = names[i];
    *count = distinct;
    return 0;
}

// Builds the by-name lookup over all open shards; a name in two shards is
// an error.
static int index_model(StModel *model, const char *dir, Err *err) {
    size_t total = 0;
    for (int i = 0; i < model->shard_count; i++) total += (size_t)st_count(model->shards[i]);
    model->by_name = err_calloc(err, total, sizeof *model->by_name, "model tensor index");
    if (!model->by_name) return -1;
    for (int i = 0; i < model->shard_count; i++)
        for (int k = 0; k < st_count(model->shards[i]); k++) {
            const StTensor *t = st_tensor_at(model->shards[i], k);
            model->by_name[model->count++] = (ModelEntry){t->name, t, i};
        }
    qsort(model->by_name, (size_t)model->count, sizeof *model->by_name, model_entry_cmp);
    for (int i = 1; i < model->count; i++) {
        const ModelEntry *a = &model->by_name[i - 1], *b = &model->by_name[i];
        if (strcmp(a->name, b->name) == 0)
            return err_set(err, "%s: tensor %s: present in two shards, %s and %s", dir, a->name,
                           st_path(model->shards[a->shard]), st_path(model->shards[b->shard]));
    }
    return 0;
}

// Opens every shard the index names and checks the index against them:
// each listed tensor is in its shard, no tensor is in two shards, and every
// shard tensor is listed (an index that does not describe its shards is
// taken as a mismatched checkpoint, not silently completed).
static int open_sharded(StModel *model, const char *dir, const char *ipath, Err *err) {
    char *text = NULL;
    size_t len;
    cJSON *root = NULL;
    const char **names = NULL, **listed_names = NULL;
    int rc = -1;
    if (file_read_all(ipath, &text, &len, err) != 0) return -1;
    if (strlen(text) != len) {
        err_set(err, "%s: contains a NUL byte", ipath);
        goto done;
    }
    root = cJSON_Parse(text);
    if (!root || !cJSON_IsObject(root)) {
        err_set(err, "%s: not a JSON object", ipath);
        goto done;
    }
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map) || !map->child) {
        err_set(err, "%s: missing or empty \"weight_map\" object", ipath);
        goto done;
    }
    size_t listed;
    listed_names = object_keys(map, &listed, err);
    if (!listed_names) goto done;
    const char *dup = sorted_duplicate(listed_names, listed);
    if (dup) {
        err_set(err, "%s: tensor %s: listed twice in weight_map", ipath, dup);
        goto done;
    }
    names = err_calloc(err, (size_t)listed, sizeof *names, "shard names");
    int shards = 0;
    if (!names || index_shard_names(ipath, map, names, &shards, err) != 0) goto done;
    model->shards = err_calloc(err, (size_t)shards, sizeof *model->shards, "shards");
    if (!model->shards) goto done;
    for (int i = 0; i < shards; i++) {
        char path[4096];
        if (path_join(path, sizeof path, dir, names[i], err) != 0) goto done;
        if (!file_exists(path)) {
            err_set(err, "%s: shard %s is missing from %s", ipath, names[i], dir);
            goto done;
        }
        if (open_shard(model, dir, names[i], err) != 0) goto done;
    }
    for (const cJSON *e = map->child; e; e = e->next) {
        const char **hit = bsearch(&e->valuestring, names, (size_t)shards, sizeof *names, cstring_cmp);
        if (!st_find(model->shards[hit - names], e->string)) {
            err_set(err, "%s: tensor %s: not present in its shard %s", ipath, e->string, e->valuestring);
            goto done;
        }
    }
    if (index_model(model, dir, err) != 0) goto done;
    // Every listed name was found and none is in two shards, so a surplus
    // means tensors the index does not list; name one.
    for (int i = 0; (size_t)model->count > listed && i < model->count; i++) {
        const ModelEntry *m = &model->by_name[i];
        if (!bsearch(&m->name, listed_names, listed, sizeof *listed_names, cstring_cmp)) {
            err_set(err, "%s: tensor %s: present in shard %s but not listed in weight_map", ipath, m->name,
                    names[m->shard]);
            goto done;
        }
    }
    rc = 0;
done:
    free(names);
    free(listed_names);
    cJSON_Delete(root);
    free(text);
    return rc;
}

StModel *st_model_open(const char *dir, Err *err) {
    StModel *model = err_calloc(err, 1, sizeof *model, "StModel");
    if (!model) return NULL;
    char single[4096], index[4096];
    int rc = path_join(single, sizeof single, dir, SINGLE_NAME, err);
    if (rc == 0) rc = path_join(index, sizeof index, dir, INDEX_NAME, err);
    // Like transformers: a single file wins over an index.
    if (rc == 0 && file_exists(single)) {
        model->shards = err_calloc(err, 1, sizeof *model->shards, "shards");
        rc = model->shards ? open_shard(model, dir, SINGLE_NAME, err) : -1;
        if (rc == 0) rc = index_model(model, dir, err);
    } else if (rc == 0 && file_exists(index)) {
        rc = open_sharded(model, dir, index, err);
    } else if (rc == 0) {
        rc = err_set(err, "%s: neither %s nor %s found", dir, SINGLE_NAME, INDEX_NAME);
    }
    if (rc != 0) {
        err_one_line(err);
        st_model_close(model);
        return NULL;
    }
    return model;
}

const StTensor *st_model_find(const StModel *model, const char *name, const StFile **file_out) {
    ModelEntry key = {name, NULL, 0};
    const ModelEntry *hit =
        bsearch(&key, model->by_name, (size_t)model->count, sizeof *model->by_name, model_entry_cmp);
    if (file_out) *file_out = hit ? model->shards[hit->shard] : NULL;
    return hit ? hit->tensor : NULL;
}

int st_model_shards(const StModel *model) { return model->shard_count; }

const StFile *st_model_shard(const StModel *model, int index) {
    return index >= 0 && index < model->shard_count ? model->shards[index] : NULL;
}

// ---------------------------------------------------------------------------
// Writer

static int buf_put(Buf *b, const char *s, size_t n, Err *err) {
    return buf_append(b, s, n, "safetensors header", err);
}

static int buf_str(Buf *b, const char *s, Err *err) { return buf_put(b, s, strlen(s), err); }

// A JSON string escaped exactly as serde_json does (the Python library's
// serializer): \" \\ \b \f \n \r \t, other control bytes as \u00xx,
// everything else (0x7f and UTF-8 included) raw.
static int buf_json_string(Buf *b, const char *s, Err *err) {
    if (buf_put(b, "\"", 1, err) != 0) return -1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        const char *out = esc;
        switch (*p) {
            case '"':
                out = "\\\"";
                break;
            case '\\':
                out = "\\\\";
                break;
            case '\b':
                out = "\\b";
                break;
            case '\f':
                out = "\\f";
                break;
            case '\n':
                out = "\\n";
                break;
            case '\r':
                out = "\\r";
                break;
            case '\t':
                out = "\\t";
                break;
            default:
                if (*p < 0x20)
                    snprintf(esc, sizeof esc, "\\u%04x", *p);
                else
                    esc[0] = (char)*p, esc[1] = '\0';
        }
        if (buf_str(b, out, err) != 0) return -1;
    }
    return buf_put(b, "\"", 1, err);
}

static int check_utf8_string(const char *path, const char *what, const char *s, Err *err) {
    size_t n = strlen(s);
    size_t bad = utf8_invalid_at(s, n);
    if (bad < n) return err_set(err, "%s: %s: invalid UTF-8 at byte %zu", path, what, bad);
    return 0;
}

typedef struct {
    const StWriteTensor *t;
    size_t nbytes;
} WriteItem;

static int write_name_cmp(const void *a, const void *b) {
    return strcmp(((const WriteItem *)a)->t->name, ((const WriteItem *)b)->t->name);
}

static int write_order_cmp(const void *a, const void *b) {
    const StWriteTensor *x = ((const WriteItem *)a)->t, *y = ((const WriteItem *)b)->t;
    int rx = DTYPES[x->dtype].write_rank, ry = DTYPES[y->dtype].write_rank;
    if (rx != ry) return ry - rx;
    return strcmp(x->name, y->name);
}

// Checks one tensor and returns its byte size in *nbytes.
static int check_write_tensor(const char *path, const StWriteTensor *t, size_t *nbytes, Err *err) {
    if (!t->name) return err_set(err, "%s: tensor with a NULL name", path);
    const char *name = t->name;
    if (check_utf8_string(path, "tensor name", name, err) != 0) return -1;
    if (strcmp(name, "__metadata__") == 0)
        return err_set(err, "%s: tensor %s: name is reserved for the metadata", path, name);
    if ((unsigned)t->dtype >= ST_DTYPE_COUNT)
        return err_set(err, "%s: tensor %s: invalid dtype %d", path, name, (int)t->dtype);
    if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
        return err_set(err, "%s: tensor %s: ndim %d outside 0..%d", path, name, t->ndim, ST_MAX_DIMS);
    size_t numel = 1;
    bool overflow = false;
    for (int i = 0; i < t->ndim; i++) {
        int64_t d = t->shape[i];
        if (d < 0)
            return err_set(err, "%s: tensor %s: shape[%d] is negative (%" PRId64 ")", path, name, i, d);
        overflow = overflow || (d != 0 && numel > SIZE_MAX / (uint64_t)d);
        numel *= (size_t)d;
    }
    size_t width = DTYPES[t->dtype].size;
    if (overflow || numel > SIZE_MAX / width || (double)(numel * width) >= ST_MAX_JSON_INT)
        return err_set(err, "%s: tensor %s: shape overflows the addressable size", path, name);
    *nbytes = numel * width;
    if (*nbytes > 0 && !t->data) return err_set(err, "%s: tensor %s: data is NULL", path, name);
    return 0;
}

static int check_write_metadata(const char *path, const char *const *kv, int pairs, Err *err) {
    if (pairs < 0) return err_set(err, "%s: negative metadata pair count %d", path, pairs);
    if (pairs > 0 && !kv) return err_set(err, "%s: metadata is NULL", path);
    for (int i = 0; i < pairs; i++) {
        const char *key = kv[2 * i], *value = kv[2 * i + 1];
        if (!key || !value) return err_set(err, "%s: metadata pair %d has a NULL key or value", path, i);
        if (check_utf8_string(path, "metadata", key, err) != 0 ||
            check_utf8_string(path, "metadata", value, err) != 0)
            return -1;
        if (strcmp(key, "format") == 0)
            return err_set(err, "%s: metadata key \"format\" is reserved (always \"pt\")", path);
        for (int j = 0; j < i; j++)
            if (strcmp(kv[2 * j], key) == 0)
                return err_set(err, "%s: metadata key \"%s\" given twice", path, key);
    }
    return 0;
}

static int build_header(Buf *b, const WriteItem *items, int count, const char *const *kv, int pairs,
                        Err *err) {
    if (buf_put(b, "\0\0\0\0\0\0\0\0", 8, err) != 0) return -1;  // length prefix, filled in below
    if (buf_str(b, "{\"__metadata__\":{\"format\":\"pt\"", err) != 0) return -1;
    for (int i = 0; i < pairs; i++)
        if (buf_str(b, ",", err) != 0 || buf_json_string(b, kv[2 * i], err) != 0 ||
            buf_str(b, ":", err) != 0 || buf_json_string(b, kv[2 * i + 1], err) != 0)
            return -1;
    if (buf_str(b, "}", err) != 0) return -1;
    uint64_t offset = 0;
    for (int i = 0; i < count; i++) {
        const StWriteTensor *t = items[i].t;
        char num[64];
        if (buf_str(b, ",", err) != 0 || buf_json_string(b, t->name, err) != 0 ||
            buf_str(b, ":{\"dtype\":\"", err) != 0 || buf_str(b, DTYPES[t->dtype].name, err) != 0 ||
            buf_str(b, "\",\"shape\":[", err) != 0)
            return -1;
        for (int d = 0; d < t->ndim; d++) {
            snprintf(num, sizeof num, "%s%" PRId64, d ? "," : "", t->shape[d]);
            if (buf_str(b, num, err) != 0) return -1;
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", offset,
                 offset + items[i].nbytes);
        if (buf_str(b, num, err) != 0) return -1;
        offset += items[i].nbytes;
    }
    if (buf_str(b, "}", err) != 0) return -1;
    while ((b->len - 8) % 8 != 0)  // the library pads the JSON to a multiple of 8
        if (buf_put(b, " ", 1, err) != 0) return -1;
    uint64_t n = b->len - 8;
    for (int i = 0; i < 8; i++) b->data[i] = (char)(n >> (8 * i) & 0xFF);
    return 0;
}

static int write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

// Streams header and tensors straight from the caller's buffers into
// path.tmp, then renames it into place (no second copy of the weights).
static int write_file(const char *path, const Buf *header, const WriteItem *items, int count, Err *err) {
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof tmp) return err_set(err, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return err_set(err, "%s: cannot create: %s", tmp, strerror(errno));
    bool ok = write_all(fd, header->data, header->len) == 0;
    for (int i = 0; ok && i < count; i++)
        ok = items[i].nbytes == 0 || write_all(fd, items[i].t->data, items[i].nbytes) == 0;
    int e = errno;
    if (!ok) {
        close(fd);
        unlink(tmp);
        return err_set(err, "%s: write failed: %s", tmp, strerror(e));
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        e = errno;
        unlink(tmp);
        return err_set(err, "%s: cannot flush: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return err_set(err, "%s: cannot rename into place: %s", path, strerror(e));
    }
    return 0;
}

int st_write(const char *path, const StWriteTensor *tensors, int count, const char *const *metadata_kv,
             int metadata_pairs, Err *err) {
    if (count < 0) return err_set(err, "%s: negative tensor count %d", path, count);
    if (count > 0 && !tensors) return err_set(err, "%s: tensors is NULL", path);
    int rc = -1;
    Buf header = {0};
    WriteItem *items = NULL;
    if (check_write_metadata(path, metadata_kv, metadata_pairs, err) != 0) goto done;
    items = err_calloc(err, (size_t)count, sizeof *items, "tensor order");
    if (!items) goto done;
    uint64_t total = 0;
    for (int i = 0; i < count; i++) {
        items[i].t = &tensors[i];
        if (check_write_tensor(path, &tensors[i], &items[i].nbytes, err) != 0) goto done;
        total += items[i].nbytes;
        if ((double)total >= ST_MAX_JSON_INT) {
            err_set(err, "%s: tensor %s: total data size overflows", path, tensors[i].name);
            goto done;
        }
    }
    qsort(items, (size_t)count, sizeof *items, write_name_cmp);
    for (int i = 1; i < count; i++)
        if (strcmp(items[i].t->name, items[i - 1].t->name) == 0) {
            err_set(err, "%s: tensor %s: name given twice", path, items[i].t->name);
            goto done;
        }
    qsort(items, (size_t)count, sizeof *items, write_order_cmp);
    if (build_header(&header, items, count, metadata_kv, metadata_pairs, err) != 0) goto done;
    if (header.len - 8 > ST_MAX_HEADER_BYTES) {
        err_set(err, "%s: header: %zu bytes exceeds the limit of %u", path, header.len - 8,
                ST_MAX_HEADER_BYTES);
        goto done;
    }
    rc = write_file(path, &header, items, count, err);
done:
    if (rc != 0) err_one_line(err);
    buf_free(&header);
    free(items);
    return rc;
}
