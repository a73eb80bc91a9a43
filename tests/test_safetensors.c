// weights/safetensors: strict reader, writer and sharded models.
// References: files written by the official Python `safetensors` package and
// huggingface_hub (tests/golden/gen_safetensors_golden.py) with values
// stored independently in JSON sidecars; malformed files built byte by byte
// here, each with the exact error it must produce.
#include <check.h>
#include <cJSON.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/testutil.h"
#include "util/fileio.h"
#include "weights/safetensors.h"

#define GOLDEN_TYPES TEST_GOLDEN_DIR "/st_types.safetensors"
#define GOLDEN_SHARDED TEST_GOLDEN_DIR "/st_sharded"
#define MINILM TEST_MODEL_DIR "/model.safetensors"

// ---------------------------------------------------------------------------
// Helpers

static void put_u64le(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

// Writes dir/name = [declared length][header][data_len bytes of zeros].
// In `header`, ' stands for " so the JSON stays readable.
static void write_st(const char *dir, const char *name, const char *header, uint64_t declared,
                     size_t data_len) {
    size_t n = strlen(header);
    unsigned char *buf = calloc(1, 8 + n + data_len);
    ck_assert_ptr_nonnull(buf);
    put_u64le(buf, declared);
    for (size_t i = 0; i < n; i++) buf[8 + i] = header[i] == '\'' ? '"' : (unsigned char)header[i];
    test_write_file(dir, name, buf, 8 + n + data_len);
    free(buf);
}

static void join(char *out, const char *dir, const char *name) {
    Err err;
    ck_assert_int_eq(path_join(out, 4096, dir, name, &err), 0);
}

// st_open(dir/name) must fail with "dir/name: WANT" (' in WANT stands for
// "; a trailing * makes WANT a prefix).
static void expect_open_error(const char *dir, const char *name, const char *want) {
    char path[4096], full[8192];
    join(path, dir, name);
    snprintf(full, sizeof full, "%s: %s", path, want);
    for (char *c = full + strlen(path); *c; c++)
        if (*c == '\'') *c = '"';
    Err err = {{0}};
    StFile *f = st_open(path, &err);
    if (f) {
        st_close(f);
        ck_abort_msg("expected error \"%s\", but the file opened", full);
    }
    size_t len = strlen(full);
    if (full[len - 1] == '*') {
        if (strncmp(err.msg, full, len - 1) != 0)
            ck_abort_msg("error \"%s\", want prefix \"%.*s\"", err.msg, (int)len - 1, full);
    } else if (strcmp(err.msg, full) != 0) {
        ck_abort_msg("error \"%s\", want \"%s\"", err.msg, full);
    }
}

static StFile *open_ok(const char *path) {
    Err err = {{0}};
    StFile *f = st_open(path, &err);
    if (!f) ck_abort_msg("st_open(%s): %s", path, err.msg);
    return f;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void check_shape(const StTensor *t, const cJSON *shape) {
    ck_assert_int_eq(t->ndim, cJSON_GetArraySize(shape));
    size_t numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        int64_t want = (int64_t)cJSON_GetArrayItem(shape, d)->valuedouble;
        ck_assert_msg(t->shape[d] == want, "%s: shape[%d] = %" PRId64 ", want %" PRId64, t->name, d,
                      t->shape[d], want);
        numel *= (size_t)want;
    }
    ck_assert_uint_eq(t->numel, numel);
    ck_assert_uint_eq(t->nbytes, numel * st_dtype_size(t->dtype));
}

// ---------------------------------------------------------------------------
// Malformed files: one exact error each

typedef struct {
    const char *header;  // ' stands for "
    size_t data_len;
    const char *want;  // message after "PATH: "
} BadHeader;

#define T_A2 "'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}"

static const BadHeader BAD_HEADERS[] = {
    {"{'a':", 0, "header: invalid JSON at byte*"},
    {"{" T_A2 "} x", 8, "header: invalid JSON at byte*"},
    {"{" T_A2 ",}", 8, "header: invalid JSON at byte*"},
    {"[1,2]", 0, "header: JSON is an array, not an object"},
    {"'just a string'", 0, "header: JSON is a string, not an object"},
    {"{'a\xff':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}}", 8, "header: invalid UTF-8 at byte 3"},
    {"{'a\xc0\xaf':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}}", 8, "header: invalid UTF-8 at byte 3"},
    {"{'a\xed\xa0\x80':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}}", 8,
     "header: invalid UTF-8 at byte 3"},
    {"{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}}\xc3", 8, "header: invalid UTF-8 at byte 54"},
    {"\xef\xbb\xbf{" T_A2 "}", 8, "header: non-ASCII byte 0xef outside a string at byte 0"},
    {"{'a\tb':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}}", 8,
     "header: raw control byte 0x09 inside a string at byte 3"},
    {"{'a\\u0000b':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}}", 8,
     "header: \\u0000 inside a string at byte 3"},
    {"\x0b{" T_A2 "}", 8, "header: control byte 0x0b at byte 0"},
    {"{'a':{'dtype':'F12','shape':[2],'data_offsets':[0,8]}}", 8, "tensor a: unknown dtype 'F12'"},
    {"{'a\\nb':{'dtype':'F12','shape':[2],'data_offsets':[0,8]}}", 8, "tensor a?b: unknown dtype 'F12'"},
    {"{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},'\\ud83d\\ude00':5}", 8,
     "tensor \xf0\x9f\x98\x80: entry is a number, not an object"},
    {"{'a\\uzzzz':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}}", 8,
     "header: invalid \\u escape at byte 3"},
    {"{'a\\ud800':{'dtype':'F32','shape':[2],'data_offsets':[0,8]}}", 8, "header: invalid JSON at byte*"},
    {"{'a':{'dtype':'f32','shape':[2],'data_offsets':[0,8]}}", 8, "tensor a: unknown dtype 'f32'"},
    {"{'a':{'dtype':32,'shape':[2],'data_offsets':[0,8]}}", 8, "tensor a: dtype is a number, not a string"},
    {"{'a':{'dtype':'F32','shape':[-2],'data_offsets':[0,8]}}", 8,
     "tensor a: number -2 is not a non-negative integer"},
    {"{'a':{'dtype':'F32','shape':[2.5],'data_offsets':[0,8]}}", 8,
     "tensor a: number 2.5 is not a non-negative integer"},
    {"{'a':{'dtype':'F32','shape':[2.0],'data_offsets':[0,8]}}", 8,
     "tensor a: number 2.0 is not a non-negative integer"},
    {"{'a':{'dtype':'F32','shape':[2e0],'data_offsets':[0,8]}}", 8,
     "tensor a: number 2e0 is not a non-negative integer"},
    {"{'a':{'dtype':'F32','shape':[02],'data_offsets':[0,8]}}", 8,
     "tensor a: number 02 is not a non-negative integer"},
    {"{'a':{'dtype':'F32','shape':[2],'data_offsets':[-0,8]}}", 8,
     "tensor a: number -0 is not a non-negative integer"},
    {"{'a':{'dtype':'F32','shape':['2'],'data_offsets':[0,8]}}", 8,
     "tensor a: shape[0] is not a non-negative integer below 2^53"},
    {"{'a':{'dtype':'F32','shape':[9007199254740993],'data_offsets':[0,8]}}", 8,
     "tensor a: shape[0] is not a non-negative integer below 2^53"},
    {"{'a':{'dtype':'F32','shape':2,'data_offsets':[0,8]}}", 8, "tensor a: shape is a number, not an array"},
    {"{'a':{'dtype':'F32','shape':[1,1,1,1,1,1,1,1,1],'data_offsets':[0,4]}}", 4,
     "tensor a: shape has 9 dims, at most 8 are supported"},
    {"{'a':{'dtype':'F32','shape':[3],'data_offsets':[0,8]}}", 8,
     "tensor a: data_offsets [0, 8] hold 8 bytes but 3 x F32 needs 12"},
    {"{'a':{'dtype':'F32','shape':[4503599627370496,4096],'data_offsets':[0,8]}}", 8,
     "tensor a: shape overflows the addressable size"},
    {"{'a':{'dtype':'F64','shape':[2147483648,2147483648],'data_offsets':[0,8]}}", 8,
     "tensor a: shape overflows the addressable size"},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
     "'b':{'dtype':'F32','shape':[1],'data_offsets':[8,12]}}",
     12, "tensor b: gap: data starts at offset 8 but a ends at 4"},
    {"{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},"
     "'b':{'dtype':'F32','shape':[1],'data_offsets':[4,8]}}",
     8, "tensor b: data [4, 8) overlaps a, which ends at 8"},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':[4,8]}}", 8, "tensor a: data starts at offset 4, not 0"},
    {"{" T_A2 "}", 9,
     "header: tensor data ends at offset 8 but the file holds 9 data bytes (trailing bytes)"},
    {"{" T_A2 "}", 7, "tensor a: data ends at offset 8 but the file holds only 7 data bytes (truncated?)"},
    {"{}", 1, "header: tensor data ends at offset 0 but the file holds 1 data bytes (trailing bytes)"},
    {"{'a':{'dtype':'F32','shape':[1],'data_offsets':[0,4]},"
     "'a':{'dtype':'F32','shape':[1],'data_offsets':[4,8]}}",
     8, "tensor a: name appears twice in the header"},
    {"{'a':{'dtype':'F32','shape':[2],'data_offsets':[8,0]}}", 8, "tensor a: data_offsets begin 8 > end 0"},
    {"{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8,8]}}", 8,
     "tensor a: data_offsets must be [begin, end]"},
    {"{'a':{'dtype':'F32','shape':[2],'data_offsets':{}}}", 8, "tensor a: data_offsets must be [begin, end]"},
    {"{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,'8']}}", 8,
     "tensor a: data_offsets must be non-negative integers below 2^53"},
    {"{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,18446744073709551616]}}", 8,
     "tensor a: data_offsets must be non-negative integers below 2^53"},
    {"{'a':{'shape':[2],'data_offsets':[0,8]}}", 8, "tensor a: missing dtype"},
    {"{'a':{'dtype':'F32','data_offsets':[0,8]}}", 8, "tensor a: missing shape"},
    {"{'a':{'dtype':'F32','shape':[2]}}", 8, "tensor a: missing data_offsets"},
    {"{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8],'x':1}}", 8, "tensor a: unknown key 'x'"},
    {"{'a':{'dtype':'F32','dtype':'F32','shape':[2],'data_offsets':[0,8]}}", 8,
     "tensor a: duplicate key 'dtype'"},
    {"{'a':5}", 0, "tensor a: entry is a number, not an object"},
    {"{'a':[]}", 0, "tensor a: entry is an array, not an object"},
    {"{'__metadata__':[]," T_A2 "}", 8, "header: __metadata__ is an array, not an object"},
    {"{'__metadata__':null," T_A2 "}", 8, "header: __metadata__ is null, not an object"},
    {"{'__metadata__':{'k':1}," T_A2 "}", 8, "header: __metadata__ value for 'k' is a number, not a string"},
    {"{'__metadata__':{'k':1.5}," T_A2 "}", 8,
     "header: __metadata__ value for 'k' is a number, not a string"},
    {"{'__metadata__':{'k':{}}," T_A2 "}", 8,
     "header: __metadata__ value for 'k' is an object, not a string"},
    {"{'__metadata__':{'k':'v','k':'w'}," T_A2 "}", 8, "header: __metadata__ has key 'k' twice"},
    {"{'__metadata__':{},'__metadata__':{}," T_A2 "}", 8, "header: __metadata__ appears twice"},
};

