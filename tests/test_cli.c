// End-to-end tests of ./finetune, ./evaluate and ./export: the built
// binaries run in temporary directories, their files are read back and
// compared with independent references:
//   - one full-batch SGD step per attention map vs PyTorch
//     (gen_model_goldens.py -> sgd_step_*.safetensors),
//   - dev logits of tiny_bert vs transformers (sgd_dev_logits.safetensors),
//   - an export that transformers loads, and its logits there
//     (gen_export_golden.py -> export_tiny*/, export_tiny_hf_logits.safetensors),
//   - an uninterrupted run for a resumed one (byte equality),
//   - hand-written expectations for bad rows, errors and --help (the
//     options and the one-line error contract come from the issue text).
// The binaries must be built (`make all`; `make test` does it).  They are
// run from the repository root, or from $CLI_BIN_DIR if set (e.g. builds
// with sanitizers).
#define _GNU_SOURCE  // asprintf, vasprintf
#include <cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/testutil.h"
#include "util/fileio.h"
#include "weights/safetensors.h"

#define TINY TEST_GOLDEN_DIR "/tiny_bert"
#define SGD_DATA TEST_GOLDEN_DIR "/sgd_data"
#define EXPORT_TINY TEST_GOLDEN_DIR "/export_tiny"
#define EXPORT_TINY_RSOFTMAX TEST_GOLDEN_DIR "/export_tiny_rsoftmax"
#define EXPORT_HF_LOGITS TEST_GOLDEN_DIR "/export_tiny_hf_logits.safetensors"

// ------------------------------------------------------------ running commands

enum { MAX_ARGS = 96 };

// An argv under construction; owns its strings.
typedef struct {
    char *v[MAX_ARGS + 1];
    int n;
} Args;

// Appends each string of a NULL-terminated list.
static void args_add(Args *a, ...) {
    va_list ap;
    va_start(ap, a);
    for (const char *s; (s = va_arg(ap, const char *)) != NULL;) {
        ck_assert_int_lt(a->n, MAX_ARGS);
        a->v[a->n] = strdup(s);
        ck_assert_ptr_nonnull(a->v[a->n]);
        a->n++;
    }
    va_end(ap);
}

