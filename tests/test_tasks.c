// tasks/: GLUE and custom loading, label order, bad rows, metrics,
// batching.  References: transformers' GLUE processors
// (tests/golden/gen_glue_golden.py -> glue_golden.json), scikit-learn and
// scipy (tests/golden/gen_metrics_golden.py -> metrics_golden.json),
// published checkpoint label orders, RFC 4180 and hand-written expectations
// for small files, and Hugging Face's tokenizer
// (tests/golden/gen_tasks_tok_golden.py -> tasks_tok_golden.json).
#include <cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tasks/batcher.h"
#include "tasks/metrics.h"
#include "tasks/task.h"
#include "tests/testutil.h"
#include "util/fileio.h"
#include "util/rng.h"

#define MINI_GLUE TEST_GOLDEN_DIR "/glue_mini"

// The real GLUE data, in the project's data/glue (scripts/fetch_glue.sh,
// run by `make data`).
static const char *glue_dir(void) {
    if (!dir_exists("data/glue/SST-2")) ck_abort_msg("data/glue/SST-2 not found: run `make data`");
    return "data/glue";
}

static int find_split(const Task *task, const char *name) {
    for (int s = 0; s < task_num_splits(task); s++)
        if (strcmp(task_split_name(task, s), name) == 0) return s;
    ck_abort_msg("%s has no split %s", task_name(task), name);
    return -1;
}

static Task *glue_ok(const char *name, const char *root, const char *const *id2label, int n) {
    Err err;
    Task *task = task_glue(name, root, id2label, n, &err);
    if (!task) ck_abort_msg("task_glue(%s): %s", name, err.msg);
    return task;
}

static Dataset *load_ok(const Task *task, const char *split, bool skip, BadRowCounts *bad) {
    Err err;
    Dataset *ds = task_load(task, find_split(task, split), skip, bad, &err);
    if (!ds) ck_abort_msg("task_load(%s, %s): %s", task_name(task), split, err.msg);
    return ds;
}

// Writes `text` to dir/name (creating dir/SUB/ for "SUB/name") and returns
// the full path in out.
static void write_at(const char *dir, const char *name, const char *text, char *out, size_t cap) {
    Err err;
    ck_assert_int_eq(path_join(out, cap, dir, name, &err), 0);
    char sub[4096];
    snprintf(sub, sizeof sub, "%s", out);
    *strrchr(sub, '/') = '\0';
    ck_assert_msg(dir_make(sub, &err) == 0, "%s", err.msg);
    if (file_write_atomic(out, text, strlen(text), &err) != 0) ck_abort_msg("%s", err.msg);
}

static uint64_t fnv1a64(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001B3ull;
    return h;
}

// ---------------------------------------------------------------- GLUE --

static void check_row(const Task *task, const Example *ex, const cJSON *want, const char *what) {
    const cJSON *b = cJSON_GetObjectItem(want, "text_b");
    ck_assert_msg(strcmp(ex->text_a, cJSON_GetObjectItem(want, "text_a")->valuestring) == 0,
                  "%s: text_a \"%s\"", what, ex->text_a);
    if (cJSON_IsNull(b))
        ck_assert_msg(ex->text_b == NULL, "%s: text_b should be NULL", what);
    else
        ck_assert_msg(ex->text_b && strcmp(ex->text_b, b->valuestring) == 0, "%s: text_b", what);
    ck_assert_int_eq(ex->index, cJSON_GetObjectItem(want, "index")->valueint);
    ck_assert_int_eq(ex->line, cJSON_GetObjectItem(want, "line")->valueint);
    const cJSON *label = cJSON_GetObjectItem(want, "label");
    const cJSON *target = cJSON_GetObjectItem(want, "target");
    if (label) {
        const char *got = task_label_name(task, ex->label);
        ck_assert_msg(got && strcmp(got, label->valuestring) == 0, "%s: label %s, want %s", what,
                      got ? got : "(none)", label->valuestring);
    } else if (target) {
        ck_assert_msg(fabs(ex->target - target->valuedouble) <= 1e-6, "%s: target %g, want %g",
                      what, ex->target, target->valuedouble);
    } else {
        ck_assert_int_eq(ex->label, -1);
        ck_assert(isnan(ex->target));
    }
}

static void check_golden_split(const cJSON *e) {
    const char *root_kind = cJSON_GetObjectItem(e, "root")->valuestring;
    const char *name = cJSON_GetObjectItem(e, "task")->valuestring;
    const char *split = cJSON_GetObjectItem(e, "split")->valuestring;
    const char *root = strcmp(root_kind, "real") == 0 ? glue_dir() : MINI_GLUE;
    Task *task = glue_ok(name, root, NULL, 0);
    BadRowCounts bad;
    Dataset *ds = load_ok(task, split, false, &bad);
    ck_assert_int_eq(bad.total, 0);
    int n = dataset_size(ds);
    char what[128];
    snprintf(what, sizeof what, "%s %s", name, split);
    ck_assert_msg(n == cJSON_GetObjectItem(e, "count")->valueint, "%s: %d rows", what, n);
    ck_assert(dataset_is_labeled(ds) == (strncmp(split, "test", 4) != 0));

    uint64_t h = 0xCBF29CE484222325ull;
    double target_sum = 0;
    for (int i = 0; i < n; i++) {
        const Example *ex = dataset_example(ds, i);
        const char *label = task_label_name(task, ex->label);
        h = fnv1a64(h, ex->text_a, strlen(ex->text_a));
        h = fnv1a64(h, "\x1f", 1);
        if (ex->text_b) h = fnv1a64(h, ex->text_b, strlen(ex->text_b));
        h = fnv1a64(h, "\x1f", 1);
        if (label) h = fnv1a64(h, label, strlen(label));
        h = fnv1a64(h, "\x1e", 1);
        if (task_is_regression(task) && dataset_is_labeled(ds)) target_sum += ex->target;
    }
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    ck_assert_msg(strcmp(hex, cJSON_GetObjectItem(e, "fnv1a64")->valuestring) == 0,
                  "%s: content hash %s differs from transformers' rows", what, hex);

    const cJSON *labels = cJSON_GetObjectItem(e, "labels");
    const cJSON *item;
    if (labels)
        cJSON_ArrayForEach(item, labels) {
            int count = 0;
            for (int i = 0; i < n; i++) {
                const char *l = task_label_name(task, dataset_example(ds, i)->label);
                count += l && strcmp(l, item->string) == 0;
            }
            ck_assert_msg(count == item->valueint, "%s: %d rows labeled %s", what, count,
                          item->string);
        }
    const cJSON *sum = cJSON_GetObjectItem(e, "target_sum");
    if (sum) ck_assert_msg(fabs(target_sum - sum->valuedouble) < 1e-2, "%s: target sum", what);

    const cJSON *first = cJSON_GetObjectItem(e, "first"), *last = cJSON_GetObjectItem(e, "last");
    int k = 0;
    cJSON_ArrayForEach(item, first) check_row(task, dataset_example(ds, k++), item, what);
    k = n - cJSON_GetArraySize(last);
    cJSON_ArrayForEach(item, last) check_row(task, dataset_example(ds, k++), item, what);
    dataset_free(ds);
    task_free(task);
}

START_TEST(test_glue_matches_transformers) {
    cJSON *golden = read_json(TEST_GOLDEN_DIR "/glue_golden.json");
    const cJSON *e;
    int checked = 0;
    cJSON_ArrayForEach(e, golden) {
        check_golden_split(e);
        checked++;
    }
    ck_assert_int_eq(checked, 29);
    cJSON_Delete(golden);
}
END_TEST

