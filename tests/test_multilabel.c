// Multi-label tasks: the metrics against scikit-learn
// (tests/golden/gen_multilabel_metrics_golden.py) and threshold tuning
// against a brute-force search over every threshold.
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>

#include <stdio.h>
#include <string.h>

#include "tasks/metrics.h"
#include "tests/testutil.h"
#include "util/fileio.h"

static cJSON *load_json(const char *path) {
    char *text;
    size_t len;
    Err err;
    if (file_read_all(path, &text, &len, &err) != 0) ck_abort_msg("%s", err.msg);
    cJSON *root = cJSON_Parse(text);
    free(text);
    ck_assert_ptr_nonnull(root);
    return root;
}

static double field(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    ck_assert_msg(cJSON_IsNumber(v), "golden: no number '%s'", key);
    return v->valuedouble;
}

static void *read_array(const cJSON *obj, const char *key, int n, int as_float) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key);
    ck_assert_int_eq(cJSON_GetArraySize(arr), n);
    void *out = malloc((size_t)n * (as_float ? sizeof(float) : 1));
    ck_assert_ptr_nonnull(out);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        if (as_float)
            ((float *)out)[i++] = (float)e->valuedouble;
        else
            ((unsigned char *)out)[i++] = (unsigned char)e->valueint;
    }
    return out;
}

START_TEST(test_metrics_sklearn) {
    cJSON *root = load_json(TEST_GOLDEN_DIR "/multilabel_metrics_golden.json");
    const cJSON *c;
    int cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cases")) {
        int n = (int)field(c, "n"), C = (int)field(c, "C");
        unsigned char *pred = read_array(c, "pred", n * C, 0), *gold = read_array(c, "gold", n * C, 0);
        MultiLabelScores s;
        Err err;
        ck_assert_int_eq(metric_multilabel(pred, gold, n, C, &s, &err), 0);
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(c, "scores");
        double got[5] = {s.micro_f1, s.macro_f1, s.exact, s.mean_set_size, s.mean_true_size};
        double ref[5] = {field(want, "micro_f1"), field(want, "macro_f1"), field(want, "exact"),
                         field(want, "mean_set_size"), field(want, "mean_true_size")};
        assert_allclose_d("multi-label scores", got, ref, 5, 1e-12, 1e-12);
        free(pred);
        free(gold);
        cases++;
    }
    ck_assert_int_eq(cases, 3);
    cJSON_Delete(root);
}
END_TEST

// The tuned threshold reaches the best micro-F1 of any threshold.
START_TEST(test_tune_threshold) {
    cJSON *root = load_json(TEST_GOLDEN_DIR "/multilabel_metrics_golden.json");
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cases")) {
        int n = (int)field(c, "n"), C = (int)field(c, "C");
        unsigned char *gold = read_array(c, "gold", n * C, 0), *pred = malloc((size_t)n * C);
        float *probs = read_array(c, "probs", n * C, 1);
        ck_assert_ptr_nonnull(pred);
        float t;
        Err err;
        ck_assert_int_eq(metric_tune_threshold(probs, gold, n, C, &t, &err), 0);
        for (int i = 0; i < n * C; i++) pred[i] = probs[i] > t;
        MultiLabelScores s;
        ck_assert_int_eq(metric_multilabel(pred, gold, n, C, &s, &err), 0);
        double want = field(c, "best_micro_f1");
        assert_allclose_d("micro-F1 at the tuned threshold", &s.micro_f1, &want, 1, 1e-12, 0);
        free(gold);
        free(pred);
        free(probs);
    }
    cJSON_Delete(root);
}
END_TEST


