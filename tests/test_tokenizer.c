// Tokenizer suite: ids, token type ids and lengths against goldens from
// transformers.BertTokenizer (tests/golden/gen_tokenizer_golden.py), each
// golden set loaded through tok_load on the directory layout the generator
// used; plus the error paths (invalid UTF-8, max_len too small, bad dirs).
#include <cJSON.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"
#include "tokenizer/tokenizer.h"
#include "util/fileio.h"

#define CASES_GOLDEN TEST_GOLDEN_DIR "/tokenizer_cases.json"
#define GLUE_GOLDEN TEST_GOLDEN_DIR "/tokenizer_glue.json"

static cJSON *read_golden(const char *path) {
    char *data;
    size_t len;
    Err err;
    if (file_read_all(path, &data, &len, &err)) ck_abort_msg("%s", err.msg);
    cJSON *root = cJSON_ParseWithLength(data, len);
    free(data);
    ck_assert_msg(root != NULL, "%s: invalid JSON", path);
    return root;
}

static const cJSON *item(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    ck_assert_msg(v != NULL, "golden: missing \"%s\"", key);
    return v;
}

static int int_item(const cJSON *obj, const char *key) {
    const cJSON *v = item(obj, key);
    ck_assert_msg(cJSON_IsNumber(v), "golden: \"%s\" is not a number", key);
    return v->valueint;
}

// Text shown in failure messages: control and non-ASCII bytes escaped, cut
// at 160 bytes.
static const char *shown(const char *s, char *buf, size_t cap) {
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 8 < cap; p++) {
        if (o > 160) {
            o += (size_t)snprintf(buf + o, cap - o, "...");
            break;
        }
        if (*p >= 0x20 && *p < 0x7F && *p != '\\')
            buf[o++] = (char)*p;
        else
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02X", *p);
    }
    buf[o] = '\0';
    return buf;
}

// Compares n_got ids with the golden list; on a mismatch reports the set,
// the case, the text and the first differing position.
static void assert_ids(const char *set, const char *what, int index, const char *text,
                       const int *got, int n_got, const cJSON *want) {
    int n_want = cJSON_GetArraySize(want);
    int pos = 0;
    const cJSON *w = want->child;
    while (pos < n_got && pos < n_want && got[pos] == w->valueint) pos++, w = w->next;
    if (pos == n_got && pos == n_want) return;
    char buf[1024];
    ck_abort_msg(
        "set %s, %s %d: first difference at position %d: got %d, want %d (lengths got %d, "
        "want %d); text \"%s\"",
        set, what, index, pos, pos < n_got ? got[pos] : -1, pos < n_want ? w->valueint : -1, n_got,
        n_want, shown(text, buf, sizeof buf));
}

// Builds the set's model directory: the named dir itself, or a temp dir
// holding copies of the listed files.
static char *set_dir(const cJSON *set, char **tmp) {
    *tmp = NULL;
    const cJSON *dir = cJSON_GetObjectItemCaseSensitive(set, "dir");
    if (dir) return strdup(dir->valuestring);
    *tmp = test_tmpdir();
    for (const cJSON *f = item(set, "files")->child; f; f = f->next) {
        char dst[4096];
        Err err;
        ck_assert_int_eq(path_join(dst, sizeof dst, *tmp, f->string, &err), 0);
        if (file_copy(f->valuestring, dst, &err)) ck_abort_msg("%s", err.msg);
    }
    return strdup(*tmp);
}

