// SentencePiece: tokenizer/spm.cc against the sentencepiece CLI tools, and
// tokenizer/sp_engine.c against transformers' XLMRobertaTokenizer.
//
// References:
//   - spm_train / spm_encode / spm_export_vocab (Debian `sentencepiece`),
//     run from the test on a model trained here, for spm_* ids and vocab;
//   - tests/golden/sentencepiece_xlmr.json and tests/golden/tok_xlmr_tiny/,
//     written by tests/golden/gen_sentencepiece_golden.py from
//     transformers 5.x, for the engine's Hugging Face ids.
#define _GNU_SOURCE
#include <cJSON.h>
#include <check.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/testutil.h"
#include "tokenizer/engines.h"
#include "tokenizer/spm.h"
#include "util/buf.h"
#include "util/fileio.h"

#define XLMR_DIR TEST_GOLDEN_DIR "/tok_xlmr_tiny"
#define XLMR_MODEL XLMR_DIR "/sentencepiece.bpe.model"
#define XLMR_GOLDEN TEST_GOLDEN_DIR "/sentencepiece_xlmr.json"
#define CORPUS TEST_GOLDEN_DIR "/spm_corpus_multilingual.txt"
#define GLUE_DIR "data/glue"  // scripts/fetch_glue.sh (make data)
#define MAX_IDS 4096

// ------------------------------------------------------------- helpers

// Runs argv (looked up on PATH) with stdout to out_path; fails the test
// with the tool's stderr if it does not exit 0.
static void run_tool(char *const argv[], const char *out_path, const char *log_path) {
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out < 0 || log < 0 || dup2(out, 1) < 0 || dup2(log, 2) < 0) _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        ck_abort_msg("%s not found on PATH (apt-get install sentencepiece)", argv[0]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *log = read_text(log_path);
        ck_abort_msg("%s failed (status %d): %.300s", argv[0], status, log);
    }
}

// A growing list of owned strings.
typedef struct {
    char **items;  // [n]
    int n;
    size_t cap;
} Strings;

static void strings_add(Strings *s, const char *text, size_t len) {
    Err err;
    if (GROW(s->items, s->cap, (size_t)s->n + 1, "strings", &err) != 0) ck_abort_msg("%s", err.msg);
    s->items[s->n] = strndup(text, len);
    ck_assert_ptr_nonnull(s->items[s->n]);
    s->n++;
}

static void strings_free(Strings *s) {
    for (int i = 0; i < s->n; i++) free(s->items[i]);
    free(s->items);
}

// Adds the lines of a file: all of them, or the first `limit`.
static void add_lines(Strings *s, const char *path, int limit) {
    char *text = read_text(path);
    int n = 0;
    for (char *p = text; *p && (limit <= 0 || n < limit); n++) {
        size_t len = strcspn(p, "\n");
        strings_add(s, p, len);
        p += len + (p[len] == '\n');
    }
    free(text);
}

// Adds tab-separated column `col` of the first `limit` data rows of a file.
static void add_column(Strings *s, const char *path, int col, int limit) {
    Strings rows = {0};
    add_lines(&rows, path, limit + 1);
    for (int r = 1; r < rows.n; r++) {
        char *field = rows.items[r];
        for (int c = 0; c < col && field; c++) {
            field = strchr(field, '\t');
            if (field) field++;
        }
        if (field) strings_add(s, field, strcspn(field, "\t"));
    }
    strings_free(&rows);
}

static void write_lines(const char *path, const Strings *s) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < s->n; i++) ck_assert_int_ge(fprintf(f, "%s\n", s->items[i]), 0);
    ck_assert_int_eq(fclose(f), 0);
}

// ------------------------------------------- spm_* against the CLI tools