// A multi-label TSV: label lists split on ',', spaces trimmed, duplicates
// once, ids ascending; labels under the frequency floor left out and
// counted; rows left without a label dropped and counted.
START_TEST(test_load_label_lists) {
    char *dir = test_tmpdir();
    const char *train = "text\tlabels\n"
                        "one\tb,a\n"          // a b
                        "two\t a , a ,c\n"    // a c (c kept: 2 times)
                        "three\trare\n"        // dropped: rare is below the floor
                        "four\tc,odd,b\n"      // b c
                        "five\t\n";            // no label at all: dropped
    test_write_file(dir, "train.tsv", train, strlen(train));
    char path[512];
    snprintf(path, sizeof path, "%s/train.tsv", dir);
    CustomTaskOptions o = {.train = path, .text_a = "text", .label = "labels", .header = true,
                           .separator = '\t', .multi_label = true, .min_label_count = 2};
    Err err;
    Task *task = task_custom(&o, NULL, 0, &err);
    ck_assert_msg(task != NULL, "%s", err.msg);
    ck_assert(task_is_multi_label(task));
    ck_assert_int_eq(task_num_outputs(task), 3);
    ck_assert_str_eq(task_label_name(task, 0), "a");
    ck_assert_str_eq(task_label_name(task, 2), "c");
    BadRowCounts bad;
    Dataset *ds = task_load(task, 0, false, &bad, &err);
    ck_assert_msg(ds != NULL, "%s", err.msg);
    ck_assert_int_eq(dataset_size(ds), 3);
    ck_assert_int_eq(bad.rows_without_kept_label, 2);
    ck_assert_int_eq(bad.labels_not_kept, 2);
    const int want[3][2] = {{0, 1}, {0, 2}, {1, 2}};
    for (int i = 0; i < 3; i++) {
        const Example *ex = dataset_example(ds, i);
        ck_assert_int_eq(ex->label_set_size, 2);
        ck_assert_int_eq(ex->label_set[0], want[i][0]);
        ck_assert_int_eq(ex->label_set[1], want[i][1]);
        ck_assert_int_eq(ex->label, want[i][0]);
    }
    ck_assert_str_eq(dataset_example(ds, 2)->text_a, "four");
    dataset_free(ds);
    task_free(task);

    // Given labels: no floor; a bad row stops loading with FILE:LINE.
    const char *bad_rows = "text\tlabels\none\ta\ntwo\tb\textra\n";
    test_write_file(dir, "bad.tsv", bad_rows, strlen(bad_rows));
    snprintf(path, sizeof path, "%s/bad.tsv", dir);
    o = (CustomTaskOptions){.dev = path, .text_a = "text", .label = "labels", .header = true,
                            .separator = '\t', .multi_label = true, .labels = "a,b"};
    task = task_custom(&o, NULL, 0, &err);
    ck_assert_msg(task != NULL, "%s", err.msg);
    ck_assert_ptr_null(task_load(task, 0, false, &bad, &err));
    ck_assert_msg(strstr(err.msg, "bad.tsv:3: expected 2 columns, found 3"), "%s", err.msg);
    task_free(task);

    // A floor no label reaches is an error naming the option.
    snprintf(path, sizeof path, "%s/train.tsv", dir);
    o = (CustomTaskOptions){.train = path, .text_a = "text", .label = "labels", .header = true,
                            .separator = '\t', .multi_label = true, .min_label_count = 50};
    ck_assert_ptr_null(task_custom(&o, NULL, 0, &err));
    ck_assert_msg(strstr(err.msg, "--min-label-count"), "%s", err.msg);
    test_tmpdir_remove(dir);
}
END_TEST

// --task debtags on a folder laid out like data/debtags: text "package:
// description", the tags with >= 100 train rows, rows without one dropped
// from every split, the test split labeled.
START_TEST(test_debtags_protocol) {
    char *dir = test_tmpdir();
    char *train = malloc(64 * 1024);
    ck_assert_ptr_nonnull(train);
    size_t n = (size_t)sprintf(train, "package\tdescription\ttags\n");
    for (int i = 0; i < 150; i++)  // role::program 150 times, x::y 100, z::w 99
        n += (size_t)sprintf(train + n, "p%d\tdesc %d\trole::program%s%s\n", i, i,
                             i < 100 ? ",x::y" : "", i < 99 ? ",z::w" : "");
    n += (size_t)sprintf(train + n, "lonely\tonly a rare tag\tq::r\n");
    test_write_file(dir, "train.tsv", train, n);
    free(train);
    const char *dev = "package\tdescription\ttags\nfoo\tA foo tool\tx::y,role::program\n";
    const char *test = "package\tdescription\ttags\nbar\tBar\tz::w\nbaz\tBaz\tx::y\n";
    test_write_file(dir, "dev.tsv", dev, strlen(dev));
    test_write_file(dir, "test.tsv", test, strlen(test));
    Err err;
    Task *task = task_debtags(dir, NULL, 0, &err);
    ck_assert_msg(task != NULL, "%s", err.msg);
    ck_assert_int_eq(task_num_outputs(task), 2);
    ck_assert_str_eq(task_label_name(task, 0), "role::program");
    ck_assert_str_eq(task_label_name(task, 1), "x::y");
    BadRowCounts bad;
    Dataset *ds = task_load(task, 0, false, &bad, &err);
    ck_assert_msg(ds != NULL, "%s", err.msg);
    ck_assert_int_eq(dataset_size(ds), 150);
    ck_assert_int_eq(bad.rows_without_kept_label, 1);
    dataset_free(ds);
    ds = task_load(task, 1, false, &bad, &err);
    ck_assert_msg(ds != NULL, "%s", err.msg);
    ck_assert_str_eq(dataset_example(ds, 0)->text_a, "foo: A foo tool");
    ck_assert_ptr_null(dataset_example(ds, 0)->text_b);
    ck_assert_int_eq(dataset_example(ds, 0)->label_set_size, 2);
    dataset_free(ds);
    ds = task_load(task, 2, false, &bad, &err);
    ck_assert_msg(ds != NULL, "%s", err.msg);
    ck_assert(dataset_is_labeled(ds));
    ck_assert_int_eq(dataset_size(ds), 1);
    ck_assert_int_eq(bad.rows_without_kept_label, 1);
    ck_assert_int_eq(dataset_example(ds, 0)->label_set[0], 1);
    dataset_free(ds);
    task_free(task);
    test_tmpdir_remove(dir);
}
END_TEST

