// The precision table (see precision.h).
#ifndef MODEL_DOUBLE

#include "model/precision.h"

#include <stdio.h>
#include <string.h>

#include "model/gemm_bf16.h"

static int fp32_available(void) { return 1; }
static const char *fp32_native(void) { return "any x86-64 (OpenBLAS)"; }

static const PrecisionInfo PRECISIONS[PRECISION_COUNT] = {
    [PRECISION_FP32] = {"fp32", "float32 throughout (bit-identical to earlier releases)",
                        "OpenBLAS sgemm", fp32_available, fp32_native},
    [PRECISION_BF16] = {"bf16",
                        "mixed precision: bf16 GEMM inputs, float32 accumulation, weights, "
                        "gradients and everything else (native on AMX or AVX512-BF16 CPUs, "
                        "emulated on other AVX-512 CPUs, refused below)",
                        "oneDNN matmul, bf16 in, float32 out", gemm_bf16_available,
                        gemm_bf16_native},
};

const PrecisionInfo *precision_info(Precision p) { return &PRECISIONS[p]; }

void precision_names(char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int p = 0; p < PRECISION_COUNT && used < size; p++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", p ? ", " : "", PRECISIONS[p].name);
}

int precision_parse(const char *name, const char *what, Precision *out, Err *err) {
    for (int p = 0; p < PRECISION_COUNT; p++) {
        if (strcmp(name, PRECISIONS[p].name) == 0) {
            *out = (Precision)p;
            return 0;
        }
    }
    char names[128];
    precision_names(names, sizeof names);
    return err_set(err, "%s: unknown precision '%s' (one of: %s)", what, name, names);
}

#endif
