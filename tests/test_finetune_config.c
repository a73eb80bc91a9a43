// ./finetune on a multi-label custom task with the tiny model: the run
// trains through each output map, and --config with a checkpoint's
// run_config repeats the run bit for bit (flags override the file).
#define _GNU_SOURCE  // asprintf
#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"
#include "util/fileio.h"

#define TINY TEST_GOLDEN_DIR "/tiny_bert"

// Runs a shell command line (output into DIR/cmd.out); returns its status.
static int sh(const char *dir, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sh(const char *dir, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *cmd, *full;
    ck_assert_int_ge(vasprintf(&cmd, fmt, ap), 0);
    va_end(ap);
    ck_assert_int_ge(asprintf(&full, "%s > %s/cmd.out 2>&1", cmd, dir), 0);
    int rc = system(full);
    free(cmd);
    free(full);
    return rc;
}

static char *slurp(const char *dir, const char *rel, size_t *len) {
    char path[4096], *text;
    Err err;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (file_read_all(path, &text, len, &err) != 0) ck_abort_msg("%s", err.msg);
    return text;
}

static cJSON *json_file(const char *dir, const char *rel) {
    size_t len;
    char *text = slurp(dir, rel, &len);
    cJSON *j = cJSON_Parse(text);
    free(text);
    ck_assert_msg(j != NULL, "%s/%s: not JSON", dir, rel);
    return j;
}

static void write_data(const char *dir) {
    const char *rows = "text\tlabels\n"
                       "the cat sat\ta,b\n"
                       "a dog ran\tb\n"
                       "the bird sang\tc,a\n"
                       "fish swim\tc\n"
                       "cats and dogs\ta,b,c\n"
                       "a quiet night\tb,c\n";
    test_write_file(dir, "train.tsv", rows, strlen(rows));
}

// A run with flags, then --config of its run_config: the same weights and
// optimizer state, byte for byte.
START_TEST(test_config_round_trip) {
    static const char *const maps[] = {"sigmoid", "rsoftmax"};
    char *dir = test_tmpdir();
    write_data(dir);
    const char *map = maps[_i];
    int rc = sh(dir,
                "./finetune --model " TINY " --task custom --train %s/train.tsv --dev "
                "%s/train.tsv --text-col text --label-col labels --multi-label --output-map %s "
                "%s --max-steps 4 --batch-size 2 --max-len 16 --lr 1e-3 --seed 7 --threads 2 "
                "--out %s/a",
                dir, dir, map, _i ? "--output-r auto" : "", dir);
    size_t len;
    ck_assert_msg(rc == 0, "first run failed: %s", slurp(dir, "cmd.out", &len));
    cJSON *state = json_file(dir, "a/last/trainer_state.json");
    cJSON *cfg = cJSON_GetObjectItemCaseSensitive(state, "run_config");
    ck_assert_ptr_nonnull(cfg);
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, "output_map")), map);
    char *cfg_text = cJSON_Print(cfg);
    test_write_file(dir, "cfg.json", cfg_text, strlen(cfg_text));
    free(cfg_text);
    cJSON_Delete(state);
    rc = sh(dir, "./finetune --config %s/cfg.json --threads 2 --out %s/b", dir, dir);
    ck_assert_msg(rc == 0, "--config run failed: %s", slurp(dir, "cmd.out", &len));
    static const char *const files[] = {"last/model.safetensors", "last/optimizer.safetensors",
                                        "best/model.safetensors"};
    for (int f = 0; f < 3; f++) {
        char a[128], b[128];
        snprintf(a, sizeof a, "a/%s", files[f]);
        snprintf(b, sizeof b, "b/%s", files[f]);
        size_t la, lb;
        char *x = slurp(dir, a, &la), *y = slurp(dir, b, &lb);
        ck_assert_msg(la == lb && memcmp(x, y, la) == 0, "%s: %s differs after --config", map,
                      files[f]);
        free(x);
        free(y);
    }
    // Flags override the file.
    rc = sh(dir, "./finetune --config %s/cfg.json --max-steps 1 --lr 0.002 --threads 2 --out %s/c",
            dir, dir);
    ck_assert_msg(rc == 0, "override run failed: %s", slurp(dir, "cmd.out", &len));
    state = json_file(dir, "c/last/trainer_state.json");
    cfg = cJSON_GetObjectItemCaseSensitive(state, "run_config");
    ck_assert(cJSON_GetObjectItemCaseSensitive(cfg, "max_steps")->valuedouble == 1);
    ck_assert((float)cJSON_GetObjectItemCaseSensitive(cfg, "lr")->valuedouble == 0.002f);
    cJSON_Delete(state);
    test_tmpdir_remove(dir);
}
END_TEST

