// libFuzzer harness: tokenizer loading (tokenizer/tokenizer.h) from
// arbitrary files.  The first byte picks the layout of the rest:
//   mode 0: vocab.txt, then (split at NUL bytes) tokenizer_config.json,
//           special_tokens_map.json, added_tokens.json
//   mode 1: the same with tokenizer.json in place of vocab.txt
//   mode 2: sentencepiece.bpe.model (the whole rest), with the fixed
//           tokenizer_config.json of tests/golden/tok_xlmr_tiny
// A tokenizer that loads then encodes a few fixed texts (special tokens,
// accents, CJK, a pair) and every id it returns must have a piece.
#include "fuzz/fuzz.h"  // first: it sets _GNU_SOURCE

#include <stdlib.h>

#include "tokenizer/tokenizer.h"

static const char *const FILES[2][4] = {
    {"tok/vocab.txt", "tok/tokenizer_config.json", "tok/special_tokens_map.json", "tok/added_tokens.json"},
    {"tok/tokenizer.json", "tok/tokenizer_config.json", "tok/special_tokens_map.json", "tok/added_tokens.json"}};
static const char SPM_CONFIG[] = "{\"bos_token\":\"<s>\",\"eos_token\":\"</s>\",\"unk_token\":\"<unk>\","
                                 "\"sep_token\":\"</s>\",\"pad_token\":\"<pad>\",\"cls_token\":\"<s>\","
                                 "\"mask_token\":\"<mask>\",\"model_max_length\":512}";
static const char *const TEXTS[][2] = {
    {"Hello, world! [CLS] [SEP] [MASK] [UNK] <s> </s> <mask>", NULL},
    {"Caf\xc3\xa9 na\xc3\xafve \xe4\xb8\xad\xe6\x96\x87 unaffable ##ing", "second text, a pair"},
    {"", "\t \xe2\x80\x8b x"},
};
#define MAX_IDS 64

static void clear(void) {
    for (int m = 0; m < 2; m++)
        for (int i = 0; i < 4; i++) fuzz_remove(FILES[m][i]);
    fuzz_remove("tok/sentencepiece.bpe.model");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int mode = data[0] % 3;
    data++, size--;
    clear();
    if (mode == 2) {
        fuzz_write("tok/sentencepiece.bpe.model", data, size);
        fuzz_write("tok/tokenizer_config.json", (const uint8_t *)SPM_CONFIG, sizeof SPM_CONFIG - 1);
    } else {
        for (int part = 0; part < 4 && data; part++) {
            const uint8_t *nul = memchr(data, 0, size);
            size_t len = nul ? (size_t)(nul - data) : size;
            fuzz_write(FILES[mode][part], data, len);
            data = nul ? nul + 1 : NULL;
            size -= nul ? len + 1 : len;
        }
    }
    char dir[512];
    Err err;
    Tokenizer *tok = tok_load(fuzz_path(dir, sizeof dir, "tok"), &err);
    if (!tok) return 0;
    int n = tok_vocab_size(tok);
    for (int i = 0; i < n && i < 4096; i++) (void)tok_id_to_piece(tok, i);
    int ids[MAX_IDS], type_ids[MAX_IDS];
    for (size_t t = 0; t < sizeof TEXTS / sizeof TEXTS[0]; t++) {
        int len = tok_encode(tok, TEXTS[t][0], TEXTS[t][1], MAX_IDS, ids, type_ids, &err);
        if (len > MAX_IDS) abort();
        for (int i = 0; i < len; i++)
            if (ids[i] < 0 || ids[i] >= n || !tok_id_to_piece(tok, ids[i])) abort();
    }
    tok_free(tok);
    return 0;
}
