// Training checkpoints.  A checkpoint directory is a Hugging Face model
// directory (config.json, model.safetensors, tokenizer files), so
// ./evaluate and transformers read it as is, plus:
//   optimizer.safetensors  AdamW moments "adamw.m", "adamw.v" [num_params]
//   trainer_state.json     step, data position, seed, best score, run config
// It is written to DIR.tmp and swapped into place in one rename, so a crash
// never leaves a half-written checkpoint where the last good one was.
#ifndef WEIGHTS_CHECKPOINT_H
#define WEIGHTS_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "model/bert.h"
#include "util/err.h"
#include "weights/family.h"

typedef struct {
    const char *source_dir;         // the pretrained model dir: tokenizer files, base config
    const ModelFamily *family;      // its family: tensor names, architecture
    const char *const *label_names; // [num_labels] or NULL (regression / generic)
    const float *moments[2];        // AdamW m and v [num_moments], or NULL
    size_t num_moments;
    const char *state_json;         // trainer_state.json text, or NULL
    const OutputMap *output_map;    // multi-label heads (hf_set_output_map), or NULL
    // A checkpoint directory written from these same weights (the best one,
    // saved at this step), or NULL: its model.safetensors is hard-linked
    // instead of written again.  Files are never changed in place (every
    // write is a new file swapped in), so the two names stay independent.
    const char *same_weights_dir;
} CheckpointContents;

// Refuses (naming the tensor) to write non-finite weights or moments; on
// any failure removes DIR.tmp and leaves DIR as it was.
int ckpt_save(const char *dir, Bert *model, const CheckpointContents *contents, Err *err);

// Reads optimizer.safetensors into m and v [n]; missing file is an error.
int ckpt_load_moments(const char *dir, float *m, float *v, size_t n, Err *err);
// Reads trainer_state.json (caller frees *json).
int ckpt_load_state(const char *dir, char **json, Err *err);

// ./export: writes checkpoint DIR as a Hugging Face directory OUT that
// transformers loads as the family's ...ForSequenceClassification
// (config.json with labels, problem_type and our attention fields;
// model.safetensors with e.g. bert.* and classifier.* names; tokenizer
// files) -- no optimizer state.
// Every tensor is read and checked on the way; OUT is replaced atomically.
// OUT must not exist, or be an empty directory or a previous export: a
// training checkpoint or a directory with other files is refused unless
// overwrite (./export --overwrite), so a mistyped --out never loses data.
int ckpt_export(const char *checkpoint_dir, const char *out_dir, bool overwrite, Err *err);

#endif