START_TEST(test_malformed_headers) {
    char *dir = test_tmpdir();
    int n = (int)(sizeof BAD_HEADERS / sizeof BAD_HEADERS[0]);
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%02d.safetensors", i);
        write_st(dir, name, BAD_HEADERS[i].header, strlen(BAD_HEADERS[i].header), BAD_HEADERS[i].data_len);
        expect_open_error(dir, name, BAD_HEADERS[i].want);
    }
    test_tmpdir_remove(dir);
}
END_TEST

START_TEST(test_malformed_length_prefix) {
    char *dir = test_tmpdir();
    test_write_file(dir, "empty.safetensors", "", 0);
    expect_open_error(dir, "empty.safetensors", "header: file is empty");
    test_write_file(dir, "short.safetensors", "\x10\0\0\0\0", 5);
    expect_open_error(dir, "short.safetensors",
                      "header: file is 5 bytes, too short for the 8-byte header length");

    const char *hdr = "{" T_A2 "}";  // 54 bytes
    write_st(dir, "past.safetensors", hdr, 100, 8);
    expect_open_error(dir, "past.safetensors", "header: length 100 runs past the end of the 70-byte file");
    write_st(dir, "past1.safetensors", hdr, 63, 0);
    expect_open_error(dir, "past1.safetensors", "header: length 63 runs past the end of the 62-byte file");
    write_st(dir, "huge.safetensors", hdr, 100000001, 8);
    expect_open_error(dir, "huge.safetensors",
                      "header: length 100000001 exceeds the limit of 100000000 bytes");
    write_st(dir, "max.safetensors", hdr, UINT64_MAX, 8);
    expect_open_error(dir, "max.safetensors",
                      "header: length 18446744073709551615 exceeds the limit of 100000000 bytes");
    write_st(dir, "zero.safetensors", "", 0, 0);
    expect_open_error(dir, "zero.safetensors", "header: length is 0");
    // Declared shorter than the JSON: the rest counts as data.
    write_st(dir, "cut.safetensors", hdr, 20, 8);
    expect_open_error(dir, "cut.safetensors", "header: invalid JSON at byte*");

    // NUL padding (not JSON whitespace) after the object.
    unsigned char buf[8 + 56 + 8] = {0};
    put_u64le(buf, 56);
    for (size_t i = 0; i < 54; i++) buf[8 + i] = hdr[i] == '\'' ? '"' : (unsigned char)hdr[i];
    test_write_file(dir, "nul.safetensors", buf, sizeof buf);
    expect_open_error(dir, "nul.safetensors", "header: control byte 0x00 at byte 54");

    char missing[4096];
    join(missing, dir, "missing.safetensors");
    Err err;
    ck_assert_ptr_null(st_open(missing, &err));
    ck_assert_msg(strstr(err.msg, "missing.safetensors: cannot open: No such file"), "%s", err.msg);
    ck_assert_ptr_null(st_open(dir, &err));  // a directory
    ck_assert_msg(strstr(err.msg, ": header: not a regular file"), "%s", err.msg);
    char fifo[4096];
    join(fifo, dir, "fifo.safetensors");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    expect_open_error(dir, "fifo.safetensors", "header: not a regular file");  // and does not block
    test_tmpdir_remove(dir);
}
END_TEST

