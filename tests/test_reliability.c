// Issue 11 at the library level: hostile files and absurd settings are
// refused with a message naming what is wrong, without hanging or
// crashing.  Each case failed on the code before the fix (it hung, was
// accepted, or lost the reason); the references are the contract
// (the message names the file, field or tensor) and, for the memory
// estimate, what the allocator was actually asked for.
#define _GNU_SOURCE
#include <check.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/bert.h"
#include "tests/testutil.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/memory.h"
#include "weights/checkpoint.h"
#include "weights/hf_model.h"
#include "weights/safetensors.h"

#define TINY TEST_GOLDEN_DIR "/tiny_bert"

// ------------------------------------------------------------ error text

// A message longer than the buffer keeps its start (where) and its end
// (why); the middle is cut.
START_TEST(long_error_keeps_reason) {
    char path[3000];
    memset(path, 'd', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = '\0';
    Err err;
    err_set(&err, "%s: cannot open: Permission denied", path);
    ck_assert_int_lt(strlen(err.msg), ERR_MSG_MAX);
    ck_assert_msg(strncmp(err.msg, "/ddd", 4) == 0, "start lost: %.40s", err.msg);
    const char *reason = ": cannot open: Permission denied";
    size_t n = strlen(err.msg);
    ck_assert_msg(n > strlen(reason) && strcmp(err.msg + n - strlen(reason), reason) == 0,
                  "reason lost: ...%s", err.msg + n - 60);
    // A context prefixed to a full message keeps the reason too.
    err_prefix(&err, "%s", path);
    n = strlen(err.msg);
    ck_assert_msg(strcmp(err.msg + n - strlen(reason), reason) == 0, "reason lost after prefix");
    ck_assert_msg(strncmp(err.msg, "/ddd", 4) == 0, "prefix lost");
}
END_TEST

// ------------------------------------------------------------ not regular files

// A FIFO, a directory and a character device where a file is expected:
// refused at once (a FIFO used to block forever), naming what it is.
START_TEST(inputs_must_be_regular_files) {
    char *tmp = test_tmpdir(), fifo[512], dir[512];
    snprintf(fifo, sizeof fifo, "%s/fifo", tmp);
    snprintf(dir, sizeof dir, "%s/dir", tmp);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    const struct {
        const char *path, *kind;
    } cases[] = {{fifo, "FIFO"}, {dir, "directory"}, {"/dev/zero", "character device"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Err err;
        char *data = NULL;
        ck_assert_int_ne(file_read_all(cases[i].path, &data, NULL, &err), 0);
        ck_assert_ptr_null(data);
        ck_assert_msg(strstr(err.msg, cases[i].path) && strstr(err.msg, cases[i].kind),
                      "%s: message \"%s\" does not say it is a %s", cases[i].path, err.msg,
                      cases[i].kind);
    }
    // config.json as a FIFO: hf_config_load must not wait for a writer.
    char model[512];
    snprintf(model, sizeof model, "%s/model", tmp);
    ck_assert_int_eq(mkdir(model, 0700), 0);
    char config[600];
    snprintf(config, sizeof config, "%s/config.json", model);
    ck_assert_int_eq(mkfifo(config, 0600), 0);
    HfConfig cfg;
    Err err;
    ck_assert_int_ne(hf_config_load(model, &cfg, &err), 0);
    ck_assert_msg(strstr(err.msg, "config.json") && strstr(err.msg, "FIFO"), "%s", err.msg);
    test_tmpdir_remove(tmp);
}
END_TEST

// ------------------------------------------------------------ config.json

// tiny_bert's config.json with `key` set to the raw JSON `value`; with
// `append` the pair is added at the end instead (then a key tiny_bert has
// appears twice).
static char *config_with(const char *key, const char *value, int append) {
    char *dir = test_tmpdir();
    char *text;
    Err err;
    if (file_read_all(TINY "/config.json", &text, NULL, &err) != 0) ck_abort_msg("%s", err.msg);
    char *end = strrchr(text, '}');
    ck_assert_ptr_nonnull(end);
    *end = '\0';
    char *out;
    if (append) {
        ck_assert_int_ge(asprintf(&out, "%s, \"%s\": %s}\n", text, key, value), 0);
    } else {
        // Replace the value in place: the key must already be there.
        char needle[128];
        snprintf(needle, sizeof needle, "\"%s\": ", key);
        char *at = strstr(text, needle);
        ck_assert_msg(at != NULL, "tiny config has no %s", key);
        char *stop = at + strlen(needle);
        while (*stop && *stop != ',' && *stop != '\n') stop++;
        ck_assert_int_ge(asprintf(&out, "%.*s%s%s}\n", (int)(at + strlen(needle) - text), text,
                                  value, stop),
                         0);
    }
    test_write_file(dir, "config.json", out, strlen(out));
    free(out);
    free(text);
    return dir;
}

static const struct {
    const char *key, *value;
    int duplicate;     // 1: appended again (twice), 2: appended (tiny_bert lacks it)
    const char *want;  // in the message besides config.json
} BAD_CONFIGS[] = {
    {"initializer_range", "1e40", 0, "initializer_range"},
    {"initializer_range", "5", 0, "initializer_range"},
    {"layer_norm_eps", "1e40", 0, "layer_norm_eps"},
    {"layer_norm_eps", "10", 0, "layer_norm_eps"},
    // 3 x hidden x hidden overflows int (the qkv weight's element count).
    {"hidden_size", "800000000", 0, "hidden_size"},
    {"intermediate_size", "100000000", 0, "intermediate_size"},
    {"hidden_act", "\"relu\"", 1, "hidden_act"},
    {"num_hidden_layers", "3", 1, "num_hidden_layers"},
    // (multi_label_classification is read since issue 15, with its output map)
    {"problem_type", "\"token_classification\"", 2, "problem_type"},
};

START_TEST(absurd_config_refused) {
    char *dir = config_with(BAD_CONFIGS[_i].key, BAD_CONFIGS[_i].value, BAD_CONFIGS[_i].duplicate);
    HfConfig cfg;
    Err err;
    int rc = hf_config_load(dir, &cfg, &err);
    ck_assert_msg(rc != 0, "%s = %s%s accepted", BAD_CONFIGS[_i].key, BAD_CONFIGS[_i].value,
                  BAD_CONFIGS[_i].duplicate == 1 ? " (twice)" : "");
    ck_assert_msg(strstr(err.msg, "config.json") && strstr(err.msg, BAD_CONFIGS[_i].want),
                  "message \"%s\" does not name %s", err.msg, BAD_CONFIGS[_i].want);
    if (BAD_CONFIGS[_i].duplicate == 1) ck_assert_msg(strstr(err.msg, "twice"), "%s", err.msg);
    test_tmpdir_remove(dir);
}
END_TEST

// ------------------------------------------------------------ non-finite weights

static const char *const NONFINITE_TENSOR = "bert.encoder.layer.1.intermediate.dense.weight";

START_TEST(nonfinite_weights_refused_on_load) {
    const float values[] = {NAN, INFINITY, -INFINITY};
    char *dir = test_tiny_with_value(NONFINITE_TENSOR, values[_i]);
    HfConfig cfg;
    Err err;
    if (hf_config_load(dir, &cfg, &err) != 0) ck_abort_msg("%s", err.msg);
    Bert *m = hf_load_model(dir, &cfg, 0, 1, 8, 1, NULL, &err);
    ck_assert_msg(m == NULL, "weights with %g loaded", (double)values[_i]);
    ck_assert_msg(strstr(err.msg, NONFINITE_TENSOR), "message \"%s\" does not name the tensor",
                  err.msg);
    test_tmpdir_remove(dir);
}
END_TEST

// A checkpoint is never written with a NaN or infinity in its weights or
// optimizer moments (a run once kept an Inf checkpoint as its "last good"
// one): ckpt_save refuses, naming the tensor, and leaves DIR and DIR.tmp
// as they were.  _i = 0: a weight; _i = 1: an AdamW moment.
START_TEST(checkpoint_refuses_nonfinite) {
    HfConfig cfg;
    Err err;
    if (hf_config_load(TINY, &cfg, &err) != 0) ck_abort_msg("%s", err.msg);
    Bert *m = hf_load_model(TINY, &cfg, 0, 1, 8, 1, NULL, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    size_t n;
    bert_params(m, &n);
    float *moments = calloc(2 * n, sizeof(float));
    ck_assert_ptr_nonnull(moments);
    if (_i == 0)
        bert_param(m, PT_FFN_OUT_W)[5] = INFINITY;
    else
        moments[n + 7] = NAN;
    char *tmp = test_tmpdir(), dir[512], dir_tmp[600];
    snprintf(dir, sizeof dir, "%s/last", tmp);
    snprintf(dir_tmp, sizeof dir_tmp, "%s.tmp", dir);
    CheckpointContents c = {.source_dir = TINY, .family = cfg.family,
                            .moments = {moments, moments + n}, .num_moments = n,
                            .state_json = "{}"};
    ck_assert_msg(ckpt_save(dir, m, &c, &err) != 0, "non-finite checkpoint written");
    const char *want = _i == 0 ? "bert.encoder.layer.0.output.dense.weight" : "adamw.v";
    ck_assert_msg(strstr(err.msg, want), "message \"%s\" does not name %s", err.msg, want);
    ck_assert_msg(!path_exists(dir) && !path_exists(dir_tmp), "ckpt_save left files");
    free(moments);
    bert_free(m);
    test_tmpdir_remove(tmp);
}
END_TEST

// ------------------------------------------------------------ memory estimate

// Bytes the process has asked malloc for and not freed: glibc's count, or
// the sanitizer allocator's when it replaces glibc's (mallinfo2 is then 0).
#ifdef __SANITIZE_ADDRESS__
size_t __sanitizer_get_current_allocated_bytes(void);  // sanitizer/allocator_interface.h
#endif
static double heap_in_use(void) {
#ifdef __SANITIZE_ADDRESS__
    return (double)__sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();
    return (double)mi.uordblks + (double)mi.hblkhd;
#endif
}

// What bert_memory_bytes predicts against what bert_build and
// bert_enable_grads actually ask malloc for (heap_in_use).  The
// difference is the small bookkeeping the estimate leaves out (the Bert
// struct, the layer table, zero counters).
START_TEST(memory_estimate_matches_allocation) {
    HfConfig cfg;
    Err err;
    if (hf_config_load(TINY, &cfg, &err) != 0) ck_abort_msg("%s", err.msg);
    const int batch = 16, T = 48;
    for (int k = 0; k < 2 * PRECISION_COUNT; k++) {
        const int training = k % 2;
        const Precision p = (Precision)(k / 2);
        if (!precision_info(p)->available()) continue;  // bf16 below AVX-512: refused anyway
        size_t want;
        if (bert_memory_bytes(&cfg.bert, batch, T, training, p, &want, &err) != 0)
            ck_abort_msg("%s", err.msg);
        double before = heap_in_use();
        Bert *m = bert_build(&cfg.bert, batch, T, &err);
        ck_assert_ptr_nonnull(m);
        if (p != PRECISION_FP32 && bert_set_precision(m, p, &err) != 0) ck_abort_msg("%s", err.msg);
        if (training && bert_enable_grads(m, &err) != 0) ck_abort_msg("%s", err.msg);
        double got = heap_in_use() - before;
        bert_free(m);
        ck_assert_msg(fabs(got - (double)want) <= 16384 + 0.01 * (double)want,
                      "%s, training %d: estimate %zu bytes, allocated %.0f",
                      precision_info(p)->name, training, want, got);
    }
    // Absurd sizes are refused by the estimate's caller, not wrapped.
    size_t huge;
    ck_assert_int_eq(bert_memory_bytes(&cfg.bert, 65536, 64, 1, PRECISION_FP32, &huge, &err), 0);
    ck_assert_msg((double)huge > 65536.0 * 64 * 64 * 4 * 2, "estimate %zu too small", huge);
}
END_TEST

// What the process can have is never more than the kernel's MemAvailable
// (read here with sscanf, independently), and is known on Linux.
START_TEST(available_memory_bounded_by_meminfo) {
    size_t have;
    const char *source;
    ck_assert_int_eq(mem_available(&have, &source), 0);
    FILE *f = fopen("/proc/meminfo", "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    double kib = -1;
    while (fgets(line, sizeof line, f) && sscanf(line, "MemAvailable: %lf kB", &kib) != 1) {
    }
    fclose(f);
    ck_assert_msg(kib > 0, "no MemAvailable in /proc/meminfo");
    // Both read at slightly different times: allow 5% drift.
    ck_assert_msg((double)have <= kib * 1024.0 * 1.05 && have > 0, "%zu bytes (%s), MemAvailable %.0f kB",
                  have, source, kib);
}
END_TEST

Suite *reliability_suite(void) {
    Suite *s = suite_create("reliability");
    TCase *tc = tcase_create("files");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, long_error_keeps_reason);
    tcase_add_test(tc, inputs_must_be_regular_files);
    suite_add_tcase(s, tc);
    tc = tcase_create("config");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, absurd_config_refused, 0,
                        (int)(sizeof BAD_CONFIGS / sizeof BAD_CONFIGS[0]));
    tcase_add_loop_test(tc, nonfinite_weights_refused_on_load, 0, 3);
    tcase_add_loop_test(tc, checkpoint_refuses_nonfinite, 0, 2);
    tcase_add_test(tc, memory_estimate_matches_allocation);
    tcase_add_test(tc, available_memory_bounded_by_meminfo);
    suite_add_tcase(s, tc);
    return s;
}