static void check_set(const char *golden, int set_index) {
    cJSON *root = read_golden(golden);
    const cJSON *texts = item(root, "texts");
    const cJSON *set = cJSON_GetArrayItem(item(root, "sets"), set_index);
    ck_assert_msg(set != NULL, "%s: no set %d", golden, set_index);
    const char *name = item(set, "name")->valuestring;
    char *tmp;
    char *dir = set_dir(set, &tmp);
    Err err;
    Tokenizer *tok = tok_load(dir, &err);
    ck_assert_msg(tok != NULL, "set %s: %s", name, err.msg);
    ck_assert_int_eq(tok_kind(tok), TOK_WORDPIECE);
    ck_assert_int_eq(tok_vocab_size(tok), int_item(set, "vocab_size"));
    ck_assert_int_eq(tok_cls_id(tok), int_item(set, "cls_id"));
    ck_assert_int_eq(tok_sep_id(tok), int_item(set, "sep_id"));
    ck_assert_int_eq(tok_pad_id(tok), int_item(set, "pad_id"));
    ck_assert_int_eq(tok_unk_id(tok), int_item(set, "unk_id"));
    for (const cJSON *p = item(set, "pieces")->child; p; p = p->next) {
        int id = cJSON_GetArrayItem(p, 0)->valueint;
        const char *want = cJSON_GetStringValue(cJSON_GetArrayItem(p, 1));
        const char *got = tok_id_to_piece(tok, id);
        if (!want)
            ck_assert_msg(got == NULL, "set %s: piece of id %d: got \"%s\", want none", name, id,
                          got);
        else
            ck_assert_msg(got && strcmp(got, want) == 0,
                          "set %s: piece of id %d: got \"%s\", want \"%s\"", name, id,
                          got ? got : "(none)", want);
    }

    int cap = 1 << 16;
    int *ids = malloc(sizeof *ids * (size_t)cap), *types = malloc(sizeof *types * (size_t)cap);
    ck_assert_ptr_nonnull(ids);
    ck_assert_ptr_nonnull(types);
    int n_tokenize = 0, n_encode = 0;
    for (const cJSON *c = item(set, "tokenize")->child; c; c = c->next, n_tokenize++) {
        int t = int_item(c, "text");
        const char *text = cJSON_GetArrayItem(texts, t)->valuestring;
        int n = tok_tokenize(tok, text, ids, cap, &err);
        ck_assert_msg(n >= 0, "set %s, text %d: %s", name, t, err.msg);
        ck_assert_msg(n <= cap, "set %s, text %d: %d ids exceed the test buffer", name, t, n);
        assert_ids(name, "tokenize text", t, text, ids, n, item(c, "ids"));
    }
    for (const cJSON *c = item(set, "encode")->child; c; c = c->next, n_encode++) {
        int a = int_item(c, "a"), max_len = int_item(c, "max_len");
        const cJSON *b = item(c, "b");
        const char *ta = cJSON_GetArrayItem(texts, a)->valuestring;
        const char *tb =
            cJSON_IsNumber(b) ? cJSON_GetArrayItem(texts, b->valueint)->valuestring : NULL;
        ck_assert_int_le(max_len, cap);
        int n = tok_encode(tok, ta, tb, max_len, ids, types, &err);
        ck_assert_msg(n >= 0, "set %s, encode %d: %s", name, n_encode, err.msg);
        char what[128];
        snprintf(what, sizeof what, "encode (b = %d, max_len %d) of text", tb ? b->valueint : -1,
                 max_len);
        ck_assert_int_eq(n, int_item(c, "len"));
        assert_ids(name, what, a, ta, ids, n, item(c, "ids"));
        snprintf(what, sizeof what, "token types (b = %d, max_len %d) of text",
                 tb ? b->valueint : -1, max_len);
        assert_ids(name, what, a, ta, types, n, item(c, "type_ids"));
    }
    ck_assert_int_gt(n_tokenize, 0);
    free(ids);
    free(types);
    tok_free(tok);
    free(dir);
    test_tmpdir_remove(tmp);
    cJSON_Delete(root);
}

// Number of sets, read while building the suite (outside any test, so no
// assertions here): an unreadable golden yields 1 so that test fails loudly.
static int set_count(const char *golden) {
    char *data;
    size_t len;
    Err err;
    if (file_read_all(golden, &data, &len, &err)) return 1;
    cJSON *root = cJSON_ParseWithLength(data, len);
    free(data);
    int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "sets"));
    cJSON_Delete(root);
    return n > 0 ? n : 1;
}

START_TEST(test_golden_cases) { check_set(CASES_GOLDEN, _i); }
END_TEST

START_TEST(test_golden_glue) { check_set(GLUE_GOLDEN, _i); }
END_TEST