static void args_addf(Args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void args_addf(Args *a, const char *fmt, ...) {
    ck_assert_int_lt(a->n, MAX_ARGS);
    va_list ap;
    va_start(ap, fmt);
    ck_assert_int_ge(vasprintf(&a->v[a->n], fmt, ap), 0);
    va_end(ap);
    a->n++;
}

static void args_free(Args *a) {
    for (int i = 0; i < a->n; i++) free(a->v[i]);
    a->n = 0;
}

typedef struct {
    int status;  // as waitpid reports it
    char *out, *err;
    char cmdline[2048];
} Proc;

// Not inlined: GCC's -Wdangling-pointer otherwise takes the returned
// buffer for the address of the local it was read through.
__attribute__((noinline)) static char *read_text(const char *path) {
    char *text;
    Err err;
    if (file_read_all(path, &text, NULL, &err) != 0) ck_abort_msg("%s", err.msg);
    return text;
}

static char *read_fd_file(int fd, const char *path) {
    close(fd);
    char *text = read_text(path);
    unlink(path);
    return text;
}

// Runs argv (v[0] is "./NAME", one of the commands) with stdin from
// /dev/null and stdout / stderr captured.
static Proc run(Args *a) {
    Proc p = {0};
    const char *bin_dir = getenv("CLI_BIN_DIR");
    if (bin_dir && *bin_dir && strncmp(a->v[0], "./", 2) == 0) {
        char *moved;
        ck_assert_int_ge(asprintf(&moved, "%s/%s", bin_dir, a->v[0] + 2), 0);
        free(a->v[0]);
        a->v[0] = moved;
    }
    size_t used = 0;
    for (int i = 0; i < a->n && used < sizeof p.cmdline; i++)
        used += (size_t)snprintf(p.cmdline + used, sizeof p.cmdline - used, "%s%s", i ? " " : "",
                                 a->v[i]);
    ck_assert_msg(access(a->v[0], X_OK) == 0, "%s: not built (run `make all` first)", a->v[0]);
    char out_path[] = "/tmp/cli-out-XXXXXX", err_path[] = "/tmp/cli-err-XXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    ck_assert_msg(out_fd >= 0 && err_fd >= 0, "mkstemp failed");
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork failed");
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        if (in < 0 || dup2(in, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(126);
        // Idle OpenMP threads sleep instead of spinning: the suite runs on
        // shared cores, where spinning threads slow each other down badly.
        setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
        a->v[a->n] = NULL;
        execv(a->v[0], a->v);
        _exit(127);
    }
    ck_assert_msg(waitpid(pid, &p.status, 0) == pid, "waitpid failed");
    p.out = read_fd_file(out_fd, out_path);
    p.err = read_fd_file(err_fd, err_path);
    return p;
}

static void proc_free(Proc *p) {
    free(p->out);
    free(p->err);
}

static void expect_ok(const Proc *p) {
    ck_assert_msg(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0,
                  "%s: expected success, got status %#x; stderr:\n%s", p->cmdline, p->status,
                  p->err);
}

// Runs, asserts success, frees the arguments and the output.
static void run_ok(Args *a) {
    Proc p = run(a);
    expect_ok(&p);
    proc_free(&p);
    args_free(a);
}

// The error contract: a normal exit with a non-zero status (no signal),
// exactly one line on stderr, containing every string of want[].
static void expect_one_line_error(const Proc *p, const char *const *want, int num_want) {
    ck_assert_msg(!WIFSIGNALED(p->status), "%s: killed by signal %d; stderr:\n%s", p->cmdline,
                  WIFSIGNALED(p->status) ? WTERMSIG(p->status) : 0, p->err);
    ck_assert_msg(WIFEXITED(p->status) && WEXITSTATUS(p->status) != 0,
                  "%s: expected failure, got status %#x", p->cmdline, p->status);
    const char *nl = strchr(p->err, '\n');
    ck_assert_msg(nl && nl[1] == '\0', "%s: expected exactly one line on stderr, got:\n%s",
                  p->cmdline, p->err);
    for (int i = 0; i < num_want; i++)
        ck_assert_msg(strstr(p->err, want[i]), "%s: stderr \"%.*s\" does not mention \"%s\"",
                      p->cmdline, (int)(nl - p->err), p->err, want[i]);
}

// ------------------------------------------------------------ files

static char *path_in(const char *dir, const char *name) {
    char *path;
    ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
    return path;
}

static cJSON *read_json(const char *path) {
    char *text = read_text(path);
    cJSON *j = cJSON_Parse(text);
    free(text);
    ck_assert_msg(j != NULL, "%s: invalid JSON", path);
    return j;
}

static const cJSON *json_at(const cJSON *j, const char *path_for_msg, const char *key) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(j, key);
    ck_assert_msg(item != NULL, "%s: no \"%s\"", path_for_msg, key);
    return item;
}

static void copy_file(const char *src_dir, const char *dst_dir, const char *name) {
    char *src = path_in(src_dir, name), *dst = path_in(dst_dir, name);
    Err err;
    if (file_copy(src, dst, &err) != 0) ck_abort_msg("%s", err.msg);
    free(src);
    free(dst);
}

// A copy of tiny_bert in dir/name without its weights.
static char *tiny_copy_without_weights(const char *dir, const char *name) {
    char *out = path_in(dir, name);
    Err err;
    if (dir_make(out, &err) != 0) ck_abort_msg("%s", err.msg);
    const char *files[] = {"config.json", "vocab.txt", "tokenizer_config.json",
                           "special_tokens_map.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) copy_file(TINY, out, files[i]);
    return out;
}

// Every tensor of a and b (same names, shapes and values within
// atol + rtol |b|; loose_atol for names ending in loose_suffix), b's
// tensors named in skip[] ignored.
static void compare_tensor_files(const char *got_path, const char *want_path,
                                 const char *const *skip, int num_skip, double atol, double rtol,
                                 const char *loose_suffix, double loose_atol) {
    StFile *got = golden_open(got_path), *want = golden_open(want_path);
    int want_params = 0;
    for (int i = 0; i < st_count(want); i++) {
        const StTensor *w = st_tensor_at(want, i);
        int skipped = 0;
        for (int k = 0; k < num_skip; k++) skipped |= strcmp(w->name, skip[k]) == 0;
        if (skipped) continue;
        want_params++;
        const StTensor *g = st_find(got, w->name);
        ck_assert_msg(g != NULL, "%s: tensor %s missing (it is in %s)", got_path, w->name,
                      want_path);
        ck_assert_msg(
            g->ndim == w->ndim && memcmp(g->shape, w->shape, sizeof(int64_t) * w->ndim) == 0,
            "%s: tensor %s: shape differs from %s", got_path, w->name, want_path);
        float *a = golden_f32(got, w->name, NULL), *b = golden_f32(want, w->name, NULL);
        size_t len = strlen(w->name), suffix = loose_suffix ? strlen(loose_suffix) : 0;
        int loose =
            loose_suffix && len >= suffix && strcmp(w->name + len - suffix, loose_suffix) == 0;
        assert_allclose(w->name, a, b, w->numel, loose ? loose_atol : atol, loose ? 0 : rtol);
        free(a);
        free(b);
    }
    ck_assert_msg(st_count(got) == want_params, "%s: %d tensors, %s has %d parameters", got_path,
                  st_count(got), want_path, want_params);
    st_close(got);
    st_close(want);
}

// A predictions file: header line, then index, label name and logits.
typedef struct {
    int n, width;
    char header[256];
    char labels[64][32];
    double logits[64][4];
} Predictions;

static Predictions read_predictions(const char *path) {
    char *text = read_text(path);
    Predictions p = {0};
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!p.header[0]) {
            snprintf(p.header, sizeof p.header, "%s", line);
            continue;
        }
        ck_assert_int_lt(p.n, 64);
        char *end;
        long index = strtol(line, &end, 10);
        ck_assert_msg(*end == '\t' && index == p.n, "%s: row %d: bad index in \"%s\"", path, p.n,
                      line);
        char *field = end + 1, *tab = strchr(field, '\t');
        snprintf(p.labels[p.n], sizeof p.labels[p.n], "%.*s",
                 (int)(tab ? tab - field : (long)strlen(field)), field);
        int w = 0;
        while (tab) {
            ck_assert_int_lt(w, 4);
            p.logits[p.n][w++] = strtod(tab + 1, &end);
            ck_assert_msg(end != tab + 1 && (*end == '\t' || *end == '\0'), "%s: row %d: bad logit",
                          path, p.n);
            tab = *end == '\t' ? end : NULL;
        }
        p.width = w;
        p.n++;
    }
    free(text);
    return p;
}

// Predictions vs logits [n, 2] of SST-2 (labels "0", "1").
static void compare_predictions(const Predictions *p, const float *want, size_t numel, double tol) {
    ck_assert_str_eq(p->header, "index\tprediction\tlogit_0\tlogit_1");
    ck_assert_int_eq(p->width, 2);
    ck_assert_int_eq((size_t)p->n * 2, numel);
    for (int i = 0; i < p->n; i++) {
        float got[2] = {(float)p->logits[i][0], (float)p->logits[i][1]};
        char what[32];
        snprintf(what, sizeof what, "row %d logits", i);
        assert_allclose(what, got, want + 2 * i, 2, tol, 0);
        ck_assert_str_eq(p->labels[i], want[2 * i + 1] > want[2 * i] ? "1" : "0");
    }
}

