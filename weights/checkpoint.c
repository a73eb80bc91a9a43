#include "weights/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"
#include "weights/hf_model.h"
#include "weights/remote_code.h"
#include "weights/safetensors.h"

static const char *const moment_names[2] = {"adamw.m", "adamw.v"};

// tmp/model.safetensors: a hard link to c->same_weights_dir's when there is
// one (it saves writing and syncing 90 MB for MiniLM, 1.3 GB for BERT-large),
// else written from the model.  A file system without hard links gets the
// file written: the same bytes either way.
static int save_weights(const char *tmp, Bert *model, const CheckpointContents *c, Err *err) {
    char from[4096], to[4096];
    if (c->same_weights_dir &&
        path_join(from, sizeof from, c->same_weights_dir, "model.safetensors", err) == 0 &&
        path_join(to, sizeof to, tmp, "model.safetensors", err) == 0 && link(from, to) == 0)
        return 0;
    return hf_save_params(model, c->family, tmp, err);
}

// Writes everything of a checkpoint into tmp.
static int write_contents(const char *tmp, Bert *model, const CheckpointContents *c, Err *err) {
    char path[4096];
    if (dir_make(tmp, err) != 0 || save_weights(tmp, model, c, err) != 0 ||
        hf_save_config(c->source_dir, tmp, bert_config(model), c->family, c->label_names, err) != 0 ||
        hf_copy_tokenizer(c->source_dir, tmp, err) != 0 ||
        (c->output_map && hf_set_output_map(tmp, c->output_map, err) != 0))
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
    return 0;
}

// The first non-finite value of the weights or moments, named: a checkpoint
// with one would be worse than the last good one it replaces.
static int check_finite(Bert *model, const CheckpointContents *c, const char *dir, Err *err) {
    if (hf_check_finite(model, c->family, dir, err) != 0) return -1;
    for (int i = 0; i < 2 && c->moments[i]; i++)
        for (size_t k = 0; k < c->num_moments; k++)
            if (!isfinite(c->moments[i][k]))
                return err_set(err, "%s: not written: optimizer state %s[%zu] is %g", dir,
                               moment_names[i], k, c->moments[i][k]);
    return 0;
}

int ckpt_save(const char *dir, Bert *model, const CheckpointContents *c, Err *err) {
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    if (n < 0 || (size_t)n >= sizeof tmp) return err_set(err, "%s: path too long", dir);
    if (!c->family) return err_set(err, "%s: checkpoint without a model family", dir);
    if (check_finite(model, c, dir, err) != 0) return -1;
    if (dir_remove_tree(tmp, err) != 0) return -1;
    if (write_contents(tmp, model, c, err) != 0 || dir_replace(tmp, dir, err) != 0) {
        // A failed write (a full disk, a file-size limit) leaves no half
        // checkpoint behind; the old one at dir is untouched.
        Err ignored;
        dir_remove_tree(tmp, &ignored);
        return -1;
    }
    return 0;
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

// Files ./export writes (hf_save_config, hf_save_params, hf_copy_tokenizer),
// or their NAME.tmp while being written (left by an interrupted export).
static int is_export_file(const char *name) {
    char base[256];
    size_t n = strlen(name);
    if (n >= sizeof base) return 0;
    memcpy(base, name, n + 1);
    if (n > 4 && strcmp(base + n - 4, ".tmp") == 0) base[n - 4] = '\0';
    return strcmp(base, "config.json") == 0 || strcmp(base, "model.safetensors") == 0 ||
           hf_is_tokenizer_file(base);
}

// Whether ./export may replace out_dir: it does not exist, or is an empty
// directory or a previous export.  A training checkpoint (its optimizer
// state would be lost) or any other file is refused unless overwrite.
static int check_export_target(const char *out, bool overwrite, Err *err) {
    if (out[0] == '\0') return err_set(err, "--out is empty: give the directory to write");
    struct stat st;
    if (lstat(out, &st) != 0) {
        if (errno == ENOENT) return 0;
        return err_set(err, "%s: cannot stat: %s", out, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return err_set(err, "%s: exists and is not a directory; --out must be a directory", out);
    DIR *d = opendir(out);
    if (!d) return err_set(err, "%s: cannot open directory: %s", out, strerror(errno));
    struct dirent *ent;
    char checkpoint_file[256] = "", foreign[256] = "";
    while ((ent = readdir(d)) != NULL) {
        const char *name = ent->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        if (strcmp(name, "trainer_state.json") == 0 || strcmp(name, "optimizer.safetensors") == 0)
            snprintf(checkpoint_file, sizeof checkpoint_file, "%s", name);
        else if (!is_export_file(name) && !foreign[0])
            snprintf(foreign, sizeof foreign, "%s", name);
    }
    closedir(d);
    if (overwrite) return 0;
    if (checkpoint_file[0])
        return err_set(err, "%s: is a training checkpoint (it has %s): exporting over it would "
                            "lose its optimizer state; choose another --out (or pass --overwrite)",
                       out, checkpoint_file);
    if (foreign[0])
        return err_set(err, "%s: is not empty and not a previous export (it holds %s): choose "
                            "another --out (or pass --overwrite to replace everything in it)",
                       out, foreign);
    return 0;
}

int ckpt_export(const char *checkpoint_dir, const char *out_arg, bool overwrite, Err *err) {
    // "runs/x/" names runs/x: without the slash, so that the temporary
    // directory is runs/x.tmp beside it and not runs/x/.tmp inside it.
    char out_dir[4096];
    size_t len = strlen(out_arg);
    while (len > 1 && out_arg[len - 1] == '/') len--;
    if (len >= sizeof out_dir) return err_set(err, "%s: path too long", out_arg);
    memcpy(out_dir, out_arg, len);
    out_dir[len] = '\0';
    // OUT.tmp is removed before writing: it too must hold nothing of the user's.
    char tmp[4096 + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", out_dir);
    if (check_export_target(out_dir, overwrite, err) != 0 ||
        check_export_target(tmp, overwrite, err) != 0)
        return -1;
    HfConfig cfg;
    if (hf_config_load(checkpoint_dir, &cfg, err) != 0) return -1;
    Bert *m = bert_build(&cfg.bert, 1, 1, err);
    if (!m) return -1;
    const char *names[HF_MAX_LABELS];
    for (int i = 0; i < cfg.num_label_names; i++) names[i] = cfg.label_names[i];
    CheckpointContents c = {.source_dir = checkpoint_dir,
                            .family = cfg.family,
                            .label_names = cfg.has_label_names ? names : NULL,
                            .output_map = cfg.has_output_map ? &cfg.output_map : NULL};
    int rc = hf_load_params(m, cfg.family, checkpoint_dir, err);
    if (rc == 0) rc = ckpt_save(out_dir, m, &c, err);
    if (rc == 0) rc = remote_code_export(out_dir, &cfg.bert, cfg.family, err);
    bert_free(m);
    return rc;
}