// Texts for spm_encode, one per line: no '\n' inside.
static const char *const EDGE_TEXTS[] = {
    // whitespace of many kinds, controls, BOM
    "", " ", "  ", "\t", "  leading and trailing  ", "many     spaces\t\ttabs", "carriage\rreturn",
    "a\xc2\x85" "b", "a\xc2\xa0" "b", "x\xe3\x80\x80y", "p\xe2\x80\xa8q", "zero\xe2\x80\x8bwidth",
    "\xef\xbb\xbf" "BOM", "\x01\x02\x7f controls", "\xe2\x96\x81x \xe2\x96\x81 y",
    // special-token look-alikes, numbers, punctuation runs
    "<s> <pad> </s> <unk> <mask>", "000", "5.000", "1,000,000", "3.14159", "2024-03-17 09:30",
    "...", "!!!!", "?!?!", "hahahaha", "aaaaaaaaaaaaaaaa", "$19.99 \xe2\x82\xac" "5,00",
    "email@example.com https://example.org/a?b=c&d=e", "C:\\path\\file.txt", "snake_case Camel",
    // emoji, private use, replacement char, the last code point
    "\xf0\x9f\x99\x82\xf0\x9f\x99\x82", "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",
    "\xf0\x9f\x87\xab\xf0\x9f\x87\xb7", "\xe2\x9d\xa4\xef\xb8\x8f love", "\xf4\x8f\xbf\xbf",
    "\xee\x80\x80 private", "\xef\xbf\xbd",
    // NFKC material: ligatures, fullwidth, circled, fractions, combining marks, kana, jamo
    "\xef\xac\x81 \xef\xac\x82", "\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\x91\xef\xbc\x92",
    "\xe2\x91\xa0\xe2\x91\xa1", "\xc2\xbd \xe2\x84\xa2 x\xc2\xb2", "Cafe\xcc\x81 caf\xc3\xa9",
    "\xef\xbd\xb6\xef\xbe\x9e", "\xe1\x84\x80\xe1\x85\xa1",
    // scripts: Chinese, Japanese, Korean, Arabic, Hebrew, Hindi, Thai, Greek, Russian, runes
    "\xe4\xb8\xad\xe6\x96\x87\xe5\x8f\xa5\xe5\xad\x90",
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xa7\xe3\x81\x99",
    "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4", "\xd8\xa7\xd9\x84\xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a",
    "\xd7\xa2\xd7\x91\xd7\xa8\xd7\x99\xd7\xaa",
    "\xe0\xa4\xb9\xe0\xa4\xbf\xe0\xa4\xa8\xe0\xa5\x8d\xe0\xa4\xa6\xe0\xa5\x80",
    "\xe0\xb8\xa0\xe0\xb8\xb2\xe0\xb8\xa9\xe0\xb8\xb2", "\xce\x95\xce\xbb\xce\xbb\xce\xb7\xce\xbd",
    "\xd0\xa0\xd1\x83\xd1\x81\xd1\x81\xd0\xba\xd0\xb8\xd0\xb9",
    "\xe1\x9a\xa0\xe1\x9a\xa2 \xf0\x90\x8c\xb0",
    // malformed UTF-8: spm reads each bad byte as U+FFFD
    "bad \xff\xfe bytes", "truncated \xc3", "surrogate \xed\xa0\x80",
};

// Deterministic random texts drawn from fragments of many kinds.
static void add_random_texts(Strings *s, int count) {
    static const char *const pool[] = {
        "a", "b", "z", "Q", "0", "7", " ", "  ", "\t", ".", ",", "!", "?", "-", "'", "\"", "(", ")",
        "<", ">", "/", "@", "#", "%", "&", "the", "ing", "tion", "<mask>", "</s>", "\x01", "\x7f",
        "\xff", "\xc3\xa9", "\xc3\xbc", "\xc3\x9f", "\xc5\x93", "\xd0\xb0", "\xd0\xb6", "\xce\xb1",
        "\xce\xb8", "\xd8\xa8", "\xd7\x90", "\xe0\xa4\x95", "\xe0\xa5\x8d", "\xe3\x81\x82",
        "\xe3\x82\xab", "\xe4\xb8\xad", "\xed\x95\x9c", "\xf0\x9f\x98\x80", "\xf0\x9f\x8e\x89",
        "\xe2\x80\x8d", "\xef\xb8\x8f", "\xcc\x81", "\xcc\x88", "\xef\xbc\xa1", "\xef\xac\x81",
        "\xc2\xbd", "\xe2\x84\xa2", "\xe2\x96\x81", "\xc2\xa0", "\xe3\x80\x80", "\xc2\x85",
        "\xe2\x80\x8b", "\xef\xbb\xbf", "\xee\x80\x80", "\xf4\x8f\xbf\xbf",
    };
    uint64_t state = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < count; i++) {
        char text[512] = "";
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        int n = (int)(state >> 59);  // 0..31 fragments
        for (int k = 0; k < n; k++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            strcat(text, pool[(state >> 33) % (sizeof pool / sizeof pool[0])]);
        }
        strings_add(s, text, strlen(text));
    }
}

