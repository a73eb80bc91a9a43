#include "weights/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fileio.h"
#include "weights/hf_model.h"
#include "weights/remote_code.h"
#include "weights/safetensors.h"

static const char *const moment_names[2] = {"adamw.m", "adamw.v"};

int ckpt_save(const char *dir, Bert *model, const CheckpointContents *c, Err *err) {
    char tmp[4096], path[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    if (n < 0 || (size_t)n >= sizeof tmp) return err_set(err, "%s: path too long", dir);
    if (dir_remove_tree(tmp, err) != 0 || dir_make(tmp, err) != 0) return -1;
    if (hf_save_params(model, tmp, err) != 0 ||
        hf_save_config(c->source_dir, tmp, bert_config(model), c->label_names, err) != 0 ||
        hf_copy_tokenizer(c->source_dir, tmp, err) != 0)
        return -1;
    if (c->moments[0]) {
        StWriteTensor t[2];
        for (int i = 0; i < 2; i++)
            t[i] = (StWriteTensor){.name = moment_names[i], .dtype = ST_F32, .ndim = 1,
                                   .shape = {(int64_t)c->num_moments}, .data = c->moments[i]};
        if (path_join(path, sizeof path, tmp, "optimizer.safetensors", err) != 0 ||
            st_write(path, t, 2, NULL, 0, err) != 0)
            return -1;
    }
    if (c->state_json) {
        if (path_join(path, sizeof path, tmp, "trainer_state.json", err) != 0 ||
            file_write_atomic(path, c->state_json, strlen(c->state_json), err) != 0)
            return -1;
    }
    return dir_replace(tmp, dir, err);
}

int ckpt_load_moments(const char *dir, float *m, float *v, size_t n, Err *err) {
    char path[4096];
    if (path_join(path, sizeof path, dir, "optimizer.safetensors", err) != 0) return -1;
    StFile *f = st_open(path, err);
    if (!f) return -1;
    float *out[2] = {m, v};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        const StTensor *t = st_find(f, moment_names[i]);
        if (!t)
            rc = err_set(err, "%s: tensor %s: missing", path, moment_names[i]);
        else if (t->numel != n)
            rc = err_set(err, "%s: tensor %s: %zu values, the model has %zu parameters", path,
                         moment_names[i], t->numel, n);
        else
            rc = st_to_f32(f, t, out[i], n, err);
    }
    st_close(f);
    return rc;
}

int ckpt_load_state(const char *dir, char **json, Err *err) {
    char path[4096];
    if (path_join(path, sizeof path, dir, "trainer_state.json", err) != 0) return -1;
    return file_read_all(path, json, NULL, err);
}

int ckpt_export(const char *checkpoint_dir, const char *out_dir, Err *err) {
    HfConfig cfg;
    if (hf_config_load(checkpoint_dir, &cfg, err) != 0) return -1;
    Bert *m = bert_build(&cfg.bert, 1, 1, err);
    if (!m) return -1;
    const char *names[HF_MAX_LABELS];
    for (int i = 0; i < cfg.num_label_names; i++) names[i] = cfg.label_names[i];
    CheckpointContents c = {.source_dir = checkpoint_dir,
                            .label_names = cfg.has_label_names ? names : NULL};
    int rc = hf_load_params(m, checkpoint_dir, err);
    if (rc == 0) rc = ckpt_save(out_dir, m, &c, err);
    if (rc == 0) rc = remote_code_export(out_dir, &cfg.bert, err);
    bert_free(m);
    return rc;
}
