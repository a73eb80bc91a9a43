// What a fine-tuned model looks like from outside: the export of a sparse
// map that transformers runs as we do (remote code), the training report and
// the attention maps.  The built commands run in temporary directories:
//   - ./evaluate on the committed exports gives transformers' logits, which
//     ran our modeling_sparse_attention.py with trust_remote_code=True
//     (gen_export_remote_golden.py -> export_remote/, export_remote_logits);
//   - ./export writes that file (the template, byte for byte) and the
//     config.json fields transformers reads (model_type, auto_map);
//   - ./attention draws transformers' attention probabilities (same golden);
//   - the report's zero fractions are ./evaluate's, ./report rewrites the
//     same page, and a broken log is refused naming its line.
#define _GNU_SOURCE  // asprintf
#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tests/testutil.h"
#include "util/fileio.h"
#include "weights/safetensors.h"

#define GOLDEN TEST_GOLDEN_DIR
#define REMOTE_LOGITS GOLDEN "/export_remote_logits.safetensors"
#define TEMPLATE "weights/export_templates/modeling_sparse_attention.py"

// Must match gen_export_remote_golden.py.
static const struct {
    const char *name, *model, *data, *task;
} FAMILIES[] = {
    {"bert", GOLDEN "/tiny_bert", GOLDEN "/sgd_data", "sst2"},
    {"xlmr", GOLDEN "/tiny_xlmr", GOLDEN "/xlmr_data", "rte"},
};
static const char *const MAPS[][2] = {{"rsoftmax", "--attn rsoftmax --r 0.25"},
                                      {"sparsemax", "--attn sparsemax"},
                                      {"entmax15", "--attn entmax15"}};
#define FINETUNE_ARGS                                                                       \
    "--optim adamw --lr 1e-3 --batch-size 4 --max-steps 2 --seed 1 --dropout 0.1 --max-len 64 " \
    "--threads 2"

// Runs a shell command line with stderr in *err_text (caller frees);
// returns the exit status.
static int sh(char **err_text, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sh(char **err_text, const char *fmt, ...) {
    char *cmd, *line, err_path[] = "/tmp/views-err-XXXXXX";
    int fd = mkstemp(err_path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    va_list ap;
    va_start(ap, fmt);
    ck_assert_int_ge(vasprintf(&cmd, fmt, ap), 0);
    va_end(ap);
    ck_assert_int_ge(asprintf(&line, "export OMP_WAIT_POLICY=PASSIVE; ( %s ) >/dev/null 2>%s", cmd, err_path), 0);
    int status = system(line);
    Err err;
    char *text;
    if (file_read_all(err_path, &text, NULL, &err) != 0) ck_abort_msg("%s", err.msg);
    unlink(err_path);
    if (err_text)
        *err_text = text;
    else
        free(text);
    free(cmd);
    free(line);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

#define SH_OK(...)                                                        \
    do {                                                                  \
        char *e_;                                                         \
        int rc_ = sh(&e_, __VA_ARGS__);                                   \
        ck_assert_msg(rc_ == 0, "command failed (%d):\n%s", rc_, e_);     \
        free(e_);                                                         \
    } while (0)

static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *at = strstr(s, needle); at; at = strstr(at + 1, needle)) n++;
    return n;
}

// ------------------------------------------------------------ export

// (a) ./evaluate on each committed export gives transformers' logits.
START_TEST(export_remote_matches_transformers) {
    const int f = _i / 3, m = _i % 3;
    char *tmp = test_tmpdir(), name[64];
    snprintf(name, sizeof name, "%s_%s", FAMILIES[f].name, MAPS[m][0]);
    SH_OK("./evaluate --model %s/export_remote/%s --task %s --data-dir %s --max-len 64 "
          "--threads 2 --predictions %s/pred.tsv", GOLDEN, name, FAMILIES[f].task,
          FAMILIES[f].data, tmp);
    char path[4200], key[96];
    snprintf(path, sizeof path, "%s/pred.tsv", tmp);
    char *text = read_text(path), *save = NULL;
    snprintf(key, sizeof key, "logits_%s", name);
    StFile *g = golden_open(REMOTE_LOGITS);
    size_t numel;
    float *want = golden_f32(g, key, &numel), got[64];
    size_t n = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "index", 5) == 0) continue;
        float l0, l1;
        ck_assert_msg(sscanf(line, "%*d\t%*s\t%f\t%f", &l0, &l1) == 2, "%s: bad row %s", path, line);
        ck_assert_uint_lt(n + 2, sizeof got / sizeof got[0]);
        got[n++] = l0;
        got[n++] = l1;
    }
    ck_assert_uint_eq(n, numel);
    assert_allclose(key, got, want, n, 1e-5, 0);
    free(want);
    st_close(g);
    free(text);
    test_tmpdir_remove(tmp);
}
END_TEST

