// A small C API over Debian's libsentencepiece (C++), so the rest of the
// engine stays C.  Implemented in tokenizer/spm.cc.
#ifndef TOKENIZER_SPM_H
#define TOKENIZER_SPM_H

#include "util/err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct SpmModel SpmModel;

SpmModel *spm_load(const char *model_path, Err *err);
void spm_free(SpmModel *m);
int spm_vocab_size(const SpmModel *m);
// Id of a piece, or -1 if the piece is not in the vocabulary.
int spm_piece_to_id(const SpmModel *m, const char *piece);
// Piece text of an id, or NULL when out of range (pointer valid until spm_free).
const char *spm_id_to_piece(const SpmModel *m, int id);
int spm_unk_id(const SpmModel *m);
int spm_bos_id(const SpmModel *m);
int spm_eos_id(const SpmModel *m);
int spm_pad_id(const SpmModel *m);
// Encodes text into piece ids exactly as `spm_encode --output_format=id`.
// Writes at most cap ids; returns the full count, or -1 on error.
int spm_encode_ids(const SpmModel *m, const char *text, int *ids, int cap, Err *err);

#ifdef __cplusplus
}
#endif

#endif