// A directory tree as text: every relative path with its size, mtime and
// contents, sorted, so any write, rename or removal shows up.
static void snapshot_into(const char *root, const char *rel, char **buf, size_t *len) {
    char *dir = rel[0] ? path_in(root, rel) : strdup(root);
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    ck_assert_msg(n >= 0, "%s: cannot list", dir);
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) {
            char *sub = rel[0] ? path_in(rel, name) : strdup(name), *full = path_in(root, sub);
            struct stat st;
            ck_assert_int_eq(lstat(full, &st), 0);
            char line[4096];
            int k = snprintf(line, sizeof line, "%s %lld %lld.%09ld\n", sub, (long long)st.st_size,
                             (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
            char *contents = S_ISREG(st.st_mode) ? read_text(full) : NULL;
            size_t add = (size_t)k + (contents ? (size_t)st.st_size : 0);
            *buf = realloc(*buf, *len + add + 1);
            ck_assert_ptr_nonnull(*buf);
            memcpy(*buf + *len, line, (size_t)k);
            if (contents) memcpy(*buf + *len + k, contents, (size_t)st.st_size);
            *len += add;
            free(contents);
            if (S_ISDIR(st.st_mode)) snapshot_into(root, sub, buf, len);
            free(sub);
            free(full);
        }
        free(names[i]);
    }
    free(names);
    free(dir);
}

typedef struct {
    char *data;
    size_t len;
} Snapshot;

static Snapshot snapshot(const char *root) {
    Snapshot s = {NULL, 0};
    snapshot_into(root, "", &s.data, &s.len);
    return s;
}

static void expect_unchanged(const Snapshot *before, const char *root, const char *after_what) {
    Snapshot now = snapshot(root);
    ck_assert_msg(now.len == before->len && memcmp(now.data, before->data, now.len) == 0,
                  "%s changed after %s", root, after_what);
    free(now.data);
}

static int files_equal(const char *a, const char *b) {
    char *x, *y;
    size_t nx, ny;
    Err err;
    if (file_read_all(a, &x, &nx, &err) != 0) ck_abort_msg("%s", err.msg);
    if (file_read_all(b, &y, &ny, &err) != 0) ck_abort_msg("%s", err.msg);
    int same = nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return same;
}

// ------------------------------------------------------------ 1. one SGD step vs PyTorch

static const struct {
    const char *tag, *attn, *r;
} SGD_MAPS[] = {
    {"softmax", "softmax", NULL},         {"rsoftmax_r0.25", "rsoftmax", "0.25"},
    {"rsoftmax_r0.5", "rsoftmax", "0.5"}, {"rsoftmax_r0.9", "rsoftmax", "0.9"},
    {"sparsemax", "sparsemax", NULL},     {"entmax15", "entmax15", NULL},
};
static const char *const GOLDEN_INPUTS[] = {"loss", "input_ids", "token_type_ids", "lengths",
                                            "labels"};

// The loss of the first "step" line of a log.jsonl.
static double first_step_loss(const char *log_path) {
    char *text = read_text(log_path), *first = strstr(text, "{\"event\":\"step\"");
    ck_assert_msg(first != NULL, "%s: no step line", log_path);
    cJSON *j = cJSON_Parse(first);  // parses that line only
    free(text);
    ck_assert_msg(j && strcmp(json_at(j, log_path, "event")->valuestring, "step") == 0,
                  "%s: first step line is not a step", log_path);
    double loss = json_at(j, log_path, "loss")->valuedouble;
    cJSON_Delete(j);
    return loss;
}

// Runs the ./finetune command in *a with --out=TMP/run, then exports
// TMP/run/last to TMP/export.
static void finetune_and_export(Args *a, const char *tmp) {
    args_addf(a, "--out=%s/run", tmp);
    run_ok(a);
    args_add(a, "./export", NULL);
    args_addf(a, "--checkpoint=%s/run/last", tmp);
    args_addf(a, "--out=%s/export", tmp);
    run_ok(a);
}

START_TEST(sgd_step_matches_pytorch) {
    const char *tag = SGD_MAPS[_i].tag, *attn = SGD_MAPS[_i].attn, *r = SGD_MAPS[_i].r;
    char *tmp = test_tmpdir(), golden[256];
    snprintf(golden, sizeof golden, TEST_GOLDEN_DIR "/sgd_step_%s.safetensors", tag);
    Args a = {0};
    args_add(&a, "./finetune", "--model", TINY, "--task", "sst2", "--data-dir", SGD_DATA, "--optim",
             "sgd", "--lr", "0.5", "--max-steps", "1", "--dropout", "0", "--weight-decay", "0",
             "--warmup", "0", "--clip", "0", "--batch-size", "6", "--threads", "2", "--attn", attn,
             NULL);
    if (r) args_add(&a, "--r", r, NULL);
    finetune_and_export(&a, tmp);

    char *model = path_in(tmp, "export/model.safetensors");
    compare_tensor_files(model, golden, GOLDEN_INPUTS, 5, 1e-6, 1e-5, NULL, 0);

    // The logged loss is the one before the step, which the golden holds.
    char *log = path_in(tmp, "run/log.jsonl");
    StFile *g = golden_open(golden);
    float *loss = golden_f32(g, "loss", NULL);
    float logged = (float)first_step_loss(log);
    assert_allclose("loss", &logged, loss, 1, 1e-6, 1e-5);
    free(loss);
    st_close(g);

    char *config_path = path_in(tmp, "export/config.json");
    cJSON *config = read_json(config_path);
    ck_assert_str_eq(json_at(config, config_path, "attention_probs_fn")->valuestring, attn);
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(config, "attention_r");
    if (r)
        ck_assert_msg(ar && fabs(ar->valuedouble - atof(r)) < 1e-7, "%s: attention_r is not %s",
                      config_path, r);
    else
        ck_assert_msg(!ar, "%s: attention_r present for %s", config_path, attn);
    cJSON_Delete(config);
    free(config_path);
    free(log);
    free(model);
    test_tmpdir_remove(tmp);
}
END_TEST

