// ./export: a fine-tuned checkpoint -> a Hugging Face model directory.
#include <stdio.h>

#include "app/options.h"
#include "weights/checkpoint.h"

static const char usage[] =
    "usage: ./export --checkpoint DIR --out DIR\n"
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
    const char *checkpoint = NULL, *out = NULL;
    const CliOption opts[] = {
        {"checkpoint", CLI_STRING, &checkpoint, "DIR", "checkpoint written by ./finetune (OUT/best or OUT/last)", NULL, "required"},
        {"out", CLI_STRING, &out, "DIR", "Hugging Face directory to write", NULL, "required"},
    };
    Err err;
    int rc = cli_parse(argc, argv, opts, 2, usage, &err);
    if (rc == 1) return 0;
    if (rc == 0 && (!checkpoint || !out)) rc = err_set(&err, "--checkpoint and --out are required (see --help)");
    if (rc == 0) rc = ckpt_export(checkpoint, out, &err);
    if (rc != 0) {
        fprintf(stderr, "export: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "export: wrote %s\n", out);
    return 0;
}