// Training corpus: our multilingual lines and GLUE dev rows (SST-2, MRPC,
// RTE, CoLA); the encoded texts use other rows (STS-B) as unseen text.
static void write_corpus(const char *path) {
    Strings lines = {0};
    for (int rep = 0; rep < 3; rep++) add_lines(&lines, CORPUS, 0);
    static const char *const tasks[] = {"SST-2", "MRPC", "RTE", "CoLA"};
    for (int t = 0; t < 4; t++) {
        char glue[256];
        snprintf(glue, sizeof glue, GLUE_DIR "/%s/dev.tsv", tasks[t]);
        ck_assert_msg(file_exists(glue), "%s missing: run `make data`", glue);
        add_lines(&lines, glue, 300);
    }
    write_lines(path, &lines);
    strings_free(&lines);
}

// Parses one line of spm_encode ids; returns the count.  ids [MAX_IDS]
static int parse_ids(const char *line, int *ids) {
    int n = 0;
    char *end;
    for (const char *p = line; *p;) {
        long v = strtol(p, &end, 10);
        ck_assert_ptr_ne(end, p);
        ck_assert_int_lt(n, MAX_IDS);
        ids[n++] = (int)v;
        p = end + strspn(end, " ");
    }
    return n;
}

static void check_against_cli(const char *model_type) {
    char *tmp = test_tmpdir();
    char *corpus = path_in(tmp, "corpus.txt"), *prefix = path_in(tmp, model_type);
    char *model, *log = path_in(tmp, "tool.log");
    char *input = path_in(tmp, "input.txt"), *encoded = path_in(tmp, "encoded.txt");
    char *vocab = path_in(tmp, "vocab.tsv"), *train_out = path_in(tmp, "train.out");
    write_corpus(corpus);
    char *a_input, *a_prefix, *a_type, *a_model;
    ck_assert_int_ge(asprintf(&a_input, "--input=%s", corpus), 0);
    ck_assert_int_ge(asprintf(&a_prefix, "--model_prefix=%s", prefix), 0);
    ck_assert_int_ge(asprintf(&a_type, "--model_type=%s", model_type), 0);
    char *train[] = {"spm_train", a_input, a_prefix, a_type, "--vocab_size=800",
                     "--num_threads=1", "--minloglevel=2", NULL};
    run_tool(train, train_out, log);
    ck_assert_int_ge(asprintf(&model, "%s.model", prefix), 0);
    ck_assert_int_ge(asprintf(&a_model, "--model=%s", model), 0);

    Strings texts = {0};
    for (size_t i = 0; i < sizeof EDGE_TEXTS / sizeof EDGE_TEXTS[0]; i++)
        strings_add(&texts, EDGE_TEXTS[i], strlen(EDGE_TEXTS[i]));
    add_lines(&texts, CORPUS, 0);
    add_column(&texts, GLUE_DIR "/STS-B/dev.tsv", 7, 150);
    add_column(&texts, GLUE_DIR "/STS-B/dev.tsv", 8, 150);
    add_random_texts(&texts, 200);
    write_lines(input, &texts);
    char *encode[] = {"spm_encode", a_model, "--output_format=id", input, NULL};
    run_tool(encode, encoded, log);
    char *export[] = {"spm_export_vocab", a_model, NULL};
    run_tool(export, vocab, log);

    Err err;
    SpmModel *m = spm_load(model, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    Strings lines = {0};
    add_lines(&lines, encoded, 0);
    ck_assert_int_eq(lines.n, texts.n);
    int want[MAX_IDS], got[MAX_IDS];
    for (int i = 0; i < texts.n; i++) {
        int n_want = parse_ids(lines.items[i], want);
        int n_got = spm_encode_ids(m, texts.items[i], got, MAX_IDS, &err);
        ck_assert_msg(n_got == n_want, "%s text %d \"%s\": %d ids, spm_encode gives %d (%s)",
                      model_type, i, texts.items[i], n_got, n_want, n_got < 0 ? err.msg : "");
        for (int k = 0; k < n_want; k++)
            ck_assert_msg(got[k] == want[k], "%s text %d \"%s\": id[%d] %d, spm_encode gives %d",
                          model_type, i, texts.items[i], k, got[k], want[k]);
    }

    // Vocabulary: spm_export_vocab lists "piece\tscore" in id order.
    Strings pieces = {0};
    add_lines(&pieces, vocab, 0);
    ck_assert_int_eq(spm_vocab_size(m), pieces.n);
    ck_assert_int_eq(pieces.n, 800);
    int unk = -1, bos = -1, eos = -1, pad = -1;
    for (int id = 0; id < pieces.n; id++) {
        pieces.items[id][strcspn(pieces.items[id], "\t")] = '\0';
        const char *piece = pieces.items[id];
        ck_assert_str_eq(spm_id_to_piece(m, id), piece);
        ck_assert_int_eq(spm_piece_to_id(m, piece), id);
        if (strcmp(piece, "<unk>") == 0) unk = id;
        if (strcmp(piece, "<s>") == 0) bos = id;
        if (strcmp(piece, "</s>") == 0) eos = id;
        if (strcmp(piece, "<pad>") == 0) pad = id;
    }
    ck_assert_int_eq(spm_unk_id(m), unk);
    ck_assert_int_eq(spm_bos_id(m), bos);
    ck_assert_int_eq(spm_eos_id(m), eos);
    ck_assert_int_eq(spm_pad_id(m), pad);
    ck_assert_int_eq(spm_piece_to_id(m, "not a piece"), -1);
    ck_assert_ptr_null(spm_id_to_piece(m, -1));
    ck_assert_ptr_null(spm_id_to_piece(m, pieces.n));

    // Output capacity: the full count comes back, only cap ids are written.
    const char *text = "The quick brown fox jumps over the lazy dog.";
    int n_full = spm_encode_ids(m, text, want, MAX_IDS, &err);
    ck_assert_int_gt(n_full, 2);
    for (int k = 0; k < MAX_IDS; k++) got[k] = -7;
    ck_assert_int_eq(spm_encode_ids(m, text, got, 2, &err), n_full);
    ck_assert_int_eq(got[0], want[0]);
    ck_assert_int_eq(got[1], want[1]);
    ck_assert_int_eq(got[2], -7);
    ck_assert_int_eq(spm_encode_ids(m, text, NULL, 0, &err), n_full);
    ck_assert_int_eq(spm_encode_ids(m, NULL, got, MAX_IDS, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, model));

    spm_free(m);
    strings_free(&pieces);
    strings_free(&lines);
    strings_free(&texts);
    free(a_input), free(a_prefix), free(a_type), free(a_model);
    free(corpus), free(prefix), free(model), free(log), free(input), free(encoded), free(vocab),
        free(train_out);
    test_tmpdir_remove(tmp);
}

START_TEST(test_spm_matches_cli_unigram) { check_against_cli("unigram"); }
END_TEST

START_TEST(test_spm_matches_cli_bpe) { check_against_cli("bpe"); }
END_TEST

// ----------------------------------------- sp_engine against transformers

static cJSON *load_golden(void) {
    char *text = read_text(XLMR_GOLDEN);
    cJSON *g = cJSON_Parse(text);
    free(text);
    ck_assert_msg(g != NULL, XLMR_GOLDEN ": bad JSON");
    return g;
}

static int golden_int(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    ck_assert_msg(cJSON_IsNumber(v), "golden: %s missing", key);
    return v->valueint;
}

// out [MAX_IDS]; returns the length.
static int golden_ids(const cJSON *arr, int *out) {
    int n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        ck_assert_int_lt(n, MAX_IDS);
        out[n++] = v->valueint;
    }
    return n;
}