// The XLM-R family end to end: SentencePiece tokenizer, positions from
// padding_idx + 1, head classifier.dense / .out_proj, GLUE's RTE layout.
START_TEST(sgd_step_xlmr_matches_pytorch) {
    char *tmp = test_tmpdir();
    Args a = {0};
    args_add(&a, "./finetune", "--model", TEST_GOLDEN_DIR "/tiny_xlmr", "--task", "rte",
             "--data-dir", TEST_GOLDEN_DIR "/xlmr_data", "--optim", "sgd", "--lr", "0.5",
             "--max-steps", "1", "--dropout", "0", "--weight-decay", "0", "--warmup", "0", "--clip",
             "0", "--batch-size", "6", "--max-len", "64", "--threads", "2", NULL);
    finetune_and_export(&a, tmp);
    char *model = path_in(tmp, "export/model.safetensors");
    static const char *const inputs[] = {"loss"};
    compare_tensor_files(model, TEST_GOLDEN_DIR "/xlmr_sgd_step.safetensors", inputs, 1, 1e-6, 1e-5,
                         NULL, 0);
    char *config_path = path_in(tmp, "export/config.json");
    cJSON *config = read_json(config_path);
    const cJSON *arch = json_at(config, config_path, "architectures");
    ck_assert_str_eq(cJSON_GetArrayItem(arch, 0)->valuestring, "XLMRobertaForSequenceClassification");
    ck_assert_str_eq(json_at(config, config_path, "model_type")->valuestring, "xlm-roberta");
    cJSON_Delete(config);
    free(config_path);
    free(model);
    test_tmpdir_remove(tmp);
}
END_TEST

// ------------------------------------------------------------ 2. evaluate vs transformers

static void add_eval_args(Args *a, const char *model, const char *data_dir) {
    args_add(a, "./evaluate", "--model", model, "--task", "sst2", "--data-dir", data_dir,
             "--threads", "2", NULL);
}

START_TEST(evaluate_matches_transformers) {
    char *tmp = test_tmpdir(), *pred = path_in(tmp, "pred.tsv"),
         *metrics = path_in(tmp, "metrics.json");
    Args a = {0};
    add_eval_args(&a, TINY, SGD_DATA);
    args_add(&a, "--predictions", pred, "--metrics-out", metrics, NULL);
    run_ok(&a);

    StFile *g = golden_open(TEST_GOLDEN_DIR "/sgd_dev_logits.safetensors");
    size_t numel, n;
    float *logits = golden_f32(g, "logits", &numel);
    int *labels = golden_i32(g, "labels", &n);
    Predictions p = read_predictions(pred);
    compare_predictions(&p, logits, numel, 1e-5);

    int correct = 0;
    for (size_t i = 0; i < n; i++)
        correct += (logits[2 * i + 1] > logits[2 * i]) == (labels[i] == 1);
    cJSON *m = read_json(metrics);
    const cJSON *dev = json_at(json_at(m, metrics, "splits"), metrics, "dev");
    double accuracy = json_at(json_at(dev, metrics, "metrics"), metrics, "accuracy")->valuedouble;
    ck_assert_msg(fabs(accuracy - (double)correct / (double)n) < 1e-12,
                  "%s: accuracy %g, want %d/%zu", metrics, accuracy, correct, n);
    cJSON_Delete(m);

    // --split test on the dev sentences: GLUE submission format with the
    // same predictions.
    char *glue = path_in(tmp, "glue"), *sst = path_in(glue, "SST-2"),
         *test_pred = path_in(tmp, "test.tsv");
    Err err;
    if (dir_make(sst, &err) != 0) ck_abort_msg("%s", err.msg);
    const char test_tsv[] =
        "index\tsentence\n0\ta fun movie\n1\tthe worst film ever .\n"
        "2\tit is not bad at all\n3\tdull , slow and old\n";
    test_write_file(sst, "test.tsv", test_tsv, strlen(test_tsv));
    add_eval_args(&a, TINY, glue);
    args_add(&a, "--split", "test", "--predictions", test_pred, NULL);
    run_ok(&a);
    char *text = read_text(test_pred), want[256];
    int used = snprintf(want, sizeof want, "index\tprediction\n");
    for (size_t i = 0; i < n; i++)
        used += snprintf(want + used, sizeof want - (size_t)used, "%zu\t%s\n", i,
                         logits[2 * i + 1] > logits[2 * i] ? "1" : "0");
    ck_assert_str_eq(text, want);

    free(text);
    free(glue);
    free(sst);
    free(test_pred);
    free(logits);
    free(labels);
    st_close(g);
    free(pred);
    free(metrics);
    test_tmpdir_remove(tmp);
}
END_TEST

// ------------------------------------------------------------ 3. export round trip

// Must match FINETUNE_ARGS of gen_export_golden.py.
static void add_export_golden_run(Args *a, const char *out, int rsoftmax) {
    args_add(a, "./finetune", "--model", TINY, "--task", "sst2", "--data-dir", SGD_DATA, "--optim",
             "adamw", "--lr", "1e-3", "--batch-size", "4", "--max-steps", "2", "--seed", "1",
             "--dropout", "0.1", "--max-len", "64", "--threads", "2", "--out", out, NULL);
    if (rsoftmax) args_add(a, "--attn", "rsoftmax", "--r", "0.5", NULL);
}

