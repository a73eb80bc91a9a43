// Output maps for multi-label heads: how the C logits of a row become label
// probabilities, the loss against the row's true label set, and which
// labels are predicted.  Math and the choice of losses: docs/output-maps.md.
//
// The maps are the rows of one table in model/output_map.c (name, loss,
// forward, prediction rule, help), like the attention maps of
// model/attention.c: parsing, --help, errors and the model's loss all read
// it.  The simplex maps reuse the attention row functions
// (attn_row_forward / attn_row_backward) over the C labels.
#ifndef MODEL_OUTPUT_MAP_H
#define MODEL_OUTPUT_MAP_H

#include <stddef.h>

#include "model/attention.h"
#include "model/real.h"
#include "util/err.h"

typedef enum { OUT_SIGMOID = 0, OUT_SOFTMAX, OUT_SPARSEMAX, OUT_ENTMAX15, OUT_RSOFTMAX } OutputKind;

typedef struct {
    OutputKind kind;
    float r;          // r-softmax's sparsity rate; 0 for the other maps
    float threshold;  // a label is predicted when its probability is > threshold
} OutputMap;

typedef struct {
    const char *name;       // --output-map NAME
    const char *help;       // one line for --help
    const char *loss_name;  // the loss, as logs and docs name it
    // How the predicted set is read off the probabilities.
    const char *predict_help;
    float threshold_default;  // sigmoid 0.5, the sparse maps 0 (the support)
    int threshold_tuned;      // 1: the threshold is tuned on dev (softmax: no zeros)
    int has_r;                // 1: takes --output-r (r-softmax)
} OutputMapInfo;

int output_map_count(void);
// NULL when kind is not a row.
const OutputMapInfo *output_map_info(OutputKind kind);
// The row's name, "unknown" when kind is not a row.
const char *output_map_name(OutputKind kind);
// The row named `name` with its default threshold (and r = r when the row
// takes one; r must then be in [0, 1]).  The error lists the valid names.
int output_map_parse(const char *name, float r, OutputMap *out, Err *err);
// The row names joined by sep.  Returns out.
char *output_map_names(char *out, size_t cap, const char *sep);
// r for r-softmax from the expected number of labels per row, k (mean over
// the training rows) over C labels: about k labels keep a non-zero
// probability, i.e. C - round(k) zeros = floor(r (C - 1)) + 1.
float output_map_r_for_labels(double mean_labels, int C);

// Scratch values (of type real) the row functions need for C labels.
int output_map_scratch(int C);

// Probabilities of one row: z[C] logits -> p[C].
void output_map_probs(OutputMap map, const real *z, real *p, int C, real *scratch);
// Loss of one row against y[C] (1 for a true label, 0 otherwise) and its
// gradient dz[C] = dL/dz times `scale`.  A simplex map on a row with no true
// label has no target distribution: loss 0, gradient 0 (the data layer drops
// such rows; sigmoid scores them normally).
double output_map_loss(OutputMap map, const real *z, const real *y, real *dz, int C, real scale,
                       real *scratch);
// The predicted set of one row from its probabilities: in_set[k] = 1 for
// p[k] > map.threshold.  Returns the set's size.
int output_map_predict(OutputMap map, const real *p, int C, unsigned char *in_set);

#endif