static void assert_ids(const char *what, int i, const char *text, const int *got, int n_got,
                       const int *want, int n_want) {
    ck_assert_msg(n_got == n_want, "case %d %s \"%s\": %d ids, transformers gives %d", i, what,
                  text, n_got, n_want);
    for (int k = 0; k < n_want; k++)
        ck_assert_msg(got[k] == want[k], "case %d %s \"%s\": id[%d] = %d, transformers gives %d",
                      i, what, text, k, got[k], want[k]);
}

// Hugging Face's "longest_first" for a pair (tokenizers' truncate_encodings):
// the shorter keeps its length if the longer can take the rest, else both
// get half, the second text the odd token.
static void truncate_pair(int *na, int *nb, int budget) {
    if (*na + *nb <= budget) return;
    bool swap = *na > *nb;
    int n1 = swap ? *nb : *na, n2;
    n2 = n1 > budget ? n1 : (n1 > budget - n1 ? n1 : budget - n1);
    if (n1 + n2 > budget) n1 = budget / 2, n2 = n1 + budget % 2;
    *na = swap ? n2 : n1;
    *nb = swap ? n1 : n2;
}

// The full encoding from the engine's ids and specials, framed as
// tokenizer.c frames it: cls a sep [sep...] b sep.  ids, types [MAX_IDS]
static int assemble(SpecialTokens sp, const int *a, int na, const int *b, int nb, bool pair,
                    int max_len, int *ids, int *types) {
    int n = 0, n_special = pair ? 2 + sp.pair_separators : 2;
    if (max_len > 0) {
        if (pair) truncate_pair(&na, &nb, max_len - n_special);
        else if (na > max_len - n_special) na = max_len - n_special;
    }
    ids[n] = sp.cls_id, types[n++] = 0;
    for (int k = 0; k < na; k++) ids[n] = a[k], types[n++] = 0;
    ids[n] = sp.sep_id, types[n++] = 0;
    if (pair) {
        for (int k = 1; k < sp.pair_separators; k++)
            ids[n] = sp.sep_id, types[n++] = sp.second_type_id;
        for (int k = 0; k < nb; k++) ids[n] = b[k], types[n++] = sp.second_type_id;
        ids[n] = sp.sep_id, types[n++] = sp.second_type_id;
    }
    return n;
}