// Keys that are no option are refused, naming the file and the key.
START_TEST(test_config_bad_key) {
    char *dir = test_tmpdir();
    const char *cfg = "{\"task\": \"sst2\", \"learning_rate\": 0.1}";
    test_write_file(dir, "cfg.json", cfg, strlen(cfg));
    int rc = sh(dir, "./finetune --config %s/cfg.json --out %s/x", dir, dir);
    size_t len;
    char *out = slurp(dir, "cmd.out", &len);
    ck_assert_int_ne(rc, 0);
    ck_assert_msg(strstr(out, "cfg.json: \"learning_rate\" is not an option"), "%s", out);
    free(out);
    test_tmpdir_remove(dir);
}
END_TEST


static double last_eval(const char *dir, const char *rel, const char *key) {
    size_t len;
    char *log = slurp(dir, rel, &len);
    double value = NAN;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        const char *event = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "event"));
        if (event && strcmp(event, "eval") == 0)
            value = cJSON_GetObjectItemCaseSensitive(j, key)->valuedouble;
        cJSON_Delete(j);
    }
    free(log);
    return value;
}

// A multi-label checkpoint says what it is (problem_type, output map and
// threshold in config.json); ./evaluate scores it as the trainer did and
// ./predict answers with label sets.
START_TEST(test_multilabel_checkpoint) {
    static const char *const maps[] = {"sigmoid", "softmax", "sparsemax", "entmax15", "rsoftmax"};
    char *dir = test_tmpdir();
    write_data(dir);
    const char *map = maps[_i];
    int rc = sh(dir,
                "./finetune --model " TINY " --task custom --train %s/train.tsv --dev "
                "%s/train.tsv --text-col text --label-col labels --multi-label --output-map %s "
                "--max-steps 3 --batch-size 2 --max-len 16 --lr 1e-2 --threads 2 --out %s/a",
                dir, dir, map, dir);
    size_t len;
    ck_assert_msg(rc == 0, "%s: run failed: %s", map, slurp(dir, "cmd.out", &len));
    cJSON *cfg = json_file(dir, "a/best/config.json");
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, "problem_type")),
                     "multi_label_classification");
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, "output_map")), map);
    double threshold = cJSON_GetObjectItemCaseSensitive(cfg, "output_threshold")->valuedouble;
    cJSON_Delete(cfg);
    ck_assert((float)threshold == (float)last_eval(dir, "a/log.jsonl", "threshold"));
    rc = sh(dir,
            "./evaluate --model %s/a/best --task custom --dev %s/train.tsv --text-col text "
            "--label-col labels --multi-label --threads 2 --predictions %s/pred.tsv --metrics-out %s/eval.json",
            dir, dir, dir, dir);
    ck_assert_msg(rc == 0, "%s: evaluate failed: %s", map, slurp(dir, "cmd.out", &len));
    cJSON *ev = json_file(dir, "eval.json");
    const cJSON *metrics = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ev, "splits"), "dev"),
        "metrics");
    ck_assert_msg(metrics != NULL, "%s: no dev metrics in eval.json", map);
    double got = cJSON_GetObjectItemCaseSensitive(metrics, "micro_f1")->valuedouble;
    ck_assert_msg(got == last_eval(dir, "a/log.jsonl", "micro_f1"),
                  "%s: ./evaluate micro-F1 %g, the trainer's %g", map, got,
                  last_eval(dir, "a/log.jsonl", "micro_f1"));
    cJSON_Delete(ev);
    // ./export keeps what the head is.
    rc = sh(dir, "./export --checkpoint %s/a/best --out %s/export", dir, dir);
    ck_assert_msg(rc == 0, "%s: export failed: %s", map, slurp(dir, "cmd.out", &len));
    cfg = json_file(dir, "export/config.json");
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, "problem_type")),
                     "multi_label_classification");
    ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, "output_map")), map);
    cJSON_Delete(cfg);
    if (_i == 0) {  // single-label training from it: the marks go
        const char *single = "text\tlabels\ngood day\tpos\nbad day\tneg\n";
        test_write_file(dir, "single.tsv", single, strlen(single));
        rc = sh(dir,
                "./finetune --model %s/a/best --task custom --train %s/single.tsv --text-col text "
                "--label-col labels --max-steps 1 --batch-size 2 --max-len 16 --threads 2 --out %s/s",
                dir, dir, dir);
        ck_assert_msg(rc == 0, "single-label run failed: %s", slurp(dir, "cmd.out", &len));
        cfg = json_file(dir, "s/last/config.json");
        ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cfg, "problem_type")),
                         "single_label_classification");
        ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(cfg, "output_map"));
        ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(cfg, "output_threshold"));
        cJSON_Delete(cfg);
    }
    rc = sh(dir, "echo 'the cat sat' | ./predict --model %s/a/best --max-len 16 --threads 2", dir);
    char *text = slurp(dir, "cmd.out", &len);
    ck_assert_msg(rc == 0 && strncmp(text, "labels\ta\tb\tc\n", 13) == 0, "%s: predict: %s", map,
                  text);
    free(text);
    test_tmpdir_remove(dir);
}
END_TEST

