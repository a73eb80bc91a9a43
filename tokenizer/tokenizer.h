// One tokenizer interface over a table of engines (tokenizer/engines.h):
// WordPiece (our own C, exact parity with Hugging Face's BertTokenizer) and
// SentencePiece (XLM-R's tokenizer, over libsentencepiece).  The model
// family names its engine (tok_load_kind); tok_load picks it from the files.
#ifndef TOKENIZER_TOKENIZER_H
#define TOKENIZER_TOKENIZER_H

#include "util/err.h"

typedef struct Tokenizer Tokenizer;

typedef enum { TOK_WORDPIECE = 0, TOK_SENTENCEPIECE = 1 } TokenizerKind;

// Loads from a Hugging Face model directory the engine whose files it holds
// (tried in TokenizerKind order):
//   WordPiece:     vocab.txt or tokenizer.json (+ tokenizer_config.json)
//   SentencePiece: a *.model file (sentencepiece.bpe.model, spiece.model, ...)
Tokenizer *tok_load(const char *model_dir, Err *err);
// Loads the given engine (a model family's, weights/family.h); missing
// files are an error naming what the engine expects.
Tokenizer *tok_load_kind(const char *model_dir, TokenizerKind kind, Err *err);
void tok_free(Tokenizer *tok);

TokenizerKind tok_kind(const Tokenizer *tok);
int tok_vocab_size(const Tokenizer *tok);
int tok_pad_id(const Tokenizer *tok);
int tok_cls_id(const Tokenizer *tok);
int tok_sep_id(const Tokenizer *tok);
int tok_unk_id(const Tokenizer *tok);
// Piece text for an id, or NULL if out of range.
const char *tok_id_to_piece(const Tokenizer *tok, int id);

// Tokenizes `text` into ids with no special tokens added.  Writes at most
// `cap` ids into `ids`; returns the full count (which may exceed cap, as
// snprintf does) or -1 on error (e.g. invalid UTF-8).
int tok_tokenize(const Tokenizer *tok, const char *text, int *ids, int cap, Err *err);

// Encodes a single text (b == NULL) or a pair, adding the model's special
// tokens ([CLS] a [SEP] (b [SEP]) for BERT), truncating to max_len tokens
// with Hugging Face's "longest_first" rule.  `ids` and `type_ids` must hold
// max_len entries (type_ids may be NULL).  Returns the length (the
// attention mask is 1 for the first `length` positions) or -1 on error.
int tok_encode(const Tokenizer *tok, const char *a, const char *b, int max_len, int *ids,
               int *type_ids, Err *err);

#endif
