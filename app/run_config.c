#define _GNU_SOURCE
#include "app/run_config.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/attention.h"
#include "util/fileio.h"

// run_config keys (app/finetune.c run_config_json) that are not spelled
// as their option with '_' for '-'.
static const struct {
    const char *key, *option;
} RUN_CONFIG_KEYS[] = {
    {"train_file", "train"},
    {"dev_file", "dev"},
    {"text_col", "text-col"},
    {"text_b_col", "text-b-col"},
    {"label_col", "label-col"},
};

static const CliOption *find_option(const CliTable *tables, int num_tables, const char *name) {
    for (int t = 0; t < num_tables; t++)
        for (int i = 0; i < tables[t].n; i++)
            if (strcmp(tables[t].rows[i].name, name) == 0) return &tables[t].rows[i];
    return NULL;
}

// The option a key names: run_config's spelling, else the key with '_' as '-'.
static void option_name(const char *key, char *out, size_t cap) {
    for (size_t i = 0; i < sizeof RUN_CONFIG_KEYS / sizeof RUN_CONFIG_KEYS[0]; i++)
        if (strcmp(key, RUN_CONFIG_KEYS[i].key) == 0) {
            snprintf(out, cap, "%s", RUN_CONFIG_KEYS[i].option);
            return;
        }
    snprintf(out, cap, "%s", key);
    for (char *p = out; *p; p++)
        if (*p == '_') *p = '-';
}

typedef struct {
    char **v;
    int n, cap;
} Args;

static int push(Args *a, const char *s, Err *err) {
    if (a->n + 1 >= a->cap) {
        int cap = a->cap ? 2 * a->cap : 32;
        char **v = realloc(a->v, (size_t)cap * sizeof *v);
        if (!v) return err_set(err, "out of memory reading --config");
        a->v = v;
        a->cap = cap;
    }
    if (!(a->v[a->n] = strdup(s))) return err_set(err, "out of memory reading --config");
    a->v[++a->n] = NULL;
    return 0;
}

// The three dropout rates of a run_config: --dropout when they are equal.
static int dropout_option(const char *path, const cJSON *root, Args *a, Err *err) {
    static const char *const keys[3] = {"dropout_hidden", "dropout_attention", "dropout_classifier"};
    const cJSON *v[3];
    int present = 0;
    for (int k = 0; k < 3; k++) present += (v[k] = cJSON_GetObjectItemCaseSensitive(root, keys[k])) != NULL;
    if (present == 0) return 0;
    if (present != 3 || !cJSON_IsNumber(v[0]) || !cJSON_IsNumber(v[1]) || !cJSON_IsNumber(v[2]) ||
        v[0]->valuedouble != v[1]->valuedouble || v[0]->valuedouble != v[2]->valuedouble)
        return err_set(err, "%s: dropout_hidden, dropout_attention and dropout_classifier must be "
                       "three equal numbers (--dropout sets all three)", path);
    char num[64];
    snprintf(num, sizeof num, "%.17g", v[0]->valuedouble);
    return push(a, "--dropout", err) || push(a, num, err);
}

static bool is_dropout_key(const char *key) { return strncmp(key, "dropout_", 8) == 0; }

// r with a map that takes no parameter (run_config writes r 0 for softmax).
static bool r_without_param(const cJSON *root) {
    const char *attn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "attn"));
    AttnMap map;
    Err ignored;
    return attn && attn_map_parse(attn, 0, 0, &map, &ignored) == 0 && !attn_map_has_param(map);
}

static int file_options(const char *path, const CliTable *tables, int num_tables, Args *a,
                        Err *err) {
    char *text;
    size_t len;
    if (file_read_all(path, &text, &len, err) != 0) return err_prefix(err, "--config");
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return err_set(err, "--config %s: not a JSON object", path);
    }
    const char *task = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(root, "task"));
    bool custom = task && strcmp(task, "custom") == 0;
    int rc = dropout_option(path, root, a, err);
    const cJSON *item;
    cJSON_ArrayForEach(item, root) {
        if (rc != 0) break;
        const char *key = item->string;
        if (is_dropout_key(key) || (strcmp(key, "r") == 0 && r_without_param(root)) ||
            (strcmp(key, "data_dir") == 0 && custom))
            continue;  // folded into --dropout; softmax's r 0; a custom task's unused GLUE root
        char name[128], opt[132];
        option_name(key, name, sizeof name);
        const CliOption *o = find_option(tables, num_tables, name);
        if (!o || strcmp(name, "config") == 0) {
            rc = err_set(err, "--config %s: \"%s\" is not an option of this command", path, key);
            break;
        }
        snprintf(opt, sizeof opt, "--%s", name);
        char value[64];
        if (o->type == CLI_FLAG) {
            if (!cJSON_IsBool(item))
                rc = err_set(err, "--config %s: \"%s\" is a flag: true or false", path, key);
            else if (cJSON_IsTrue(item))
                rc = push(a, opt, err);
        } else if (cJSON_IsString(item)) {
            rc = push(a, opt, err) || push(a, item->valuestring, err);
        } else if (cJSON_IsNumber(item)) {
            snprintf(value, sizeof value, "%.17g", item->valuedouble);
            rc = push(a, opt, err) || push(a, value, err);
        } else {
            rc = err_set(err, "--config %s: \"%s\" must be a string or a number", path, key);
        }
    }
    cJSON_Delete(root);
    return rc;
}

int config_expand_args(int argc, char **argv, const CliTable *tables, int num_tables,
                       int *out_argc, char ***out_argv, Err *err) {
    *out_argc = argc;
    *out_argv = argv;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) break;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) path = argv[i + 1];
        if (strncmp(argv[i], "--config=", 9) == 0) path = argv[i] + 9;
    }
    if (!path) return 0;
    Args a = {0};
    int rc = push(&a, argv[0], err);
    if (rc == 0) rc = file_options(path, tables, num_tables, &a, err);
    for (int i = 1; i < argc && rc == 0; i++) rc = push(&a, argv[i], err);
    if (rc != 0) {
        config_args_free(a.n, a.v, argv);
        return -1;
    }
    *out_argc = a.n;
    *out_argv = a.v;
    return 0;
}

void config_args_free(int argc, char **argv, char **original) {
    if (!argv || argv == original) return;
    for (int i = 0; i < argc; i++) free(argv[i]);
    free(argv);
}