// (b) ./export writes the template and points config.json at it; a softmax
// export stays plain.
START_TEST(export_writes_remote_code) {
    const int f = _i;  // 0: BERT sparsemax, 1: XLM-R r-softmax, 2: BERT softmax
    const int family = f == 1 ? 1 : 0;
    const char *attn = f == 0 ? "--attn sparsemax" : f == 1 ? "--attn rsoftmax --r 0.25" : "--attn softmax";
    char *tmp = test_tmpdir();
    SH_OK("./finetune --model %s --task %s --data-dir %s " FINETUNE_ARGS " %s --out %s/run",
          FAMILIES[family].model, FAMILIES[family].task, FAMILIES[family].data, attn, tmp);
    SH_OK("./export --checkpoint %s/run/last --out %s/export", tmp, tmp);
    char path[4200];
    snprintf(path, sizeof path, "%s/export/modeling_sparse_attention.py", tmp);
    snprintf(path + 2100, 2100, "%s/export/config.json", tmp);
    cJSON *config = read_json(path + 2100);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(config, "model_type"),
                *auto_map = cJSON_GetObjectItemCaseSensitive(config, "auto_map"),
                *arch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(config, "architectures"), 0);
    ck_assert(cJSON_IsString(type) && cJSON_IsString(arch));
    if (f == 2) {
        ck_assert_msg(!file_exists(path), "%s: written for a softmax export", path);
        ck_assert_ptr_null(auto_map);
        ck_assert_str_eq(type->valuestring, "bert");
        ck_assert_str_eq(arch->valuestring, "BertForSequenceClassification");
    } else {
        char *got = read_text(path), *want = read_text(TEMPLATE);
        ck_assert_msg(strcmp(got, want) == 0, "%s differs from %s", path, TEMPLATE);
        const char *prefix = f == 0 ? "SparseAttnBert" : "SparseAttnXLMRoberta";
        ck_assert_str_eq(type->valuestring, f == 0 ? "bert-sparse-attention" : "xlm-roberta-sparse-attention");
        // Every auto_map entry names a class of the file.
        const char *keys[] = {"AutoConfig", "AutoModel", "AutoModelForSequenceClassification"};
        const char *suffix[] = {"Config", "Model", "ForSequenceClassification"};
        for (int k = 0; k < 3; k++) {
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(auto_map, keys[k]);
            char want_entry[128], decl[160];
            snprintf(want_entry, sizeof want_entry, "modeling_sparse_attention.%s%s", prefix, suffix[k]);
            ck_assert_msg(cJSON_IsString(e) && strcmp(e->valuestring, want_entry) == 0,
                          "auto_map.%s: want %s", keys[k], want_entry);
            snprintf(decl, sizeof decl, "\nclass %s%s(", prefix, suffix[k]);
            ck_assert_msg(strstr(got, decl), "%s: no %s", path, decl + 1);
        }
        ck_assert_str_eq(arch->valuestring, strchr(cJSON_GetObjectItemCaseSensitive(
                                                       auto_map, keys[2])->valuestring, '.') + 1);
        free(got);
        free(want);
        // Our own commands read the export (and a checkpoint made from it is plain again).
        SH_OK("./finetune --model %s/export --task %s --data-dir %s " FINETUNE_ARGS " --out %s/again",
              tmp, FAMILIES[family].task, FAMILIES[family].data, tmp);
        snprintf(path, sizeof path, "%s/again/last/config.json", tmp);
        cJSON *again = read_json(path);
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(again, "model_type")->valuestring,
                         f == 0 ? "bert" : "xlm-roberta");
        ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(again, "auto_map"));
        cJSON_Delete(again);
    }
    cJSON_Delete(config);
    test_tmpdir_remove(tmp);
}
END_TEST

// ------------------------------------------------------------ attention maps

