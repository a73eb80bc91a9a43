#include "weights/remote_code.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/fileio.h"
#include "weights/hf_model.h"

// The template, embedded by the Makefile (build/gen/export_templates.c).
extern const unsigned char export_template_modeling[];
extern const size_t export_template_modeling_len;

int remote_code_export(const char *dir, const BertConfig *cfg, const ModelFamily *family,
                       Err *err) {
    if (cfg->attn.kind == ATTN_SOFTMAX) return 0;
    char path[4096];
    if (path_join(path, sizeof path, dir, REMOTE_CODE_FILE, err) != 0 ||
        file_write_atomic(path, export_template_modeling, export_template_modeling_len, err) != 0)
        return -1;
    if (path_join(path, sizeof path, dir, "config.json", err) != 0) return -1;
    cJSON *root = hf_json_read_object(path, err);
    if (!root) return -1;
    char name[3][128];
    const char *module = "modeling_sparse_attention", *prefix = family->sparse_class_prefix;
    snprintf(name[0], sizeof name[0], "%s.%sConfig", module, prefix);
    snprintf(name[1], sizeof name[1], "%s.%sModel", module, prefix);
    snprintf(name[2], sizeof name[2], "%s.%sForSequenceClassification", module, prefix);
    cJSON *auto_map = cJSON_CreateObject(), *arch = cJSON_CreateArray();
    int rc = -1;
    if (!auto_map || !arch) {
        cJSON_Delete(auto_map);
        cJSON_Delete(arch);
        err_set(err, "%s: out of memory", path);
        goto done;
    }
    {
        cJSON_AddStringToObject(auto_map, "AutoConfig", name[0]);
        cJSON_AddStringToObject(auto_map, "AutoModel", name[1]);
        cJSON_AddStringToObject(auto_map, "AutoModelForSequenceClassification", name[2]);
    }
    cJSON_AddItemToArray(arch, cJSON_CreateString(name[2] + strlen(module) + 1));
    if (hf_json_set(root, "model_type", cJSON_CreateString(family->sparse_model_type), path, err) ||
        hf_json_set(root, "architectures", arch, path, err) ||
        hf_json_set(root, "auto_map", auto_map, path, err))
        goto done;
    rc = hf_json_write(path, root, err);
done:
    cJSON_Delete(root);
    return rc;
}
