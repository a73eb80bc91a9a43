// libFuzzer harness: the safetensors reader (weights/safetensors.h) on
// arbitrary bytes.  Every tensor it accepts is looked up by name and, when it
// is a float type, converted to float32, so a header that lies about shapes,
// offsets or dtypes is caught here rather than in a model load.
#include "fuzz/fuzz.h"  // first: it sets _GNU_SOURCE

#include <stdlib.h>

#include "weights/safetensors.h"

#define MAX_CONVERT (1u << 20)  // values; larger tensors are only looked up

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[512];
    fuzz_write("x.safetensors", data, size);
    Err err;
    StFile *f = st_open(fuzz_path(path, sizeof path, "x.safetensors"), &err);
    if (!f) return 0;
    (void)st_metadata(f, "format");
    for (int i = 0; i < st_count(f); i++) {
        const StTensor *t = st_tensor_at(f, i);
        if (st_find(f, t->name) != t) abort();
        if (t->numel > MAX_CONVERT) continue;
        float *out = malloc((t->numel ? t->numel : 1) * sizeof *out);
        if (!out) abort();
        (void)st_to_f32(f, t, out, t->numel, &err);
        free(out);
    }
    st_close(f);
    return 0;
}