START_TEST(export_round_trip) {
    const int rsoftmax = _i;
    const char *committed = rsoftmax ? EXPORT_TINY_RSOFTMAX : EXPORT_TINY;
    char *tmp = test_tmpdir(), *run_dir = path_in(tmp, "run"), *last = path_in(tmp, "run/last");
    char *exported = path_in(tmp, "export");
    char *pred = path_in(tmp, "pred.tsv"), *pred_last = path_in(tmp, "pred_last.tsv");
    char *pred_export = path_in(tmp, "pred_export.tsv");
    Args a = {0};

    // (a) transformers' logits on the committed export, which it runs with
    // softmax attention whatever the config says.
    add_eval_args(&a, committed, SGD_DATA);
    args_add(&a, "--attn", "softmax", "--max-len", "64", "--predictions", pred, NULL);
    run_ok(&a);
    StFile *g = golden_open(EXPORT_HF_LOGITS);
    size_t numel;
    float *logits = golden_f32(g, rsoftmax ? "logits_rsoftmax" : "logits", &numel);
    Predictions p = read_predictions(pred);
    compare_predictions(&p, logits, numel, 1e-5);

    // (b) our pipeline writes the committed directory.  The attention key
    // biases are the exception: their exact gradient is zero (every map is
    // invariant to adding q.b_k to a whole row of scores), so AdamW turns
    // float rounding noise into their update, which any change of thread
    // count or summation order redraws.  Each step moves them by at most
    // about lr = 1e-3, so two runs can differ by 4 lr.
    add_export_golden_run(&a, run_dir, rsoftmax);
    run_ok(&a);
    args_add(&a, "./export", "--checkpoint", last, "--out", exported, NULL);
    run_ok(&a);
    char *got = path_in(exported, "model.safetensors"),
         *want = path_in(committed, "model.safetensors");
    compare_tensor_files(got, want, NULL, 0, 1e-6, 0, "attention.self.key.bias", 4e-3);

    // (c) a checkpoint and its export predict the same, to the byte (the
    // checkpoint's own attention map in both).
    add_eval_args(&a, last, SGD_DATA);
    args_add(&a, "--max-len", "64", "--predictions", pred_last, NULL);
    run_ok(&a);
    add_eval_args(&a, exported, SGD_DATA);
    args_add(&a, "--max-len", "64", "--predictions", pred_export, NULL);
    run_ok(&a);
    ck_assert_msg(files_equal(pred_last, pred_export), "%s and %s differ", pred_last, pred_export);

    free(got);
    free(want);
    free(logits);
    st_close(g);
    free(pred);
    free(pred_last);
    free(pred_export);
    free(exported);
    free(last);
    free(run_dir);
    test_tmpdir_remove(tmp);
}
END_TEST

// ------------------------------------------------------------ 4. resume

static void add_resume_run(Args *a, const char *out) {
    args_add(a, "./finetune", "--model", TINY, "--task", "sst2", "--data-dir", SGD_DATA,
             "--batch-size", "2", "--epochs", "3", "--dropout", "0.1", "--optim", "adamw", "--lr",
             "1e-3", "--seed", "5", "--warmup", "0.2", "--clip", "1.0", "--max-len", "64",
             "--threads", "2", "--out", out, NULL);
}

// The lines of a log.jsonl without their wall-clock "seconds" field.
static char *log_without_seconds(const char *path) {
    char *text = read_text(path), *out = calloc(strlen(text) + 1, 1);
    ck_assert_ptr_nonnull(out);
    size_t used = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *sec = strstr(line, ",\"seconds\":");
        size_t keep = sec ? (size_t)(sec - line) : strlen(line);
        memcpy(out + used, line, keep);
        used += keep;
        out[used++] = '\n';
    }
    free(text);
    return out;
}

// results.json without its wall-clock field.
static char *results_without_wall(const char *path) {
    cJSON *j = read_json(path);
    cJSON_DeleteItemFromObjectCaseSensitive(j, "wall_seconds_this_process");
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    ck_assert_ptr_nonnull(text);
    return text;
}

// Run A goes straight through the 9 steps; B stops after step 4 (mid
// epoch) and resumes; C stops after step 3 (an epoch end, with evaluation
// and a new best), again after step 7, and resumes.  B and C must end
// with A's bytes.
START_TEST(resume_equals_uninterrupted) {
    char *tmp = test_tmpdir(), *dirs[3] = {path_in(tmp, "A"), path_in(tmp, "B"), path_in(tmp, "C")};
    const char *stops[3][2] = {{NULL, NULL}, {"4", NULL}, {"3", "7"}};
    Args a = {0};
    for (int r = 0; r < 3; r++) {
        for (int k = 0; k < 3; k++) {
            if (k > 0 && !stops[r][k - 1]) break;
            add_resume_run(&a, dirs[r]);
            if (k > 0) args_add(&a, "--resume", NULL);
            if (k < 2 && stops[r][k]) args_add(&a, "--stop-after", stops[r][k], NULL);
            run_ok(&a);
        }
    }
    const char *same[] = {"last/model.safetensors", "last/optimizer.safetensors",
                          "last/trainer_state.json", "best/model.safetensors",
                          "best/trainer_state.json"};
    char *log_a = path_in(dirs[0], "log.jsonl"), *la = log_without_seconds(log_a);
    char *res_a = path_in(dirs[0], "results.json"), *ra = results_without_wall(res_a);
    ck_assert_msg(strstr(la, "\"event\":\"step\",\"step\":9,"), "%s: no step 9", log_a);
    for (int r = 1; r < 3; r++) {
        for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
            char *x = path_in(dirs[0], same[i]), *y = path_in(dirs[r], same[i]);
            ck_assert_msg(files_equal(x, y), "%s and %s differ", x, y);
            free(x);
            free(y);
        }
        char *log = path_in(dirs[r], "log.jsonl"), *l = log_without_seconds(log);
        char *res = path_in(dirs[r], "results.json"), *rr = results_without_wall(res);
        ck_assert_str_eq(l, la);
        ck_assert_str_eq(rr, ra);
        free(l);
        free(log);
        free(rr);
        free(res);
    }
    free(la);
    free(log_a);
    free(ra);
    free(res_a);
    for (int r = 0; r < 3; r++) free(dirs[r]);
    test_tmpdir_remove(tmp);
}
END_TEST