// --patience through ./finetune: with a learning rate too small to change
// any prediction, every evaluation after the first brings no improvement, so
// --patience 2 with --eval-every 1 stops after step 3 (OUT/last there); a
// statistic is refused as --metric-for-best, naming what the task reports.
START_TEST(test_patience_stops_run) {
    char *dir = test_tmpdir();
    write_data(dir);
    const char *common = "./finetune --model " TINY " --task custom --text-col text --label-col "
                         "labels --multi-label --batch-size 2 --max-len 16 --threads 2";
    int rc = sh(dir,
                "%s --train %s/train.tsv --dev %s/train.tsv --max-steps 20 --eval-every 1 "
                "--lr 1e-12 --patience 2 --metric-for-best macro_f1 --out %s/a",
                common, dir, dir, dir);
    size_t len;
    ck_assert_msg(rc == 0, "run failed: %s", slurp(dir, "cmd.out", &len));
    char *out = slurp(dir, "cmd.out", &len);
    ck_assert_msg(strstr(out, "stopping early after step 3"), "%s", out);
    free(out);
    cJSON *state = json_file(dir, "a/last/trainer_state.json");
    ck_assert(cJSON_GetObjectItemCaseSensitive(state, "step")->valuedouble == 3);
    ck_assert(cJSON_GetObjectItemCaseSensitive(state, "best_step")->valuedouble == 1);
    ck_assert(cJSON_GetObjectItemCaseSensitive(state, "best_score")->valuedouble ==
              last_eval(dir, "a/log.jsonl", "macro_f1"));
    cJSON_Delete(state);
    rc = sh(dir, "%s --train %s/train.tsv --dev %s/train.tsv --max-steps 1 --metric-for-best "
            "mean_set_size --out %s/b", common, dir, dir, dir);
    out = slurp(dir, "cmd.out", &len);
    ck_assert_msg(rc != 0 && strstr(out, "--metric-for-best mean_set_size") &&
                      strstr(out, "micro_f1"), "%s", out);
    free(out);
    test_tmpdir_remove(dir);
}
END_TEST

Suite *finetune_config_suite(void) {
    Suite *s = suite_create("finetune_config");
    TCase *tc = tcase_create("config");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_config_round_trip, 0, 2);
    tcase_add_test(tc, test_config_bad_key);
    tcase_add_loop_test(tc, test_multilabel_checkpoint, 0, 5);
    tcase_add_test(tc, test_patience_stops_run);
    suite_add_tcase(s, tc);
    return s;
}