// JSONL custom tasks (the datasets library's to_json lines): keys as
// columns, list labels for multi-label, numbers as labels, bad lines as
// FILE:LINE or counted with skip_bad_rows.
START_TEST(test_jsonl) {
    char *dir = test_tmpdir();
    const char *lines = "{\"text\": \"one\", \"text_b\": \"uno\", \"label\": [\"x\", \"y\"]}\n"
                        "\n"
                        "{\"text\": \"two\", \"text_b\": \"dos\", \"label\": [\"y\"]}\n"
                        "{\"text\": \"three\", \"label\": [\"x\"]}\n"
                        "[1, 2]\n"
                        "{\"text\": \"four\", \"text_b\": \"cuatro\", \"label\": \"x,y\"}\n";
    test_write_file(dir, "train.jsonl", lines, strlen(lines));
    char path[512];
    snprintf(path, sizeof path, "%s/train.jsonl", dir);
    CustomTaskOptions o = {.train = path, .text_a = "text", .text_b = "text_b", .label = "label",
                           .separator = '\t', .multi_label = true};
    Err err;
    Task *task = task_custom(&o, NULL, 0, &err);
    ck_assert_msg(task != NULL, "%s", err.msg);
    ck_assert_int_eq(task_num_outputs(task), 2);
    BadRowCounts bad;
    ck_assert_ptr_null(task_load(task, 0, false, &bad, &err));
    ck_assert_msg(strstr(err.msg, "train.jsonl:4: \"text_b\" is missing"), "%s", err.msg);
    Dataset *ds = task_load(task, 0, true, &bad, &err);
    ck_assert_msg(ds != NULL, "%s", err.msg);
    ck_assert_int_eq(dataset_size(ds), 3);
    ck_assert_int_eq(bad.total, 2);
    ck_assert_int_eq(bad.count[BAD_JSON], 2);
    ck_assert_str_eq(bad_row_kind_name(BAD_JSON), "bad JSON line");
    const Example *ex = dataset_example(ds, 1);
    ck_assert_str_eq(ex->text_a, "two");
    ck_assert_str_eq(ex->text_b, "dos");
    ck_assert_int_eq(ex->line, 3);
    ck_assert_int_eq(ex->label_set_size, 1);
    ck_assert_int_eq(ex->label_set[0], 1);
    ck_assert_int_eq(dataset_example(ds, 2)->label_set_size, 2);  // "x,y" split on ','
    dataset_free(ds);
    task_free(task);

    // Single-label JSONL with integer labels.
    const char *single = "{\"sentence\": \"good\", \"label\": 1}\n{\"sentence\": \"bad\", \"label\": 0}\n";
    test_write_file(dir, "sst.jsonl", single, strlen(single));
    snprintf(path, sizeof path, "%s/sst.jsonl", dir);
    o = (CustomTaskOptions){.train = path, .text_a = "sentence", .label = "label", .separator = '\t'};
    task = task_custom(&o, NULL, 0, &err);
    ck_assert_msg(task != NULL, "%s", err.msg);
    ds = task_load(task, 0, false, &bad, &err);
    ck_assert_msg(ds != NULL, "%s", err.msg);
    ck_assert_str_eq(task_label_name(task, dataset_example(ds, 0)->label), "1");
    ck_assert_str_eq(task_label_name(task, dataset_example(ds, 1)->label), "0");
    dataset_free(ds);
    task_free(task);
    test_tmpdir_remove(dir);
}
END_TEST

Suite *multilabel_suite(void) {
    Suite *s = suite_create("multilabel");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, test_metrics_sklearn);
    tcase_add_test(tc, test_tune_threshold);
    suite_add_tcase(s, tc);
    tc = tcase_create("data");
    tcase_add_test(tc, test_load_label_lists);
    tcase_add_test(tc, test_debtags_protocol);
    tcase_add_test(tc, test_jsonl);
    suite_add_tcase(s, tc);
    return s;
}
