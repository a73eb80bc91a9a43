// libFuzzer harness: what loading a checkpoint parses (weights/checkpoint.h,
// weights/hf_model.h, weights/safetensors.h).  The model is the tiny BERT of
// tests/golden/export_tiny (run from the repository root).  The first byte
// picks what the rest of the input is:
//   mode 0: the checkpoint's model.safetensors, loaded with hf_load_params
//   mode 1: its optimizer.safetensors, loaded with ckpt_load_moments
//   mode 2: a model.safetensors.index.json next to the three shards of
//           tests/golden/st_sharded, opened with st_model_open
//   mode 3: its trainer_state.json, read with ckpt_load_state
// (app/finetune.c's resume() reads the trainer state; it is static and needs
// a whole run, so mode 3 stops at what weights/ reads.)
#include "fuzz/fuzz.h"  // first: it sets _GNU_SOURCE

#include <stdlib.h>

#include "util/fileio.h"
#include "weights/checkpoint.h"
#include "weights/hf_model.h"
#include "weights/safetensors.h"

#define MODEL_DIR "tests/golden/export_tiny"
#define SHARD_DIR "tests/golden/st_sharded"
static const char *const SHARDS[] = {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                                     "model-00003-of-00003.safetensors"};

static Bert *model;
static const ModelFamily *family;
static float *moments;
static size_t num_params;

static void die(const Err *err) {
    fprintf(stderr, "fuzz_checkpoint: %s (run from the repository root)\n", err->msg);
    exit(1);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    Err err;
    HfConfig cfg;
    if (hf_config_load(MODEL_DIR, &cfg, &err) != 0) die(&err);
    model = hf_load_model(MODEL_DIR, &cfg, 0, 1, 4, 1, NULL, &err);
    family = cfg.family;
    if (!model) die(&err);
    bert_params(model, &num_params);
    moments = malloc(2 * num_params * sizeof *moments);
    if (!moments) abort();
    char src[512], name[512], dst[512];
    for (int i = 0; i < 3; i++) {
        snprintf(src, sizeof src, "%s/%s", SHARD_DIR, SHARDS[i]);
        snprintf(name, sizeof name, "shards/%s", SHARDS[i]);
        fuzz_write(name, (const uint8_t *)"", 0);  // makes the folder
        if (file_copy(src, fuzz_path(dst, sizeof dst, name), &err) != 0) die(&err);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int mode = data[0] % 4;
    data++, size--;
    char dir[512];
    Err err;
    if (mode == 0) {
        fuzz_write("ckpt/model.safetensors", data, size);
        (void)hf_load_params(model, family, fuzz_path(dir, sizeof dir, "ckpt"), &err);
    } else if (mode == 1) {
        fuzz_write("ckpt/optimizer.safetensors", data, size);
        (void)ckpt_load_moments(fuzz_path(dir, sizeof dir, "ckpt"), moments, moments + num_params,
                                num_params, &err);
    } else if (mode == 2) {
        fuzz_write("shards/model.safetensors.index.json", data, size);
        StModel *m = st_model_open(fuzz_path(dir, sizeof dir, "shards"), &err);
        if (!m) return 0;
        for (int s = 0; s < st_model_shards(m); s++) {
            const StFile *f = st_model_shard(m, s);
            for (int i = 0; i < st_count(f); i++) {
                const StFile *where;
                const StTensor *t = st_model_find(m, st_tensor_at(f, i)->name, &where);
                if (t && !where) abort();
            }
        }
        (void)st_model_find(m, "layer.0.weight", NULL);
        st_model_close(m);
    } else {
        fuzz_write("ckpt/trainer_state.json", data, size);
        char *json;
        if (ckpt_load_state(fuzz_path(dir, sizeof dir, "ckpt"), &json, &err) == 0) free(json);
    }
    return 0;
}