START_TEST(test_glue_registry) {
    static const struct {
        const char *name, *canonical;
        int outputs;
        MetricKind metric;
        int splits;
    } cases[] = {
        {"SST-2", "SST-2", 2, METRIC_ACCURACY, 3},    {"sst2", "SST-2", 2, METRIC_ACCURACY, 3},
        {"Sst_2", "SST-2", 2, METRIC_ACCURACY, 3},    {"cola", "CoLA", 2, METRIC_MATTHEWS, 3},
        {"MRPC", "MRPC", 2, METRIC_ACCURACY_F1, 3},   {"qqp", "QQP", 2, METRIC_ACCURACY_F1, 3},
        {"STS-B", "STS-B", 1, METRIC_PEARSON_SPEARMAN, 3},
        {"stsb", "STS-B", 1, METRIC_PEARSON_SPEARMAN, 3},
        {"sts-b", "STS-B", 1, METRIC_PEARSON_SPEARMAN, 3},
        {"mnli", "MNLI", 3, METRIC_ACCURACY, 5},      {"MNLI-m", "MNLI", 3, METRIC_ACCURACY, 5},
        {"MNLI-mm", "MNLI-mm", 3, METRIC_ACCURACY, 3},
        {"qnli", "QNLI", 2, METRIC_ACCURACY, 3},      {"RTE", "RTE", 2, METRIC_ACCURACY, 3},
        {"wnli", "WNLI", 2, METRIC_ACCURACY, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Task *t = glue_ok(cases[i].name, "root", NULL, 0);
        ck_assert_str_eq(task_name(t), cases[i].canonical);
        ck_assert_int_eq(task_num_outputs(t), cases[i].outputs);
        ck_assert_int_eq(task_metric(t), cases[i].metric);
        ck_assert_int_eq(task_num_splits(t), cases[i].splits);
        ck_assert(task_is_regression(t) == (cases[i].outputs == 1));
        task_free(t);
    }
    Task *t = glue_ok("mnli", "/g", NULL, 0);
    static const char *const mnli_splits[] = {"train", "dev_matched", "dev_mismatched",
                                              "test_matched", "test_mismatched"};
    static const SplitKind kinds[] = {SPLIT_TRAIN, SPLIT_DEV, SPLIT_DEV, SPLIT_TEST, SPLIT_TEST};
    for (int s = 0; s < 5; s++) {
        ck_assert_str_eq(task_split_name(t, s), mnli_splits[s]);
        ck_assert_int_eq(task_split_kind(t, s), kinds[s]);
    }
    ck_assert_str_eq(task_split_path(t, 1), "/g/MNLI/dev_matched.tsv");
    ck_assert_str_eq(task_split_submission_name(t, 3), "MNLI-m.tsv");
    ck_assert_str_eq(task_split_submission_name(t, 4), "MNLI-mm.tsv");
    ck_assert_ptr_null(task_split_submission_name(t, 1));
    // Canonical order: transformers' MnliProcessor.get_labels().
    ck_assert_str_eq(task_label_name(t, 0), "contradiction");
    ck_assert_str_eq(task_label_name(t, 1), "entailment");
    ck_assert_str_eq(task_label_name(t, 2), "neutral");
    ck_assert_ptr_null(task_label_name(t, 3));
    task_free(t);
    t = glue_ok("mnli-mm", "/g", NULL, 0);
    ck_assert_str_eq(task_split_path(t, 1), "/g/MNLI/dev_mismatched.tsv");
    task_free(t);
    t = glue_ok("STS-B", "/g", NULL, 0);
    ck_assert_ptr_null(task_label_name(t, 0));
    ck_assert_str_eq(task_split_submission_name(t, 2), "STS-B.tsv");
    task_free(t);

    Err err;
    ck_assert_ptr_null(task_glue("sst", "/g", NULL, 0, &err));
    ck_assert_str_eq(err.msg, "unknown task \"sst\" (GLUE tasks: CoLA, SST-2, MRPC, STS-B, QQP, "
                              "MNLI, MNLI-mm, QNLI, RTE, WNLI; or custom)");
    t = glue_ok("rte", "/nonexistent", NULL, 0);
    ck_assert_ptr_null(task_load(t, 0, false, NULL, &err));
    ck_assert_msg(strstr(err.msg, "/nonexistent/RTE/train.tsv") != NULL, "%s", err.msg);
    task_free(t);
}
END_TEST

// ------------------------------------------------------------ label2id --

START_TEST(test_label2id_reorders) {
    // roberta-large-mnli's config.json: id2label {0: CONTRADICTION,
    // 1: NEUTRAL, 2: ENTAILMENT}.
    static const char *const roberta_mnli[] = {"CONTRADICTION", "NEUTRAL", "ENTAILMENT"};
    Task *t = glue_ok("mnli", MINI_GLUE, roberta_mnli, 3);
    ck_assert_str_eq(task_label_name(t, 0), "contradiction");
    ck_assert_str_eq(task_label_name(t, 1), "neutral");
    ck_assert_str_eq(task_label_name(t, 2), "entailment");
    // glue_mini/MNLI/dev_matched.tsv gold labels: entailment, contradiction,
    // neutral, entailment.
    Dataset *ds = load_ok(t, "dev_matched", false, NULL);
    static const int want_roberta[] = {2, 0, 1, 2};
    for (int i = 0; i < 4; i++) ck_assert_int_eq(dataset_example(ds, i)->label, want_roberta[i]);
    dataset_free(ds);
    task_free(t);

    // Generic names and no id2label keep the processor order
    // (contradiction, entailment, neutral).
    static const char *const generic[] = {"LABEL_0", "LABEL_1", "LABEL_2"};
    static const int want_canonical[] = {1, 0, 2, 1};
    for (int with = 0; with < 2; with++) {
        t = glue_ok("mnli", MINI_GLUE, with ? generic : NULL, with ? 3 : 0);
        ds = load_ok(t, "dev_matched", false, NULL);
        for (int i = 0; i < 4; i++)
            ck_assert_int_eq(dataset_example(ds, i)->label, want_canonical[i]);
        dataset_free(ds);
        task_free(t);
    }

    // RTE with a checkpoint that puts not_entailment first: every row's
    // label id flips, its name stays what the file says.
    static const char *const rte_flipped[] = {"NOT_ENTAILMENT", "Entailment"};
    Task *canon = glue_ok("rte", glue_dir(), NULL, 0);
    t = glue_ok("rte", glue_dir(), rte_flipped, 2);
    Dataset *a = load_ok(canon, "dev", false, NULL), *b = load_ok(t, "dev", false, NULL);
    ck_assert_int_eq(dataset_size(a), dataset_size(b));
    for (int i = 0; i < dataset_size(a); i++) {
        ck_assert_int_eq(dataset_example(b, i)->label, 1 - dataset_example(a, i)->label);
        ck_assert_str_eq(task_label_name(t, dataset_example(b, i)->label),
                         task_label_name(canon, dataset_example(a, i)->label));
    }
    dataset_free(a);
    dataset_free(b);
    task_free(canon);
    task_free(t);

    // Names unrelated to the task (an SST-2 checkpoint's NEGATIVE/POSITIVE)
    // keep the canonical order; regression ignores id2label.
    static const char *const sentiment[] = {"NEGATIVE", "POSITIVE"};
    t = glue_ok("sst2", "/g", sentiment, 2);
    ck_assert_str_eq(task_label_name(t, 0), "0");
    task_free(t);
    static const char *const one[] = {"LABEL_0"};
    t = glue_ok("stsb", "/g", one, 1);
    ck_assert_int_eq(task_num_outputs(t), 1);
    task_free(t);
}
END_TEST

START_TEST(test_label2id_errors) {
    Err err;
    static const char *const partial[] = {"entailment", "LABEL_1", "LABEL_2"};
    ck_assert_ptr_null(task_glue("mnli", "/g", partial, 3, &err));
    ck_assert_str_eq(err.msg,
                     "MNLI: checkpoint id2label names 1 of the task's 3 labels but not "
                     "\"contradiction\"");
    static const char *const twice[] = {"neutral", "NEUTRAL", "entailment"};
    ck_assert_ptr_null(task_glue("mnli", "/g", twice, 3, &err));
    ck_assert_str_eq(err.msg, "MNLI: checkpoint id2label names label \"neutral\" twice (ids 0 "
                              "and 1)");
    static const char *const extra[] = {"entailment", "not_entailment", "other"};
    ck_assert_ptr_null(task_glue("qnli", "/g", extra, 3, &err));
    ck_assert_str_eq(err.msg, "QNLI: checkpoint id2label has 3 labels, the task has 2");
}
END_TEST

// -------------------------------------------------------------- custom --

START_TEST(test_custom_csv) {
    char *dir = test_tmpdir();
    char train[4096], dev[4096];
    // RFC 4180: quoted separators, doubled quotes, a line break inside
    // quotes; CRLF line ends; a quote inside an unquoted field is literal.
    write_at(dir, "train.csv",
             "id,sentence,label\r\n"
             "1,\"Hello, world\",pos\r\n"
             "2,\"She said \"\"hi\"\" twice\",neg\r\n"
             "3,\"line one\r\nline two\",pos\r\n"
             "4,a 5'10\" player,neg\r\n"
             "5,\"\",pos\r\n",
             train, sizeof train);
    write_at(dir, "dev.csv", "id,sentence,label\n7,\"x,y\",neg", dev, sizeof dev);
    CustomTaskOptions o = {.train = train, .dev = dev, .text_a = "sentence", .label = "label",
                           .header = true, .separator = ',', .labels = "pos,neg"};
    Err err;
    Task *t = task_custom(&o, NULL, 0, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_str_eq(task_name(t), "custom");
    ck_assert_int_eq(task_num_outputs(t), 2);
    ck_assert_str_eq(task_label_name(t, 0), "pos");  // --labels order
    ck_assert_int_eq(task_metric(t), METRIC_ACCURACY);
    BadRowCounts bad;
    Dataset *ds = load_ok(t, "train", true, &bad);
    ck_assert_int_eq(bad.total, 1);
    ck_assert_int_eq(bad.count[BAD_EMPTY_TEXT], 1);
    char want[8192];
    snprintf(want, sizeof want, "%s:7: empty text in column 1", train);
    ck_assert_str_eq(bad.first, want);
    static const char *const texts[] = {"Hello, world", "She said \"hi\" twice",
                                        "line one\nline two", "a 5'10\" player"};
    static const int labels[] = {0, 1, 0, 1}, lines[] = {2, 3, 4, 6};
    ck_assert_int_eq(dataset_size(ds), 4);
    for (int i = 0; i < 4; i++) {
        const Example *ex = dataset_example(ds, i);
        ck_assert_str_eq(ex->text_a, texts[i]);
        ck_assert_ptr_null(ex->text_b);
        ck_assert_int_eq(ex->label, labels[i]);
        ck_assert_int_eq(ex->line, lines[i]);
        ck_assert_int_eq(ex->index, i);
    }
    dataset_free(ds);
    ds = load_ok(t, "dev", false, NULL);
    ck_assert_int_eq(dataset_size(ds), 1);
    ck_assert_str_eq(dataset_example(ds, 0)->text_a, "x,y");
    dataset_free(ds);
    task_free(t);
    test_tmpdir_remove(dir);
}
END_TEST

START_TEST(test_custom_tsv_pairs_and_sorted_labels) {
    char *dir = test_tmpdir();
    char train[4096], test[4096];
    // No header: columns by index.  TSV ignores quotes.
    write_at(dir, "train.tsv",
             "pos\t\"quoted\" start\tsecond one\n"
             "neutral\tmiddle\tsecond two\n"
             "neg\tend\tsecond \"three\"\n"
             "pos\tagain\tfour\n",
             train, sizeof train);
    write_at(dir, "test.tsv", "x\tonly a\tonly b\n", test, sizeof test);
    CustomTaskOptions o = {.name = "mine", .train = train, .test = test, .text_a = "1",
                           .text_b = "2", .label = "0", .separator = '\t'};
    Err err;
    Task *t = task_custom(&o, NULL, 0, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_str_eq(task_name(t), "mine");
    ck_assert_int_eq(task_num_splits(t), 2);
    // Sorted distinct train labels (Python: sorted({"pos", "neutral", "neg"})).
    ck_assert_int_eq(task_num_outputs(t), 3);
    ck_assert_str_eq(task_label_name(t, 0), "neg");
    ck_assert_str_eq(task_label_name(t, 1), "neutral");
    ck_assert_str_eq(task_label_name(t, 2), "pos");
    Dataset *ds = load_ok(t, "train", false, NULL);
    ck_assert_int_eq(dataset_size(ds), 4);
    ck_assert_str_eq(dataset_example(ds, 0)->text_a, "\"quoted\" start");
    ck_assert_str_eq(dataset_example(ds, 2)->text_b, "second \"three\"");
    ck_assert_int_eq(dataset_example(ds, 0)->label, 2);
    ck_assert_int_eq(dataset_example(ds, 1)->label, 1);
    ck_assert_int_eq(dataset_example(ds, 2)->label, 0);
    dataset_free(ds);
    // The test split ignores the label column.
    ds = load_ok(t, "test", false, NULL);
    ck_assert(!dataset_is_labeled(ds));
    ck_assert_str_eq(dataset_example(ds, 0)->text_b, "only b");
    ck_assert_int_eq(dataset_example(ds, 0)->label, -1);
    dataset_free(ds);
    task_free(t);

    // Evaluating a checkpoint on a test file alone: its id2label is the label set.
    CustomTaskOptions e = {.test = test, .text_a = "1", .separator = '\t'};
    static const char *const names[] = {"neg", "pos"};
    t = task_custom(&e, names, 2, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_str_eq(task_label_name(t, 1), "pos");
    task_free(t);
    static const char *const generic[] = {"LABEL_0", "LABEL_1"};
    ck_assert_ptr_null(task_custom(&e, generic, 2, &err));
    ck_assert_str_eq(err.msg, "custom task: give --labels (no train file and no checkpoint "
                              "label names to take them from)");
    test_tmpdir_remove(dir);
}
END_TEST

START_TEST(test_custom_regression_and_errors) {
    char *dir = test_tmpdir();
    char train[4096];
    write_at(dir, "train.tsv",
             "score\ta\tb\n"
             "4.5\tx\ty\n"
             "-0.25\tz\tw\n"
             "abc\tq\tr\n"
             "1e400\tq\tr\n"
             " 2 \tq\tr\n",
             train, sizeof train);
    CustomTaskOptions o = {.train = train, .text_a = "a", .text_b = "b", .label = "score",
                           .header = true, .separator = '\t', .regression = true};
    Err err;
    Task *t = task_custom(&o, NULL, 0, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_int_eq(task_num_outputs(t), 1);
    ck_assert_int_eq(task_metric(t), METRIC_PEARSON_SPEARMAN);
    char want[8192];
    ck_assert_ptr_null(task_load(t, 0, false, NULL, &err));
    snprintf(want, sizeof want, "%s:4: cannot parse regression target \"abc\"", train);
    ck_assert_str_eq(err.msg, want);
    BadRowCounts bad;
    Dataset *ds = load_ok(t, "train", true, &bad);
    ck_assert_int_eq(bad.count[BAD_TARGET], 2);  // "abc" and 1e400 (not a finite float)
    ck_assert_int_eq(dataset_size(ds), 3);
    ck_assert(dataset_example(ds, 0)->target == 4.5f);
    ck_assert(dataset_example(ds, 1)->target == -0.25f);
    ck_assert(dataset_example(ds, 2)->target == 2.0f);  // Python float(" 2 ") == 2.0
    ck_assert_int_eq(dataset_example(ds, 2)->index, 4);
    dataset_free(ds);
    task_free(t);

    // Option errors.
    CustomTaskOptions named = {.train = train, .text_a = "a", .label = "score", .separator = '\t'};
    ck_assert_ptr_null(task_custom(&named, NULL, 0, &err));
    ck_assert_str_eq(err.msg,
                     "custom task: text column \"a\" is a name, but the files have no header");
    CustomTaskOptions missing = o;
    missing.text_b = "nope";
    t = task_custom(&missing, NULL, 0, &err);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_null(task_load(t, 0, false, NULL, &err));
    snprintf(want, sizeof want, "%s:1: no column named \"nope\" in the header", train);
    ck_assert_str_eq(err.msg, want);
    task_free(t);
    CustomTaskOptions one_label = {.train = train, .text_a = "1", .label = "0", .labels = "only",
                                   .separator = '\t'};
    ck_assert_ptr_null(task_custom(&one_label, NULL, 0, &err));
    ck_assert_str_eq(err.msg, "custom task: classification needs at least 2 labels, found 1 (use "
                              "regression for a single score)");
    CustomTaskOptions dup = one_label;
    dup.labels = "a,b,a";
    ck_assert_ptr_null(task_custom(&dup, NULL, 0, &err));
    ck_assert_str_eq(err.msg, "custom: label \"a\" is listed twice");
    CustomTaskOptions range = {.train = train, .text_a = "7", .label = "0", .labels = "a,b",
                               .separator = '\t'};
    t = task_custom(&range, NULL, 0, &err);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_null(task_load(t, 0, false, NULL, &err));
    snprintf(want, sizeof want, "%s: column 7 does not exist (the file has 3 columns)", train);
    ck_assert_str_eq(err.msg, want);
    task_free(t);
    test_tmpdir_remove(dir);
}
END_TEST

// ------------------------------------------------------------ bad rows --

// Loads `text` as GLUE SST-2 dev (header, sentence \t label) under a temp
// root and checks the error message (LINE included) and skip counts.
static void check_sst2_bad(const char *text, const char *msg, BadRowKind kind, int kept) {
    char *root = test_tmpdir();
    char path[4096], want[8192];
    write_at(root, "SST-2/dev.tsv", text, path, sizeof path);
    Task *t = glue_ok("sst2", root, NULL, 0);
    Err err;
    ck_assert_ptr_null(task_load(t, 1, false, NULL, &err));
    snprintf(want, sizeof want, "%s:%s", path, msg);
    ck_assert_str_eq(err.msg, want);
    BadRowCounts bad;
    Dataset *ds = load_ok(t, "dev", true, &bad);
    ck_assert_int_eq(bad.total, 1);
    ck_assert_int_eq(bad.count[kind], 1);
    ck_assert_str_eq(bad.first, want);
    ck_assert_int_eq(dataset_size(ds), kept);
    dataset_free(ds);
    task_free(t);
    test_tmpdir_remove(root);
}

START_TEST(test_bad_rows) {
    check_sst2_bad("sentence\tlabel\na\t1\nb\t0\textra\n", "3: expected 2 columns, found 3",
                   BAD_COLUMNS, 1);
    check_sst2_bad("sentence\tlabel\na\t1\n\nb\t0\n", "3: expected 2 columns, found 0",
                   BAD_COLUMNS, 2);
    check_sst2_bad("sentence\tlabel\na\t1\nb\t2\n",
                   "3: unknown label \"2\" (expected one of: 0, 1)", BAD_LABEL, 1);
    check_sst2_bad("sentence\tlabel\n \t1\nb\t0\n", "2: empty text in column 0", BAD_EMPTY_TEXT,
                   1);
    check_sst2_bad("sentence\tlabel\na\t1\nb\t0\nca\xC3\t1\n",
                   "4: invalid UTF-8 at byte 3 of the row", BAD_ENCODING, 2);
    check_sst2_bad("sentence\tlabel\nbad \xED\xA0\x80 surrogate\t1\nok\t0\n",
                   "2: invalid UTF-8 at byte 5 of the row", BAD_ENCODING, 1);
    check_sst2_bad("sentence\tlabel\nover\xC0\xAFlong\t1\nok\t0\n",
                   "2: invalid UTF-8 at byte 5 of the row", BAD_ENCODING, 1);
    char nul[] = "sentence\tlabel\nok\t1\nx\0y\t0\n";
    char *root = test_tmpdir();
    char path[4096], want[8192];
    Err err;
    ck_assert_int_eq(dir_make(root, &err), 0);
    snprintf(path, sizeof path, "%s/SST-2", root);
    ck_assert_int_eq(dir_make(path, &err), 0);
    test_write_file(path, "dev.tsv", nul, sizeof nul - 1);
    Task *t = glue_ok("sst2", root, NULL, 0);
    ck_assert_ptr_null(task_load(t, 1, false, NULL, &err));
    snprintf(want, sizeof want, "%s/dev.tsv:3: NUL byte at byte 2 of the row", path);
    ck_assert_str_eq(err.msg, want);
    task_free(t);
    test_tmpdir_remove(root);

    // A header that does not fit the layout stops loading even when skipping.
    root = test_tmpdir();
    write_at(root, "SST-2/dev.tsv", "sentence\tlabel\tx\na\t1\tq\n", path, sizeof path);
    t = glue_ok("sst2", root, NULL, 0);
    ck_assert_ptr_null(task_load(t, 1, true, NULL, &err));
    snprintf(want, sizeof want, "%s:1: header has 3 columns, expected 2", path);
    ck_assert_str_eq(err.msg, want);
    task_free(t);
    // Test files: a non-integer index.
    write_at(root, "SST-2/test.tsv", "index\tsentence\n0\ta\nx7\tb\n2\tc\n", path, sizeof path);
    t = glue_ok("sst2", root, NULL, 0);
    ck_assert_ptr_null(task_load(t, 2, false, NULL, &err));
    snprintf(want, sizeof want, "%s:3: index \"x7\" is not an integer", path);
    ck_assert_str_eq(err.msg, want);
    BadRowCounts bad;
    Dataset *ds = load_ok(t, "test", true, &bad);
    ck_assert_int_eq(bad.count[BAD_INDEX], 1);
    ck_assert_int_eq(dataset_size(ds), 2);
    ck_assert_int_eq(dataset_example(ds, 1)->index, 2);
    dataset_free(ds);
    task_free(t);
    // No rows at all, or none left after skipping.
    write_at(root, "SST-2/train.tsv", "sentence\tlabel\n", path, sizeof path);
    write_at(root, "SST-2/dev.tsv", "sentence\tlabel\na\t5\n\nb\t9\n", want, sizeof want);
    t = glue_ok("sst2", root, NULL, 0);
    ck_assert_ptr_null(task_load(t, 0, true, NULL, &err));
    snprintf(want, sizeof want, "%s: no data rows", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_ptr_null(task_load(t, 1, true, &bad, &err));
    ck_assert_int_eq(bad.total, 3);
    ck_assert_int_eq(bad.count[BAD_COLUMNS], 1);
    snprintf(want, sizeof want,
             "all 3 rows are bad, the first: %s/SST-2/dev.tsv:2: unknown label \"5\" (expected "
             "one of: 0, 1)",
             root);
    ck_assert_str_eq(err.msg, want);
    task_free(t);
    test_tmpdir_remove(root);
}
END_TEST

START_TEST(test_bad_csv_quoting_and_counts) {
    char *dir = test_tmpdir();
    char path[4096], want[8192];
    write_at(dir, "x.csv",
             "text,label\n"
             "good,a\n"           // 2 kept
             "\"closed\"junk,b\n"  // 3 quoting
             "toomany,a,b\n"      // 4 columns
             "\xFF,a\n"           // 5 encoding
             ",b\n"               // 6 empty text
             "fine,zzz\n"         // 7 label
             "\"multi\nline\",b\n"  // 8-9 kept
             "last,a\n"           // 10 kept
             "\"never closed,a\n",  // 11 quoting (runs to the end of the file)
             path, sizeof path);
    CustomTaskOptions o = {.dev = path, .text_a = "text", .label = "label", .header = true,
                           .separator = ',', .labels = "a,b"};
    Err err;
    Task *t = task_custom(&o, NULL, 0, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_ptr_null(task_load(t, 0, false, NULL, &err));
    snprintf(want, sizeof want, "%s:3: unexpected character after a closing quote", path);
    ck_assert_str_eq(err.msg, want);
    BadRowCounts bad;
    Dataset *ds = load_ok(t, "dev", true, &bad);
    ck_assert_str_eq(bad.first, want);
    ck_assert_int_eq(bad.total, 6);
    ck_assert_int_eq(bad.count[BAD_QUOTING], 2);
    ck_assert_int_eq(bad.count[BAD_COLUMNS], 1);
    ck_assert_int_eq(bad.count[BAD_ENCODING], 1);
    ck_assert_int_eq(bad.count[BAD_EMPTY_TEXT], 1);
    ck_assert_int_eq(bad.count[BAD_LABEL], 1);
    ck_assert_int_eq(bad.count[BAD_TARGET], 0);
    ck_assert_int_eq(dataset_size(ds), 3);
    static const int lines[] = {2, 8, 10}, index[] = {0, 6, 7};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(dataset_example(ds, i)->line, lines[i]);
        ck_assert_int_eq(dataset_example(ds, i)->index, index[i]);
    }
    ck_assert_str_eq(dataset_example(ds, 1)->text_a, "multi\nline");
    ck_assert_str_eq(bad_row_kind_name(BAD_QUOTING), "bad CSV quoting");
    dataset_free(ds);
    task_free(t);
    test_tmpdir_remove(dir);
}
END_TEST

// ----------------------------------------------------------- line ends --

START_TEST(test_line_ends_bom_and_final_newline) {
    // What Python's csv.reader yields with universal newlines and
    // encoding="utf-8-sig": \r\n and lone \r end lines; the BOM is dropped;
    // trailing empty lines are not rows; the last line needs no newline.
    static const struct {
        const char *text;
        int lines[3];
        int bad;  // rows with 0 columns (an empty line inside the file)
    } files[] = {
        {"\xEF\xBB\xBFsentence\tlabel\r\nfirst\t1\r\nsecond\t0\r\nthird\t1", {2, 3, 4}, 0},
        {"sentence\tlabel\rfirst\t1\rsecond\t0\rthird\t1\r", {2, 3, 4}, 0},
        {"sentence\tlabel\nfirst\t1\nsecond\t0\n\nthird\t1\n\n\r\n", {2, 3, 5}, 1},
        {"sentence\tlabel\nfirst\t1\nsecond\t0\nthird\t1\n\n\n", {2, 3, 4}, 0},
    };
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char *root = test_tmpdir();
        char path[4096];
        write_at(root, "SST-2/dev.tsv", files[f].text, path, sizeof path);
        Task *t = glue_ok("SST-2", root, NULL, 0);
        BadRowCounts bad;
        Dataset *ds = load_ok(t, "dev", true, &bad);
        static const char *const texts[] = {"first", "second", "third"};
        ck_assert_int_eq(dataset_size(ds), 3);
        ck_assert_int_eq(bad.total, files[f].bad);
        ck_assert_int_eq(bad.count[BAD_COLUMNS], files[f].bad);
        for (int i = 0; i < 3; i++) {
            ck_assert_str_eq(dataset_example(ds, i)->text_a, texts[i]);
            ck_assert_int_eq(dataset_example(ds, i)->label, i == 1 ? 0 : 1);
            ck_assert_int_eq(dataset_example(ds, i)->line, files[f].lines[i]);
        }
        dataset_free(ds);
        task_free(t);
        test_tmpdir_remove(root);
    }
    // The BOM is not part of the first field: a header name matches, and a
    // headerless file's first text is clean.
    char *dir = test_tmpdir();
    char with_header[4096], without[4096];
    write_at(dir, "h.csv", "\xEF\xBB\xBFsentence,label\nfirst,a\n", with_header,
             sizeof with_header);
    write_at(dir, "n.tsv", "\xEF\xBB\xBF\xC3\xA9t\xC3\xA9\ta\n", without, sizeof without);
    CustomTaskOptions h = {.dev = with_header, .text_a = "sentence", .label = "label",
                           .header = true, .separator = ',', .labels = "a,b"};
    CustomTaskOptions n = {.dev = without, .text_a = "0", .label = "1", .separator = '\t',
                           .labels = "a,b"};
    const CustomTaskOptions *opts[] = {&h, &n};
    static const char *const want[] = {"first", "\xC3\xA9t\xC3\xA9"};
    for (int i = 0; i < 2; i++) {
        Err err;
        Task *t = task_custom(opts[i], NULL, 0, &err);
        ck_assert_msg(t != NULL, "%s", err.msg);
        Dataset *ds = load_ok(t, "dev", false, NULL);
        ck_assert_str_eq(dataset_example(ds, 0)->text_a, want[i]);
        ck_assert_int_eq(dataset_example(ds, 0)->line, i == 0 ? 2 : 1);
        dataset_free(ds);
        task_free(t);
    }
    test_tmpdir_remove(dir);
}
END_TEST

// ------------------------------------------------------------- metrics --

static int *json_ints(const cJSON *a, int *n) {
    *n = cJSON_GetArraySize(a);
    int *v = malloc((size_t)(*n ? *n : 1) * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (int i = 0; i < *n; i++) v[i] = cJSON_GetArrayItem(a, i)->valueint;
    return v;
}

static float *json_floats(const cJSON *a, int *n) {
    *n = cJSON_GetArraySize(a);
    float *v = malloc((size_t)(*n ? *n : 1) * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (int i = 0; i < *n; i++) v[i] = (float)cJSON_GetArrayItem(a, i)->valuedouble;
    return v;
}

static void expect_metric(const char *what, const char *name, double got, const cJSON *want) {
    if (cJSON_IsNull(want)) {
        ck_assert_msg(isnan(got), "%s %s: got %.17g, want NaN", what, name, got);
        return;
    }
    ck_assert_msg(fabs(got - want->valuedouble) <= 1e-9, "%s %s: got %.17g, want %.17g", what,
                  name, got, want->valuedouble);
}

START_TEST(test_metrics_match_sklearn_scipy) {
    cJSON *golden = read_json(TEST_GOLDEN_DIR "/metrics_golden.json");
    const cJSON *c;
    Err err;
    int cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(golden, "classification")) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        int n, m, k = cJSON_GetObjectItem(c, "num_classes")->valueint;
        int *pred = json_ints(cJSON_GetObjectItem(c, "pred"), &n);
        int *gold = json_ints(cJSON_GetObjectItem(c, "gold"), &m);
        ck_assert_int_eq(n, m);
        expect_metric(name, "accuracy", metric_accuracy(pred, gold, n),
                      cJSON_GetObjectItem(c, "accuracy"));
        if (k == 2)
            expect_metric(name, "f1", metric_f1(pred, gold, n), cJSON_GetObjectItem(c, "f1"));
        double mcc;
        ck_assert_msg(metric_matthews(pred, gold, n, k, &mcc, &err) == 0, "%s", err.msg);
        expect_metric(name, "matthews", mcc, cJSON_GetObjectItem(c, "matthews"));
        free(pred);
        free(gold);
        cases++;
    }
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(golden, "regression")) {
        const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
        int n, m;
        float *x = json_floats(cJSON_GetObjectItem(c, "x"), &n);
        float *y = json_floats(cJSON_GetObjectItem(c, "y"), &m);
        ck_assert_int_eq(n, m);
        expect_metric(name, "pearson", metric_pearson(x, y, n), cJSON_GetObjectItem(c, "pearson"));
        double rho;
        ck_assert_msg(metric_spearman(x, y, n, &rho, &err) == 0, "%s", err.msg);
        expect_metric(name, "spearman", rho, cJSON_GetObjectItem(c, "spearman"));
        free(x);
        free(y);
        cases++;
    }
    ck_assert_int_eq(cases, 21);
    cJSON_Delete(golden);

    // Empty input and out-of-range classes.
    double v;
    ck_assert(isnan(metric_accuracy(NULL, NULL, 0)));
    ck_assert_int_eq(metric_matthews(NULL, NULL, 0, 2, &v, &err), 0);
    ck_assert(isnan(v));
    int p[] = {0, 2}, g[] = {0, 1};
    ck_assert_int_eq(metric_matthews(p, g, 2, 2, &v, &err), -1);
    ck_assert_str_eq(err.msg, "matthews: row 1 has class 2 / 1 outside [0, 2)");
}
END_TEST

START_TEST(test_task_scores_match_sklearn_scipy) {
    cJSON *golden = read_json(TEST_GOLDEN_DIR "/metrics_golden.json");
    const cJSON *c;
    Err err;
    int cases = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(golden, "task_scores")) {
        const char *name = cJSON_GetObjectItem(c, "task")->valuestring;
        const cJSON *root = cJSON_GetObjectItem(c, "root");
        Task *t = glue_ok(name, strcmp(root->valuestring, "real") == 0 ? glue_dir() : MINI_GLUE,
                          NULL, 0);
        Dataset *ds = load_ok(t, cJSON_GetObjectItem(c, "split")->valuestring, false, NULL);
        int n;
        float *out = json_floats(cJSON_GetObjectItem(c, "outputs"), &n);
        ck_assert_int_eq(n, dataset_size(ds) * task_num_outputs(t));
        TaskScores s;
        ck_assert_msg(task_score(t, ds, out, &s, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(s.n, dataset_size(ds));
        expect_metric(name, "accuracy", s.accuracy, cJSON_GetObjectItem(c, "accuracy"));
        expect_metric(name, "f1", s.f1, cJSON_GetObjectItem(c, "f1"));
        expect_metric(name, "matthews", s.matthews, cJSON_GetObjectItem(c, "matthews"));
        expect_metric(name, "pearson", s.pearson, cJSON_GetObjectItem(c, "pearson"));
        expect_metric(name, "spearman", s.spearman, cJSON_GetObjectItem(c, "spearman"));
        expect_metric(name, "primary", s.primary, cJSON_GetObjectItem(c, "primary"));
        free(out);
        dataset_free(ds);
        task_free(t);
        cases++;
    }
    ck_assert_int_eq(cases, 5);
    cJSON_Delete(golden);
}
END_TEST

START_TEST(test_predictions_files) {
    char *dir = test_tmpdir();
    char path[4096];
    Err err;
    // glue_mini/MNLI/test_matched.tsv: indices 0, 1, 2.
    Task *t = glue_ok("mnli", MINI_GLUE, NULL, 0);
    Dataset *ds = load_ok(t, "test_matched", false, NULL);
    const float logits[] = {0.5f, -1.25f, 2.0f, 3.0f, 0.0f, 1.0f, -2.0f, -0.125f, -0.5f};
    snprintf(path, sizeof path, "%s/predictions.tsv", dir);
    ck_assert_msg(predictions_write(path, t, ds, logits, false, &err) == 0, "%s", err.msg);
    char *text = read_text(path);
    // Probabilities: Python's math.exp(x) / sum(math.exp(...)) of each row, "%.9g".
    ck_assert_str_eq(text, "index\tprediction\tlogit_0\tlogit_1\tlogit_2\tprob_0\tprob_1\tprob_2\n"
                           "0\tneutral\t0.5\t-1.25\t2\t0.176820182\t0.0307267403\t0.792453078\n"
                           "1\tcontradiction\t3\t0\t1\t0.843794734\t0.0420100661\t0.114195199\n"
                           "2\tentailment\t-2\t-0.125\t-0.5\t0.083315919\t0.543288038\t0.373396043\n");
    free(text);
    snprintf(path, sizeof path, "%s/predictions.tsv.tmp", dir);
    ck_assert(!file_exists(path));
    snprintf(path, sizeof path, "%s/%s", dir, task_split_submission_name(t, 3));
    ck_assert_msg(predictions_write(path, t, ds, logits, true, &err) == 0, "%s", err.msg);
    text = read_text(path);
    ck_assert_str_eq(text, "index\tprediction\n0\tneutral\n1\tcontradiction\n2\tentailment\n");
    free(text);
    dataset_free(ds);
    task_free(t);

    // STS-B style test file: the index column is echoed, scores with 3 decimals.
    char test[4096];
    write_at(dir, "STS-B/test.tsv",
             "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\n"
             "0\tmain-news\tnews\t2016\t0001\tnone\tnone\tA man plays.\tA man is playing.\n"
             "7\tmain-news\tnews\t2016\t0002\tnone\tnone\tDogs run.\tA cat sleeps.\n",
             test, sizeof test);
    t = glue_ok("stsb", dir, NULL, 0);
    ds = load_ok(t, "test", false, NULL);
    const float scores[] = {4.2265625f, 0.0703125f};
    snprintf(path, sizeof path, "%s/STS-B.tsv", dir);
    ck_assert_int_eq(predictions_write(path, t, ds, scores, true, &err), 0);
    text = read_text(path);
    ck_assert_str_eq(text, "index\tprediction\n0\t4.227\n7\t0.070\n");
    free(text);
    ck_assert_int_eq(predictions_write(path, t, ds, scores, false, &err), 0);
    text = read_text(path);
    ck_assert_str_eq(text, "index\tprediction\n0\t4.2265625\n7\t0.0703125\n");
    free(text);
    TaskScores s;
    ck_assert_int_eq(task_score(t, ds, scores, &s, &err), -1);
    dataset_free(ds);
    task_free(t);
    snprintf(path, sizeof path, "%s/missing/dir/x.tsv", dir);
    t = glue_ok("mnli", MINI_GLUE, NULL, 0);
    ds = load_ok(t, "test_matched", false, NULL);
    ck_assert_int_eq(predictions_write(path, t, ds, logits, false, &err), -1);
    dataset_free(ds);
    task_free(t);
    test_tmpdir_remove(dir);
}
END_TEST

// ------------------------------------------------------------ batching --

// Token-count stand-in for SST-2 train rows: words + [CLS] + [SEP].
static int *sst2_lengths(int *n) {
    Task *t = glue_ok("sst2", glue_dir(), NULL, 0);
    Dataset *ds = load_ok(t, "train", false, NULL);
    *n = dataset_size(ds);
    int *len = malloc((size_t)*n * sizeof *len);
    ck_assert_ptr_nonnull(len);
    for (int i = 0; i < *n; i++) {
        int words = 0;
        for (const char *p = dataset_example(ds, i)->text_a; *p; p++)
            words += *p != ' ' && (p == dataset_example(ds, i)->text_a || p[-1] == ' ');
        len[i] = words + 2;
    }
    dataset_free(ds);
    task_free(t);
    return len;
}

static double padding_waste(const BatchPlan *plan, const int *len) {
    long padded = 0, real = 0;
    for (int k = 0; k < plan_num_batches(plan); k++) {
        const int *rows;
        int m = plan_batch(plan, k, &rows), T = 0;
        for (int j = 0; j < m; j++) {
            real += len[rows[j]];
            if (len[rows[j]] > T) T = len[rows[j]];
        }
        padded += (long)m * T;
    }
    return 1.0 - (double)real / padded;
}

static BatchPlan *train_plan(const int *len, int n, int bs, uint64_t seed, int epoch) {
    Err err;
    BatchPlan *p = plan_train(len, n, bs, seed, epoch, &err);
    if (!p) ck_abort_msg("%s", err.msg);
    return p;
}

START_TEST(test_train_plan_properties) {
    int n;
    int *len = sst2_lengths(&n);
    int *seen = calloc((size_t)n, sizeof *seen);
    ck_assert_ptr_nonnull(seen);
    const int bs = 32;
    BatchPlan *a = train_plan(len, n, bs, 1234, 0);
    BatchPlan *again = train_plan(len, n, bs, 1234, 0);
    BatchPlan *next = train_plan(len, n, bs, 1234, 1);
    BatchPlan *other = train_plan(len, n, bs, 99, 0);
    ck_assert_int_eq(plan_num_batches(a), (n + bs - 1) / bs);
    int short_batches = 0, same_next = 0, same_other = 0;
    for (int k = 0; k < plan_num_batches(a); k++) {
        const int *r, *r2, *r3, *r4;
        int m = plan_batch(a, k, &r);
        ck_assert_int_eq(plan_batch(again, k, &r2), m);
        ck_assert(memcmp(r, r2, (size_t)m * sizeof *r) == 0);
        short_batches += m != bs;
        for (int j = 0; j < m; j++) seen[r[j]]++;
        if (plan_batch(next, k, &r3) == m) same_next += memcmp(r, r3, (size_t)m * sizeof *r) == 0;
        if (plan_batch(other, k, &r4) == m) same_other += memcmp(r, r4, (size_t)m * sizeof *r) == 0;
    }
    ck_assert_int_eq(short_batches, 1);  // 67349 = 2104 * 32 + 21
    for (int i = 0; i < n; i++) ck_assert_msg(seen[i] == 1, "row %d seen %d times", i, seen[i]);
    ck_assert_int_eq(same_next, 0);
    ck_assert_int_eq(same_other, 0);

    // Grouping by length: compare with plain random batches of the same rows.
    Rng rng;
    rng_seed(&rng, 7);
    int *perm = malloc((size_t)n * sizeof *perm);
    ck_assert_ptr_nonnull(perm);
    for (int i = 0; i < n; i++) perm[i] = i;
    rng_shuffle(&rng, perm, n);
    long padded = 0, real = 0;
    for (int s = 0; s < n; s += bs) {
        int T = 0;
        for (int j = s; j < s + bs && j < n; j++) {
            real += len[perm[j]];
            if (len[perm[j]] > T) T = len[perm[j]];
        }
        padded += (long)((s + bs < n ? bs : n - s)) * T;
    }
    double random_waste = 1.0 - (double)real / padded, grouped_waste = padding_waste(a, len);
    fprintf(stderr, "SST-2 padding waste: random batches %.3f, length-grouped %.3f\n",
            random_waste, grouped_waste);
    ck_assert_msg(grouped_waste < 0.15 * random_waste, "waste %.3f vs random %.3f", grouped_waste,
                  random_waste);
    // ... while the batch order stays random: the longest row of
    // consecutive batches goes up about as often as down.
    int ups = 0, downs = 0, prev = -1;
    for (int k = 0; k < plan_num_batches(a); k++) {
        const int *r;
        int m = plan_batch(a, k, &r), T = 0;
        for (int j = 0; j < m; j++)
            if (len[r[j]] > T) T = len[r[j]];
        ups += prev >= 0 && T > prev;
        downs += prev >= 0 && T < prev;
        prev = T;
    }
    ck_assert_msg(ups > plan_num_batches(a) / 3 && downs > plan_num_batches(a) / 3,
                  "%d ups, %d downs", ups, downs);
    free(perm);
    plan_free(a);
    plan_free(again);
    plan_free(next);
    plan_free(other);

    // A batch size that does not divide n, and a tiny dataset.
    const int small[] = {5, 3, 9, 1, 7, 2, 2};
    BatchPlan *p = train_plan(small, 7, 3, 5, 2);
    ck_assert_int_eq(plan_num_batches(p), 3);
    int count[7] = {0}, total = 0;
    for (int k = 0; k < 3; k++) {
        const int *r;
        int m = plan_batch(p, k, &r);
        total += m;
        for (int j = 0; j < m; j++) count[r[j]]++;
    }
    ck_assert_int_eq(total, 7);
    for (int i = 0; i < 7; i++) ck_assert_int_eq(count[i], 1);
    const int *none;
    ck_assert_int_eq(plan_batch(p, 3, &none), 0);
    plan_free(p);
    Err err;
    ck_assert_ptr_null(plan_train(small, 7, 0, 1, 0, &err));
    free(seen);
    free(len);
}
END_TEST

START_TEST(test_resume_rebuilds_the_same_batches) {
    int n;
    int *len = sst2_lengths(&n);
    n = 5000;  // a slice is enough
    const int bs = 16, epochs = 3;
    const uint64_t seed = 42;
    int nb = (n + bs - 1) / bs;
    // Uninterrupted run: the sequence of rows over all epochs.
    int *full = malloc((size_t)n * epochs * sizeof *full), pos = 0;
    int *sizes = malloc((size_t)nb * epochs * sizeof *sizes);
    ck_assert_ptr_nonnull(full);
    ck_assert_ptr_nonnull(sizes);
    for (int e = 0; e < epochs; e++) {
        BatchPlan *p = train_plan(len, n, bs, seed, e);
        for (int k = 0; k < nb; k++) {
            const int *r;
            int m = plan_batch(p, k, &r);
            memcpy(full + pos, r, (size_t)m * sizeof *r);
            sizes[e * nb + k] = m;
            pos += m;
        }
        plan_free(p);
    }
    // Interrupted at several global steps, resumed from (seed, step) only.
    const int stops[] = {1, nb - 1, nb, nb + 17, 2 * nb + 3};
    for (size_t s = 0; s < sizeof stops / sizeof stops[0]; s++) {
        int step = stops[s], at = 0;
        for (int g = 0; g < step; g++) at += sizes[g];  // rows consumed before the stop
        for (int g = step; g < epochs * nb; g++) {
            BatchPlan *p = train_plan(len, n, bs, seed, g / nb);
            const int *r;
            int m = plan_batch(p, g % nb, &r);
            ck_assert_msg(memcmp(full + at, r, (size_t)m * sizeof *r) == 0,
                          "resume at step %d: batch %d differs", step, g);
            at += m;
            plan_free(p);
        }
        ck_assert_int_eq(at, n * epochs);
    }
    free(full);
    free(sizes);
    free(len);
}
END_TEST

START_TEST(test_eval_plan_and_scatter) {
    const int len[] = {4, 9, 2, 9, 7, 1, 4, 3, 8, 5, 6};
    const int n = 11, bs = 4;
    Err err;
    BatchPlan *p = plan_eval(len, n, bs, &err);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(plan_num_batches(p), 3);
    // Longest first, ties in dataset order.
    const int want[] = {1, 3, 8, 4, 10, 9, 0, 6, 7, 2, 5};
    float out[11 * 2];
    for (int i = 0; i < 22; i++) out[i] = -1;
    int at = 0;
    for (int k = 0; k < plan_num_batches(p); k++) {
        const int *r;
        int m = plan_batch(p, k, &r);
        float batch_out[4 * 2];
        for (int j = 0; j < m; j++) {
            ck_assert_int_eq(r[j], want[at++]);
            batch_out[2 * j] = (float)r[j];  // what a model would say about row r[j]
            batch_out[2 * j + 1] = 100.0f + (float)r[j];
        }
        plan_scatter(p, k, batch_out, 2, out);
    }
    for (int i = 0; i < n; i++) {
        ck_assert(out[2 * i] == (float)i);
        ck_assert(out[2 * i + 1] == 100.0f + (float)i);
    }
    plan_free(p);
}
END_TEST

// A stand-in encoder: [CLS]=101, one id per word (1000 + its length),
// [SEP]=102; text b's tokens and its [SEP] get type 1; words past max_len
// are dropped from the longer text first, as longest-first truncation does.
static int fake_encode(const void *ctx, const char *a, const char *b, int max_len, int *ids,
                       int *type_ids, Err *err) {
    (void)ctx;
    if (strstr(a, "FAIL")) return err_set(err, "cannot encode \"%s\"", a);
    int wa[64], wb[64], na = 0, nb = 0;
    for (const char *p = a; *p && na < 64;) {
        int l = (int)strcspn(p, " ");
        if (l) wa[na++] = 1000 + l;
        p += l + (p[l] == ' ');
    }
    for (const char *p = b ? b : ""; *p && nb < 64;) {
        int l = (int)strcspn(p, " ");
        if (l) wb[nb++] = 1000 + l;
        p += l + (p[l] == ' ');
    }
    int budget = max_len - (b ? 3 : 2);
    while (na + nb > budget) {
        if (na >= nb)
            na--;
        else
            nb--;
    }
    int n = 0;
    ids[n] = 101, type_ids[n++] = 0;
    for (int i = 0; i < na; i++) ids[n] = wa[i], type_ids[n++] = 0;
    ids[n] = 102, type_ids[n++] = 0;
    if (b) {
        for (int i = 0; i < nb; i++) ids[n] = wb[i], type_ids[n++] = 1;
        ids[n] = 102, type_ids[n++] = 1;
    }
    return n;
}

START_TEST(test_tokenized_set_and_batch_fill) {
    Task *t = glue_ok("mnli", MINI_GLUE, NULL, 0);
    Dataset *ds = load_ok(t, "train", false, NULL);
    Err err;
    const int max_len = 12, pad = 7;
    TokenizedSet *ts = tokset_build(ds, fake_encode, NULL, max_len, pad, &err);
    ck_assert_msg(ts != NULL, "%s", err.msg);
    ck_assert_int_eq(tokset_size(ts), dataset_size(ds));
    ck_assert_int_eq(tokset_max_len(ts), max_len);
    for (int i = 0; i < tokset_size(ts); i++) {
        int ids[12], types[12];
        const Example *ex = dataset_example(ds, i);
        int want = fake_encode(NULL, ex->text_a, ex->text_b, max_len, ids, types, &err);
        const int *got_ids, *got_types;
        ck_assert_int_eq(tokset_row(ts, i, &got_ids, &got_types), want);
        ck_assert_int_eq(tokset_lengths(ts)[i], want);
        ck_assert(memcmp(got_ids, ids, (size_t)want * sizeof(int)) == 0);
        ck_assert(memcmp(got_types, types, (size_t)want * sizeof(int)) == 0);
    }
    // Row 1 ("yeah i mean ..." / "They eat out ...", 13 + 6 words) is cut
    // to max_len.
    const int *ids, *types;
    ck_assert_int_eq(tokset_row(ts, 1, &ids, &types), 12);

    Batch *b = batch_alloc(4, max_len, &err);
    ck_assert_ptr_nonnull(b);
    const int rows[] = {4, 1, 6};
    ck_assert_msg(batch_fill(b, ts, rows, 3, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(b->size, 3);
    int T = 0;
    for (int r = 0; r < 3; r++)
        if (tokset_lengths(ts)[rows[r]] > T) T = tokset_lengths(ts)[rows[r]];
    ck_assert_int_eq(b->T, T);
    for (int r = 0; r < 3; r++) {
        int len = tokset_row(ts, rows[r], &ids, &types);
        ck_assert_int_eq(b->lengths[r], len);
        ck_assert_int_eq(b->labels[r], dataset_example(ds, rows[r])->label);
        ck_assert(isnan(b->targets[r]));
        for (int j = 0; j < T; j++) {
            ck_assert_int_eq(b->ids[r * T + j], j < len ? ids[j] : pad);
            ck_assert_int_eq(b->type_ids[r * T + j], j < len ? types[j] : 0);
        }
    }
    // Labels as the file says: train rows 4 and 1 are contradiction (id 0),
    // row 6 neutral (id 2).
    ck_assert_int_eq(b->labels[0], 0);
    ck_assert_int_eq(b->labels[2], 2);
    const int too_many[] = {0, 1, 2, 3, 4}, out_of_range[] = {0, 7};
    ck_assert_int_eq(batch_fill(b, ts, too_many, 5, &err), -1);
    ck_assert_int_eq(batch_fill(b, ts, out_of_range, 2, &err), -1);
    ck_assert_str_eq(err.msg, "batch: row 7 out of range [0, 7)");
    Batch *narrow = batch_alloc(4, 5, &err);
    ck_assert_int_eq(batch_fill(narrow, ts, rows, 3, &err), -1);
    batch_free(narrow);
    batch_free(b);
    tokset_free(ts);
    dataset_free(ds);
    task_free(t);

    // Encoder errors name the file and line.
    char *dir = test_tmpdir();
    char path[4096], want[8192];
    write_at(dir, "x.tsv", "ok\t1\nthis will FAIL\t0\n", path, sizeof path);
    CustomTaskOptions o = {.dev = path, .text_a = "0", .label = "1", .separator = '\t',
                           .labels = "0,1"};
    t = task_custom(&o, NULL, 0, &err);
    ds = load_ok(t, "dev", false, NULL);
    ck_assert_ptr_null(tokset_build(ds, fake_encode, NULL, 8, 0, &err));
    snprintf(want, sizeof want, "%s:2: cannot encode \"this will FAIL\"", path);
    ck_assert_str_eq(err.msg, want);
    dataset_free(ds);
    task_free(t);
    test_tmpdir_remove(dir);
}
END_TEST

// The real tokenizer through tokset_encode, against Hugging Face's
// tokenizer(text_a, text_b, truncation=True, max_length=L) on GLUE rows.
START_TEST(test_tokset_encode_matches_hf) {
    cJSON *golden = read_json(TEST_GOLDEN_DIR "/tasks_tok_golden.json");
    Err err;
    Tokenizer *tok = tok_load(TEST_MODEL_DIR, &err);
    ck_assert_msg(tok != NULL, "%s", err.msg);
    int pad = cJSON_GetObjectItem(golden, "pad_id")->valueint;
    const cJSON *set;
    int sets = 0;
    cJSON_ArrayForEach(set, cJSON_GetObjectItem(golden, "sets")) {
        const char *name = cJSON_GetObjectItem(set, "task")->valuestring;
        const char *root = cJSON_GetObjectItem(set, "root")->valuestring;
        int max_len = cJSON_GetObjectItem(set, "max_len")->valueint;
        Task *t = glue_ok(name, strcmp(root, "real") == 0 ? glue_dir() : MINI_GLUE, NULL, 0);
        Dataset *ds = load_ok(t, cJSON_GetObjectItem(set, "split")->valuestring, false, NULL);
        TokenizedSet *ts = tokset_encode(ds, tok, max_len, &err);
        ck_assert_msg(ts != NULL, "%s", err.msg);
        ck_assert_int_eq(tokset_size(ts), dataset_size(ds));
        const cJSON *rows = cJSON_GetObjectItem(set, "rows"), *row;
        int nrows = cJSON_GetArraySize(rows), r = 0;
        cJSON_ArrayForEach(row, rows) {
            int n, m;
            int *want_ids = json_ints(cJSON_GetObjectItem(row, "ids"), &n);
            int *want_types = json_ints(cJSON_GetObjectItem(row, "type_ids"), &m);
            const int *ids, *types;
            ck_assert_msg(tokset_row(ts, r, &ids, &types) == n, "%s row %d: length", name, r);
            for (int j = 0; j < n; j++) {
                ck_assert_msg(ids[j] == want_ids[j], "%s row %d token %d: id %d, want %d", name,
                              r, j, ids[j], want_ids[j]);
                ck_assert_int_eq(types[j], want_types[j]);
            }
            free(want_ids);
            free(want_types);
            r++;
        }
        // One padded batch of those rows, padded with the tokenizer's pad id.
        int rows_idx[16];
        for (int i = 0; i < nrows; i++) rows_idx[i] = i;
        Batch *b = batch_alloc(nrows, max_len, &err);
        ck_assert_ptr_nonnull(b);
        ck_assert_msg(batch_fill(b, ts, rows_idx, nrows, &err) == 0, "%s", err.msg);
        for (int i = 0; i < nrows; i++)
            for (int j = b->lengths[i]; j < b->T; j++) ck_assert_int_eq(b->ids[i * b->T + j], pad);
        batch_free(b);
        tokset_free(ts);
        dataset_free(ds);
        task_free(t);
        sets++;
    }
    ck_assert_int_eq(sets, 4);
    tok_free(tok);
    cJSON_Delete(golden);
}
END_TEST

Suite *tasks_suite(void) {
    Suite *s = suite_create("tasks");
    TCase *glue = tcase_create("glue");
    tcase_set_timeout(glue, 300);
    tcase_add_test(glue, test_glue_matches_transformers);
    tcase_add_test(glue, test_glue_registry);
    tcase_add_test(glue, test_label2id_reorders);
    tcase_add_test(glue, test_label2id_errors);
    suite_add_tcase(s, glue);
    TCase *files = tcase_create("files");
    tcase_set_timeout(files, 300);
    tcase_add_test(files, test_custom_csv);
    tcase_add_test(files, test_custom_tsv_pairs_and_sorted_labels);
    tcase_add_test(files, test_custom_regression_and_errors);
    tcase_add_test(files, test_bad_rows);
    tcase_add_test(files, test_bad_csv_quoting_and_counts);
    tcase_add_test(files, test_line_ends_bom_and_final_newline);
    suite_add_tcase(s, files);
    TCase *metrics = tcase_create("metrics");
    tcase_set_timeout(metrics, 300);
    tcase_add_test(metrics, test_metrics_match_sklearn_scipy);
    tcase_add_test(metrics, test_task_scores_match_sklearn_scipy);
    tcase_add_test(metrics, test_predictions_files);
    suite_add_tcase(s, metrics);
    TCase *batching = tcase_create("batching");
    tcase_set_timeout(batching, 300);
    tcase_add_test(batching, test_train_plan_properties);
    tcase_add_test(batching, test_resume_rebuilds_the_same_batches);
    tcase_add_test(batching, test_eval_plan_and_scatter);
    tcase_add_test(batching, test_tokenized_set_and_batch_fill);
    tcase_add_test(batching, test_tokset_encode_matches_hf);
    suite_add_tcase(s, batching);
    return s;
}
