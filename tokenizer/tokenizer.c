// Public tokenizer: picks the engine from the model directory's files and
// frames the engine's ids with the model's special tokens, truncating
// pairs as Hugging Face tokenizers' "longest_first" does.
#include "tokenizer/tokenizer.h"

#include <cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/engines.h"
#include "util/fileio.h"

#define TOK_PATH_MAX 4096

struct Tokenizer {
    TokenizerKind kind;
    WordPiece *wp;
    SpEngine *sp;
    SpecialTokens specials;
};

// True when dir/tokenizer.json exists and its model is WordPiece.
static int has_wordpiece_json(const char *dir, bool *yes, Err *err) {
    char path[TOK_PATH_MAX];
    *yes = false;
    if (path_join(path, sizeof path, dir, "tokenizer.json", err)) return -1;
    if (!file_exists(path)) return 0;
    char *data;
    size_t len;
    if (file_read_all(path, &data, &len, err)) return -1;
    cJSON *root = cJSON_ParseWithLength(data, len);
    free(data);
    if (!root) return err_set(err, "%s: invalid JSON", path);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(model, "type"));
    *yes = type && strcmp(type, "WordPiece") == 0;
    cJSON_Delete(root);
    return 0;
}

Tokenizer *tok_load(const char *model_dir, Err *err) {
    if (!dir_exists(model_dir)) {
        err_set(err, "%s: tokenizer directory does not exist", model_dir);
        return NULL;
    }
    char path[TOK_PATH_MAX];
    bool wordpiece_json;
    if (path_join(path, sizeof path, model_dir, "vocab.txt", err) ||
        has_wordpiece_json(model_dir, &wordpiece_json, err))
        return NULL;
    Tokenizer *tok = err_calloc(err, 1, sizeof *tok, "Tokenizer");
    if (!tok) return NULL;
    char model_file[TOK_PATH_MAX];
    if (file_exists(path) || wordpiece_json) {
        tok->kind = TOK_WORDPIECE;
        tok->wp = wordpiece_load(model_dir, err);
        if (tok->wp) tok->specials = wordpiece_specials(tok->wp);
    } else if (sp_engine_model_file(model_dir, model_file, sizeof model_file)) {
        tok->kind = TOK_SENTENCEPIECE;
        tok->sp = sp_engine_load(model_dir, err);
        if (tok->sp) tok->specials = sp_engine_specials(tok->sp);
    } else {
        err_set(err,
                "%s: no tokenizer found (expected vocab.txt, a WordPiece tokenizer.json or a "
                "SentencePiece *.model file)",
                model_dir);
    }
    if (!tok->wp && !tok->sp) {
        free(tok);
        return NULL;
    }
    return tok;
}

void tok_free(Tokenizer *tok) {
    if (!tok) return;
    wordpiece_free(tok->wp);
    sp_engine_free(tok->sp);
    free(tok);
}

TokenizerKind tok_kind(const Tokenizer *tok) { return tok->kind; }

int tok_vocab_size(const Tokenizer *tok) {
    return tok->wp ? wordpiece_vocab_size(tok->wp) : sp_engine_vocab_size(tok->sp);
}

int tok_pad_id(const Tokenizer *tok) { return tok->specials.pad_id; }
int tok_cls_id(const Tokenizer *tok) { return tok->specials.cls_id; }
int tok_sep_id(const Tokenizer *tok) { return tok->specials.sep_id; }
int tok_unk_id(const Tokenizer *tok) { return tok->specials.unk_id; }

const char *tok_id_to_piece(const Tokenizer *tok, int id) {
    return tok->wp ? wordpiece_id_to_piece(tok->wp, id) : sp_engine_id_to_piece(tok->sp, id);
}

int tok_tokenize(const Tokenizer *tok, const char *text, int *ids, int cap, Err *err) {
    return tok->wp ? wordpiece_tokenize(tok->wp, text, ids, cap, err)
                   : sp_engine_tokenize(tok->sp, text, ids, cap, err);
}

// Lengths the two texts keep, as tokenizers' truncate_encodings does for
// LongestFirst: the shorter text is kept whole if it fits in half the
// budget and the longer gets the rest; otherwise each gets half, and an
// odd budget's extra token goes to the longer text (to the second on a tie).
static void longest_first(int n1, int n2, int budget, int *keep1, int *keep2) {
    if (n1 + n2 <= budget) {
        *keep1 = n1, *keep2 = n2;
        return;
    }
    bool swap = n1 > n2;
    int shorter = swap ? n2 : n1, longer;
    longer = shorter > budget ? shorter : (shorter > budget - shorter ? shorter : budget - shorter);
    if (shorter + longer > budget) {
        shorter = budget / 2;
        longer = shorter + budget % 2;
    }
    *keep1 = swap ? longer : shorter;
    *keep2 = swap ? shorter : longer;
    if (*keep1 > n1) *keep1 = n1;
    if (*keep2 > n2) *keep2 = n2;
}

int tok_encode(const Tokenizer *tok, const char *a, const char *b, int max_len, int *ids,
               int *type_ids, Err *err) {
    if (!a) return err_set(err, "tok_encode: first text is NULL");
    // transformers passes a pair only when text_pair is truthy, so an empty
    // second text encodes as a single text.
    bool pair = b && b[0];
    const SpecialTokens *sp = &tok->specials;
    int n_specials = pair ? 2 + sp->pair_separators : 2;
    if (max_len < n_specials)
        return err_set(err, "tok_encode: max_len %d cannot hold the %d special tokens of a %s",
                       max_len, n_specials, pair ? "pair" : "single text");
    int budget = max_len - n_specials;
    // The texts are tokenized straight into their final places; truncation
    // keeps prefixes, so at most `budget` ids of each are needed.
    int *buf = err_malloc(err, sizeof *buf * (size_t)(budget ? budget : 1), "tok_encode buffer");
    if (!buf) return -1;
    int n1 = tok_tokenize(tok, a, ids + 1, budget, err);
    int n2 = n1 < 0 || !pair ? 0 : tok_tokenize(tok, b, buf, budget, err);
    if (n1 < 0 || n2 < 0) {
        free(buf);
        return err_prefix(err, "tok_encode: %s text", n1 < 0 ? "first" : "second");
    }
    int keep1, keep2;
    if (pair) {
        longest_first(n1, n2, budget, &keep1, &keep2);
    } else {
        keep1 = n1 < budget ? n1 : budget, keep2 = 0;
    }
    int len = 0;
    ids[len++] = sp->cls_id;
    len += keep1;
    ids[len++] = sp->sep_id;
    int first_end = len;
    if (pair) {
        for (int i = 1; i < sp->pair_separators; i++) ids[len++] = sp->sep_id;
        first_end = len;
        memcpy(ids + len, buf, sizeof *buf * (size_t)keep2);
        len += keep2;
        ids[len++] = sp->sep_id;
    }
    free(buf);
    if (type_ids)
        for (int i = 0; i < len; i++) type_ids[i] = i < first_end ? 0 : sp->second_type_id;
    return len;
}