START_TEST(resume_refusals) {
    char *tmp = test_tmpdir(), *out = path_in(tmp, "run"), *empty = path_in(tmp, "empty");
    Args a = {0};
    add_resume_run(&a, out);
    args_add(&a, "--stop-after", "2", NULL);
    run_ok(&a);
    Snapshot before = snapshot(out);

    add_resume_run(&a, out);
    args_add(&a, "--resume", "--lr", "2e-3", NULL);
    Proc p = run(&a);
    const char *lr[] = {"run_config.lr", "trainer_state.json"};
    expect_one_line_error(&p, lr, 2);
    proc_free(&p);
    args_free(&a);
    expect_unchanged(&before, out, "--resume with another --lr");

    add_resume_run(&a, out);  // a fresh run where one is already
    p = run(&a);
    const char *exists[] = {"run/last", "--resume"};
    expect_one_line_error(&p, exists, 2);
    proc_free(&p);
    args_free(&a);
    expect_unchanged(&before, out, "a fresh run into it");

    add_resume_run(&a, empty);
    args_add(&a, "--resume", NULL);
    p = run(&a);
    const char *nothing[] = {"empty/last"};
    expect_one_line_error(&p, nothing, 1);
    proc_free(&p);
    args_free(&a);

    free(before.data);
    free(out);
    free(empty);
    test_tmpdir_remove(tmp);
}
END_TEST

// A resumed run whose second step fails (SGD with lr 1e30 overflows the
// weights, the loss is not finite).  _i = 0: the last good checkpoint
// survives.  _i = 1: the error line names the failing step the way the
// log and the progress lines number steps (from 1: this is step 2).
START_TEST(failed_step) {
    char *tmp = test_tmpdir(), *out = path_in(tmp, "run"), *last = path_in(out, "last");
    Args a = {0};
    const char *base[] = {"./finetune", "--model",      TINY,   "--task",      "sst2", "--data-dir",
                          SGD_DATA,     "--batch-size", "2",    "--max-steps", "3",    "--optim",
                          "sgd",        "--lr",         "1e30", "--warmup",    "0",    "--clip",
                          "0",          "--max-len",    "64",   "--threads",   "2",    "--out"};
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++) args_add(&a, base[i], NULL);
    args_add(&a, out, "--stop-after", "1", NULL);
    run_ok(&a);
    Snapshot before = snapshot(last);
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++) args_add(&a, base[i], NULL);
    args_add(&a, out, "--resume", NULL);
    Proc p = run(&a);
    ck_assert_msg(WIFEXITED(p.status) && WEXITSTATUS(p.status) != 0,
                  "%s: expected failure; stderr:\n%s", p.cmdline, p.err);
    const char *line = strstr(p.err, "finetune: ");
    ck_assert_msg(line && strstr(line, "loss"), "%s: no error about the loss:\n%s", p.cmdline,
                  p.err);
    if (_i == 0) expect_unchanged(&before, last, "a resumed run that failed");
    int named_step_2 = strncmp(line, "finetune: step 2:", 17) == 0;
    char said[256];
    snprintf(said, sizeof said, "%s", line);
    proc_free(&p);
    args_free(&a);
    free(before.data);
    free(last);
    free(out);
    test_tmpdir_remove(tmp);
    if (_i == 1) ck_assert_msg(named_step_2, "the second step failed, but stderr says: %s", said);
}
END_TEST

// ------------------------------------------------------------ 5. bad rows

static const struct {
    const char *row, *reason;
    int in_dev;
} BAD_ROWS[] = {
    {"too\tmany\tcolumns", "column", 0}, {"the film\tmaybe", "label", 0},
    {"\t1", "empty", 0},                 {"bad \xff\xfe bytes\t1", "UTF-8", 0},
    {"the plot\tmaybe", "label", 1},
};

START_TEST(bad_rows) {
    char *tmp = test_tmpdir(), *bad_path = path_in(tmp, "bad.tsv"),
         *good_path = path_in(tmp, "good.tsv");
    char bad[512], where[600];
    // The bad row is line 4 (the header is line 1).
    snprintf(bad, sizeof bad,
             "sentence\tlabel\nthe film was great\t1\nbad\t0\n%s\nboring plot\t0\nnice music\t1\n",
             BAD_ROWS[_i].row);
    const char good[] = "sentence\tlabel\ngood movie\t1\nbad film\t0\nfun\t1\ndull\t0\n";
    test_write_file(tmp, "bad.tsv", bad, strlen(bad));
    test_write_file(tmp, "good.tsv", good, strlen(good));
    snprintf(where, sizeof where, "%s:4:", bad_path);
    for (int skip = 0; skip < 2; skip++) {
        Args a = {0};
        args_add(&a, "./finetune", "--model", TINY, "--task", "custom", "--train",
                 BAD_ROWS[_i].in_dev ? good_path : bad_path, "--dev",
                 BAD_ROWS[_i].in_dev ? bad_path : good_path, "--text-col", "sentence",
                 "--label-col", "label", "--labels", "0,1", "--max-steps", "1", "--max-len", "64",
                 "--threads", "2", NULL);
        args_addf(&a, "--out=%s/run%d", tmp, skip);
        if (skip) args_add(&a, "--skip-bad-rows", NULL);
        Proc p = run(&a);
        if (!skip) {
            const char *want[] = {where, BAD_ROWS[_i].reason};
            expect_one_line_error(&p, want, 2);
        } else {
            expect_ok(&p);
            ck_assert_msg(strstr(p.err, "skipped 1 bad row") && strstr(p.err, where),
                          "%s: stderr does not report 1 skipped row at %s:\n%s", p.cmdline, where,
                          p.err);
        }
        proc_free(&p);
        args_free(&a);
    }
    free(bad_path);
    free(good_path);
    test_tmpdir_remove(tmp);
}
END_TEST

// ------------------------------------------------------------ 6. errors