START_TEST(test_xlmr_matches_transformers) {
    cJSON *g = load_golden();
    Err err;
    SpEngine *sp = sp_engine_load(XLMR_DIR, &err);
    ck_assert_msg(sp != NULL, "%s", err.msg);
    ck_assert_int_eq(sp_engine_vocab_size(sp), golden_int(g, "vocab_size"));
    SpecialTokens st = sp_engine_specials(sp);
    ck_assert_int_eq(st.cls_id, golden_int(g, "cls_id"));
    ck_assert_int_eq(st.sep_id, golden_int(g, "sep_id"));
    ck_assert_int_eq(st.pad_id, golden_int(g, "pad_id"));
    ck_assert_int_eq(st.unk_id, golden_int(g, "unk_id"));
    const cJSON *piece;
    int id = 0;
    cJSON_ArrayForEach(piece, cJSON_GetObjectItemCaseSensitive(g, "pieces")) {
        ck_assert_str_eq(sp_engine_id_to_piece(sp, id), piece->valuestring);
        id++;
    }
    ck_assert_int_eq(id, sp_engine_vocab_size(sp));
    ck_assert_str_eq(sp_engine_id_to_piece(sp, golden_int(g, "mask_id")), "<mask>");
    ck_assert_ptr_null(sp_engine_id_to_piece(sp, id));
    ck_assert_ptr_null(sp_engine_id_to_piece(sp, -1));

    static int a[MAX_IDS], b[MAX_IDS], want[MAX_IDS], want_types[MAX_IDS], ids[MAX_IDS],
        types[MAX_IDS];
    const cJSON *c;
    int i = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(g, "cases")) {
        const char *ta = cJSON_GetObjectItemCaseSensitive(c, "a")->valuestring;
        const cJSON *jb = cJSON_GetObjectItemCaseSensitive(c, "b");
        const char *tb = cJSON_IsString(jb) ? jb->valuestring : NULL;
        const cJSON *jmax = cJSON_GetObjectItemCaseSensitive(c, "max_len");
        int max_len = cJSON_IsNumber(jmax) ? jmax->valueint : 0;
        int na = sp_engine_tokenize(sp, ta, a, MAX_IDS, &err);
        ck_assert_msg(na >= 0, "case %d: %s", i, err.msg);
        int n_want = golden_ids(cJSON_GetObjectItemCaseSensitive(c, "tokens_a"), want);
        assert_ids("text a", i, ta, a, na, want, n_want);
        int nb = 0;
        if (tb) {
            nb = sp_engine_tokenize(sp, tb, b, MAX_IDS, &err);
            ck_assert_msg(nb >= 0, "case %d: %s", i, err.msg);
            n_want = golden_ids(cJSON_GetObjectItemCaseSensitive(c, "tokens_b"), want);
            assert_ids("text b", i, tb, b, nb, want, n_want);
        }
        // transformers drops an empty second text (`if text_pair:`), so
        // ("x", "") encodes as the single "x".
        int n = assemble(st, a, na, b, nb, tb && *tb, max_len, ids, types);
        n_want = golden_ids(cJSON_GetObjectItemCaseSensitive(c, "ids"), want);
        assert_ids("encoding", i, ta, ids, n, want, n_want);
        golden_ids(cJSON_GetObjectItemCaseSensitive(c, "type_ids"), want_types);
        assert_ids("type ids", i, ta, types, n, want_types, n_want);
        i++;
    }
    ck_assert_int_gt(i, 200);
    sp_engine_free(sp);
    cJSON_Delete(g);
}
END_TEST

