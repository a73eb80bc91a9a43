// libFuzzer harness: WordPiece and SentencePiece encoding of arbitrary bytes
// (tokenizer/tokenizer.h).  The vocabularies are small committed files:
//   tests/golden/export_tiny    vocab.txt (121 pieces) + tokenizer_config.json
//   tests/golden/tok_small_json a WordPiece tokenizer.json
//   tests/golden/tok_xlmr_tiny  a SentencePiece unigram model (1000 pieces)
// The input is text a, or "a\0b" for a pair; the first byte picks max_len.
// Every id returned must be in the vocabulary.  Run from the repository root.
#include "fuzz/fuzz.h"  // first: it sets _GNU_SOURCE

#include <stdlib.h>

#include "tokenizer/tokenizer.h"

static const char *const TOKENIZER_DIRS[] = {"tests/golden/export_tiny", "tests/golden/tok_small_json",
                                             "tests/golden/tok_xlmr_tiny"};
#define NUM_TOKENIZERS (int)(sizeof TOKENIZER_DIRS / sizeof TOKENIZER_DIRS[0])
#define MAX_IDS 512

static Tokenizer *tokenizers[NUM_TOKENIZERS];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    for (int i = 0; i < NUM_TOKENIZERS; i++) {
        Err err;
        tokenizers[i] = tok_load(TOKENIZER_DIRS[i], &err);
        if (!tokenizers[i]) {
            fprintf(stderr, "fuzz_tokenize: %s (run from the repository root)\n", err.msg);
            exit(1);
        }
    }
    return 0;
}

static void check_ids(const Tokenizer *tok, const int *ids, int n) {
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= tok_vocab_size(tok) || !tok_id_to_piece(tok, ids[i])) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int max_len = 2 + data[0] % 64;
    char *text = malloc(size + 1);  // a, then b after the first NUL (if any)
    if (!text) abort();
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    const char *a = text, *b = NULL;
    size_t alen = strlen(text);
    if (alen < size - 1) b = text + alen + 1;
    int ids[MAX_IDS], type_ids[MAX_IDS];
    for (int i = 0; i < NUM_TOKENIZERS; i++) {
        Err err;
        const Tokenizer *tok = tokenizers[i];
        int n = tok_tokenize(tok, a, ids, MAX_IDS, &err);
        if (n >= 0) check_ids(tok, ids, n < MAX_IDS ? n : MAX_IDS);
        n = tok_encode(tok, a, b, max_len, ids, type_ids, &err);
        if (n > max_len) abort();
        if (n >= 0) check_ids(tok, ids, n);
    }
    free(text);
    return 0;
}
