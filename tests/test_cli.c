// End-to-end tests of ./finetune, ./evaluate, ./export and ./predict: the built
// binaries run in temporary directories, their files are read back and
// compared with independent references:
//   - one full-batch SGD step per attention map vs PyTorch
//     (gen_model_goldens.py -> sgd_step_*.safetensors),
//   - dev logits of tiny_bert vs transformers (sgd_dev_logits.safetensors),
//   - an export that transformers loads, and its logits there
//     (gen_export_golden.py -> export_tiny*/, export_tiny_hf_logits.safetensors),
//   - an uninterrupted run for a resumed one (byte equality),
//   - ./predict's probabilities vs the softmax of the same transformers
//     logits, and vs ./evaluate's outputs for pairs and a regression head,
//   - hand-written expectations for bad rows, bad ./predict inputs, errors
//     and --help (the options and the one-line error contract come from the
//     issue text).
// The binaries must be built (`make all`; `make test` does it).  They are
// run from the repository root, or from $CLI_BIN_DIR if set (e.g. builds
// with sanitizers).
#define _GNU_SOURCE  // asprintf, vasprintf
#include <cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model/attention.h"
#include "model/precision.h"
#include "tests/testutil.h"
#include "util/clock.h"
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

static char *read_fd_file(int fd, const char *path) {
    close(fd);
    char *text = read_text(path);
    unlink(path);
    return text;
}

// "./NAME" -> "$CLI_BIN_DIR/NAME" when that is set.
static void resolve_command(Args *a) {
    const char *bin_dir = getenv("CLI_BIN_DIR");
    if (bin_dir && *bin_dir && strncmp(a->v[0], "./", 2) == 0) {
        char *moved;
        ck_assert_int_ge(asprintf(&moved, "%s/%s", bin_dir, a->v[0] + 2), 0);
        free(a->v[0]);
        a->v[0] = moved;
    }
}

