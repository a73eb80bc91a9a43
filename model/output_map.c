// Output maps for multi-label heads; the math and why each loss is the one
// it is: docs/output-maps.md.  Losses are summed in double (as bert_loss
// does for cross-entropy); probabilities and gradients are `real`.
#include "model/output_map.h"

#include <stdio.h>
#include <string.h>
#include <tgmath.h>

// ---- targets ----------------------------------------------------------------

// The simplex maps' target q = y / sum(y) into q[C].  Returns 0 for a row
// with no true label: then there is no target, and dz[C] is zeroed (loss 0).
static int simplex_target(const real *y, real *q, real *dz, int C) {
    real count = 0;
    for (int k = 0; k < C; k++) count += y[k];
    if (count <= 0) {
        for (int k = 0; k < C; k++) dz[k] = 0;
        return 0;
    }
    for (int k = 0; k < C; k++) q[k] = y[k] / count;
    return 1;
}

// ---- sigmoid + binary cross-entropy -------------------------------------------

static void sigmoid_probs(OutputMap map, const real *z, real *p, int C, real *scratch) {
    for (int k = 0; k < C; k++) p[k] = 1.0f / (1.0f + exp(-z[k]));
}

// Mean over the C labels of softplus(z) - y z, written stably as
// max(z, 0) - y z + log1p(exp(-|z|)) (torch's BCEWithLogitsLoss, whose
// default mean over B x C elements is the batch mean of this).
static double bce_loss(OutputMap map, const real *z, const real *y, real *dz, int C, real scale,
                       real *scratch) {
    double total = 0;
    for (int k = 0; k < C; k++) {
        double zk = z[k];
        total += (zk > 0 ? zk : 0) - y[k] * zk + log1p(exp(-fabs(zk)));
        real s = 1.0f / (1.0f + exp(-z[k]));
        dz[k] = (s - y[k]) / (real)C * scale;
    }
    return total / C;
}

// ---- the simplex maps ---------------------------------------------------------

static AttnMap attn_of(OutputMap map) {
    switch (map.kind) {
    case OUT_SPARSEMAX: return (AttnMap){ATTN_SPARSEMAX, 0.0f};
    case OUT_ENTMAX15: return (AttnMap){ATTN_ENTMAX15, 0.0f};
    case OUT_RSOFTMAX: return (AttnMap){ATTN_RSOFTMAX, map.r};
    default: return (AttnMap){ATTN_SOFTMAX, 0.0f};
    }
}

static void simplex_probs(OutputMap map, const real *z, real *p, int C, real *scratch) {
    attn_row_forward(attn_of(map), z, p, C, scratch);
}

// The regularisers Omega whose argmax_p <p, z> - Omega(p) over the simplex
// is the map (Blondel et al., "Learning with Fenchel-Young losses", 2020).
static double omega_shannon(const real *p, int C) {  // softmax: sum p log p
    double s = 0;
    for (int k = 0; k < C; k++)
        if (p[k] > 0) s += (double)p[k] * log((double)p[k]);
    return s;
}
static double omega_gini(const real *p, int C) {  // sparsemax: 1/2 ||p||^2
    double s = 0;
    for (int k = 0; k < C; k++) s += 0.5 * (double)p[k] * p[k];
    return s;
}
static double omega_tsallis15(const real *p, int C) {  // entmax-1.5: 4/3 sum (p^1.5 - p)
    double s = 0;
    for (int k = 0; k < C; k++) s += (4.0 / 3.0) * (pow((double)p[k], 1.5) - p[k]);
    return s;
}

static double (*omega_of(OutputKind kind))(const real *, int) {
    return kind == OUT_SPARSEMAX ? omega_gini : kind == OUT_ENTMAX15 ? omega_tsallis15 : omega_shannon;
}

// Fenchel-Young loss Omega(q) - Omega(p) + <p - q, z> with p = map(z):
// >= 0, 0 exactly when p = q, finite when a true label has p = 0, and its
// gradient is p - q (no backward through the map needed).
static double fenchel_young_loss(OutputMap map, const real *z, const real *y, real *dz, int C,
                                 real scale, real *scratch) {
    real *p = scratch, *q = scratch + C, *work = scratch + 2 * C;
    if (!simplex_target(y, q, dz, C)) return 0;
    simplex_probs(map, z, p, C, work);
    double (*omega)(const real *, int) = omega_of(map.kind);
    double loss = omega(q, C) - omega(p, C);
    for (int k = 0; k < C; k++) {
        loss += ((double)p[k] - q[k]) * z[k];
        dz[k] = (p[k] - q[k]) * scale;
    }
    return loss;
}

// r-softmax has no known regulariser, so no Fenchel-Young loss: squared
// loss 1/2 ||p - q||^2, backward through the map (attn_row_backward, the
// threshold t a constant as in docs/attention-math.md).
static double squared_loss(OutputMap map, const real *z, const real *y, real *dz, int C,
                           real scale, real *scratch) {
    real *p = scratch, *q = scratch + C, *work = scratch + 2 * C;
    if (!simplex_target(y, q, dz, C)) return 0;
    AttnMap attn = attn_of(map);
    real aux = attn_row_forward(attn, z, p, C, work);
    double loss = 0;
    for (int k = 0; k < C; k++) {
        real d = p[k] - q[k];
        loss += 0.5 * (double)d * d;
        q[k] = d * scale;  // dL/dp, scaled
    }
    attn_row_backward(attn, z, p, aux, q, dz, C, work);
    return loss;
}