// tokenize writes at most cap ids and returns the full count.
START_TEST(test_xlmr_output_capacity) {
    Err err;
    SpEngine *sp = sp_engine_load(XLMR_DIR, &err);
    ck_assert_msg(sp != NULL, "%s", err.msg);
    const char *text = "hello <mask> world, 5.000 times";
    int full[64], part[64];
    int n = sp_engine_tokenize(sp, text, full, 64, &err);
    ck_assert_int_gt(n, 4);
    for (int cap = 0; cap <= n; cap++) {
        for (int k = 0; k < 64; k++) part[k] = -7;
        ck_assert_int_eq(sp_engine_tokenize(sp, text, part, cap, &err), n);
        for (int k = 0; k < cap; k++) ck_assert_int_eq(part[k], full[k]);
        ck_assert_int_eq(part[cap], -7);
    }
    ck_assert_int_eq(sp_engine_tokenize(sp, text, NULL, 0, &err), n);
    sp_engine_free(sp);
}
END_TEST

// A directory with only config.json's model_type is classified as XLM-R
// too (as AutoTokenizer does) and gives the same ids.
START_TEST(test_xlmr_from_model_type) {
    cJSON *g = load_golden();
    char *tmp = test_tmpdir();
    char *model = path_in(tmp, "sentencepiece.bpe.model");
    Err err;
    ck_assert_msg(file_copy(XLMR_MODEL, model, &err) == 0, "%s", err.msg);
    const char *cfg = "{\"model_type\": \"xlm-roberta\"}";
    test_write_file(tmp, "config.json", cfg, strlen(cfg));
    SpEngine *sp = sp_engine_load(tmp, &err);
    ck_assert_msg(sp != NULL, "%s", err.msg);
    static int ids[MAX_IDS], want[MAX_IDS];
    const cJSON *c;
    int i = 0;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(g, "cases")) {
        const char *text = cJSON_GetObjectItemCaseSensitive(c, "a")->valuestring;
        int n = sp_engine_tokenize(sp, text, ids, MAX_IDS, &err);
        int n_want = golden_ids(cJSON_GetObjectItemCaseSensitive(c, "tokens_a"), want);
        assert_ids("text a", i++, text, ids, n, want, n_want);
    }
    sp_engine_free(sp);
    free(model);
    test_tmpdir_remove(tmp);
    cJSON_Delete(g);
}
END_TEST

// ------------------------------------------------------------- errors

