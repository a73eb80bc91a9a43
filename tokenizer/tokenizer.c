// Public tokenizer: picks an engine row (the one asked for, or the first
// whose files the model directory holds) and frames the engine's ids with the model's special tokens, truncating
// pairs as Hugging Face tokenizers' "longest_first" does.
#include "tokenizer/tokenizer.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/engines.h"
#include "util/fileio.h"

// The engines by kind; tok_load tries them in this order.
static const TokEngine *const ENGINES[] = {
    [TOK_WORDPIECE] = &WORDPIECE_ENGINE,
    [TOK_SENTENCEPIECE] = &SENTENCEPIECE_ENGINE,
};
enum { N_ENGINES = sizeof ENGINES / sizeof ENGINES[0] };

struct Tokenizer {
    const TokEngine *engine;
    void *state;  // the engine's
    SpecialTokens specials;
};

static Tokenizer *load_engine(const TokEngine *engine, const char *model_dir, Err *err) {
    Tokenizer *tok = err_calloc(err, 1, sizeof *tok, "Tokenizer");
    if (!tok) return NULL;
    tok->engine = engine;
    tok->state = engine->load(model_dir, err);
    if (!tok->state) {
        free(tok);
        return NULL;
    }
    tok->specials = engine->specials(tok->state);
    return tok;
}

static int check_dir(const char *model_dir, Err *err) {
    if (dir_exists(model_dir)) return 0;
    return err_set(err, "%s: tokenizer directory does not exist", model_dir);
}

Tokenizer *tok_load(const char *model_dir, Err *err) {
    if (check_dir(model_dir, err) != 0) return NULL;
    char expected[512] = "";
    for (int i = 0; i < N_ENGINES; i++) {
        bool present;
        if (ENGINES[i]->present(model_dir, &present, err) != 0) return NULL;
        if (present) return load_engine(ENGINES[i], model_dir, err);
        size_t n = strlen(expected);
        snprintf(expected + n, sizeof expected - n, "%s%s", i ? ", or " : "", ENGINES[i]->files);
    }
    err_set(err, "%s: no tokenizer found (expected %s)", model_dir, expected);
    return NULL;
}

Tokenizer *tok_load_kind(const char *model_dir, TokenizerKind kind, Err *err) {
    if (check_dir(model_dir, err) != 0) return NULL;
    if ((int)kind < 0 || (int)kind >= N_ENGINES) {
        err_set(err, "%s: unknown tokenizer kind %d", model_dir, (int)kind);
        return NULL;
    }
    const TokEngine *engine = ENGINES[kind];
    bool present;
    if (engine->present(model_dir, &present, err) != 0) return NULL;
    if (!present) {
        err_set(err, "%s: no %s tokenizer (expected %s)", model_dir, engine->name, engine->files);
        return NULL;
    }
    return load_engine(engine, model_dir, err);
}

void tok_free(Tokenizer *tok) {
    if (!tok) return;
    tok->engine->free(tok->state);
    free(tok);
}

TokenizerKind tok_kind(const Tokenizer *tok) { return tok->engine->kind; }

int tok_vocab_size(const Tokenizer *tok) { return tok->engine->vocab_size(tok->state); }

int tok_pad_id(const Tokenizer *tok) { return tok->specials.pad_id; }
int tok_cls_id(const Tokenizer *tok) { return tok->specials.cls_id; }
int tok_sep_id(const Tokenizer *tok) { return tok->specials.sep_id; }
int tok_unk_id(const Tokenizer *tok) { return tok->specials.unk_id; }

const char *tok_id_to_piece(const Tokenizer *tok, int id) {
    return tok->engine->id_to_piece(tok->state, id);
}

int tok_tokenize(const Tokenizer *tok, const char *text, int *ids, int cap, Err *err) {
    return tok->engine->tokenize(tok->state, text, ids, cap, err);
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