// tok_tokenize reports the full count but writes only `cap` ids, and they
// are the first ids of the golden list.
START_TEST(test_tokenize_cap) {
    cJSON *root = read_golden(CASES_GOLDEN);
    const cJSON *set = cJSON_GetArrayItem(item(root, "sets"), 0);
    ck_assert_str_eq(item(set, "name")->valuestring, "default");
    Err err;
    Tokenizer *tok = tok_load(item(set, "dir")->valuestring, &err);
    ck_assert_msg(tok != NULL, "%s", err.msg);
    const cJSON *texts = item(root, "texts");
    int checked = 0;
    for (const cJSON *c = item(set, "tokenize")->child; c; c = c->next) {
        const cJSON *want = item(c, "ids");
        int n_want = cJSON_GetArraySize(want);
        if (n_want < 4) continue;
        const char *text = cJSON_GetArrayItem(texts, int_item(c, "text"))->valuestring;
        int ids[8] = {-7, -7, -7, -7, -7, -7, -7, -7};
        ck_assert_int_eq(tok_tokenize(tok, text, ids, 3, &err), n_want);
        for (int i = 0; i < 3; i++) ck_assert_int_eq(ids[i], cJSON_GetArrayItem(want, i)->valueint);
        for (int i = 3; i < 8; i++) ck_assert_int_eq(ids[i], -7);
        ck_assert_int_eq(tok_tokenize(tok, text, NULL, 0, &err), n_want);
        checked++;
    }
    ck_assert_int_gt(checked, 100);
    tok_free(tok);
    cJSON_Delete(root);
}
END_TEST

// Invalid UTF-8 is an error naming the byte offset of the bad sequence.
START_TEST(test_invalid_utf8) {
    static const struct {
        const char *text;
        int offset;
    } cases[] = {
        {"ab\x80!", 2},                  // stray continuation byte
        {"\xC0\x80", 0},                 // overlong NUL
        {"x\xE0\x80\xAF", 1},            // overlong '/'
        {"a\xED\xA0\x80", 1},            // UTF-16 surrogate
        {"\xF5\x80\x80\x80", 0},         // past U+10FFFF
        {"\xF4\x90\x80\x80", 0},         // U+110000
        {"abc\xE2\x82", 3},              // truncated at the end
        {"\xC3\xA9\xFF", 2},             // é then 0xFF
        {"[CLS] ok \xE4\xB8 [SEP]", 9},  // truncated in the middle
    };
    Err err;
    Tokenizer *tok = tok_load(TEST_MODEL_DIR, &err);
    ck_assert_msg(tok != NULL, "%s", err.msg);
    int ids[64], types[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "byte offset %d", cases[i].offset);
        err.msg[0] = '\0';
        ck_assert_int_eq(tok_tokenize(tok, cases[i].text, ids, 64, &err), -1);
        ck_assert_msg(strstr(err.msg, want), "case %zu: \"%s\" lacks \"%s\"", i, err.msg, want);
        err.msg[0] = '\0';
        ck_assert_int_eq(tok_encode(tok, "fine", cases[i].text, 64, ids, types, &err), -1);
        ck_assert_msg(strstr(err.msg, "second text") && strstr(err.msg, want), "case %zu: \"%s\"",
                      i, err.msg);
    }
    tok_free(tok);
}
END_TEST

START_TEST(test_max_len_too_small) {
    Err err;
    Tokenizer *tok = tok_load(TEST_MODEL_DIR, &err);
    ck_assert_msg(tok != NULL, "%s", err.msg);
    int ids[4], types[4];
    ck_assert_int_eq(tok_encode(tok, "hello", NULL, 1, ids, types, &err), -1);
    ck_assert_msg(strstr(err.msg, "max_len 1"), "%s", err.msg);
    ck_assert_int_eq(tok_encode(tok, "hello", NULL, 0, ids, types, &err), -1);
    ck_assert_int_eq(tok_encode(tok, "hello", "world", 2, ids, types, &err), -1);
    ck_assert_msg(strstr(err.msg, "max_len 2") && strstr(err.msg, "pair"), "%s", err.msg);
    ck_assert_int_eq(tok_encode(tok, NULL, NULL, 4, ids, types, &err), -1);
    tok_free(tok);
}
END_TEST

