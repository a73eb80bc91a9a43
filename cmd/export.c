// ./export: a fine-tuned checkpoint -> a Hugging Face model directory.
#include <stdio.h>

#include "app/options.h"
#include "weights/checkpoint.h"
#include "util/fileio.h"

static const char about[] =
    "Writes a directory transformers loads with\n"
    "BertForSequenceClassification.from_pretrained(OUT): config.json (labels, problem_type,\n"
    "attention_probs_fn / attention_r), model.safetensors (bert.* and classifier.*) and the\n"
    "tokenizer files.\n"
    "A model with r-softmax, sparsemax or entmax-1.5 attention also gets\n"
    "modeling_sparse_attention.py (our map, same padding rule and float32 recipe) and a\n"
    "model_type of its own with auto_map in config.json: a transformers user must pass\n"
    "trust_remote_code=True,\n"
    "  AutoModelForSequenceClassification.from_pretrained(OUT, trust_remote_code=True)\n"
    "  AutoTokenizer.from_pretrained(OUT, trust_remote_code=True)\n"
    "Without it the Auto classes refuse the directory rather than run softmax attention.";

int main(int argc, char **argv) {
    file_size_limit_as_error();
    const char *checkpoint = NULL, *out = NULL;
    bool overwrite = false;
    const CliOption opts[] = {
        {"checkpoint", CLI_STRING, &checkpoint, "DIR", "checkpoint written by ./finetune (OUT/best or OUT/last)", .required = true},
        {"out", CLI_STRING, &out, "DIR", "Hugging Face directory to write (new, empty or a previous export)", .required = true},
        {"overwrite", CLI_FLAG, &overwrite, NULL, "replace --out even if it holds other files or a training checkpoint"},
    };
    const CliTable tables[] = {CLI_TABLE(opts)};
    const CliCommand cmd = {"./export", about, CLI_EXPORT};
    Err err;
    int rc = cli_parse(argc, argv, &cmd, tables, CLI_COUNT(tables), &err);
    if (rc == 1) return 0;
    if (rc == 0) rc = ckpt_export(checkpoint, out, overwrite, &err);
    if (rc != 0) {
        fprintf(stderr, "export: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "export: wrote %s\n", out);
    return 0;
}
