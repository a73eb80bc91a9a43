// libFuzzer harness: config.json parsing (weights/hf_model.h) on arbitrary
// bytes.  A config the loader accepts must describe a model bert_build can
// build or refuse with a message; the harness only builds small ones (its
// own bound, so the run stays in memory), which still reaches every size
// check in bert_build.
#include "fuzz/fuzz.h"  // first: it sets _GNU_SOURCE

#include <stdlib.h>

#include "model/bert.h"
#include "weights/hf_model.h"

#define MAX_BUILD_FLOATS (8.0 * 1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write("config.json", data, size);
    HfConfig cfg;
    Err err;
    if (hf_config_load(fuzz_dir(), &cfg, &err) != 0) return 0;
    if (cfg.num_label_names < 0 || cfg.num_label_names > HF_MAX_LABELS) abort();
    const BertConfig *c = &cfg.bert;
    double h = abs(c->hidden_size), ff = abs(c->intermediate_size);
    double floats = (abs(c->vocab_size) + abs(c->max_position) + abs(c->type_vocab_size)) * h +
                    abs(c->num_layers) * (4 * h * h + 2 * h * ff) + h * abs(c->num_labels);
    if (floats > MAX_BUILD_FLOATS) return 0;
    Bert *m = bert_build(c, 1, 4, &err);
    bert_free(m);
    return 0;
}