// tiny_bert variants in tmp: relu/ (hidden_act "relu"), reshaped/ (one
// tensor [32, 32] stored as [16, 64]), dropped/ (one tensor missing).
static const char *const RESHAPED = "bert.encoder.layer.1.attention.self.key.weight";
static const char *const DROPPED = "bert.encoder.layer.0.output.dense.bias";

static void write_variants(const char *tmp) {
    char *relu = tiny_copy_without_weights(tmp, "relu");
    copy_file(TINY, relu, "model.safetensors");
    char *config = path_in(relu, "config.json"), *text = read_text(config);
    char *gelu = strstr(text, "\"gelu\"");
    ck_assert_ptr_nonnull(gelu);
    memcpy(gelu + 1, "relu", 4);
    test_write_file(relu, "config.json", text, strlen(text));
    free(text);
    free(config);
    free(relu);

    StFile *src = golden_open(TINY "/model.safetensors");
    int n = st_count(src);
    StWriteTensor *t = calloc((size_t)n, sizeof *t);
    ck_assert_ptr_nonnull(t);
    for (int variant = 0; variant < 2; variant++) {
        char *dir = tiny_copy_without_weights(tmp, variant ? "dropped" : "reshaped");
        int m = 0;
        for (int i = 0; i < n; i++) {
            const StTensor *s = st_tensor_at(src, i);
            if (variant && strcmp(s->name, DROPPED) == 0) continue;
            t[m] = (StWriteTensor){
                .name = s->name, .dtype = s->dtype, .ndim = s->ndim, .data = s->data};
            memcpy(t[m].shape, s->shape, sizeof s->shape);
            if (!variant && strcmp(s->name, RESHAPED) == 0) {
                ck_assert(s->ndim == 2 && s->shape[0] == 32 && s->shape[1] == 32);
                t[m].shape[0] = 16;
                t[m].shape[1] = 64;
            }
            m++;
        }
        ck_assert_int_eq(m, variant ? n - 1 : n);
        char *path = path_in(dir, "model.safetensors");
        Err err;
        if (st_write(path, t, m, NULL, 0, &err) != 0) ck_abort_msg("%s", err.msg);
        free(path);
        free(dir);
    }
    free(t);
    st_close(src);
}

typedef struct {
    const char *cmd;      // finetune | evaluate | export
    const char *args[8];  // "@name" stands for TMP/name
    const char *want[3];  // substrings of the one error line; "@name" as above
} ErrorCase;

static const ErrorCase ERRORS[] = {
    {"finetune", {"--task", "sst2"}, {"--model"}},
    {"finetune", {"--model", "@no-such-model"}, {"no-such-model"}},
    {"finetune", {"--model", TINY, "--bogus-option"}, {"--bogus-option"}},
    {"finetune", {"--model", TINY, "--lr", "abc"}, {"--lr", "abc"}},
    {"finetune", {"--model", TINY, "--attn", "rsoftmax"}, {"--r", "rsoftmax"}},
    {"finetune", {"--model", TINY, "--attn", "softmax", "--r", "0.5"}, {"--r", "softmax"}},
    {"finetune", {"--model", TINY, "--attn", "rsoftmax", "--r", "1.5"}, {"--r", "1.5"}},
    {"finetune", {"--model", TINY, "--r", "0.5"}, {"--r"}},
    {"finetune", {"--model", "@relu"}, {"@relu/config.json", "hidden_act", "\"relu\""}},
    {"finetune", {"--model", "@reshaped"}, {"@reshaped/model.safetensors", RESHAPED, "[16, 64]"}},
    {"finetune", {"--model", "@dropped"}, {"@dropped", DROPPED, "missing"}},
    {"evaluate", {"--task", "sst2"}, {"--model"}},
    {"evaluate", {"--model", "@no-such-model"}, {"no-such-model"}},
    {"evaluate", {"--model", TINY, "--bogus-option"}, {"--bogus-option"}},
    {"evaluate", {"--model", TINY, "--batch-size", "abc"}, {"--batch-size", "abc"}},
    {"evaluate", {"--model", TINY, "--attn", "rsoftmax"}, {"--r", "rsoftmax"}},
    {"evaluate", {"--model", TINY, "--attn", "softmax", "--r", "0.5"}, {"--r", "softmax"}},
    {"evaluate", {"--model", TINY, "--attn", "rsoftmax", "--r", "1.5"}, {"--r", "1.5"}},
    {"evaluate", {"--model", "@relu"}, {"@relu/config.json", "hidden_act", "\"relu\""}},
    {"evaluate", {"--model", "@reshaped"}, {"@reshaped/model.safetensors", RESHAPED, "[16, 64]"}},
    {"evaluate", {"--model", "@dropped"}, {"@dropped", DROPPED, "missing"}},
    {"export", {"--out", "@x"}, {"--checkpoint"}},
    {"export", {"--checkpoint", TINY}, {"--out"}},
    {"export", {"--checkpoint", "@no-such-model", "--out", "@x"}, {"no-such-model"}},
    {"export", {"--checkpoint", TINY, "--out", "@x", "--bogus-option"}, {"--bogus-option"}},
    {"export", {"--checkpoint", "@relu", "--out", "@x"}, {"@relu/config.json", "hidden_act", "\"relu\""}},
    {"export",
     {"--checkpoint", "@reshaped", "--out", "@x"},
     {"@reshaped/model.safetensors", RESHAPED, "[16, 64]"}},
    {"export", {"--checkpoint", "@dropped", "--out", "@x"}, {"@dropped", DROPPED, "missing"}},
};

static char *expand(const char *tmp, const char *s) {
    char *out;
    ck_assert_int_ge(s[0] == '@' ? asprintf(&out, "%s/%s", tmp, s + 1) : asprintf(&out, "%s", s),
                     0);
    return out;
}