// spm_load must fail on path with a message naming it.
static void expect_spm_load_error(const char *path) {
    Err err = {{0}};
    SpmModel *m = spm_load(path, &err);
    ck_assert_msg(m == NULL, "%s: loaded", path);
    ck_assert_msg(strstr(err.msg, path) != NULL, "error does not name %s: %s", path, err.msg);
}

// sp_engine_load(dir) must fail with a message containing `needle`.
static void expect_engine_error(const char *dir, const char *needle) {
    Err err = {{0}};
    SpEngine *sp = sp_engine_load(dir, &err);
    ck_assert_msg(sp == NULL, "%s: loaded", dir);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "error lacks \"%s\": %s", needle, err.msg);
}

static void write_xlmr_config(const char *dir) {
    const char *cfg = "{\"tokenizer_class\": \"XLMRobertaTokenizer\"}";
    test_write_file(dir, "tokenizer_config.json", cfg, strlen(cfg));
}

START_TEST(test_bad_model_files) {
    char *tmp = test_tmpdir();
    char *model = path_in(tmp, "sentencepiece.bpe.model");
    expect_spm_load_error("tests/golden/no-such-file.model");
    write_xlmr_config(tmp);
    expect_engine_error(tmp, "no SentencePiece");

    // Random bytes.
    unsigned char noise[4096];
    uint64_t state = 12345;
    for (size_t i = 0; i < sizeof noise; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        noise[i] = (unsigned char)(state >> 56);
    }
    test_write_file(tmp, "sentencepiece.bpe.model", noise, sizeof noise);
    expect_spm_load_error(model);
    expect_engine_error(tmp, model);

    // A valid model cut short, and an empty file.
    char *data;
    size_t len;
    Err err;
    ck_assert_msg(file_read_all(XLMR_MODEL, &data, &len, &err) == 0, "%s", err.msg);
    size_t cuts[] = {len / 2, 5000, 100, 0};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        test_write_file(tmp, "sentencepiece.bpe.model", data, cuts[i]);
        expect_spm_load_error(model);
        expect_engine_error(tmp, model);
    }
    free(data);
    free(model);
    test_tmpdir_remove(tmp);
}
END_TEST

// A config setup in a fresh directory holding the golden model as `model_name`.
static char *dir_with(const char *model_name, const char *file, const char *json) {
    char *tmp = test_tmpdir();
    char *model = path_in(tmp, model_name);
    Err err;
    ck_assert_msg(file_copy(XLMR_MODEL, model, &err) == 0, "%s", err.msg);
    free(model);
    if (file) test_write_file(tmp, file, json, strlen(json));
    return tmp;
}