START_TEST(test_load_errors) {
    Err err;
    ck_assert_ptr_null(tok_load("tests/golden/no-such-model-dir", &err));
    ck_assert_msg(strstr(err.msg, "tests/golden/no-such-model-dir"), "%s", err.msg);
    char *tmp = test_tmpdir();
    ck_assert_ptr_null(tok_load(tmp, &err));
    ck_assert_msg(strstr(err.msg, tmp) && strstr(err.msg, "vocab.txt"), "%s", err.msg);
    // A tokenizer.json of another model type is not WordPiece.
    const char *bpe = "{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}";
    test_write_file(tmp, "tokenizer.json", bpe, strlen(bpe));
    ck_assert_ptr_null(tok_load(tmp, &err));
    ck_assert_msg(strstr(err.msg, tmp), "%s", err.msg);
    // Invalid UTF-8 in vocab.txt names the line.
    const char *vocab = "[PAD]\n[UNK]\nbad\xFF\n";
    test_write_file(tmp, "vocab.txt", vocab, strlen(vocab));
    ck_assert_ptr_null(tok_load(tmp, &err));
    ck_assert_msg(strstr(err.msg, "vocab.txt:3"), "%s", err.msg);
    test_tmpdir_remove(tmp);
}
END_TEST

// Found by fuzz/fuzz_vocab.c: a JSON array where a tokenizer file holds an
// object (its entries have no key) crashed the loader in strcmp.
START_TEST(test_json_file_not_object) {
    static const char *const files[] = {"special_tokens_map.json", "added_tokens.json",
                                        "tokenizer_config.json", "tokenizer.json"};
    const char *vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n";
    const char *array = "[\"[CLS]\", 5]";
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *tmp = test_tmpdir();
        test_write_file(tmp, "vocab.txt", vocab, strlen(vocab));
        test_write_file(tmp, files[i], array, strlen(array));
        Err err;
        Tokenizer *tok = tok_load(tmp, &err);
        ck_assert_msg(tok == NULL, "%s as a JSON array was accepted", files[i]);
        ck_assert_msg(strstr(err.msg, files[i]) && strstr(err.msg, "expected a JSON object"), "%s",
                      err.msg);
        test_tmpdir_remove(tmp);
    }
}
END_TEST

// Found by fuzz/fuzz_vocab.c in CI: an empty cls_token (and so any named
// token in neither the vocabulary nor the added tokens) gave id -1, which
// encode wrote into the model's input ids.
START_TEST(test_named_token_without_id) {
    static const char *const keys[] = {"cls_token", "sep_token", "pad_token", "unk_token"};
    const char *vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n";
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char *tmp = test_tmpdir();
        char config[128];
        snprintf(config, sizeof config, "{\"%s\": \"\"}", keys[i]);
        test_write_file(tmp, "vocab.txt", vocab, strlen(vocab));
        test_write_file(tmp, "tokenizer_config.json", config, strlen(config));
        Err err;
        Tokenizer *tok = tok_load(tmp, &err);
        ck_assert_msg(tok == NULL, "an empty %s was accepted", keys[i]);
        ck_assert_msg(strstr(err.msg, tmp) && strstr(err.msg, keys[i]) &&
                          strstr(err.msg, "neither in the vocabulary"),
                      "%s", err.msg);
        test_tmpdir_remove(tmp);
    }
}
END_TEST

Suite *tokenizer_suite(void) {
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("golden");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_golden_cases, 0, set_count(CASES_GOLDEN));
    tcase_add_loop_test(tc, test_golden_glue, 0, set_count(GLUE_GOLDEN));
    tcase_add_test(tc, test_tokenize_cap);
    suite_add_tcase(s, tc);
    TCase *errors = tcase_create("errors");
    tcase_set_timeout(errors, 60);
    tcase_add_test(errors, test_invalid_utf8);
    tcase_add_test(errors, test_max_len_too_small);
    tcase_add_test(errors, test_load_errors);
    tcase_add_test(errors, test_json_file_not_object);
    tcase_add_test(errors, test_named_token_without_id);
    suite_add_tcase(s, errors);
    return s;
}