// Layouts the Rust library accepts (checked by hand with safetensors 0.8.0):
// JSON whitespace around the object, zero-sized tensors sharing an offset,
// no tensors, empty names.
START_TEST(test_accepted_layouts) {
    char *dir = test_tmpdir();
    static const char *const ok[] = {
        "{" T_A2 "}       ",
        "  {" T_A2 "}",
        "{" T_A2 "}\n\t\r ",
        "{ 'a' : { 'dtype' : 'F32' , 'shape' : [ 2 ] , 'data_offsets' : [ 0 , 8 ] } }",
        "{'z':{'dtype':'F32','shape':[0],'data_offsets':[0,0]},'a':{'dtype':'F32','shape':[2],'data_offsets':"
        "[0,8]}}",
        "{'a':{'dtype':'F32','shape':[2],'data_offsets':[0,8]},'z':{'dtype':'I64','shape':[3,0],'data_"
        "offsets':[8,8]}}",
        "{'__metadata__':{}," T_A2 "}",
        "{'':{'dtype':'U8','shape':[8],'data_offsets':[0,8]}}",
        "{'a':{'dtype':'U8','shape':[1,1,1,1,1,1,1,8],'data_offsets':[0,8]}}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char name[32], path[4096];
        snprintf(name, sizeof name, "ok%zu.safetensors", i);
        write_st(dir, name, ok[i], strlen(ok[i]), 8);
        join(path, dir, name);
        StFile *f = open_ok(path);
        ck_assert_int_ge(st_count(f), 1);
        int total = 0;
        for (int k = 0; k < st_count(f); k++) total += (int)st_tensor_at(f, k)->nbytes;
        ck_assert_int_eq(total, 8);
        st_close(f);
    }
    // Empty tensors sharing offset 0 come first in file order, ties in
    // header order.
    char path[4096];
    join(path, dir, "ok4.safetensors");
    StFile *f = open_ok(path);
    ck_assert_str_eq(st_tensor_at(f, 0)->name, "z");
    ck_assert_str_eq(st_tensor_at(f, 1)->name, "a");
    ck_assert_ptr_null(st_tensor_at(f, 2));
    ck_assert_ptr_null(st_tensor_at(f, -1));
    st_close(f);

    write_st(dir, "none.safetensors", "{}", 2, 0);
    join(path, dir, "none.safetensors");
    f = open_ok(path);
    ck_assert_int_eq(st_count(f), 0);
    ck_assert_ptr_null(st_find(f, "a"));
    ck_assert_ptr_null(st_metadata(f, "format"));
    ck_assert_str_eq(st_path(f), path);
    st_close(f);
    test_tmpdir_remove(dir);
}
END_TEST

// Tensors at odd offsets: the header length (61) leaves the data region
// unaligned and the tensors inside it are packed at odd offsets too.
START_TEST(test_unaligned_conversion) {
    const char *hdr =
        "{'u':{'dtype':'U8','shape':[1],'data_offsets':[0,1]},"
        "'f':{'dtype':'F32','shape':[2],'data_offsets':[1,9]},"
        "'h':{'dtype':'F16','shape':[1],'data_offsets':[9,11]},"
        "'b':{'dtype':'BF16','shape':[1],'data_offsets':[11,13]},"
        "'d':{'dtype':'F64','shape':[1],'data_offsets':[13,21]}}";
    size_t n = strlen(hdr);
    ck_assert_uint_eq(n % 2, 1);
    unsigned char buf[1024] = {0};
    put_u64le(buf, n);
    for (size_t i = 0; i < n; i++) buf[8 + i] = hdr[i] == '\'' ? '"' : (unsigned char)hdr[i];
    unsigned char *data = buf + 8 + n;
    data[0] = 7;
    const uint32_t f[2] = {0x3FC00000u, 0xC0100000u};  // 1.5, -2.25
    const uint16_t h = 0x3C00, b = 0x4049;             // 1.0, 3.140625
    const double d = 0.1;
    memcpy(data + 1, f, 8);
    memcpy(data + 9, &h, 2);
    memcpy(data + 11, &b, 2);
    memcpy(data + 13, &d, 8);
    char *dir = test_tmpdir();
    test_write_file(dir, "odd.safetensors", buf, 8 + n + 21);
    char path[4096];
    join(path, dir, "odd.safetensors");
    StFile *file = open_ok(path);
    float out[2];
    Err err;
    ck_assert_int_eq(st_to_f32(file, st_find(file, "f"), out, 2, &err), 0);
    ck_assert(out[0] == 1.5f && out[1] == -2.25f);
    ck_assert_int_eq(st_to_f32(file, st_find(file, "h"), out, 1, &err), 0);
    ck_assert(out[0] == 1.0f);
    ck_assert_int_eq(st_to_f32(file, st_find(file, "b"), out, 1, &err), 0);
    ck_assert(out[0] == 3.140625f);
    ck_assert_int_eq(st_to_f32(file, st_find(file, "d"), out, 1, &err), 0);
    ck_assert(out[0] == 0.1f);
    ck_assert_int_eq(*(const unsigned char *)st_find(file, "u")->data, 7);
    ck_assert_int_eq(st_to_f32(file, st_find(file, "u"), out, 1, &err), -1);
    char want[4200];
    snprintf(want, sizeof want, "%s: tensor u: cannot convert U8 to float32", path);
    ck_assert_str_eq(err.msg, want);
    st_close(file);
    test_tmpdir_remove(dir);
}
END_TEST

// ---------------------------------------------------------------------------
// Goldens from the Python library