// ---- the table ------------------------------------------------------------------

typedef struct {
    OutputMapInfo info;
    void (*probs)(OutputMap map, const real *z, real *p, int C, real *scratch);
    double (*loss)(OutputMap map, const real *z, const real *y, real *dz, int C, real scale,
                   real *scratch);
} OutputMapRow;

// One row per map, in OutputKind order.
static const OutputMapRow MAPS[] = {
    {{"sigmoid", "independent sigmoid per label (transformers' multi_label_classification)",
      "binary cross-entropy", "labels with p > 0.5", 0.5f, 0, 0},
     sigmoid_probs, bce_loss},
    {{"softmax", "softmax over the labels: dense, target the normalised label set",
      "softmax Fenchel-Young (cross-entropy minus the target's entropy)",
      "labels with p > a threshold tuned on dev (softmax has no zeros)", 0.0f, 1, 0},
     simplex_probs, fenchel_young_loss},
    {{"sparsemax", "sparsemax over the labels: exact zeros", "sparsemax loss (Fenchel-Young)",
      "labels with p > 0", 0.0f, 0, 0},
     simplex_probs, fenchel_young_loss},
    {{"entmax15", "entmax-1.5 over the labels: exact zeros, smoother",
      "entmax-1.5 Fenchel-Young loss", "labels with p > 0", 0.0f, 0, 0},
     simplex_probs, fenchel_young_loss},
    {{"rsoftmax", "r-softmax over the labels: a fraction r of them get exactly 0",
      "squared loss 1/2 ||p - q||^2", "labels with p > 0", 0.0f, 0, 1},
     simplex_probs, squared_loss},
};
enum { NUM_MAPS = (int)(sizeof MAPS / sizeof MAPS[0]) };

// An out-of-range kind (an OutputMap not from output_map_parse) runs
// sigmoid rather than crashing.
static const OutputMapRow *row_of(OutputKind kind) {
    return (unsigned)kind < NUM_MAPS ? &MAPS[kind] : &MAPS[OUT_SIGMOID];
}

int output_map_count(void) { return NUM_MAPS; }

const OutputMapInfo *output_map_info(OutputKind kind) {
    return (unsigned)kind < NUM_MAPS ? &MAPS[kind].info : NULL;
}

const char *output_map_name(OutputKind kind) {
    return (unsigned)kind < NUM_MAPS ? MAPS[kind].info.name : "unknown";
}

char *output_map_names(char *out, size_t cap, const char *sep) {
    size_t used = 0;
    if (cap) out[0] = '\0';
    for (int k = 0; k < NUM_MAPS && used < cap; k++)
        used += (size_t)snprintf(out + used, cap - used, "%s%s", k ? sep : "", MAPS[k].info.name);
    return out;
}

int output_map_parse(const char *name, float r, OutputMap *out, Err *err) {
    int kind = -1;
    for (int k = 0; name && k < NUM_MAPS; k++)
        if (strcmp(name, MAPS[k].info.name) == 0) kind = k;
    char names[256];
    if (kind < 0)
        return err_set(err, "output map: unknown name '%s' (valid: %s)", name ? name : "(null)",
                       output_map_names(names, sizeof names, ", "));
    const OutputMapInfo *info = &MAPS[kind].info;
    if (info->has_r && !(r >= 0.0f && r <= 1.0f))
        return err_set(err, "output map %s: r must be a number in [0, 1], got %g", info->name,
                       (double)r);
    *out = (OutputMap){(OutputKind)kind, info->has_r ? r : 0.0f, info->threshold_default};
    return 0;
}

float output_map_r_for_labels(double mean_labels, int C) {
    if (C <= 1) return 0.0f;
    double keep = floor(mean_labels + 0.5);
    if (keep < 1) keep = 1;
    if (keep > C - 1) keep = C - 1;
    // zeros = C - keep = floor(r (C - 1)) + 1 for r (C - 1) anywhere in
    // [C - keep - 1, C - keep).  Aim at the middle of that interval: the
    // quantile is then halfway between two order statistics, so the lower
    // one lands clearly below the threshold.  At the interval's left end the
    // quantile IS that order statistic, which keeps it at weight eps (a
    // label with p ~ 1e-6 that counts as predicted) whenever rounding eats
    // the interpolation: it kept one label more on trained debtags logits.
    return (float)((C - keep - 0.5) / (double)(C - 1));
}

int output_map_scratch(int C) { return 2 * C + attn_scratch_floats(C); }

void output_map_probs(OutputMap map, const real *z, real *p, int C, real *scratch) {
    if (C > 0) row_of(map.kind)->probs(map, z, p, C, scratch);
}

double output_map_loss(OutputMap map, const real *z, const real *y, real *dz, int C, real scale,
                       real *scratch) {
    return C > 0 ? row_of(map.kind)->loss(map, z, y, dz, C, scale, scratch) : 0;
}

int output_map_predict(OutputMap map, const real *p, int C, unsigned char *in_set) {
    int count = 0;
    for (int k = 0; k < C; k++) {
        in_set[k] = p[k] > map.threshold;
        count += in_set[k];
    }
    return count;
}
