// The compute precisions, one row each: the option value, its help, whether
// this CPU runs it natively, and the GEMM that implements it.  Parsing, help,
// errors and benches all read this table.
#ifndef MODEL_PRECISION_H
#define MODEL_PRECISION_H

#include <stddef.h>

#include "util/err.h"

typedef enum {
    PRECISION_FP32 = 0,  // float32 throughout, OpenBLAS sgemm (the reference path)
    PRECISION_BF16,      // mixed: bf16 GEMM inputs, float32 everything else
    PRECISION_COUNT
} Precision;

typedef struct {
    const char *name;  // option value: "fp32", "bf16"
    const char *help;  // one line for --help
    const char *gemm;  // the GEMM implementation, for benches and logs
    // Checked at run time: whether this CPU runs the precision at all, and
    // the instruction set that runs it natively (NULL: emulated, slower).
    int (*available)(void);
    const char *(*native_isa)(void);
} PrecisionInfo;

const PrecisionInfo *precision_info(Precision p);

// "fp32" | "bf16"; what names the option in the error ("--precision").
int precision_parse(const char *name, const char *what, Precision *out, Err *err);

// Writes "fp32, bf16" (the table's names) into buf, for help and errors.
void precision_names(char *buf, size_t size);

#endif