START_TEST(test_golden_types) {
    cJSON *side = read_json(TEST_GOLDEN_DIR "/st_types.json");
    StFile *f = open_ok(GOLDEN_TYPES);

    const cJSON *order = cJSON_GetObjectItem(side, "offset_order");
    ck_assert_int_eq(st_count(f), cJSON_GetArraySize(order));
    for (int i = 0; i < st_count(f); i++)
        ck_assert_str_eq(st_tensor_at(f, i)->name, cJSON_GetArrayItem(order, i)->valuestring);

    const cJSON *meta = cJSON_GetObjectItem(side, "metadata");
    for (const cJSON *kv = meta->child; kv; kv = kv->next) {
        const char *got = st_metadata(f, kv->string);
        ck_assert_msg(got && strcmp(got, kv->valuestring) == 0, "metadata %s: got %s", kv->string,
                      got ? got : "NULL");
    }
    ck_assert_ptr_null(st_metadata(f, "absent"));

    int floats = 0, ints = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(side, "tensors")) {
        const char *name = cJSON_GetObjectItem(item, "name")->valuestring;
        const StTensor *t = st_find(f, name);
        ck_assert_msg(t != NULL, "%s not found", name);
        ck_assert_str_eq(t->name, name);
        ck_assert_str_eq(st_dtype_name(t->dtype), cJSON_GetObjectItem(item, "dtype")->valuestring);
        check_shape(t, cJSON_GetObjectItem(item, "shape"));
        const cJSON *bits = cJSON_GetObjectItem(item, "f32_bits");
        const cJSON *want_ints = cJSON_GetObjectItem(item, "ints");
        if (bits) {
            size_t n = (size_t)cJSON_GetArraySize(bits);
            ck_assert_uint_eq(n, t->numel);
            float *out = calloc(n + 1, sizeof *out);
            Err err;
            ck_assert_int_eq(st_to_f32(f, t, out, n, &err), 0);
            for (size_t i = 0; i < n; i++) {
                uint32_t want = (uint32_t)cJSON_GetArrayItem(bits, (int)i)->valuedouble;
                ck_assert_msg(f32_bits(out[i]) == want, "%s[%zu]: bits 0x%08x, want 0x%08x", name, i,
                              f32_bits(out[i]), want);
            }
            free(out);
            floats++;
        } else {
            size_t n = (size_t)cJSON_GetArraySize(want_ints);
            ck_assert_uint_eq(n, t->numel);
            const unsigned char *p = t->data;
            for (size_t i = 0; i < n; i++) {
                const char *s = cJSON_GetArrayItem(want_ints, (int)i)->valuestring;
                int64_t want = strtoll(s, NULL, 10), got;
                if (t->dtype == ST_I64)
                    memcpy(&got, p + 8 * i, 8);
                else if (t->dtype == ST_I32) {
                    int32_t v;
                    memcpy(&v, p + 4 * i, 4);
                    got = v;
                } else {
                    ck_assert(t->dtype == ST_U8 || t->dtype == ST_BOOL);
                    got = p[i];
                }
                ck_assert_msg(got == want, "%s[%zu]: %" PRId64 ", want %s", name, i, got, s);
            }
            ints++;
        }
    }
    ck_assert_int_eq(floats + ints, st_count(f));
    ck_assert_int_ge(floats, 6);

    // Only float dtypes convert, and only into a buffer of the right size.
    Err err;
    float one;
    ck_assert_int_eq(st_to_f32(f, st_find(f, "i64.values"), &one, 1, &err), -1);
    ck_assert_str_eq(err.msg, GOLDEN_TYPES ": tensor i64.values: cannot convert I64 to float32");
    ck_assert_int_eq(st_to_f32(f, st_find(f, "scalar.f32"), &one, 2, &err), -1);
    ck_assert_str_eq(err.msg,
                     GOLDEN_TYPES ": tensor scalar.f32: output holds 2 floats but the tensor has 1 elements");
    ck_assert_int_eq(st_to_f32(f, st_find(f, "scalar.f32"), &one, 1, &err), 0);
    ck_assert(one == 2.5f);
    ck_assert_int_eq(st_to_f32(f, st_find(f, "empty.bf16"), NULL, 0, &err), 0);
    st_close(f);
    cJSON_Delete(side);
}
END_TEST

// Every binary16 pattern against an independent decoding by the format's
// definition: (-1)^s * 2^(e-15) * (1 + m/1024), subnormals 2^-14 * m/1024.
START_TEST(test_f16_all_patterns) {
    char *dir = test_tmpdir();
    const char *hdr = "{'h':{'dtype':'F16','shape':[65536],'data_offsets':[0,131072]}}";
    size_t n = strlen(hdr), size = 8 + n + 131072;
    unsigned char *buf = calloc(1, size);
    put_u64le(buf, n);
    for (size_t i = 0; i < n; i++) buf[8 + i] = hdr[i] == '\'' ? '"' : (unsigned char)hdr[i];
    for (uint32_t v = 0; v < 65536; v++) {
        buf[8 + n + 2 * v] = (unsigned char)(v & 0xFF);
        buf[8 + n + 2 * v + 1] = (unsigned char)(v >> 8);
    }
    test_write_file(dir, "all.safetensors", buf, size);
    free(buf);
    char path[4096];
    join(path, dir, "all.safetensors");
    StFile *f = open_ok(path);
    float *out = malloc(65536 * sizeof *out);
    Err err;
    ck_assert_int_eq(st_to_f32(f, st_find(f, "h"), out, 65536, &err), 0);
    for (uint32_t v = 0; v < 65536; v++) {
        int s = v >> 15, e = (v >> 10) & 31, m = v & 1023;
        double mag = e == 0 ? ldexp(m / 1024.0, -14) : ldexp(1 + m / 1024.0, e - 15);
        if (e == 31) {
            if (m == 0)
                ck_assert(isinf(out[v]) && (signbit(out[v]) != 0) == s);
            else
                ck_assert_msg(isnan(out[v]), "0x%04x: not NaN", v);
            continue;
        }
        double want = s ? -mag : mag;
        ck_assert_msg(out[v] == want && (signbit(out[v]) != 0) == s, "0x%04x: %.9g, want %.9g", v, out[v],
                      want);
    }
    free(out);
    st_close(f);
    test_tmpdir_remove(dir);
}
END_TEST

static void assert_same_file(const char *got_path, const char *want_path);

