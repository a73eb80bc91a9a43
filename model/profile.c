#include "model/profile.h"

#include <stdlib.h>
#include <string.h>

struct Profile {
    double seconds[PHASE_COUNT];
    long calls[PHASE_COUNT];
};

// One row per phase: the name the bench prints and what is timed in it.
// bert.c, layers.c and train/step.c place the spans; tests/test_profile.c
// derives each phase's calls per pass from the model config.
static const PhaseInfo PHASES[PHASE_COUNT] = {
    [PHASE_EMBEDDINGS] = {"embeddings",
                          "word + position + type rows summed; backward: scattered into the tables"},
    [PHASE_GEMM_FWD] = {"dense GEMMs, forward",
                        "QKV, attention output, FFN in and out of each layer, pooler, classifier "
                        "(fp32 OpenBLAS or bf16 oneDNN), with the bias rows they add onto"},
    [PHASE_GEMM_BWD] = {"dense GEMMs, backward",
                        "the same layers' dweight and din GEMMs, with their dbias column sums"},
    [PHASE_ATTN_PRODUCTS_FWD] = {"attention products, forward",
                                 "per head: scores Q K^T and P V (fp32 sgemm), padding rows zeroed"},
    [PHASE_ATTN_PRODUCTS_BWD] = {"attention products, backward",
                                 "per head: dP = dC V^T, dV = P^T dC, dQ = dS K, dK = dS^T Q"},
    [PHASE_ATTN_MAP_FWD] = {"attention map, forward",
                            "the map on every score row (softmax, r-softmax, sparsemax, entmax-1.5)"},
    [PHASE_ATTN_MAP_BWD] = {"attention map, backward", "the map's backward on every row"},
    [PHASE_LAYERNORM] = {"LayerNorm", "the embeddings' and each layer's two, forward and backward"},
    [PHASE_GELU] = {"GELU", "forward (bf16: written as the next GEMM's bf16 input) and backward"},
    [PHASE_DROPOUT] = {"dropout",
                       "masks drawn and applied: hidden, attention probabilities, classifier; "
                       "backward: masks applied"},
    [PHASE_ELEMENTWISE] = {"residual and other elementwise",
                           "residual adds, the backward's gradient buffer clears and copies, the "
                           "last layer's [CLS] row moves"},
    [PHASE_HEAD_LOSS] = {"classifier head and loss",
                         "[CLS] rows gathered, pooler tanh and its backward, loss and dL/dlogits"},
    [PHASE_CLIP_CHECKS] = {"clipping and finite checks",
                           "global gradient norm and clipping (the updated weights' finite check "
                           "is in the update's pass)"},
    [PHASE_OPTIMIZER] = {"optimizer", "gradients zeroed; the AdamW (or SGD) update, which also "
                                      "writes the bf16 weight copies and flags non-finite weights"},
    [PHASE_BF16_CONVERT] = {"bf16 conversions",
                            "float32 -> bf16 of the GEMM inputs (forward) and of dout (backward)"},
    [PHASE_WEIGHT_REFRESH] = {"bf16 weight refresh",
                              "the GEMM weights' bf16 copies rebuilt from the weights (after "
                              "loading; a training step writes them in its update)"},
};

const PhaseInfo *profile_phase(Phase phase) {
    return (unsigned)phase < PHASE_COUNT ? &PHASES[phase] : NULL;
}

Profile *profile_build(Err *err) { return err_calloc(err, 1, sizeof(Profile), "profile"); }

void profile_free(Profile *prof) { free(prof); }

void profile_reset(Profile *prof) { memset(prof, 0, sizeof *prof); }

double profile_seconds(const Profile *prof, Phase phase) { return prof->seconds[phase]; }

long profile_calls(const Profile *prof, Phase phase) { return prof->calls[phase]; }

double profile_total_seconds(const Profile *prof) {
    double total = 0.0;
    for (int p = 0; p < PHASE_COUNT; p++) total += prof->seconds[p];
    return total;
}

void profile_add(Profile *prof, Phase phase, double seconds) {
    prof->seconds[phase] += seconds;
    prof->calls[phase]++;
}

void profile_split(Profile *prof, double wall, const Phase *phases, const double *part_seconds,
                   int n) {
    if (!prof) return;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += part_seconds[i];
    // Shares that add up to wall; a region too short to register goes
    // whole to its first part.
    for (int i = 0; i < n; i++)
        profile_add(prof, phases[i],
                    sum > 0 ? wall * (part_seconds[i] / sum) : (i == 0 ? wall : 0.0));
}