// The probabilities of ./attention's cells, in drawing order (layer, head,
// query, key), read back from each cell's <title> ("q -> k: P").
static float *svg_cells(const char *svg, int *n, int *zero_cells) {
    int cap = count(svg, "<rect class=\"cell"), k = 0;
    float *p = calloc((size_t)cap + 1, sizeof(float));
    ck_assert_ptr_nonnull(p);
    *zero_cells = 0;
    for (const char *at = strstr(svg, "<rect class=\"cell"); at; at = strstr(at + 1, "<rect class=\"cell")) {
        int zero = strncmp(at, "<rect class=\"cell zero\"", 23) == 0;
        const char *end = strstr(at, "</title>"), *colon = end;
        ck_assert_ptr_nonnull(end);
        while (colon > at && *colon != ':') colon--;
        p[k] = strtof(colon + 1, NULL);
        ck_assert_msg(zero == (p[k] == 0.0f), "cell %d: class %s but p = %g", k, zero ? "zero" : "cell", p[k]);
        *zero_cells += zero;
        k++;
    }
    *n = k;
    return p;
}

START_TEST(attention_matches_transformers) {
    const char *name = _i == 0 ? "bert_sparsemax" : "xlmr_rsoftmax";
    cJSON *texts = read_json(GOLDEN "/export_remote_texts.json");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(texts, _i == 0 ? "bert" : "xlmr");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(t, "text"),
                *pair = cJSON_GetObjectItemCaseSensitive(t, "pair");
    char *tmp = test_tmpdir(), pair_arg[512] = "";
    if (cJSON_IsString(pair)) snprintf(pair_arg, sizeof pair_arg, "--pair '%s'", pair->valuestring);
    SH_OK("./attention --model %s/export_remote/%s --text '%s' %s --out %s/map.html", GOLDEN, name,
          text->valuestring, pair_arg, tmp);
    char path[4200], key[64];
    snprintf(path, sizeof path, "%s/map.html", tmp);
    char *html = read_text(path);
    int n, zeros;
    float *got = svg_cells(html, &n, &zeros);
    snprintf(key, sizeof key, "attn_%s", name);
    StFile *g = golden_open(REMOTE_LOGITS);
    size_t numel;
    float *want = golden_f32(g, key, &numel);
    ck_assert_int_eq(n, (int)numel);
    assert_allclose(key, got, want, numel, 1e-5, 0);
    int want_zeros = 0;
    for (size_t i = 0; i < numel; i++) want_zeros += want[i] == 0.0f;
    ck_assert_msg(zeros > 0 && abs(zeros - want_zeros) <= (int)numel / 100,
                  "%d hatched cells, transformers has %d exact zeros", zeros, want_zeros);
    // One chosen matrix, beside another model's: 2 T x T panels.
    SH_OK("./attention --model %s/export_remote/%s --compare %s/export_remote/bert_entmax15 "
          "--layer 1 --head 2 --text 'a b' --out %s/one.svg", GOLDEN, name, GOLDEN, tmp);
    snprintf(path, sizeof path, "%s/one.svg", tmp);
    char *svg = read_text(path);
    ck_assert_int_eq(count(svg, "class=\"panel\""), 2);
    ck_assert(strncmp(svg, "<svg", 4) == 0);
    free(svg);
    free(got);
    free(want);
    free(html);
    st_close(g);
    cJSON_Delete(texts);
    test_tmpdir_remove(tmp);
}
END_TEST

START_TEST(attention_refuses_bad_options) {
    const char *cases[][2] = {
        {"--layer 7 --out X.svg", "--layer 7"},
        {"--head 4 --out X.svg", "--head 4"},
        {"--out X.png", "X.png"},
        {"--text '' --out X.svg", "--text"},
    };
    char *tmp = test_tmpdir();
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char *err;
        int rc = sh(&err, "cd %s && %s/attention --model %s/%s/tiny_bert --text 'a b' %s", tmp,
                    getenv("PWD"), getenv("PWD"), GOLDEN, cases[c][0]);
        ck_assert_msg(rc == 1 && strstr(err, cases[c][1]) && count(err, "\n") == 1,
                      "%s: rc %d, stderr:\n%s", cases[c][0], rc, err);
        free(err);
    }
    test_tmpdir_remove(tmp);
}
END_TEST

// ------------------------------------------------------------ report