// Runs argv (v[0] is "./NAME", one of the commands) with stdin from
// stdin_path and stdout / stderr captured, in the directory cwd (NULL: this
// one).
static Proc run_full(Args *a, const char *cwd, const char *stdin_path) {
    Proc p = {0};
    resolve_command(a);
    size_t used = 0;
    for (int i = 0; i < a->n && used < sizeof p.cmdline; i++)
        used += (size_t)snprintf(p.cmdline + used, sizeof p.cmdline - used, "%s%s", i ? " " : "",
                                 a->v[i]);
    ck_assert_msg(access(a->v[0], X_OK) == 0, "%s: not built (run `make all` first)", a->v[0]);
    if (cwd) {  // the binary by its absolute path
        char *absolute = realpath(a->v[0], NULL);
        ck_assert_ptr_nonnull(absolute);
        free(a->v[0]);
        a->v[0] = absolute;
    }
    char out_path[] = "/tmp/cli-out-XXXXXX", err_path[] = "/tmp/cli-err-XXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    ck_assert_msg(out_fd >= 0 && err_fd >= 0, "mkstemp failed");
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork failed");
    if (pid == 0) {
        int in = open(stdin_path, O_RDONLY);
        if (in < 0 || dup2(in, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(126);
        if (cwd && chdir(cwd) != 0) _exit(126);
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

static Proc run_in(Args *a, const char *cwd) { return run_full(a, cwd, "/dev/null"); }
static Proc run_with_stdin(Args *a, const char *stdin_path) { return run_full(a, NULL, stdin_path); }
static Proc run(Args *a) { return run_full(a, NULL, "/dev/null"); }

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

// Softmax of two logits, in double, straight from the definition.
static void softmax2(const float *logits, double *probs) {
    double e0 = exp((double)logits[0]), e1 = exp((double)logits[1]);
    probs[0] = e0 / (e0 + e1);
    probs[1] = e1 / (e0 + e1);
}

// Predictions vs logits [n, 2] of SST-2 (labels "0", "1"): the logits, and
// the probabilities their softmax gives.
static void compare_predictions(const Predictions *p, const float *want, size_t numel, double tol) {
    ck_assert_str_eq(p->header, "index\tprediction\tlogit_0\tlogit_1\tprob_0\tprob_1");
    ck_assert_int_eq(p->width, 4);
    ck_assert_int_eq((size_t)p->n * 2, numel);
    for (int i = 0; i < p->n; i++) {
        float got[2] = {(float)p->logits[i][0], (float)p->logits[i][1]};
        char what[32];
        snprintf(what, sizeof what, "row %d logits", i);
        assert_allclose(what, got, want + 2 * i, 2, tol, 0);
        double probs[2];
        softmax2(want + 2 * i, probs);
        snprintf(what, sizeof what, "row %d probabilities", i);
        assert_allclose_d(what, &p->logits[i][2], probs, 2, tol, 0);
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

// OUT after a run whose last and best checkpoints were both saved at `step`:
// best holds no optimizer state, last does, and last's weights file is best's
// (one inode: written once).
static void check_best_shares_weights(const char *out, long step) {
    char *best_state = path_in(out, "best/trainer_state.json"), *best_opt =
        path_in(out, "best/optimizer.safetensors"), *last_opt = path_in(out, "last/optimizer.safetensors");
    char *best_w = path_in(out, "best/model.safetensors"), *last_w = path_in(out, "last/model.safetensors");
    cJSON *state = read_json(best_state);
    ck_assert_int_eq((long)cJSON_GetObjectItemCaseSensitive(state, "step")->valuedouble, step);
    cJSON_Delete(state);
    struct stat a, b;
    ck_assert_msg(stat(best_opt, &a) != 0, "%s: best has optimizer state", best_opt);
    ck_assert_msg(stat(last_opt, &a) == 0, "%s: missing", last_opt);
    ck_assert_int_eq(stat(best_w, &a), 0);
    ck_assert_int_eq(stat(last_w, &b), 0);
    ck_assert_msg(a.st_ino == b.st_ino && a.st_dev == b.st_dev, "%s is not a link to %s", last_w,
                  best_w);
    free(best_state);
    free(best_opt);
    free(last_opt);
    free(best_w);
    free(last_w);
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
            if (r == 2 && k == 0) check_best_shares_weights(dirs[r], 3);
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

    // A step no run can have (casting 1e300 to long was undefined) is
    // refused by name.
    char *last = path_in(out, "last"), *state_path = path_in(last, "trainer_state.json");
    char *state = read_text(state_path), *step = strstr(state, "\"step\":");
    ck_assert_ptr_nonnull(step);
    char *value_end = step + strlen("\"step\":") + strspn(step + strlen("\"step\":"), " \t");
    value_end += strspn(value_end, "0123456789");
    char *edited;
    ck_assert_int_ge(asprintf(&edited, "%.*s\"step\": 1e300%s", (int)(step - state), state, value_end), 0);
    test_write_file(last, "trainer_state.json", edited, strlen(edited));
    add_resume_run(&a, out);
    args_add(&a, "--resume", NULL);
    p = run(&a);
    const char *huge[] = {"trainer_state.json", "does not fit"};
    expect_one_line_error(&p, huge, 2);
    proc_free(&p);
    args_free(&a);
    free(edited);
    free(state);
    free(state_path);
    free(last);

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

// tiny_bert variants in tmp: relu/ (hidden_act "relu"), no-r/ (rsoftmax
// without attention_r), reshaped/ (one tensor [32, 32] stored as
// [16, 64]), dropped/ (one tensor missing).
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

    // no-r/: a config naming a map that takes a parameter, without it.  The
    // command line defaults --r; a config must not.
    char *no_r = tiny_copy_without_weights(tmp, "no-r");
    copy_file(TINY, no_r, "model.safetensors");
    config = path_in(no_r, "config.json");
    text = read_text(config);
    char *brace = strchr(text, '{'), *edited;
    ck_assert_ptr_nonnull(brace);
    ck_assert_int_ge(asprintf(&edited, "{\"attention_probs_fn\": \"rsoftmax\",%s", brace + 1), 0);
    test_write_file(no_r, "config.json", edited, strlen(edited));
    free(edited);
    free(text);
    free(config);
    free(no_r);

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
    const char *cmd;      // finetune | evaluate | export | predict
    const char *args[8];  // "@name" stands for TMP/name
    const char *want[3];  // substrings of the one error line; "@name" as above
} ErrorCase;

static const ErrorCase ERRORS[] = {
    {"finetune", {"--model", "@no-such-model"}, {"no-such-model"}},
    {"finetune", {"--model", TINY, "--bogus-option"}, {"--bogus-option"}},
    {"finetune", {"--model", TINY, "--lr", "abc"}, {"--lr", "abc"}},
    {"finetune", {"--model", TINY, "--attn", "rsoftmax", "--r", "-0.5"}, {"--r", "-0.5", "[0, 1]"}},
    {"finetune", {"--model", TINY, "--attn", "softmax", "--r", "0.5"}, {"--r", "softmax"}},
    {"finetune", {"--model", TINY, "--attn", "rsoftmax", "--r", "1.5"}, {"--r", "1.5"}},
    {"finetune", {"--model", TINY, "--precision", "fp16"}, {"--precision", "'fp16'", "fp32, bf16"}},
    {"finetune", {"--model", TINY, "--r", "0.5"}, {"--r"}},
    // Each value out of its option's range names the option and the range.
    {"finetune", {"--model", TINY, "--epochs", "0"}, {"--epochs 0", ">= 1"}},
    {"finetune", {"--model", TINY, "--lr", "-1"}, {"--lr -1", "> 0"}},
    {"finetune", {"--model", TINY, "--threads", "0"}, {"--threads 0", ">= 1"}},
    {"finetune", {"--model", TINY, "--warmup", "2"}, {"--warmup 2", "[0, 1]"}},
    {"finetune", {"--model", TINY, "--dropout", "1"}, {"--dropout 1", "[0, 1)"}},
    {"finetune", {"--model", TINY, "--max-len", "2"}, {"--max-len 2", "[3, 4096]"}},
    {"finetune", {"--model", TINY, "--log-every", "0"}, {"--log-every 0", ">= 1"}},
    {"finetune", {"--model", TINY, "--max-steps", "-1"}, {"--max-steps -1", ">= 0"}},
    // Flags that do not apply to the task or the command.
    {"finetune", {"--model", TINY, "--label-col", "label"}, {"--label-col belongs to --task custom"}},
    {"finetune", {"--model", TINY, "--no-header"}, {"--no-header belongs to --task custom"}},
    {"finetune", {"--model", TINY, "--test", "@t.tsv"}, {"--test", "./finetune", "./evaluate"}},
    // (the harness adds --data-dir, which a custom task does not read)
    {"finetune", {"--task", "custom", "--model", TINY, "--train", "@t.tsv"}, {"--data-dir", "GLUE"}},
    {"finetune", {"--model", "@relu"}, {"@relu/config.json", "hidden_act", "\"relu\""}},
    {"finetune", {"--model", "@reshaped"}, {"@reshaped/model.safetensors", RESHAPED, "[16, 64]"}},
    {"finetune", {"--model", "@dropped"}, {"@dropped", DROPPED, "missing"}},
    {"evaluate", {"--model", "@no-such-model"}, {"no-such-model"}},
    {"evaluate", {"--model", TINY, "--bogus-option"}, {"--bogus-option"}},
    {"evaluate", {"--model", TINY, "--batch-size", "abc"}, {"--batch-size", "abc"}},
    {"evaluate", {"--model", TINY, "--threads", "0"}, {"--threads 0", ">= 1"}},
    {"evaluate", {"--model", TINY, "--batch-size", "0"}, {"--batch-size 0", "[1, 65536]"}},
    {"evaluate", {"--model", TINY, "--separator", "comma"}, {"--separator belongs to --task custom"}},
    {"evaluate", {"--model", TINY, "--attn", "softmax", "--r", "0.5"}, {"--r", "softmax"}},
    {"evaluate", {"--model", TINY, "--attn", "rsoftmax", "--r", "1.5"}, {"--r", "1.5"}},
    {"evaluate", {"--model", TINY, "--precision", "bf8"}, {"--precision", "'bf8'", "fp32, bf16"}},
    {"evaluate", {"--model", "@relu"}, {"@relu/config.json", "hidden_act", "\"relu\""}},
    {"evaluate", {"--model", "@no-r"}, {"@no-r/config.json", "attention_r", "missing"}},
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
    {"predict", {"--model", TINY, "--format", "xml"}, {"--format", "xml"}},
    {"predict", {"--model", TINY, "--input", "@missing.txt"}, {"@missing.txt"}},
    {"predict", {"--model", TINY, "--input", "@missing.txt", "some text"}, {"--input", "some text"}},
    {"predict", {"--model", TINY, "--text-col", "sentence"}, {"--text-col", "--format"}},
    {"predict", {"--model", TINY, "--format", "table", "--no-header", "--text-col", "sentence"}, {"--text-col", "sentence", "header"}},
    {"predict", {"--model", TINY, "--attn", "rsoftmax", "--r", "2"}, {"--r", "2", "[0, 1]"}},
    {"predict", {"--model", TINY, "--window", "0"}, {"--window", "0"}},
    {"predict", {"--model", TINY, "--precision", "half"}, {"--precision", "'half'", "fp32, bf16"}},
    {"predict", {"--model", "@relu"}, {"@relu/config.json", "hidden_act", "\"relu\""}},
};

static char *expand(const char *tmp, const char *s) {
    char *out;
    ck_assert_int_ge(s[0] == '@' ? asprintf(&out, "%s/%s", tmp, s + 1) : asprintf(&out, "%s", s),
                     0);
    return out;
}

// Each error case exits non-zero with one line; every finetune case runs
// with --out pointing at a finished run, which must survive untouched.
// build/bench --random-init --growth: a model of tiny_bert's config with no
// checkpoint, one growth row per precision this CPU runs (the columns
// scripts/bench.sh's header names: ten cells, the configuration, positive
// times and rates, the peak RSS of a training run at least the
// evaluation's); a config that cannot make a model is one line naming the
// file and the field.
START_TEST(bench_random_init) {
    for (int prec = 0; prec < PRECISION_COUNT; prec++) {
        const PrecisionInfo *info = precision_info((Precision)prec);
        if (!info->available()) continue;  // bf16 on a CPU without AVX-512
        Args a = {0};
        args_add(&a, "build/bench", "--random-init", TINY "/config.json", "--growth", "--precision",
                 info->name, "--batch", "2", "--seq", "8", "--reps", "1", "--threads", "1", NULL);
        Proc p = run(&a);
        expect_ok(&p);
        char want[64];
        snprintf(want, sizeof want, "| ours | config.json | %s | 2 x 8 | ", info->name);
        ck_assert_msg(strncmp(p.out, want, strlen(want)) == 0, "row: %s", p.out);
        int cells = 0;
        for (const char *c = p.out; *c; c++) cells += *c == '|';
        ck_assert_msg(cells == 11 && strchr(p.out, '\n') == p.out + strlen(p.out) - 1, "row: %s", p.out);
        double fwd, fwd_rate, rss_eval, step, step_rate, rss;
        ck_assert_int_eq(sscanf(p.out + strlen(want), "%lf ms | %lf | %lf MB | %lf ms | %lf | %lf MB |",
                                &fwd, &fwd_rate, &rss_eval, &step, &step_rate, &rss), 6);
        ck_assert(fwd >= 0 && fwd_rate > 0 && step >= 0 && step_rate > 0 && rss_eval > 0);
        ck_assert(rss >= rss_eval);
        proc_free(&p);
        args_free(&a);
    }
    char *tmp = test_tmpdir(), *config = path_in(tmp, "shape.json");
    const char *bad = "{\"hidden_size\": 32, \"num_attention_heads\": 5}";
    test_write_file(tmp, "shape.json", bad, strlen(bad));
    Args a = {0};
    args_add(&a, "build/bench", "--random-init", config, "--growth", NULL);
    Proc p = run(&a);
    const char *want[] = {config, "field num_attention_heads: 5 does not divide hidden_size 32"};
    expect_one_line_error(&p, want, 2);
    proc_free(&p);
    args_free(&a);
    free(config);
    test_tmpdir_remove(tmp);
}
END_TEST

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
        if (strcmp(e->cmd, "predict") == 0) {
            args_add(&a, "--max-len", "64", "--threads", "2", NULL);
        } else if (strcmp(e->cmd, "export") != 0) {
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
static const char *const HELP_PREDICT[] = {
    "model",     "max-len",   "batch-size", "attn", "r",      "input",          "format",  "text-col",
    "text-b-col", "separator", "no-header", "json", "window", "max-line-bytes", "threads", "timing",
    NULL};

static int count_occurrences(const char *s, const char *needle) {
    int n = 0;
    for (const char *at = strstr(s, needle); at; at = strstr(at + 1, needle)) n++;
    return n;
}

// Every option has a line "  --NAME ..." that states its default exactly
// once, "(default: ...)" ("(default: off)" for flags), or says "(required)".
START_TEST(help_lists_options_with_defaults) {
    const char *cmds[] = {"./finetune", "./evaluate", "./export", "./predict"};
    const char *const *lists[] = {HELP_FINETUNE, HELP_EVALUATE, HELP_EXPORT, HELP_PREDICT};
    char problems[4096] = "";
    size_t used = 0;
    for (int c = 0; c < 4; c++) {
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

// The --help line of option `name` (from "--NAME" to the end of its line),
// copied into out; "" when there is none.
static void help_line(const char *help, const char *name, char *out, size_t cap) {
    char head[64];
    snprintf(head, sizeof head, "\n  --%s ", name);
    const char *line = strstr(help, head);
    out[0] = '\0';
    if (line) {
        const char *end = strchr(line + 1, '\n');
        snprintf(out, cap, "%.*s", (int)(end ? end - line - 1 : (long)strlen(line + 1)), line + 1);
    }
}

// What issue 13 asks of the defaults and issue 10 of the tables: the usage
// line names only the required options; --model defaults to the fetched
// model and says how it is fetched; --lr is the README recipe's 5e-5; --r
// defaults to 0.25 with rsoftmax; --attn and the maps' list name every row
// of the attention map table; --test is an ./evaluate option only.
START_TEST(help_from_the_tables) {
    const char *cmds[] = {"./finetune", "./evaluate"};
    char line[1024];
    for (int c = 0; c < 2; c++) {
        Args a = {0};
        args_add(&a, cmds[c], "--help", NULL);
        Proc p = run(&a);
        expect_ok(&p);
        char usage[128];
        snprintf(usage, sizeof usage, "usage: %s --task NAME [options]\n", cmds[c]);
        ck_assert_msg(strncmp(p.out, usage, strlen(usage)) == 0, "%s --help starts: %.80s", cmds[c],
                      p.out);
        help_line(p.out, "model", line, sizeof line);
        ck_assert_msg(strstr(line, "(default: models/all-MiniLM-L6-v2)") &&
                          strstr(line, "scripts/fetch_model.sh"),
                      "%s --model: %s", cmds[c], line);
        help_line(p.out, "r", line, sizeof line);
        ck_assert_msg(strstr(line, "(default: 0.25 with rsoftmax)"), "%s --r: %s", cmds[c], line);
        help_line(p.out, "test", line, sizeof line);
        ck_assert_msg((c == 1) == (line[0] != '\0'), "%s --help: --test %s", cmds[c],
                      c ? "missing" : "listed");
        char attn[1024];
        help_line(p.out, "attn", attn, sizeof attn);
        const char *maps = strstr(p.out, "\nAttention maps");
        ck_assert_msg(maps, "%s --help: no list of attention maps", cmds[c]);
        for (int k = 0; k < attn_map_count(); k++) {
            const AttnMapInfo *info = attn_map_info((AttnKind)k);
            char row[64];
            snprintf(row, sizeof row, "\n  %s ", info->name);
            ck_assert_msg(strstr(attn, info->name) && strstr(maps, row),
                          "%s --help: map %s missing", cmds[c], info->name);
        }
        if (c == 0) {
            help_line(p.out, "lr", line, sizeof line);
            ck_assert_msg(strstr(line, "(default: 5e-05)"), "--lr: %s", line);
        }
        proc_free(&p);
        args_free(&a);
    }
    Args a = {0};
    args_add(&a, "./export", "--help", NULL);
    Proc p = run(&a);
    expect_ok(&p);
    const char usage[] = "usage: ./export --checkpoint DIR --out DIR [options]\n";
    ck_assert_msg(strncmp(p.out, usage, strlen(usage)) == 0, "./export --help starts: %.80s", p.out);
    proc_free(&p);
    args_free(&a);
}
END_TEST

// `./finetune --task sst2 --attn rsoftmax` as typed, in a directory without
// models/: one line naming --model and the command that fetches it.  The
// same for ./evaluate.
START_TEST(default_model_missing) {
    char *tmp = test_tmpdir();
    const char *cmds[] = {"./finetune", "./evaluate"};
    const char *want[] = {"--model", "scripts/fetch_model.sh models/all-MiniLM-L6-v2"};
    for (int c = 0; c < 2; c++) {
        Args a = {0};
        args_add(&a, cmds[c], "--task", "sst2", "--attn", "rsoftmax", NULL);
        Proc p = run_in(&a, tmp);
        expect_one_line_error(&p, want, 2);
        proc_free(&p);
        args_free(&a);
    }
    test_tmpdir_remove(tmp);
}
END_TEST

// The defaults together: in a directory where models/ holds the default
// model and data/glue the tiny SST-2 files, `./finetune --task sst2 --attn
// rsoftmax` (plus --max-steps 1 to keep it short) trains with r = 0.25 and
// lr 5e-5 into runs/finetune, as trainer_state.json records.
START_TEST(finetune_runs_as_typed) {
    char *tmp = test_tmpdir(), *models = path_in(tmp, "models"), *data = path_in(tmp, "data");
    char *model = realpath("models/all-MiniLM-L6-v2", NULL), *glue = realpath(SGD_DATA, NULL);
    ck_assert_msg(model && glue, "models/all-MiniLM-L6-v2 or " SGD_DATA " missing (make model)");
    Err err;
    if (dir_make(models, &err) != 0 || dir_make(data, &err) != 0) ck_abort_msg("%s", err.msg);
    char *model_link = path_in(models, "all-MiniLM-L6-v2"), *glue_link = path_in(data, "glue");
    ck_assert_int_eq(symlink(model, model_link), 0);
    ck_assert_int_eq(symlink(glue, glue_link), 0);
    Args a = {0};
    args_add(&a, "./finetune", "--task", "sst2", "--attn", "rsoftmax", "--max-steps", "1", NULL);
    Proc p = run_in(&a, tmp);
    expect_ok(&p);
    ck_assert_msg(strstr(p.err, "attention rsoftmax r=0.25") && strstr(p.err, "lr 5e-05"),
                  "the run does not say rsoftmax r=0.25 and lr 5e-05:\n%s", p.err);
    proc_free(&p);
    args_free(&a);
    char *state_path = path_in(tmp, "runs/finetune/last/trainer_state.json");
    cJSON *state = read_json(state_path);
    const cJSON *config = json_at(state, state_path, "run_config");
    ck_assert_str_eq(json_at(config, state_path, "attn")->valuestring, "rsoftmax");
    ck_assert_float_eq((float)json_at(config, state_path, "r")->valuedouble, 0.25f);
    ck_assert_float_eq((float)json_at(config, state_path, "lr")->valuedouble, 5e-5f);
    cJSON_Delete(state);
    free(state_path);
    ck_assert_int_eq(unlink(model_link), 0);  // the links, before the tree goes
    ck_assert_int_eq(unlink(glue_link), 0);
    free(model_link);
    free(glue_link);
    free(model);
    free(glue);
    free(models);
    free(data);
    test_tmpdir_remove(tmp);
}
END_TEST

// ------------------------------------------------------------ 8. ./predict

#define TINY_STSB TEST_GOLDEN_DIR "/tiny_bert_stsb"

// The dev sentences of sgd_data/SST-2 (dev.tsv lines 2..5), in the order of
// the rows of sgd_dev_logits.safetensors.
static const char *const DEV_SENTENCES[] = {"a fun movie", "the worst film ever .",
                                            "it is not bad at all", "dull , slow and old"};

static void add_predict_args(Args *a, const char *model) {
    args_add(a, "./predict", "--model", model, "--max-len", "64", "--threads", "2", NULL);
}

// An answer of ./predict: input line, label, probabilities (or score).
typedef struct {
    int line;
    char label[32];
    double probs[2];
} Answer;

// Parses ./predict --json output: one JSON object per line.
static int read_json_answers(const char *out, Answer *ans, int cap, bool regression) {
    int n = 0;
    for (const char *at = out; *at; n++) {
        const char *nl = strchr(at, '\n');
        ck_assert_msg(nl, "unterminated output line: %s", at);
        ck_assert_int_lt(n, cap);
        cJSON *j = cJSON_ParseWithLength(at, (size_t)(nl - at));
        ck_assert_msg(j && cJSON_IsObject(j), "not a JSON object: %.*s", (int)(nl - at), at);
        ans[n].line = json_at(j, "answer", "line")->valueint;
        if (regression) {
            ans[n].probs[0] = json_at(j, "answer", "score")->valuedouble;
        } else {
            snprintf(ans[n].label, sizeof ans[n].label, "%s", json_at(j, "answer", "label")->valuestring);
            const cJSON *p = json_at(j, "answer", "probabilities");
            ck_assert_int_eq(cJSON_GetArraySize(p), 2);
            ans[n].probs[0] = json_at(p, "probabilities", "0")->valuedouble;
            ans[n].probs[1] = json_at(p, "probabilities", "1")->valuedouble;
        }
        cJSON_Delete(j);
        at = nl + 1;
    }
    return n;
}

// Parses the TSV output: the header line, then "LABEL\tP0\tP1" per answer.
static int read_tsv_answers(const char *out, const char *header, Answer *ans, int cap) {
    ck_assert_msg(strncmp(out, header, strlen(header)) == 0, "header: %s", out);
    int n = 0;
    for (const char *at = out + strlen(header); *at; n++) {
        ck_assert_int_lt(n, cap);
        char *end;
        const char *tab = strchr(at, '\t');
        ck_assert_msg(tab, "bad answer line: %s", at);
        snprintf(ans[n].label, sizeof ans[n].label, "%.*s", (int)(tab - at), at);
        ans[n].probs[0] = strtod(tab + 1, &end);
        ck_assert(*end == '\t');
        ans[n].probs[1] = strtod(end + 1, &end);
        ck_assert(*end == '\n');
        ans[n].line = n + 1;
        at = end + 1;
    }
    return n;
}

// An answer against logits [2] (the softmax of them, the argmax label).
static void check_answer(const Answer *a, const float *logits, double tol, const char *what) {
    double want[2];
    softmax2(logits, want);
    assert_allclose_d(what, a->probs, want, 2, tol, 0);
    ck_assert_str_eq(a->label, logits[1] > logits[0] ? "1" : "0");
}

// Every way in of ./predict gives softmax(transformers' logits) of
// sgd_dev_logits.safetensors, in input order.
START_TEST(predict_matches_transformers) {
    StFile *g = golden_open(TEST_GOLDEN_DIR "/sgd_dev_logits.safetensors");
    size_t numel;
    float *logits = golden_f32(g, "logits", &numel);
    ck_assert_int_eq(numel, 8);
    char *tmp = test_tmpdir();
    Answer ans[32];
    char what[64];

    // TSV with a header, column by name, JSON answers numbered by file line.
    Args a = {0};
    add_predict_args(&a, TINY);
    args_add(&a, "--format", "table", "--input", SGD_DATA "/SST-2/dev.tsv", "--text-col",
             "sentence", "--json", NULL);
    Proc p = run(&a);
    expect_ok(&p);
    ck_assert_int_eq(read_json_answers(p.out, ans, 32, false), 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(ans[i].line, i + 2);
        snprintf(what, sizeof what, "dev.tsv row %d", i);
        check_answer(&ans[i], logits + 2 * i, 1e-5, what);
    }
    proc_free(&p);
    args_free(&a);

    // Lines on stdin whose lengths vary, in batches of 2 within windows of
    // 5: grouping by length must not reorder the answers.
    static const int order[] = {2, 0, 3, 1, 1, 3, 0, 2, 2, 1, 0, 3, 1};
    enum { N = sizeof order / sizeof order[0] };
    char text[1024];
    int used = 0;
    for (int i = 0; i < N; i++)
        used += snprintf(text + used, sizeof text - (size_t)used, "%s\n", DEV_SENTENCES[order[i]]);
    test_write_file(tmp, "lines.txt", text, (size_t)used);
    char *lines = path_in(tmp, "lines.txt");
    add_predict_args(&a, TINY);
    args_add(&a, "--batch-size", "2", "--window", "5", NULL);
    p = run_with_stdin(&a, lines);
    expect_ok(&p);
    ck_assert_int_eq(read_tsv_answers(p.out, "label\t0\t1\n", ans, 32), N);
    for (int i = 0; i < N; i++) {
        snprintf(what, sizeof what, "stdin line %d", i + 1);
        check_answer(&ans[i], logits + 2 * order[i], 1e-5, what);  // TSV has 6 decimals
    }
    proc_free(&p);
    args_free(&a);

    // Texts as arguments, answers numbered by argument.
    add_predict_args(&a, TINY);
    args_add(&a, "--json", DEV_SENTENCES[3], DEV_SENTENCES[1], NULL);
    p = run(&a);
    expect_ok(&p);
    ck_assert_int_eq(read_json_answers(p.out, ans, 32, false), 2);
    ck_assert_int_eq(ans[0].line, 1);
    ck_assert_int_eq(ans[1].line, 2);
    check_answer(&ans[0], logits + 6, 1e-5, "argument 1");
    check_answer(&ans[1], logits + 2, 1e-5, "argument 2");
    proc_free(&p);
    args_free(&a);

    // The label names are the checkpoint's id2label.
    char *named = tiny_copy_without_weights(tmp, "named");
    copy_file(TINY, named, "model.safetensors");
    char *config_path = path_in(named, "config.json");
    cJSON *config = read_json(config_path);
    cJSON *id2label = cJSON_GetObjectItemCaseSensitive(config, "id2label");
    ck_assert(cJSON_ReplaceItemInObjectCaseSensitive(id2label, "0", cJSON_CreateString("negative")));
    ck_assert(cJSON_ReplaceItemInObjectCaseSensitive(id2label, "1", cJSON_CreateString("positive")));
    char *config_text = cJSON_Print(config);
    test_write_file(named, "config.json", config_text, strlen(config_text));
    add_predict_args(&a, named);
    args_add(&a, DEV_SENTENCES[0], DEV_SENTENCES[3], NULL);
    p = run(&a);
    expect_ok(&p);
    ck_assert_int_eq(read_tsv_answers(p.out, "label\tnegative\tpositive\n", ans, 32), 2);
    for (int i = 0; i < 2; i++) {
        const float *l = logits + 2 * (i ? 3 : 0);
        double probs[2];
        softmax2(l, probs);
        assert_allclose_d("named labels", ans[i].probs, probs, 2, 1e-5, 0);
        ck_assert_str_eq(ans[i].label, l[1] > l[0] ? "positive" : "negative");
    }
    proc_free(&p);
    args_free(&a);
    free(config_text);
    cJSON_Delete(config);
    free(config_path);
    free(named);

    free(lines);
    free(logits);
    st_close(g);
    test_tmpdir_remove(tmp);
}
END_TEST

// Pairs (tab-separated lines), a regression head and an --attn override:
// ./predict gives what ./evaluate gives on the same pairs as a custom task
// (softmax of its logits; the score itself).
START_TEST(predict_pairs_match_evaluate) {
    const bool regression = _i == 1;
    const char *attn = _i == 2 ? "sparsemax" : "softmax";
    char *tmp = test_tmpdir(), *pred = path_in(tmp, "pred.tsv");
    const char dev[] = "a fun movie\tthe worst film ever .\t1\n"
                       "dull , slow and old\tit is not bad at all\t0\n"
                       "the worst film ever .\ta fun movie\t1\n";
    test_write_file(tmp, "dev.tsv", dev, strlen(dev));
    char *dev_path = path_in(tmp, "dev.tsv");
    Args a = {0};
    const char *model = regression ? TINY_STSB : TINY;
    args_add(&a, "./evaluate", "--model", model, "--task", "custom", "--dev", dev_path,
             "--text-col", "0", "--text-b-col", "1", "--label-col", "2", "--no-header",
             "--max-len", "64", "--threads", "2", "--predictions", pred, "--attn", attn, NULL);
    args_add(&a, regression ? "--regression" : "--labels", NULL);
    if (!regression) args_add(&a, "0,1", NULL);
    run_ok(&a);
    Predictions want = read_predictions(pred);
    ck_assert_int_eq(want.n, 3);

    char *lines = path_in(tmp, "pairs.txt");
    const char pairs[] = "a fun movie\tthe worst film ever .\n"
                         "dull , slow and old\tit is not bad at all\n"
                         "the worst film ever .\ta fun movie\n";
    test_write_file(tmp, "pairs.txt", pairs, strlen(pairs));
    add_predict_args(&a, model);
    args_add(&a, "--json", "--attn", attn, NULL);
    Proc p = run_with_stdin(&a, lines);
    expect_ok(&p);
    Answer ans[8];
    ck_assert_int_eq(read_json_answers(p.out, ans, 8, regression), 3);
    for (int i = 0; i < 3; i++) {
        char what[32];
        snprintf(what, sizeof what, "pair %d", i);
        if (regression) {
            double score = strtod(want.labels[i], NULL);
            assert_allclose_d(what, ans[i].probs, &score, 1, 1e-6, 0);
        } else {
            float l[2] = {(float)want.logits[i][0], (float)want.logits[i][1]};
            check_answer(&ans[i], l, 1e-6, what);
        }
    }
    proc_free(&p);
    args_free(&a);
    free(lines);
    free(dev_path);
    free(pred);
    test_tmpdir_remove(tmp);
}
END_TEST

// Waits up to `seconds` for one whole line on fd; returns it (caller
// frees) or NULL on timeout or end of file.
static char *read_line_within(int fd, int seconds) {
    char buf[4096];
    size_t n = 0;
    while (n < sizeof buf - 1) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, seconds * 1000) <= 0) return NULL;
        ssize_t k = read(fd, buf + n, 1);
        if (k <= 0) return NULL;
        if (buf[n++] == '\n') break;
    }
    buf[n] = '\0';
    return strdup(buf);
}

// A line written to an open pipe is answered before the next line comes:
// ./predict does not wait for a full window while stdin stays open.
START_TEST(predict_answers_each_line_at_once) {
    int to_child[2], from_child[2];
    ck_assert(pipe(to_child) == 0 && pipe(from_child) == 0);
    const char *bin_dir = getenv("CLI_BIN_DIR");
    char *bin;
    ck_assert_int_ge(asprintf(&bin, "%s/predict", bin_dir && *bin_dir ? bin_dir : "."), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (dup2(to_child[0], 0) < 0 || dup2(from_child[1], 1) < 0 || null < 0 || dup2(null, 2) < 0)
            _exit(126);
        close(to_child[1]);
        close(from_child[0]);
        setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
        execl(bin, bin, "--model", TINY, "--max-len", "64", "--threads", "2", "--json", (char *)NULL);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    StFile *g = golden_open(TEST_GOLDEN_DIR "/sgd_dev_logits.safetensors");
    size_t numel;
    float *logits = golden_f32(g, "logits", &numel);
    for (int i = 0; i < 4; i++) {
        char line[128];
        int len = snprintf(line, sizeof line, "%s\n", DEV_SENTENCES[i]);
        ck_assert_int_eq(write(to_child[1], line, (size_t)len), len);
        char *answer = read_line_within(from_child[0], 120);
        ck_assert_msg(answer, "no answer to line %d while stdin stays open", i + 1);
        Answer a;
        ck_assert_int_eq(read_json_answers(answer, &a, 1, false), 1);
        ck_assert_int_eq(a.line, i + 1);
        check_answer(&a, logits + 2 * i, 1e-5, "streamed line");
        free(answer);
    }
    close(to_child[1]);
    int status;
    ck_assert(waitpid(pid, &status, 0) == pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
    close(from_child[0]);
    free(logits);
    st_close(g);
    free(bin);
}
END_TEST

// Bad inputs: each gets "NAME:LINE: what" on stderr, the other inputs are
// answered (in order), and the exit status is 1.
static const struct {
    const char *args[6];
    const char *input;       // "@MB" stands for a line of 1 MB
    int answered[4];         // input lines answered, 0-terminated
    const char *want[4];     // stderr lines, in order
} BAD_INPUTS[] = {
    {{NULL},
     "a fun movie\n\n\xff\xfe bad\ndull , slow and old\n@MB\nit is not bad at all",
     {1, 4, 6},
     {"stdin:2: empty line", "stdin:3: invalid UTF-8", "stdin:5: line longer than 65536 bytes"}},
    {{NULL},
     "a fun movie\t\n \t dull\nx\ty\tz\nit is not bad at all\tdull\n",
     {4},
     {"stdin:1: a pair without its second text", "stdin:2: empty first text",
      "stdin:3: 3 tab-separated fields"}},
    {{"--format", "table", "--text-b-col", "b", NULL},
     "a\tb\na fun movie\tdull\nthe worst film ever .\t\nit is\n",
     {2},
     {"stdin:3: a pair without its second text", "stdin:4: a pair without its second text"}},
    {{"--format", "jsonl", "--text-b-col", "text_b", NULL},
     "{\"text\": \"a fun movie\", \"text_b\": \"dull\"}\n{\"text\": \"x\"}\n"
     "{\"text\": \"x\", \"text_b\": \"\"}\nnot json\n{\"text\": \"ok\", \"text_b\": \"fine\"}\n",
     {1, 5},
     {"stdin:2: a pair without its second text", "stdin:3: a pair without its second text",
      "stdin:4: not valid JSON"}},
};

START_TEST(predict_bad_inputs) {
    char *tmp = test_tmpdir();
    const char *input = BAD_INPUTS[_i].input, *mb = strstr(input, "@MB");
    size_t big = 1 << 20, len = strlen(input) + (mb ? big : 0);
    char *text = malloc(len + 1);
    ck_assert_ptr_nonnull(text);
    if (mb) {
        size_t head = (size_t)(mb - input);
        memcpy(text, input, head);
        memset(text + head, 'x', big);
        strcpy(text + head + big, mb + 3);
    } else {
        strcpy(text, input);
    }
    test_write_file(tmp, "input.txt", text, strlen(text));
    free(text);
    char *path = path_in(tmp, "input.txt");
    Args a = {0};
    add_predict_args(&a, TINY);
    args_add(&a, "--json", NULL);
    for (int i = 0; BAD_INPUTS[_i].args[i]; i++) args_add(&a, BAD_INPUTS[_i].args[i], NULL);
    Proc p = run_with_stdin(&a, path);
    ck_assert_msg(WIFEXITED(p.status) && WEXITSTATUS(p.status) == 1, "%s: status %#x; stderr:\n%s",
                  p.cmdline, p.status, p.err);
    Answer ans[8];
    int n = read_json_answers(p.out, ans, 8, false), want_n = 0;
    while (want_n < 4 && BAD_INPUTS[_i].answered[want_n]) want_n++;
    ck_assert_int_eq(n, want_n);
    for (int i = 0; i < n; i++) ck_assert_int_eq(ans[i].line, BAD_INPUTS[_i].answered[i]);
    const char *at = p.err;
    for (int w = 0; w < 4 && BAD_INPUTS[_i].want[w]; w++) {
        const char *nl = strchr(at, '\n');
        ck_assert_msg(nl && strncmp(at, BAD_INPUTS[_i].want[w], strlen(BAD_INPUTS[_i].want[w])) == 0,
                      "%s: stderr line %d is not \"%s...\":\n%s", p.cmdline, w + 1,
                      BAD_INPUTS[_i].want[w], p.err);
        at = nl + 1;
    }
    ck_assert_msg(strncmp(at, "predict: ", 9) == 0 && strchr(at, '\n') == at + strlen(at) - 1,
                  "%s: expected one summary line after the bad inputs:\n%s", p.cmdline, p.err);
    proc_free(&p);
    args_free(&a);
    free(path);
    test_tmpdir_remove(tmp);
}
END_TEST

// ------------------------------------------------------------ 8. reliability (issue 11)

// A failed run: a normal non-zero exit (no signal) whose last stderr line
// holds every string of want[] (progress lines may come before it).
static void expect_failure_ending(const Proc *p, const char *const *want, int num_want) {
    ck_assert_msg(!WIFSIGNALED(p->status), "%s: killed by signal %d; stderr:\n%s", p->cmdline,
                  WIFSIGNALED(p->status) ? WTERMSIG(p->status) : 0, p->err);
    ck_assert_msg(WIFEXITED(p->status) && WEXITSTATUS(p->status) != 0,
                  "%s: expected failure, got status %#x; stderr:\n%s", p->cmdline, p->status,
                  p->err);
    size_t n = strlen(p->err);
    while (n > 0 && p->err[n - 1] == '\n') n--;
    const char *last = p->err + n;
    while (last > p->err && last[-1] != '\n') last--;
    for (int i = 0; i < num_want; i++)
        ck_assert_msg(strstr(last, want[i]), "%s: last stderr line \"%.*s\" does not mention \"%s\"",
                      p->cmdline, (int)(p->err + n - last), last, want[i]);
}

static void add_tiny_finetune(Args *a, const char *out) {
    args_add(a, "./finetune", "--model", TINY, "--task", "sst2", "--data-dir", SGD_DATA,
             "--max-len", "64", "--threads", "2", "--out", out, NULL);
}

// ./export never removes what it did not write: a directory with other
// files, a training checkpoint, a file, "", a DIR.tmp holding other files
// are refused and left as they were (no DIR.tmp either); a previous export is replaced, and --overwrite
// replaces anything.
START_TEST(export_keeps_foreign_files) {
    char *tmp = test_tmpdir(), *run_dir = path_in(tmp, "run"), *last = path_in(run_dir, "last");
    Args a = {0};
    add_tiny_finetune(&a, run_dir);
    args_add(&a, "--max-steps", "1", NULL);
    run_ok(&a);
    char *project = path_in(tmp, "project"), *file = path_in(tmp, "file");
    Err err;
    if (dir_make(project, &err) != 0) ck_abort_msg("%s", err.msg);
    test_write_file(project, "notes.txt", "mine\n", 5);
    test_write_file(tmp, "file", "mine\n", 5);
    // The temporary directory an export of TMP/keep would use, holding the user's file.
    char *keep = path_in(tmp, "keep"), *keep_tmp = path_in(tmp, "keep.tmp");
    if (dir_make(keep_tmp, &err) != 0) ck_abort_msg("%s", err.msg);
    test_write_file(keep_tmp, "notes.txt", "mine\n", 5);
    const struct {
        const char *out, *want;
    } refused[] = {{project, "notes.txt"}, {last, "optimizer"}, {file, "not a directory"},
                   {"", "--out"}, {keep, "keep.tmp"}};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        Snapshot before = snapshot(tmp);
        args_add(&a, "./export", "--checkpoint", last, "--out", refused[i].out, NULL);
        Proc p = run(&a);
        const char *want[] = {refused[i].want};
        expect_one_line_error(&p, want, 1);
        expect_unchanged(&before, tmp, p.cmdline);
        ck_assert_msg(!path_exists(".tmp"), "%s left .tmp in the working directory", p.cmdline);
        proc_free(&p);
        args_free(&a);
        free(before.data);
    }
    // A previous export (given with a trailing slash) is replaced in place.
    char *exported = path_in(tmp, "export"), *slashed = path_in(exported, "");
    for (int k = 0; k < 2; k++) {
        args_add(&a, "./export", "--checkpoint", last, "--out", slashed, NULL);
        run_ok(&a);
    }
    char *config = path_in(exported, "config.json"), *inside = path_in(exported, ".tmp");
    ck_assert_msg(file_exists(config) && !path_exists(inside), "%s: not a clean export", exported);
    // --overwrite: the user said so.
    args_add(&a, "./export", "--checkpoint", last, "--out", project, "--overwrite", NULL);
    run_ok(&a);
    char *notes = path_in(project, "notes.txt");
    ck_assert_msg(!path_exists(notes), "--overwrite kept %s", notes);
    free(notes);
    free(config);
    free(inside);
    free(exported);
    free(slashed);
    free(project);
    free(file);
    free(keep);
    free(keep_tmp);
    free(last);
    free(run_dir);
    test_tmpdir_remove(tmp);
}
END_TEST

// More labels than a checkpoint can name, or a label name too long for
// one, are refused before training (70 labels used to segfault when the limit was 64; a long
// name made a checkpoint ./evaluate then refused).
START_TEST(label_limits_refused_up_front) {
    char *tmp = test_tmpdir(), *train = path_in(tmp, "train.tsv"), *out = path_in(tmp, "run");
    char text[8192] = "sentence\tlabel\n";
    size_t used = strlen(text);
    for (int i = 0; i < 300; i++) {
        char label[80];
        if (_i == 0)
            snprintf(label, sizeof label, "L%d", i);
        else
            snprintf(label, sizeof label, "%s%d", i == 0 ? "a-label-name-that-goes-on-and-on-"
                                                           "for-more-than-sixty-four-bytes-"
                                                         : "short",
                     i % 2);
        used += (size_t)snprintf(text + used, sizeof text - used, "word %d\t%s\n", i, label);
    }
    test_write_file(tmp, "train.tsv", text, strlen(text));
    Args a = {0};
    args_add(&a, "./finetune", "--model", TINY, "--task", "custom", "--train", train, "--dev",
             train, "--text-col", "sentence", "--label-col", "label", "--max-steps", "1",
             "--max-len", "64", "--threads", "2", "--out", out, NULL);
    Proc p = run(&a);
    const char *want[] = {_i == 0 ? "300 labels" : "a-label-name", _i == 0 ? "at most 256" : "64 bytes"};
    expect_one_line_error(&p, want, 2);
    ck_assert_msg(!path_exists(out), "%s: a refused run wrote %s", p.cmdline, out);
    proc_free(&p);
    args_free(&a);
    free(train);
    free(out);
    test_tmpdir_remove(tmp);
}
END_TEST

// A batch that cannot fit is refused before anything is allocated, with
// the figure and what to change (it used to run until the OOM killer).
START_TEST(memory_refused_up_front) {
    char *tmp = test_tmpdir(), *out = path_in(tmp, "run");
    Args a = {0};
    args_add(&a, "./finetune", "--model", TEST_MODEL_DIR, "--task", "sst2", "--data-dir", SGD_DATA,
             "--batch-size", "65536", "--max-len", "512", "--threads", "2", "--out", out, NULL);
    Proc p = run(&a);
    const char *want[] = {"GiB", "--batch-size", "--max-len"};
    expect_failure_ending(&p, want, 3);
    proc_free(&p);
    args_free(&a);
    free(out);
    test_tmpdir_remove(tmp);
}
END_TEST

// A learning rate that overflows the weights stops the run at that step,
// naming the step and the learning rate, and saves nothing (it used to
// write all-NaN weights into last/).
START_TEST(nonfinite_update_stops_run) {
    char *tmp = test_tmpdir(), *out = path_in(tmp, "run");
    char *last = path_in(out, "last"), *best = path_in(out, "best");
    Args a = {0};
    add_tiny_finetune(&a, out);
    args_add(&a, "--lr", "1e38", "--warmup", "0", "--max-steps", "2", NULL);
    Proc p = run(&a);
    const char *want[] = {"step 1", "lr 1e+38"};
    expect_failure_ending(&p, want, 2);
    ck_assert_msg(!path_exists(last) && !path_exists(best), "%s: saved a checkpoint", p.cmdline);
    proc_free(&p);
    args_free(&a);
    free(last);
    free(best);
    free(out);
    test_tmpdir_remove(tmp);
}
END_TEST

// NaN weights are refused by every command, naming the tensor; finite
// weights whose logits overflow give no metrics (they used to score as
// 50% accuracy).
START_TEST(nonfinite_weights_and_logits_refused) {
    const char *tensor = "bert.encoder.layer.0.attention.output.dense.weight";
    char *nan_model = test_tiny_with_value(tensor, NAN);
    char *huge_model = test_tiny_with_value("bert.embeddings.LayerNorm.weight", 3e38f);
    char *tmp = test_tmpdir(), *out = path_in(tmp, "out");
    const char *cmds[] = {"./evaluate", "./finetune", "./export"};
    Args a = {0};
    for (int c = 0; c < 3; c++) {
        args_add(&a, cmds[c], NULL);
        if (c == 2)
            args_add(&a, "--checkpoint", nan_model, "--out", out, NULL);
        else
            args_add(&a, "--model", nan_model, "--task", "sst2", "--data-dir", SGD_DATA,
                     "--max-len", "64", "--threads", "2", NULL);
        if (c == 1) args_add(&a, "--out", out, "--max-steps", "1", NULL);
        Proc p = run(&a);
        const char *want[] = {tensor, "nan"};
        expect_one_line_error(&p, want, 2);
        ck_assert_msg(!path_exists(out), "%s wrote %s", p.cmdline, out);
        proc_free(&p);
        args_free(&a);
    }
    add_eval_args(&a, huge_model, SGD_DATA);
    args_add(&a, "--max-len", "64", NULL);
    Proc p = run(&a);
    const char *want[] = {"not finite", "no metrics"};
    expect_failure_ending(&p, want, 2);
    ck_assert_msg(!strstr(p.err, "accuracy"), "%s: reported metrics:\n%s", p.cmdline, p.err);
    proc_free(&p);
    args_free(&a);
    free(out);
    test_tmpdir_remove(tmp);
    test_tmpdir_remove(nan_model);
    test_tmpdir_remove(huge_model);
}
END_TEST

// ./evaluate --allow-nonfinite loads a NaN where it cannot matter (the
// embedding row of a word no dev sentence has) and predicts exactly what
// the clean model predicts; without the flag the same model is refused.
START_TEST(allow_nonfinite_unused_row) {
    // tiny_bert's word embeddings are [121, 32]: the middle element is in
    // row 60, the word "to", which the dev sentences do not contain.
    const char *tensor = "bert.embeddings.word_embeddings.weight";
    char *model = test_tiny_with_value(tensor, NAN);
    char *tmp = test_tmpdir(), *clean = path_in(tmp, "clean.tsv"), *flagged = path_in(tmp, "nan.tsv");
    Args a = {0};
    add_eval_args(&a, TINY, SGD_DATA);
    args_add(&a, "--max-len", "64", "--predictions", clean, NULL);
    run_ok(&a);
    add_eval_args(&a, model, SGD_DATA);
    args_add(&a, "--max-len", "64", "--predictions", flagged, "--allow-nonfinite", NULL);
    run_ok(&a);
    ck_assert_msg(files_equal(clean, flagged), "%s differs from %s", flagged, clean);
    add_eval_args(&a, model, SGD_DATA);
    args_add(&a, "--max-len", "64", NULL);
    Proc p = run(&a);
    const char *want[] = {tensor};
    expect_one_line_error(&p, want, 1);
    proc_free(&p);
    args_free(&a);
    free(clean);
    free(flagged);
    test_tmpdir_remove(tmp);
    test_tmpdir_remove(model);
}
END_TEST

// Inputs that are not regular files are refused at once, saying what they
// are (a FIFO used to hang; a directory as --dev trained without
// evaluation; /dev/zero was "empty").
START_TEST(inputs_not_regular_refused) {
    char *tmp = test_tmpdir(), *fifo = path_in(tmp, "fifo"), *good = path_in(tmp, "good.tsv");
    char *out = path_in(tmp, "run");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    const char good_text[] = "sentence\tlabel\ngood movie\t1\nbad film\t0\n";
    test_write_file(tmp, "good.tsv", good_text, strlen(good_text));
    const struct {
        const char *train, *dev, *want;
    } cases[] = {{fifo, good, "FIFO"}, {good, tmp, "directory"}, {good, "/dev/zero", "device"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Args a = {0};
        args_add(&a, "./finetune", "--model", TINY, "--task", "custom", "--train", cases[i].train,
                 "--dev", cases[i].dev, "--text-col", "sentence", "--label-col", "label",
                 "--max-steps", "1", "--max-len", "64", "--threads", "2", "--out", out, NULL);
        Proc p = run(&a);
        const char *want[] = {i == 0 ? cases[i].train : cases[i].dev, cases[i].want};
        expect_one_line_error(&p, want, 2);
        proc_free(&p);
        args_free(&a);
    }
    free(fifo);
    free(good);
    free(out);
    test_tmpdir_remove(tmp);
}
END_TEST

// Under a file-size limit the write fails with a message (it used to die
// of SIGXFSZ) and leaves neither the output nor its .tmp.
START_TEST(file_size_limit_is_a_write_error) {
    char *tmp = test_tmpdir(), *out = path_in(tmp, "x"), *out_tmp = path_in(tmp, "x.tmp");
    struct rlimit saved, small;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &saved), 0);
    small = saved;
    small.rlim_cur = 20000;  // tiny_bert's weights are 87 kB
    Args a = {0};
    args_add(&a, "./export", "--checkpoint", TINY, "--out", out, NULL);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    Proc p = run(&a);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &saved), 0);
    const char *want[] = {"File too large"};
    expect_one_line_error(&p, want, 1);
    ck_assert_msg(!path_exists(out) && !path_exists(out_tmp), "%s left files behind", p.cmdline);
    proc_free(&p);
    args_free(&a);
    free(out);
    free(out_tmp);
    test_tmpdir_remove(tmp);
}
END_TEST

// Messages that name the real problem: FILE:LINE of a broken CSV quote
// (not "no labels found"), the empty vocab.txt (not the data file), why
// the log cannot be opened; and input that is ambiguous is refused: a
// GLUE file without its header line, a header naming a column twice.
typedef struct {
    const char *file, *text;  // TMP/file gets text (NULL: only its directory); TMP/model is tiny_bert
    const char *args[12];     // "@" + name = TMP/name
    const char *want[2];
} MessageCase;

static const MessageCase MESSAGES[] = {
    {"b.csv", "text,label\n\"broken,1\nfoo,0\n",
     {"--task", "custom", "--train", "@b.csv", "--dev", "@b.csv", "--separator", "comma",
      "--text-col", "text", "--label-col", "label"},
     {"b.csv:2:", "quote"}},
    {"model/vocab.txt", "",
     {"--model", "@model", "--task", "sst2", "--data-dir", SGD_DATA},
     {"vocab.txt", "empty"}},
    {"run/log.jsonl/", NULL,
     {"--task", "sst2", "--data-dir", SGD_DATA},
     {"log.jsonl", "Is a directory"}},
    {"glue/SST-2/train.tsv", "a fine film\t1\na dull one\t0\n",
     {"--task", "sst2", "--data-dir", "@glue"},
     {"train.tsv:1:", "header"}},
    {"d.tsv", "text\tlabel\ttext\na\t1\tb\nc\t0\td\n",
     {"--task", "custom", "--train", "@d.tsv", "--dev", "@d.tsv", "--text-col", "text",
      "--label-col", "label"},
     {"d.tsv:1:", "two columns \"text\""}},
};

START_TEST(messages_name_the_problem) {
    const MessageCase *m = &MESSAGES[_i];
    char *tmp = test_tmpdir(), *out = path_in(tmp, "run");
    char *model = path_in(tmp, "model");
    Err err;
    if (dir_make(model, &err) != 0) ck_abort_msg("%s", err.msg);
    const char *files[] = {"config.json", "model.safetensors", "tokenizer_config.json",
                           "special_tokens_map.json", "vocab.txt"};
    for (int i = 0; i < 5; i++) copy_file(TINY, model, files[i]);
    // m->file is DIR/NAME under TMP, written with m->text (DIR only when NULL).
    char *dir = path_in(tmp, m->file);
    *strrchr(dir, '/') = '\0';
    const char *base = strrchr(m->file, '/') ? strrchr(m->file, '/') + 1 : m->file;
    if (dir_make(dir, &err) != 0) ck_abort_msg("%s", err.msg);
    if (m->text) test_write_file(dir, base, m->text, strlen(m->text));
    Args a = {0};
    args_add(&a, "./finetune", NULL);
    int has_model = 0;
    for (int i = 0; i < 12 && m->args[i]; i++) {
        char *arg = expand(tmp, m->args[i]);
        args_add(&a, arg, NULL);
        has_model |= strcmp(arg, "--model") == 0;
        free(arg);
    }
    if (!has_model) args_add(&a, "--model", TINY, NULL);
    args_add(&a, "--max-steps", "1", "--max-len", "64", "--threads", "2", "--out", out, NULL);
    Proc p = run(&a);
    expect_one_line_error(&p, m->want, 2);
    proc_free(&p);
    args_free(&a);
    free(dir);
    free(model);
    free(out);
    test_tmpdir_remove(tmp);
}
END_TEST

// Killed (SIGKILL) at any point, the log holds every step the checkpoint
// in OUT/last holds: it is flushed before the checkpoint is swapped in.
START_TEST(log_covers_checkpoint_after_kill) {
    char *tmp = test_tmpdir(), *out = path_in(tmp, "run");
    char *state = path_in(out, "last/trainer_state.json"), *log = path_in(out, "log.jsonl");
    Args a = {0};
    add_tiny_finetune(&a, out);
    args_add(&a, "--batch-size", "2", "--max-steps", "100000", "--save-every", "1", "--log-every",
             "100000", NULL);
    resolve_command(&a);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork failed");
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0) _exit(126);
        a.v[a.n] = NULL;
        execv(a.v[0], a.v);
        _exit(127);
    }
    // Wait for a few checkpoints, then kill without warning.
    for (int i = 0; i < 6000; i++) {
        if (file_exists(state)) {
            cJSON *j = read_json(state);
            double step = json_at(j, state, "step")->valuedouble;
            cJSON_Delete(j);
            if (step >= 5) break;
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    cJSON *j = read_json(state);
    long step = (long)json_at(j, state, "step")->valuedouble;
    cJSON_Delete(j);
    char *text = read_text(log);
    long logged = 0;
    for (const char *at = strstr(text, "\"event\":\"step\""); at; at = strstr(at + 1, "\"event\":\"step\""))
        logged++;
    free(text);
    ck_assert_msg(step >= 5, "the run wrote no checkpoint past step 5");
    ck_assert_msg(logged >= step, "%s: %ld step records, but %s holds step %ld", log, logged,
                  state, step);
    args_free(&a);
    free(state);
    free(log);
    free(out);
    test_tmpdir_remove(tmp);
}
END_TEST

// --resume over a changed training file is refused, naming the file (the
// checkpoint records its size and FNV-1a hash).
START_TEST(resume_refuses_changed_train_file) {
    char *tmp = test_tmpdir(), *train = path_in(tmp, "train.tsv"), *out = path_in(tmp, "run");
    const char before[] = "sentence\tlabel\ngood movie\t1\nbad film\t0\nfun\t1\ndull\t0\n";
    const char after[] = "sentence\tlabel\ngood movie\t1\nbad film\t0\nfun\t1\ndull\t1\n";
    test_write_file(tmp, "train.tsv", before, strlen(before));
    Args a = {0};
    for (int k = 0; k < 2; k++) {
        args_add(&a, "./finetune", "--model", TINY, "--task", "custom", "--train", train,
                 "--text-col", "sentence", "--label-col", "label", "--labels", "0,1",
                 "--batch-size", "2", "--max-steps", "4", "--max-len", "64", "--threads", "2",
                 "--out", out, k ? "--resume" : "--stop-after", k ? NULL : "1", NULL);
        if (k == 0) {
            run_ok(&a);
            test_write_file(tmp, "train.tsv", after, strlen(after));  // same size, one label changed
        }
    }
    Proc p = run(&a);
    const char *want[] = {train, "changed"};
    expect_one_line_error(&p, want, 2);
    proc_free(&p);
    args_free(&a);
    free(train);
    free(out);
    test_tmpdir_remove(tmp);
}
END_TEST

// ------------------------------------------------------------ data parallelism (mpirun)

// Open MPI's launcher (Debian's path); CI runs as root, hence the flag.
#define MPIRUN "/usr/bin/mpirun"

// "mpirun ... -np RANKS [over TCP on the loopback] ./finetune" and the tiny
// SST-2 run every data-parallel test shares: 6 rows in batches of 4 (so the
// last batch of an epoch, 2 rows, splits unevenly), SGD so that the weights
// follow the gradients linearly (AdamW divides by sqrt(v) and turns float32
// summation noise in tiny gradients into lr-sized steps).
static void add_dist_run(Args *a, int ranks, int tcp, const char *dropout, const char *out) {
    if (ranks > 1) {
        args_add(a, MPIRUN, "--allow-run-as-root", "--oversubscribe", NULL);
        if (tcp) args_add(a, "--mca", "btl", "tcp,self", NULL);
        args_add(a, "-np", NULL);
        args_addf(a, "%d", ranks);
    }
    args_add(a, "./finetune", "--model", TINY, "--task", "sst2", "--data-dir", SGD_DATA,
             "--max-len", "64", "--threads", "1", "--optim", "sgd", "--lr", "0.1", "--batch-size",
             "4", "--epochs", "3", "--dropout", dropout, "--out", out, NULL);
}

// N ranks x K micro-batches take the update one process makes on the whole
// batch: max |w - w_ref| over every tensor of OUT/last, measured 1.2e-7 on
// this run (float32 summation order of the gradient sums), asserted <= 1e-6;
// the dev metrics are equal.  With dropout on this holds only because masks
// are numbered in the global batch (row offset, global padded length).
static const struct {
    int ranks, tcp, accum;
    const char *dropout;
} DIST_RUNS[] = {
    {2, 0, 1, "0"}, {2, 0, 1, "0.1"}, {2, 1, 1, "0.1"}, {1, 0, 2, "0.1"}, {2, 0, 2, "0.1"},
};

// The best dev score and its step from OUT/results.json.
static void best_score(const char *out, double *score, double *step) {
    char *path = path_in(out, "results.json");
    cJSON *j = read_json(path);
    *score = json_at(j, path, "best_score")->valuedouble;
    *step = json_at(j, path, "best_step")->valuedouble;
    cJSON_Delete(j);
    free(path);
}

static void expect_same_run(const char *got, const char *want, double atol) {
    char *a = path_in(got, "last/model.safetensors"), *b = path_in(want, "last/model.safetensors");
    compare_tensor_files(a, b, NULL, 0, atol, 0, NULL, 0);
    double s1, t1, s2, t2;
    best_score(got, &s1, &t1);
    best_score(want, &s2, &t2);
    ck_assert_msg(s1 == s2 && t1 == t2, "%s: best dev %g at step %g, one process %g at %g", got, s1,
                  t1, s2, t2);
    free(a);
    free(b);
}

START_TEST(dist_matches_one_process) {
    char *tmp = test_tmpdir(), *ref = path_in(tmp, "ref"), *out = path_in(tmp, "dist");
    Args a = {0};
    add_dist_run(&a, 1, 0, DIST_RUNS[_i].dropout, ref);
    run_ok(&a);
    add_dist_run(&a, DIST_RUNS[_i].ranks, DIST_RUNS[_i].tcp, DIST_RUNS[_i].dropout, out);
    args_addf(&a, "--grad-accum=%d", DIST_RUNS[_i].accum);
    run_ok(&a);
    expect_same_run(out, ref, 1e-6);
    free(ref);
    free(out);
    test_tmpdir_remove(tmp);
}
END_TEST

// A checkpoint written by 2 ranks resumes on 1, and one written by 1 on 2:
// the same weights as the uninterrupted one-process run (to 1e-6, as above).
START_TEST(dist_resume_across_rank_counts) {
    char *tmp = test_tmpdir(), *ref = path_in(tmp, "ref"), *out = path_in(tmp, "run");
    Args a = {0};
    add_dist_run(&a, 1, 0, "0.1", ref);
    run_ok(&a);
    const int first = _i == 0 ? 2 : 1;
    add_dist_run(&a, first, 0, "0.1", out);
    args_add(&a, "--stop-after", "3", NULL);
    run_ok(&a);
    add_dist_run(&a, 3 - first, 0, "0.1", out);
    args_add(&a, "--resume", NULL);
    run_ok(&a);
    expect_same_run(out, ref, 1e-6);
    free(ref);
    free(out);
    test_tmpdir_remove(tmp);
}
END_TEST

// A /proc file (its size reads 0, so file_read_all does not apply), NUL
// terminated; NULL if it is gone.
static char *read_proc(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = malloc(65537);
    ck_assert_ptr_nonnull(text);
    *len = fread(text, 1, 65536, f);
    text[*len] = '\0';
    fclose(f);
    return text;
}

// ./evaluate on 2 ranks (each runs every other batch of the one plan; the
// outputs are summed, each row coming from one rank) writes the predictions
// file of one process byte for byte, and the same metrics and attention
// zero counts (sparsemax, summed over the ranks); --threads 1 on both, as
// the thread count changes float32 summation order.
START_TEST(dist_evaluate_matches_one_process) {
    char *tmp = test_tmpdir();
    char *files[2][2] = {{path_in(tmp, "one.tsv"), path_in(tmp, "one.json")},
                         {path_in(tmp, "two.tsv"), path_in(tmp, "two.json")}};
    Args a = {0};
    for (int r = 0; r < 2; r++) {
        if (r == 1)
            args_add(&a, MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", "2", NULL);
        args_add(&a, "./evaluate", "--model", TINY, "--task", "sst2", "--data-dir", SGD_DATA,
                 "--max-len", "64", "--attn", "sparsemax", "--batch-size", "1", "--threads", "1",
                 "--predictions", files[r][0], "--metrics-out", files[r][1], NULL);
        run_ok(&a);
    }
    ck_assert_msg(files_equal(files[0][0], files[1][0]), "%s and %s differ", files[0][0], files[1][0]);
    cJSON *one = read_json(files[0][1]), *two = read_json(files[1][1]);
    const cJSON *d1 = json_at(json_at(one, files[0][1], "splits"), files[0][1], "dev"),
                *d2 = json_at(json_at(two, files[1][1], "splits"), files[1][1], "dev");
    const char *keys[] = {"metrics", "attention_sparsity", "examples"};
    for (int k = 0; k < 3; k++)
        ck_assert_msg(cJSON_Compare(json_at(d1, files[0][1], keys[k]), json_at(d2, files[1][1], keys[k]), 1),
                      "%s: dev.%s differs from %s", files[1][1], keys[k], files[0][1]);
    cJSON_Delete(one);
    cJSON_Delete(two);
    for (int r = 0; r < 2; r++) {
        free(files[r][0]);
        free(files[r][1]);
    }
    test_tmpdir_remove(tmp);
}
END_TEST

// The pid of the child of `parent` whose environment says it is MPI rank
// `rank` (mpirun starts local ranks as its children); 0 if none yet.
static pid_t mpi_rank_pid(pid_t parent, int rank) {
    char path[64], want[48], *list;
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)parent, (int)parent);
    snprintf(want, sizeof want, "OMPI_COMM_WORLD_RANK=%d", rank);
    size_t len;
    if (!(list = read_proc(path, &len))) return 0;
    pid_t found = 0;
    for (char *tok = strtok(list, " \n"); tok && !found; tok = strtok(NULL, " \n")) {
        char env_path[64];
        snprintf(env_path, sizeof env_path, "/proc/%s/environ", tok);
        char *env = read_proc(env_path, &len);
        if (!env) continue;
        for (size_t at = 0; at < len && !found; at += strlen(env + at) + 1)
            if (strcmp(env + at, want) == 0) found = (pid_t)atoi(tok);
        free(env);
    }
    free(list);
    return found;
}

// Rank 1 SIGKILLed mid-run: the job ends within 30 s (measured 1.2 s) with
// a non-zero status and a message naming the killed rank, OUT/last loads
// (./evaluate scores it) and --resume continues the run.
START_TEST(dist_rank_killed) {
    char *tmp = test_tmpdir(), *out = path_in(tmp, "run"), *err_path = path_in(tmp, "stderr");
    char *state = path_in(out, "last/trainer_state.json"), *last = path_in(out, "last");
    Args a = {0};
    add_dist_run(&a, 2, 0, "0.1", out);
    args_add(&a, "--max-steps", "100000", "--save-every", "5", "--log-every", "100000", NULL);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_msg(pid >= 0, "fork failed");
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR), err = open(err_path, O_WRONLY | O_CREAT, 0644);
        if (null < 0 || err < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(err, 2) < 0)
            _exit(126);
        a.v[a.n] = NULL;
        execv(a.v[0], a.v);
        _exit(127);
    }
    for (int i = 0; i < 6000 && !file_exists(state); i++) usleep(10000);
    pid_t victim = 0;
    for (int i = 0; i < 500 && !(victim = mpi_rank_pid(pid, 1)); i++) usleep(10000);
    ck_assert_msg(file_exists(state) && victim > 0, "no checkpoint or no rank 1 after 60 s");
    ck_assert_int_eq(kill(victim, SIGKILL), 0);
    const double t0 = clock_seconds();
    int status = 0;
    pid_t done = 0;
    while ((done = waitpid(pid, &status, WNOHANG)) == 0 && clock_seconds() - t0 < 30) usleep(10000);
    if (done == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        ck_abort_msg("mpirun still running 30 s after rank 1 was killed");
    }
    char *text = read_text(err_path);
    ck_assert_msg(!(WIFEXITED(status) && WEXITSTATUS(status) == 0), "mpirun exited 0");
    ck_assert_msg(strstr(text, "rank 1") && strstr(text, "signal 9"),
                  "no message naming rank 1 and its signal:\n%s", text);
    free(text);
    args_free(&a);
    args_add(&a, "./evaluate", "--model", last, "--task", "sst2", "--data-dir", SGD_DATA,
             "--max-len", "64", NULL);
    run_ok(&a);
    // Continue for 2 more steps of a run that now ends there, on one rank.
    cJSON *j = read_json(state);
    long step = (long)json_at(j, state, "step")->valuedouble;
    cJSON_Delete(j);
    add_dist_run(&a, 1, 0, "0.1", out);
    args_addf(&a, "--max-steps=%ld", 100000L);
    args_addf(&a, "--stop-after=%ld", step + 2);
    args_add(&a, "--save-every", "5", "--log-every", "100000", "--resume", NULL);
    run_ok(&a);
    j = read_json(state);
    ck_assert_int_eq((long)json_at(j, state, "step")->valuedouble, step + 2);
    cJSON_Delete(j);
    free(state);
    free(last);
    free(err_path);
    free(out);
    test_tmpdir_remove(tmp);
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
    tc = tcase_create("predict");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, predict_matches_transformers);
    tcase_add_loop_test(tc, predict_pairs_match_evaluate, 0, 3);
    tcase_add_test(tc, predict_answers_each_line_at_once);
    tcase_add_loop_test(tc, predict_bad_inputs, 0, (int)(sizeof BAD_INPUTS / sizeof BAD_INPUTS[0]));
    suite_add_tcase(s, tc);
    tc = tcase_create("errors");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, errors_are_one_line);
    tcase_add_test(tc, bench_random_init);
    tcase_add_test(tc, help_lists_options_with_defaults);
    tcase_add_test(tc, help_from_the_tables);
    tcase_add_test(tc, default_model_missing);
    tcase_add_test(tc, finetune_runs_as_typed);
    suite_add_tcase(s, tc);
    tc = tcase_create("reliability");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, export_keeps_foreign_files);
    tcase_add_loop_test(tc, label_limits_refused_up_front, 0, 2);
    tcase_add_test(tc, memory_refused_up_front);
    tcase_add_test(tc, nonfinite_update_stops_run);
    tcase_add_test(tc, nonfinite_weights_and_logits_refused);
    tcase_add_test(tc, allow_nonfinite_unused_row);
    tcase_add_test(tc, inputs_not_regular_refused);
    tcase_add_test(tc, file_size_limit_is_a_write_error);
    tcase_add_loop_test(tc, messages_name_the_problem, 0,
                        (int)(sizeof MESSAGES / sizeof MESSAGES[0]));
    tcase_add_test(tc, log_covers_checkpoint_after_kill);
    tcase_add_test(tc, resume_refuses_changed_train_file);
    suite_add_tcase(s, tc);
    tc = tcase_create("dist");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, dist_matches_one_process, 0, (int)(sizeof DIST_RUNS / sizeof DIST_RUNS[0]));
    tcase_add_loop_test(tc, dist_resume_across_rank_counts, 0, 2);
    tcase_add_test(tc, dist_evaluate_matches_one_process);
    tcase_add_test(tc, dist_rank_killed);
    suite_add_tcase(s, tc);
    return s;
}