// Each error case exits non-zero with one line; every finetune case runs
// with --out pointing at a finished run, which must survive untouched.
START_TEST(errors_are_one_line) {
    char *tmp = test_tmpdir(), *out = path_in(tmp, "out");
    write_variants(tmp);
    Args a = {0};
    args_add(&a, "./finetune", "--model", TINY, "--task", "sst2", "--data-dir", SGD_DATA,
             "--max-steps", "1", "--max-len", "64", "--threads", "2", "--out", out, NULL);
    run_ok(&a);
    Snapshot before = snapshot(out);
    for (size_t c = 0; c < sizeof ERRORS / sizeof ERRORS[0]; c++) {
        const ErrorCase *e = &ERRORS[c];
        args_addf(&a, "./%s", e->cmd);
        for (int i = 0; i < 8 && e->args[i]; i++) {
            char *arg = expand(tmp, e->args[i]);
            args_add(&a, arg, NULL);
            free(arg);
        }
        if (strcmp(e->cmd, "export") != 0) {
            int has_task = strcmp(e->args[0], "--task") == 0;
            if (!has_task) args_add(&a, "--task", "sst2", NULL);
            args_add(&a, "--data-dir", SGD_DATA, "--max-len", "64", "--threads", "2", NULL);
        }
        if (strcmp(e->cmd, "finetune") == 0) args_add(&a, "--out", out, NULL);
        char *want[3] = {0};
        int num_want = 0;
        while (num_want < 3 && e->want[num_want]) {
            want[num_want] = expand(tmp, e->want[num_want]);
            num_want++;
        }
        Proc p = run(&a);
        expect_one_line_error(&p, (const char *const *)want, num_want);
        proc_free(&p);
        args_free(&a);
        for (int i = 0; i < num_want; i++) free(want[i]);
        if (strcmp(e->cmd, "finetune") == 0) expect_unchanged(&before, out, "a failed ./finetune");
    }
    char *x = path_in(tmp, "x");
    ck_assert_msg(!file_exists(x) && !dir_exists(x), "a failed ./export left %s", x);
    free(x);
    free(before.data);
    free(out);
    test_tmpdir_remove(tmp);
}
END_TEST

// ------------------------------------------------------------ 7. --help

// The options each command must list, from the issue.
static const char *const HELP_FINETUNE[] = {
    "model",     "task",         "data-dir",   "out",     "epochs", "batch-size", "lr",
    "warmup",    "weight-decay", "clip",       "max-len", "seed",   "dropout",    "optim",
    "max-steps", "eval-every",   "save-every", "resume",  "attn",   "r",          NULL};
static const char *const HELP_EVALUATE[] = {"model",       "task",        "data-dir", "split",
                                            "max-len",     "batch-size",  "attn",     "r",
                                            "predictions", "metrics-out", NULL};
static const char *const HELP_EXPORT[] = {"checkpoint", "out", NULL};

static int count_occurrences(const char *s, const char *needle) {
    int n = 0;
    for (const char *at = strstr(s, needle); at; at = strstr(at + 1, needle)) n++;
    return n;
}

// Every option has a line "  --NAME ..." that states its default exactly
// once, "(default: ...)" ("(default: off)" for flags), or says "(required)".
START_TEST(help_lists_options_with_defaults) {
    const char *cmds[] = {"./finetune", "./evaluate", "./export"};
    const char *const *lists[] = {HELP_FINETUNE, HELP_EVALUATE, HELP_EXPORT};
    char problems[4096] = "";
    size_t used = 0;
    for (int c = 0; c < 3; c++) {
        Args a = {0};
        args_add(&a, cmds[c], "--help", NULL);
        Proc p = run(&a);
        expect_ok(&p);
        for (const char *const *opt = lists[c]; *opt; opt++) {
            char head[64];
            snprintf(head, sizeof head, "\n  --%s", *opt);
            const char *line = strstr(p.out, head);
            while (line && line[strlen(head)] != ' ' && line[strlen(head)] != '\n')
                line = strstr(line + 1, head);
            char text[512] = "";
            if (line) {
                const char *end = strchr(line + 1, '\n');
                snprintf(text, sizeof text, "%.*s",
                         (int)(end ? end - line - 1 : (long)strlen(line + 1)), line + 1);
            }
            int defaults = count_occurrences(text, "(default: "),
                required = count_occurrences(text, "(required)");
            const char *flag = strcmp(*opt, "resume") == 0 && !strstr(text, "(default: off)")
                                   ? " (flag: want off)"
                                   : "";
            if ((!line || defaults + required != 1 || flag[0]) && used < sizeof problems)
                used += (size_t)snprintf(
                    problems + used, sizeof problems - used, "%s --%s: %s%s\n", cmds[c], *opt,
                    line ? (defaults + required == 0 ? "no default" : "several defaults")
                         : "not listed",
                    flag);
        }
        proc_free(&p);
        args_free(&a);
    }
    ck_assert_msg(problems[0] == '\0', "--help problems:\n%s", problems);
}
END_TEST

Suite *cli_suite(void) {
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("sgd_step");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, sgd_step_matches_pytorch, 0,
                        (int)(sizeof SGD_MAPS / sizeof SGD_MAPS[0]));
    tcase_add_test(tc, sgd_step_xlmr_matches_pytorch);
    suite_add_tcase(s, tc);
    tc = tcase_create("evaluate");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, evaluate_matches_transformers);
    suite_add_tcase(s, tc);
    tc = tcase_create("export");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, export_round_trip, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("resume");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, resume_equals_uninterrupted);
    tcase_add_test(tc, resume_refusals);
    tcase_add_loop_test(tc, failed_step, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("bad_rows");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, bad_rows, 0, (int)(sizeof BAD_ROWS / sizeof BAD_ROWS[0]));
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, errors_are_one_line);
    tcase_add_test(tc, help_lists_options_with_defaults);
    suite_add_tcase(s, tc);
    return s;
}