START_TEST(test_real_model) {
    cJSON *facts = read_json(TEST_GOLDEN_DIR "/st_minilm.json");
    StFile *f = open_ok(MINILM);
    ck_assert_int_eq(st_count(f), (int)cJSON_GetObjectItem(facts, "count")->valuedouble);
    ck_assert_int_eq(st_count(f), 104);
    int i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(facts, "tensors")) {
        const StTensor *t = st_tensor_at(f, i++);
        ck_assert_str_eq(t->name, cJSON_GetObjectItem(item, "name")->valuestring);
        ck_assert_str_eq(st_dtype_name(t->dtype), cJSON_GetObjectItem(item, "dtype")->valuestring);
        check_shape(t, cJSON_GetObjectItem(item, "shape"));
        ck_assert_ptr_eq(st_find(f, t->name), t);
    }
    ck_assert_str_eq(st_metadata(f, "format"), "pt");

    // Written back by our writer, the model is byte-identical to the file
    // the Python library wrote.
    StWriteTensor *w = calloc((size_t)st_count(f), sizeof *w);
    for (int k = 0; k < st_count(f); k++) {
        const StTensor *t = st_tensor_at(f, st_count(f) - 1 - k);  // input order must not matter
        w[k] = (StWriteTensor){t->name, t->dtype, t->ndim, {0}, t->data};
        memcpy(w[k].shape, t->shape, sizeof t->shape);
    }
    char *dir = test_tmpdir(), path[4096];
    join(path, dir, "model.safetensors");
    Err werr;
    if (st_write(path, w, st_count(f), NULL, 0, &werr) != 0) ck_abort_msg("%s", werr.msg);
    assert_same_file(path, MINILM);
    free(w);
    test_tmpdir_remove(dir);

    cJSON_ArrayForEach(item, cJSON_GetObjectItem(facts, "spots")) {
        const StTensor *t = st_find(f, cJSON_GetObjectItem(item, "name")->valuestring);
        ck_assert_ptr_nonnull(t);
        float *out = malloc(t->numel * sizeof *out);
        Err err;
        ck_assert_int_eq(st_to_f32(f, t, out, t->numel, &err), 0);
        const cJSON *idx = cJSON_GetObjectItem(item, "index"), *bits = cJSON_GetObjectItem(item, "f32_bits");
        for (int k = 0; k < cJSON_GetArraySize(idx); k++) {
            size_t at = (size_t)cJSON_GetArrayItem(idx, k)->valuedouble;
            uint32_t want = (uint32_t)cJSON_GetArrayItem(bits, k)->valuedouble;
            ck_assert_msg(f32_bits(out[at]) == want, "%s[%zu]", t->name, at);
        }
        free(out);
    }
    const cJSON *pos = cJSON_GetObjectItem(facts, "position_ids");
    const StTensor *ids = st_find(f, "embeddings.position_ids");
    ck_assert_int_eq(ids->dtype, ST_I64);
    for (int k = 0; k < cJSON_GetArraySize(cJSON_GetObjectItem(pos, "index")); k++) {
        size_t at = (size_t)cJSON_GetArrayItem(cJSON_GetObjectItem(pos, "index"), k)->valuedouble;
        int64_t got;
        memcpy(&got, (const char *)ids->data + 8 * at, 8);
        ck_assert_int_eq(
            got, strtoll(cJSON_GetArrayItem(cJSON_GetObjectItem(pos, "ints"), k)->valuestring, NULL, 10));
    }
    st_close(f);

    Err err;
    StModel *m = st_model_open(TEST_MODEL_DIR, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_int_eq(st_model_shards(m), 1);
    const StFile *shard = NULL;
    const StTensor *t = st_model_find(m, "pooler.dense.weight", &shard);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_eq(shard, st_model_shard(m, 0));
    ck_assert_str_eq(st_path(shard), MINILM);
    ck_assert_ptr_null(st_model_shard(m, 1));
    st_model_close(m);
    cJSON_Delete(facts);
}
END_TEST

// ---------------------------------------------------------------------------
// Sharded models

START_TEST(test_sharded_golden) {
    Err err;
    StModel *m = st_model_open(GOLDEN_SHARDED, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_int_eq(st_model_shards(m), 3);
    ck_assert_str_eq(st_path(st_model_shard(m, 0)), GOLDEN_SHARDED "/model-00001-of-00003.safetensors");
    cJSON *index = read_json(GOLDEN_SHARDED "/model.safetensors.index.json");
    int listed = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(index, "weight_map")) {
        const StFile *shard = NULL;
        const StTensor *t = st_model_find(m, e->string, &shard);
        ck_assert_msg(t != NULL, "%s missing", e->string);
        char want_path[4096];
        join(want_path, GOLDEN_SHARDED, e->valuestring);
        ck_assert_str_eq(st_path(shard), want_path);
        ck_assert_ptr_eq(st_find(shard, e->string), t);
        int k;
        if (sscanf(e->string, "layer.%d.weight", &k) == 1) {
            float out[32];
            ck_assert_int_eq(st_to_f32(shard, t, out, 32, &err), 0);
            for (int i = 0; i < 32; i++)
                ck_assert_msg(out[i] == k + i / 16.0f, "%s[%d] = %g", e->string, i, out[i]);
        } else {
            ck_assert_str_eq(e->string, "ids");
            for (int i = 0; i < 6; i++) {
                int64_t v;
                memcpy(&v, (const char *)t->data + 8 * i, 8);
                ck_assert_int_eq(v, 1000 * i);
            }
        }
        listed++;
    }
    ck_assert_int_eq(listed, 7);
    const StFile *shard = (const StFile *)1;  // sentinel: a miss must reset it to NULL
    ck_assert_ptr_null(st_model_find(m, "layer.6.weight", &shard));
    ck_assert_ptr_null(shard);
    cJSON_Delete(index);
    st_model_close(m);
}
END_TEST

static void copy_shard(const char *dir, const char *golden_name, const char *as) {
    char src[4096], dst[4096];
    Err err;
    join(src, GOLDEN_SHARDED, golden_name);
    join(dst, dir, as);
    if (file_copy(src, dst, &err) != 0) ck_abort_msg("%s", err.msg);
}

// st_model_open(dir) must fail with exactly WANT, where {D} stands for dir.
static void expect_model_error(const char *dir, const char *index_json, const char *want) {
    if (index_json) {
        char text[2048];
        snprintf(text, sizeof text, "%s", index_json);
        for (char *c = text; *c; c++)
            if (*c == '\'') *c = '"';
        test_write_file(dir, "model.safetensors.index.json", text, strlen(text));
    }
    char full[8192] = "";
    for (const char *p = want; *p;) {
        if (strncmp(p, "{D}", 3) == 0) {
            strcat(full, dir);
            p += 3;
        } else {
            strncat(full, p, 1);
            p++;
        }
    }
    Err err = {{0}};
    StModel *m = st_model_open(dir, &err);
    if (m) {
        st_model_close(m);
        ck_abort_msg("expected \"%s\", but the model opened", full);
    }
    ck_assert_str_eq(err.msg, full);
}

