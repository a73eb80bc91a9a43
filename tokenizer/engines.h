// Internal contract between tokenizer.c (special tokens, pairs, truncation)
// and the engines that turn raw text into ids.  Not part of the public API:
// use tokenizer/tokenizer.h.
#ifndef TOKENIZER_ENGINES_H
#define TOKENIZER_ENGINES_H

#include <stdbool.h>

#include "tokenizer/tokenizer.h"
#include "util/err.h"

// How an engine's model frames its inputs.
typedef struct {
    int cls_id, sep_id, pad_id, unk_id;
    // Separators between the two texts of a pair: 1 for BERT
    // ([CLS] a [SEP] b [SEP]), 2 for RoBERTa / XLM-R (<s> a </s></s> b </s>).
    int pair_separators;
    // token_type id of the second text: 1 for BERT, 0 for RoBERTa / XLM-R.
    int second_type_id;
} SpecialTokens;

// One row per engine, defined beside its code; tokenizer.c reaches engines
// only through these rows (its table lists them in TokenizerKind order).
// A new engine (e.g. byte-level BPE for RoBERTa) is a new file with its row,
// a TokenizerKind value and an entry in that table.
typedef struct {
    TokenizerKind kind;
    const char *name;   // "WordPiece", for messages
    const char *files;  // what it loads, for messages
    // Whether model_dir holds this engine's files; -1 on a read error.
    int (*present)(const char *model_dir, bool *yes, Err *err);
    void *(*load)(const char *model_dir, Err *err);
    void (*free)(void *engine);
    int (*tokenize)(const void *engine, const char *text, int *ids, int cap, Err *err);
    int (*vocab_size)(const void *engine);
    const char *(*id_to_piece)(const void *engine, int id);
    SpecialTokens (*specials)(const void *engine);
} TokEngine;

extern const TokEngine WORDPIECE_ENGINE, SENTENCEPIECE_ENGINE;

// The engines' functions have the row's signatures, with their state behind
// the void pointers.

// WordPiece (tokenizer/wordpiece.c): our own code, exact parity with
// Hugging Face's BertTokenizer.  State: WordPiece.
typedef struct WordPiece WordPiece;
void *wordpiece_load(const char *model_dir, Err *err);
void wordpiece_free(void *wp);
int wordpiece_tokenize(const void *wp, const char *text, int *ids, int cap, Err *err);
int wordpiece_vocab_size(const void *wp);
const char *wordpiece_id_to_piece(const void *wp, int id);
SpecialTokens wordpiece_specials(const void *wp);

// SentencePiece (tokenizer/sp_engine.c over tokenizer/spm.h): for model
// directories that ship a *.model file.  Ids are those the checkpoint's
// Hugging Face tokenizer gives (e.g. XLM-R's fairseq offset).  State: SpEngine.
typedef struct SpEngine SpEngine;
void *sp_engine_load(const char *model_dir, Err *err);
void sp_engine_free(void *sp);
int sp_engine_tokenize(const void *sp, const char *text, int *ids, int cap, Err *err);
int sp_engine_vocab_size(const void *sp);
const char *sp_engine_id_to_piece(const void *sp, int id);
SpecialTokens sp_engine_specials(const void *sp);
// The *.model file a directory ships, or NULL when it has none.
const char *sp_engine_model_file(const char *model_dir, char *buf, int cap);

#endif