START_TEST(test_unsupported_directories) {
    struct {
        const char *model, *file, *json, *needle;
    } cases[] = {
        {"sentencepiece.bpe.model", NULL, NULL, "cannot tell"},
        {"spiece.model", "tokenizer_config.json", "{\"tokenizer_class\": \"T5Tokenizer\"}",
         "T5Tokenizer"},
        {"sentencepiece.bpe.model", "config.json", "{\"model_type\": \"camembert\"}", "camembert"},
        {"spiece.model", "tokenizer_config.json", "{\"tokenizer_class\": \"XLMRobertaTokenizer\"}",
         "sentencepiece.bpe.model"},
        {"sentencepiece.bpe.model", "tokenizer_config.json", "{\"tokenizer_class\": ",
         "not valid JSON"},
        {"sentencepiece.bpe.model", "tokenizer_config.json",
         "{\"tokenizer_class\": \"XLMRobertaTokenizer\", \"added_tokens_decoder\": "
         "{\"1002\": {\"content\": \"<new>\"}}}",
         "<new>"},
        {"sentencepiece.bpe.model", "tokenizer_config.json",
         "{\"tokenizer_class\": \"XLMRobertaTokenizer\", \"mask_token\": \"[MASK]\"}", "[MASK]"},
        {"sentencepiece.bpe.model", "tokenizer_config.json",
         "{\"tokenizer_class\": \"XLMRobertaTokenizer\", \"add_prefix_space\": false}",
         "add_prefix_space"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *tmp = dir_with(cases[i].model, cases[i].file, cases[i].json);
        expect_engine_error(tmp, cases[i].needle);
        test_tmpdir_remove(tmp);
    }
}
END_TEST

// transformers would match user-defined pieces in the raw text as added
// tokens; the engine refuses such models rather than differ.
START_TEST(test_user_defined_symbols_rejected) {
    char *tmp = test_tmpdir();
    char *corpus = path_in(tmp, "corpus.txt"), *log = path_in(tmp, "tool.log");
    char *out = path_in(tmp, "train.out"), *model = path_in(tmp, "sentencepiece.bpe.model");
    write_corpus(corpus);
    char *a_input, *a_prefix;
    ck_assert_int_ge(asprintf(&a_input, "--input=%s", corpus), 0);
    ck_assert_int_ge(asprintf(&a_prefix, "--model_prefix=%s/sentencepiece.bpe", tmp), 0);
    char *train[] = {"spm_train", a_input, a_prefix, "--vocab_size=500",
                     "--user_defined_symbols=foo", "--num_threads=1", "--minloglevel=2", NULL};
    run_tool(train, out, log);
    write_xlmr_config(tmp);
    Err err;
    SpmModel *m = spm_load(model, &err);  // a valid model for spm itself
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_int_eq(spm_piece_to_id(m, "foo"), 3);
    spm_free(m);
    expect_engine_error(tmp, "user-defined");
    free(a_input), free(a_prefix), free(corpus), free(log), free(out), free(model);
    test_tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_model_file_lookup) {
    char buf[4096];
    char *tmp = test_tmpdir();
    ck_assert_ptr_null(sp_engine_model_file(tmp, buf, sizeof buf));
    test_write_file(tmp, "zeta.model", "x", 1);
    test_write_file(tmp, "alpha.model", "x", 1);
    char *want = path_in(tmp, "alpha.model");
    ck_assert_str_eq(sp_engine_model_file(tmp, buf, sizeof buf), want);
    free(want);
    test_write_file(tmp, "spiece.model", "x", 1);
    test_write_file(tmp, "sentencepiece.bpe.model", "x", 1);
    want = path_in(tmp, "sentencepiece.bpe.model");
    ck_assert_str_eq(sp_engine_model_file(tmp, buf, sizeof buf), want);
    ck_assert_ptr_null(sp_engine_model_file(tmp, buf, 8));  // does not fit
    free(want);
    test_tmpdir_remove(tmp);
}
END_TEST

START_TEST(test_invalid_utf8_text) {
    Err err;
    SpEngine *sp = sp_engine_load(XLMR_DIR, &err);
    ck_assert_msg(sp != NULL, "%s", err.msg);
    const char *bad[] = {"abc\xff", "\xc3", "over\xc0\xaflong", "sur\xed\xa0\x80rogate",
                         "\xf4\x90\x80\x80 too big"};
    int ids[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = '\0';
        ck_assert_int_eq(sp_engine_tokenize(sp, bad[i], ids, 64, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "UTF-8"));
    }
    sp_engine_free(sp);
}
END_TEST

Suite *sentencepiece_suite(void) {
    Suite *s = suite_create("sentencepiece");
    TCase *cli = tcase_create("cli");
    tcase_set_timeout(cli, 300);
    tcase_add_test(cli, test_spm_matches_cli_unigram);
    tcase_add_test(cli, test_spm_matches_cli_bpe);
    suite_add_tcase(s, cli);
    TCase *xlmr = tcase_create("xlmr");
    tcase_set_timeout(xlmr, 300);
    tcase_add_test(xlmr, test_xlmr_matches_transformers);
    tcase_add_test(xlmr, test_xlmr_output_capacity);
    tcase_add_test(xlmr, test_xlmr_from_model_type);
    suite_add_tcase(s, xlmr);
    TCase *errors = tcase_create("errors");
    tcase_set_timeout(errors, 300);
    tcase_add_test(errors, test_bad_model_files);
    tcase_add_test(errors, test_unsupported_directories);
    tcase_add_test(errors, test_user_defined_symbols_rejected);
    tcase_add_test(errors, test_model_file_lookup);
    tcase_add_test(errors, test_invalid_utf8_text);
    suite_add_tcase(s, errors);
    return s;
}