START_TEST(report_from_log) {
    char *tmp = test_tmpdir(), path[4200], *err;
    SH_OK("./finetune --model %s --task sst2 --data-dir %s --optim adamw --lr 1e-3 --batch-size 2 "
          "--epochs 2 --seed 3 --max-len 64 --threads 2 --attn sparsemax --out %s/run",
          GOLDEN "/tiny_bert", GOLDEN "/sgd_data", tmp);
    // The last eval record's zero fractions are ./evaluate's on OUT/last.
    SH_OK("./evaluate --model %s/run/last --task sst2 --data-dir %s --max-len 64 --threads 2 "
          "--metrics-out %s/eval.json", tmp, GOLDEN "/sgd_data", tmp);
    snprintf(path, sizeof path, "%s/eval.json", tmp);
    cJSON *eval = read_json(path);
    const cJSON *per_layer = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(eval, "splits"), "dev"), "attention_sparsity"),
        "per_layer");
    snprintf(path, sizeof path, "%s/run/log.jsonl", tmp);
    char *log = read_text(path), *last_eval = NULL;
    const int lines = count(log, "\n") + 1;  // the line a broken record appended gets
    for (char *at = strstr(log, "{\"event\":\"eval\""); at; at = strstr(at + 1, "{\"event\":\"eval\""))
        last_eval = at;
    ck_assert_ptr_nonnull(last_eval);
    *strchr(last_eval, '\n') = '\0';
    cJSON *rec = cJSON_Parse(last_eval);
    const cJSON *logged = cJSON_GetObjectItemCaseSensitive(rec, "attention_zeros");
    ck_assert_int_eq(cJSON_GetArraySize(logged), 2);
    ck_assert_int_eq(cJSON_GetArraySize(per_layer), 2);
    for (int l = 0; l < 2; l++) {
        double a = cJSON_GetArrayItem(logged, l)->valuedouble, b = cJSON_GetArrayItem(per_layer, l)->valuedouble;
        ck_assert_msg(fabs(a - b) < 1e-12 && b > 0, "layer %d: log %g, ./evaluate %g", l, a, b);
    }
    // The page: 2 loss curves, lr, gradient norm, throughput, dev accuracy
    // and one zero-fraction curve per layer.
    snprintf(path, sizeof path, "%s/run/report.html", tmp);
    char *page = read_text(path);
    ck_assert_int_eq(count(page, "<polyline class=\"curve\""), 8);
    ck_assert_int_eq(count(page, "<svg class=\"chart\""), 6);
    // Self-contained: no script, no address but the SVG namespace.
    ck_assert(!strstr(page, "<script"));
    ck_assert_int_eq(count(page, "http"), count(page, "http://www.w3.org/2000/svg"));
    ck_assert(strstr(page, "sparsemax") != NULL);
    // ./report rewrites the same page.
    SH_OK("rm %s && ./report %s/run", path, tmp);
    char *again = read_text(path);
    ck_assert_msg(strcmp(page, again) == 0, "./report wrote another page");
    // A broken line: one-line error naming file and line; the page stays.
    SH_OK("echo '{\"event\":\"step\",' >> %s/run/log.jsonl", tmp);
    ck_assert_int_eq(sh(&err, "./report %s/run", tmp), 1);
    char want[4300];
    snprintf(want, sizeof want, "%s/run/log.jsonl:%d:", tmp, lines);
    ck_assert_msg(strstr(err, want) && count(err, "\n") == 1, "stderr:\n%s", err);
    free(err);
    char *kept = read_text(path);
    ck_assert_str_eq(kept, page);
    free(kept);
    free(again);
    free(page);
    cJSON_Delete(rec);
    free(log);
    cJSON_Delete(eval);
    test_tmpdir_remove(tmp);
}
END_TEST

Suite *views_suite(void) {
    Suite *s = suite_create("views");
    TCase *tc = tcase_create("export_remote");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, export_remote_matches_transformers, 0, 6);
    tcase_add_loop_test(tc, export_writes_remote_code, 0, 3);
    suite_add_tcase(s, tc);
    tc = tcase_create("attention");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, attention_matches_transformers, 0, 2);
    tcase_add_test(tc, attention_refuses_bad_options);
    suite_add_tcase(s, tc);
    tc = tcase_create("report");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, report_from_log);
    suite_add_tcase(s, tc);
    return s;
}