START_TEST(test_sharded_errors) {
    char *dir = test_tmpdir();
    expect_model_error(dir, NULL, "{D}: neither model.safetensors nor model.safetensors.index.json found");

    expect_model_error(dir, "{'weight_map':{'layer.0.weight':'a.safetensors'}}",
                       "{D}/model.safetensors.index.json: shard a.safetensors is missing from {D}");
    copy_shard(dir, "model-00001-of-00003.safetensors", "a.safetensors");  // layer.0, layer.1
    copy_shard(dir, "model-00001-of-00003.safetensors", "b.safetensors");
    copy_shard(dir, "model-00002-of-00003.safetensors", "c.safetensors");  // layer.2, layer.3
    expect_model_error(
        dir, "{'weight_map':{'layer.0.weight':'a.safetensors','ghost':'a.safetensors'}}",
        "{D}/model.safetensors.index.json: tensor ghost: not present in its shard a.safetensors");
    expect_model_error(dir, "{'weight_map':{'layer.2.weight':'a.safetensors'}}",
                       "{D}/model.safetensors.index.json: tensor layer.2.weight: not present in its shard "
                       "a.safetensors");
    expect_model_error(
        dir, "{'weight_map':{'layer.0.weight':'a.safetensors','layer.1.weight':'b.safetensors'}}",
        "{D}: tensor layer.0.weight: present in two shards, {D}/a.safetensors and {D}/b.safetensors");
    expect_model_error(
        dir, "{'weight_map':{'layer.0.weight':'a.safetensors'}}",
        "{D}/model.safetensors.index.json: tensor layer.1.weight: present in shard a.safetensors "
        "but not listed in weight_map");
    expect_model_error(dir,
                       "{'weight_map':{'layer.0.weight':'a.safetensors','layer.1.weight':'a.safetensors',"
                       "'layer.0.weight':'a.safetensors'}}",
                       "{D}/model.safetensors.index.json: tensor layer.0.weight: listed twice in weight_map");
    expect_model_error(
        dir, "{'weight_map':{'layer.0.weight':'../a.safetensors'}}",
        "{D}/model.safetensors.index.json: tensor layer.0.weight: shard \"../a.safetensors\" is not a "
        "plain file name");
    expect_model_error(
        dir, "{'weight_map':{'layer.0.weight':3}}",
        "{D}/model.safetensors.index.json: tensor layer.0.weight: shard is a number, not a string");
    expect_model_error(dir, "{'metadata':{}}",
                       "{D}/model.safetensors.index.json: missing or empty \"weight_map\" object");
    expect_model_error(dir, "{'weight_map':{}}",
                       "{D}/model.safetensors.index.json: missing or empty \"weight_map\" object");
    expect_model_error(dir, "[1]", "{D}/model.safetensors.index.json: not a JSON object");

    // A shard that is itself malformed reports the shard's own error.
    test_write_file(dir, "bad.safetensors", "", 0);
    expect_model_error(dir, "{'weight_map':{'x':'bad.safetensors'}}",
                       "{D}/bad.safetensors: header: file is empty");

    // A valid index over a, c opens, with the right shard for each tensor.
    test_write_file(dir, "b.safetensors", "", 0);  // unreferenced: must not be opened
    const char *good =
        "{\"weight_map\":{\"layer.0.weight\":\"a.safetensors\",\"layer.1.weight\":\"a.safetensors\","
        "\"layer.3.weight\":\"c.safetensors\",\"layer.2.weight\":\"c.safetensors\"}}";
    test_write_file(dir, "model.safetensors.index.json", good, strlen(good));
    Err err;
    StModel *m = st_model_open(dir, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_int_eq(st_model_shards(m), 2);
    const StFile *shard;
    ck_assert_ptr_nonnull(st_model_find(m, "layer.3.weight", &shard));
    ck_assert_ptr_eq(shard, st_model_shard(m, 1));
    st_model_close(m);

    // model.safetensors wins over an index (as in transformers).
    copy_shard(dir, "model-00002-of-00003.safetensors", "model.safetensors");
    m = st_model_open(dir, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_int_eq(st_model_shards(m), 1);
    ck_assert_ptr_null(st_model_find(m, "layer.0.weight", NULL));
    ck_assert_ptr_nonnull(st_model_find(m, "layer.2.weight", NULL));
    st_model_close(m);
    test_tmpdir_remove(dir);
}
END_TEST

// ---------------------------------------------------------------------------
// Writer

typedef struct {
    const char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
} RecipeTensor;

// Mirrors RECIPE in tests/golden/gen_safetensors_golden.py.
static const RecipeTensor RECIPE[] = {
    {"b.u64", ST_U64, 1, {3}},       {"a.i64", ST_I64, 2, {2, 2}},
    {"c.f64", ST_F64, 1, {3}},       {"w.f32", ST_F32, 2, {2, 3}},
    {"a.f32", ST_F32, 0, {0}},       {"u32", ST_U32, 1, {2}},
    {"i32", ST_I32, 1, {3}},         {"bf16", ST_BF16, 1, {5}},
    {"h.f16", ST_F16, 2, {2, 2}},    {"u16", ST_U16, 1, {3}},
    {"i16", ST_I16, 1, {1}},         {"e4m3", ST_F8_E4M3, 1, {3}},
    {"e5m2", ST_F8_E5M2, 1, {2}},    {"i8", ST_I8, 1, {5}},
    {"u8", ST_U8, 1, {7}},           {"mask", ST_BOOL, 1, {3}},
    {"zero.f32", ST_F32, 2, {0, 4}}, {"quote\"back\\slash\nnl\ttab\x01\x7f\xc3\xa9", ST_F32, 1, {1}},
    {"Z.upper", ST_F32, 1, {2}},     {"\xc3\xa9t\xc3\xa9", ST_I32, 1, {1}},
};
#define RECIPE_COUNT ((int)(sizeof RECIPE / sizeof RECIPE[0]))

// Fills tensors[] and their data (caller frees data[k]).
static void build_recipe(StWriteTensor *tensors, unsigned char **data) {
    for (int k = 0; k < RECIPE_COUNT; k++) {
        const RecipeTensor *r = &RECIPE[k];
        size_t nbytes = st_dtype_size(r->dtype);
        for (int d = 0; d < r->ndim; d++) nbytes *= (size_t)r->shape[d];
        data[k] = malloc(nbytes + 1);
        for (size_t j = 0; j < nbytes; j++)
            data[k][j] = r->dtype == ST_BOOL ? (unsigned char)((j + k) & 1)
                                             : (unsigned char)((j * 31 + k * 17 + 5) & 0xFF);
        tensors[k] = (StWriteTensor){r->name, r->dtype, r->ndim, {0}, data[k]};
        memcpy(tensors[k].shape, r->shape, sizeof r->shape);
    }
}

// Byte-for-byte comparison in chunks (the real model is ~90 MB).
static void assert_same_file(const char *got_path, const char *want_path) {
    FILE *got = fopen(got_path, "rb"), *want = fopen(want_path, "rb");
    ck_assert_msg(got && want, "cannot open %s or %s", got_path, want_path);
    static const size_t CHUNK = 1 << 20;
    unsigned char *a = malloc(CHUNK), *b = malloc(CHUNK);
    size_t offset = 0;
    for (;;) {
        size_t na = fread(a, 1, CHUNK, got), nb = fread(b, 1, CHUNK, want);
        size_t i = 0;
        while (i < na && i < nb && a[i] == b[i]) i++;
        if (i != na || i != nb)
            ck_abort_msg("%s differs from %s at byte %zu", got_path, want_path, offset + i);
        if (na == 0) break;
        offset += na;
    }
    fclose(got);
    fclose(want);
    free(a);
    free(b);
}

START_TEST(test_writer_matches_python) {
    StWriteTensor tensors[RECIPE_COUNT];
    unsigned char *data[RECIPE_COUNT];
    build_recipe(tensors, data);
    char *dir = test_tmpdir();
    char path[4096];
    join(path, dir, "ours.safetensors");
    Err err;
    if (st_write(path, tensors, RECIPE_COUNT, NULL, 0, &err) != 0) ck_abort_msg("%s", err.msg);
    assert_same_file(path, TEST_GOLDEN_DIR "/st_writer_ref.safetensors");
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert(!file_exists(tmp));

    join(path, dir, "empty.safetensors");
    if (st_write(path, NULL, 0, NULL, 0, &err) != 0) ck_abort_msg("%s", err.msg);
    assert_same_file(path, TEST_GOLDEN_DIR "/st_writer_empty.safetensors");
    for (int k = 0; k < RECIPE_COUNT; k++) free(data[k]);
    test_tmpdir_remove(dir);
}
END_TEST

START_TEST(test_writer_round_trip) {
    StWriteTensor tensors[RECIPE_COUNT];
    unsigned char *data[RECIPE_COUNT];
    build_recipe(tensors, data);
    const char *meta[] = {"step", "17", "note", "caf\xc3\xa9 \"q\"\n", "empty", ""};
    char *dir = test_tmpdir();
    char path[4096];
    join(path, dir, "rt.safetensors");
    Err err;
    if (st_write(path, tensors, RECIPE_COUNT, meta, 3, &err) != 0) ck_abort_msg("%s", err.msg);
    // Overwrite in place (rename over an existing file).
    if (st_write(path, tensors, RECIPE_COUNT, meta, 3, &err) != 0) ck_abort_msg("%s", err.msg);
    StFile *f = open_ok(path);
    ck_assert_int_eq(st_count(f), RECIPE_COUNT);
    for (int k = 0; k < RECIPE_COUNT; k++) {
        const StTensor *t = st_find(f, RECIPE[k].name);
        ck_assert_msg(t != NULL, "%s missing", RECIPE[k].name);
        ck_assert_int_eq(t->dtype, RECIPE[k].dtype);
        ck_assert_int_eq(t->ndim, RECIPE[k].ndim);
        for (int d = 0; d < t->ndim; d++) ck_assert_int_eq(t->shape[d], RECIPE[k].shape[d]);
        ck_assert_int_eq(memcmp(t->data, data[k], t->nbytes), 0);
    }
    // File order: widest dtype first (U64, I64, F64 as the Python library).
    ck_assert_str_eq(st_tensor_at(f, 0)->name, "b.u64");
    ck_assert_str_eq(st_tensor_at(f, 2)->name, "c.f64");
    ck_assert_str_eq(st_tensor_at(f, RECIPE_COUNT - 1)->name, "mask");
    ck_assert_str_eq(st_metadata(f, "format"), "pt");
    ck_assert_str_eq(st_metadata(f, "step"), "17");
    ck_assert_str_eq(st_metadata(f, "note"), "caf\xc3\xa9 \"q\"\n");
    ck_assert_str_eq(st_metadata(f, "empty"), "");
    float w[6];
    ck_assert_int_eq(st_to_f32(f, st_find(f, "w.f32"), w, 6, &err), 0);
    ck_assert_int_eq(memcmp(w, data[3], sizeof w), 0);
    st_close(f);

    // Whatever the JSON length, the header is padded with spaces to a
    // multiple of 8, as the Python library does.
    for (int k = 0; k < 8; k++) {
        char value[16] = "xxxxxxx";
        value[k] = '\0';
        const char *pad[] = {"pad", value};
        if (st_write(path, tensors, 1, pad, 1, &err) != 0) ck_abort_msg("%s", err.msg);
        char *bytes;
        size_t len;
        if (file_read_all(path, &bytes, &len, &err) != 0) ck_abort_msg("%s", err.msg);
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = n << 8 | (unsigned char)bytes[i];
        ck_assert_uint_eq(n % 8, 0);
        ck_assert_uint_eq(len, 8 + n + 24);  // b.u64: 3 x 8 bytes
        ck_assert(bytes[8 + n - 1] == ' ' || bytes[8 + n - 1] == '}');
        free(bytes);
        f = open_ok(path);
        ck_assert_uint_eq(strlen(st_metadata(f, "pad")), (size_t)k);
        st_close(f);
    }
    for (int k = 0; k < RECIPE_COUNT; k++) free(data[k]);
    test_tmpdir_remove(dir);
}
END_TEST

START_TEST(test_writer_rejects) {
    char *dir = test_tmpdir();
    char path[4096], want[8192];
    join(path, dir, "w.safetensors");
    float x[4] = {1, 2, 3, 4};
    Err err;
    struct {
        StWriteTensor t[2];
        int count;
        const char *want;
    } cases[] = {
        {{{"a", ST_F32, 1, {2}, x}, {"a", ST_I32, 1, {1}, x}}, 2, "tensor a: name given twice"},
        {{{"a", ST_F32, 1, {2}, NULL}}, 1, "tensor a: data is NULL"},
        {{{"a", ST_F32, 1, {-2}, x}}, 1, "tensor a: shape[0] is negative (-2)"},
        {{{"a", ST_F32, 9, {1}, x}}, 1, "tensor a: ndim 9 outside 0..8"},
        {{{"a", ST_F32, -1, {1}, x}}, 1, "tensor a: ndim -1 outside 0..8"},
        {{{"a", (StDtype)99, 1, {1}, x}}, 1, "tensor a: invalid dtype 99"},
        {{{"__metadata__", ST_F32, 1, {1}, x}}, 1, "tensor __metadata__: name is reserved for the metadata"},
        {{{"a\xff", ST_F32, 1, {1}, x}}, 1, "tensor name: invalid UTF-8 at byte 1"},
        {{{NULL, ST_F32, 1, {1}, x}}, 1, "tensor with a NULL name"},
        {{{"a", ST_F32, 2, {INT64_C(1) << 40, INT64_C(1) << 40}, x}},
         1,
         "tensor a: shape overflows the addressable size"},
        {{{"a", ST_F32, 1, {2}, x}}, -1, "negative tensor count -1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(st_write(path, cases[i].t, cases[i].count, NULL, 0, &err), -1);
        snprintf(want, sizeof want, "%s: %s", path, cases[i].want);
        ck_assert_str_eq(err.msg, want);
    }
    StWriteTensor ok = {"a", ST_F32, 1, {2}, x};
    const char *fmt[] = {"format", "np"}, *dup[] = {"k", "1", "k", "2"}, *nul[] = {"k", NULL},
               *bad[] = {"k", "\xc3"};
    ck_assert_int_eq(st_write(path, &ok, 1, fmt, 1, &err), -1);
    snprintf(want, sizeof want, "%s: metadata key \"format\" is reserved (always \"pt\")", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(st_write(path, &ok, 1, dup, 2, &err), -1);
    snprintf(want, sizeof want, "%s: metadata key \"k\" given twice", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(st_write(path, &ok, 1, nul, 1, &err), -1);
    snprintf(want, sizeof want, "%s: metadata pair 0 has a NULL key or value", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(st_write(path, &ok, 1, bad, 1, &err), -1);
    snprintf(want, sizeof want, "%s: metadata: invalid UTF-8 at byte 0", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(st_write(path, &ok, 1, NULL, 1, &err), -1);
    snprintf(want, sizeof want, "%s: metadata is NULL", path);
    ck_assert_str_eq(err.msg, want);
    // Nothing was written, not even the temporary.
    ck_assert(!file_exists(path));
    snprintf(want, sizeof want, "%s.tmp", path);
    ck_assert(!file_exists(want));
    // An unwritable destination.
    join(path, dir, "no/such/dir/w.safetensors");
    ck_assert_int_eq(st_write(path, &ok, 1, NULL, 0, &err), -1);
    ck_assert_msg(strstr(err.msg, "w.safetensors.tmp: cannot create: No such file"), "%s", err.msg);
    test_tmpdir_remove(dir);
}
END_TEST

// ---------------------------------------------------------------------------
// Fuzz: corrupt a valid file byte by byte; st_open must fail cleanly or
// return a self-consistent file, never crash.

static void check_consistent(StFile *f, size_t file_size) {
    size_t total = 0;
    for (int i = 0; i < st_count(f); i++) {
        const StTensor *t = st_tensor_at(f, i);
        ck_assert_uint_eq(t->nbytes, t->numel * st_dtype_size(t->dtype));
        ck_assert_ptr_eq(st_find(f, t->name), t);
        total += t->nbytes;
        if (t->dtype == ST_F32 || t->dtype == ST_F16 || t->dtype == ST_BF16 || t->dtype == ST_F64) {
            float *out = malloc(t->numel * sizeof *out + 1);
            Err err;
            ck_assert_int_eq(st_to_f32(f, t, out, t->numel, &err), 0);
            free(out);
        }
    }
    ck_assert_uint_le(total, file_size);
}

static void open_mutant(const char *path, size_t size, int *opened, int *failed) {
    Err err = {{0}};
    StFile *f = st_open(path, &err);
    if (f) {
        check_consistent(f, size);
        st_close(f);
        (*opened)++;
    } else {
        ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0 && strlen(err.msg) > strlen(path) + 2,
                      "bad message: %s", err.msg);
        (*failed)++;
    }
}

START_TEST(test_fuzz_header_bytes) {
    char *orig;
    size_t size;
    Err err;
    if (file_read_all(GOLDEN_TYPES, &orig, &size, &err) != 0) ck_abort_msg("%s", err.msg);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | (unsigned char)orig[i];
    char *dir = test_tmpdir();
    char path[4096];
    join(path, dir, "fuzz.safetensors");
    test_write_file(dir, "fuzz.safetensors", orig, size);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    static const unsigned char subs[] = {0x00, ' ', '"', '{',  '}', '[',  ']',  ',',  ':',  '0', '9',
                                         '-',  '.', 'e', '\\', 'u', 0x80, 0xC3, 0xFF, 0x0A, 0x7F};
    int opened = 0, failed = 0;
    for (size_t pos = 0; pos < 8 + n; pos++) {
        unsigned char was = (unsigned char)orig[pos];
        for (size_t s = 0; s < sizeof subs + 1; s++) {
            unsigned char v = s < sizeof subs ? subs[s] : was ^ (unsigned char)(1u << (pos % 8));
            if (pos < 8 && s < sizeof subs && s % 4 != 0)
                continue;  // prefix: fewer values, plus all bit flips
            if (v == was) continue;
            ck_assert_int_eq(pwrite(fd, &v, 1, (off_t)pos), 1);
            open_mutant(path, size, &opened, &failed);
        }
        ck_assert_int_eq(pwrite(fd, &was, 1, (off_t)pos), 1);
    }
    for (size_t pos = 0; pos < 8; pos++)
        for (int bit = 0; bit < 8; bit++) {
            unsigned char v = (unsigned char)orig[pos] ^ (unsigned char)(1u << bit);
            ck_assert_int_eq(pwrite(fd, &v, 1, (off_t)pos), 1);
            open_mutant(path, size, &opened, &failed);
            ck_assert_int_eq(pwrite(fd, orig + pos, 1, (off_t)pos), 1);
        }
    // Every truncation, and a few extensions.
    for (size_t len = 0; len <= size + 3; len++) {
        ck_assert_int_eq(ftruncate(fd, (off_t)len), 0);
        if (len > size)
            ck_assert_int_eq(pwrite(fd, "\0\0\0", len - size, (off_t)size), (ssize_t)(len - size));
        open_mutant(path, size + 3, &opened, &failed);
        ck_assert_int_eq(pwrite(fd, orig, size, 0), (ssize_t)size);
    }
    close(fd);
    // Both outcomes occur: some mutations (e.g. inside metadata strings) stay valid.
    ck_assert_int_gt(opened, 0);
    ck_assert_int_gt(failed, 1000);
    free(orig);
    test_tmpdir_remove(dir);
}
END_TEST

Suite *safetensors_suite(void) {
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("reader");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_malformed_headers);
    tcase_add_test(tc, test_malformed_length_prefix);
    tcase_add_test(tc, test_accepted_layouts);
    tcase_add_test(tc, test_unaligned_conversion);
    tcase_add_test(tc, test_golden_types);
    tcase_add_test(tc, test_f16_all_patterns);
    tcase_add_test(tc, test_real_model);
    suite_add_tcase(s, tc);
    tc = tcase_create("model");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_sharded_golden);
    tcase_add_test(tc, test_sharded_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("writer");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_writer_matches_python);
    tcase_add_test(tc, test_writer_round_trip);
    tcase_add_test(tc, test_writer_rejects);
    suite_add_tcase(s, tc);
    tc = tcase_create("fuzz");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_fuzz_header_bytes);
    suite_add_tcase(s, tc);
    return s;
}
