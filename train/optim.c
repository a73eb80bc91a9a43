#include "train/optim.h"

#include "train/adamw.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

struct Optimizer {
    OptimConfig cfg;
    size_t n;
    float *m, *v;  // AdamW moments [n]
};

Optimizer *optim_build(const OptimConfig *cfg, Bert *model, Err *err) {
    Optimizer *opt = err_calloc(err, 1, sizeof *opt, "optimizer");
    if (!opt) return NULL;
    opt->cfg = *cfg;
    bert_params(model, &opt->n);
    if (cfg->kind == OPTIM_ADAMW) {
        opt->m = err_calloc(err, 2 * opt->n, sizeof(float), "AdamW moments");
        if (!opt->m) {
            free(opt);
            return NULL;
        }
        opt->v = opt->m + opt->n;
    }
    return opt;
}

void optim_free(Optimizer *opt) {
    if (!opt) return;
    free(opt->m);
    free(opt);
}

float *optim_moments(Optimizer *opt, int which, size_t *count) {
    if (count) *count = opt->m ? opt->n : 0;
    if (!opt->m) return NULL;
    return which == 0 ? opt->m : opt->v;
}

// The whole update: every parameter tensor, each split over the threads.
// At short sequences the per-step passes over the 22.7M parameters are a
// third of a step, hence one pass doing everything.
int optim_step(Optimizer *opt, Bert *model, float lr, long step) {
    const OptimConfig *c = &opt->cfg;
    float *params = bert_params(model, NULL), *grads = bert_grads(model, NULL);
    const BertConfig *bc = bert_config(model);
    // torch.optim.AdamW: decoupled decay p *= 1 - lr*wd, then the
    // bias-corrected Adam update; SGD: p -= lr * (g + wd*p).
    const double bc1 = 1.0 - pow(c->beta1, (double)(step + 1));
    const double bc2_sqrt = sqrt(1.0 - pow(c->beta2, (double)(step + 1)));
    const float step_size = (float)(lr / bc1);
    enum { BLOCK = 16384 };
    int bad = 0;
    for (int id = 0; id < PT_COUNT; id++) {
        ParamInfo info;
        bert_param_info(bc, (ParamId)id, &info);
        const float wd = info.no_decay ? 0.0f : c->weight_decay;
        const size_t begin = (size_t)(bert_param(model, (ParamId)id) - params);
        const long n = (long)bert_param_numel(bc, (ParamId)id);
        bf16 *copy = bert_param_bf16(model, (ParamId)id);  // NULL: none to refresh
        float *p = params + begin;
        const float *g = grads + begin;
        if (c->kind == OPTIM_SGD) {
#pragma omp parallel for reduction(| : bad)
            for (long i = 0; i < n; i++) {
                float x = p[i] - lr * (g[i] + wd * p[i]);
                p[i] = x;
                if (copy) copy[i] = bf16_from_float(x);
                bad |= !isfinite(x);
            }
            continue;
        }
        const AdamWStep a = {lr, wd, c->beta1, c->beta2, c->eps, step_size, (float)bc2_sqrt};
#pragma omp parallel for reduction(| : bad)
        for (long b = 0; b < n; b += BLOCK)
            bad |= adamw_block(p + b, g + b, opt->m + begin + b, opt->v + begin + b,
                               copy ? copy + b : NULL, n - b < BLOCK ? n - b : BLOCK, &a);
    }
    return bad;
}

float lr_at(float peak, long step, long total, long warmup) {
    if (step < warmup) return peak * (float)step / (float)warmup;
    double left = (double)(total - step) / (double)(total - warmup > 0 ? total - warmup : 1);
    return peak * (float)(left > 0 ? left : 0);
}

long warmup_steps_for(double ratio, long total) { return (long)ceil(ratio * (double)total); }

double clip_grad_norm(Bert *model, float max_norm) {
    size_t n;
    float *g = bert_grads(model, &n);
    // Per-thread partial sums added in thread order: the same seed and
    // thread count give bit-identical runs.  Within a thread, NORM_LANES
    // interleaved double sums (combined in a fixed order): one running sum
    // waits on each add (4 cycles an element, 13 ms a step for 22.7M
    // gradients on 2 threads); these vectorize.  The products are exact in
    // double, so only the sums' rounding differs from one running sum: the
    // norm moves by ~1e-16 relative, and the float32 clip factor with it only
    // when it falls that close to a float rounding boundary.
    enum { MAX_PARTS = 64, NORM_LANES = 8 };
    double partial[MAX_PARTS] = {0};
    int parts = omp_get_max_threads() < MAX_PARTS ? omp_get_max_threads() : MAX_PARTS;
#pragma omp parallel for num_threads(parts) schedule(static, 1)
    for (int t = 0; t < parts; t++) {
        size_t lo = n * (size_t)t / (size_t)parts, hi = n * (size_t)(t + 1) / (size_t)parts;
        double lane[NORM_LANES] = {0}, tail = 0.0;
        size_t i = lo;
        for (; i + NORM_LANES <= hi; i += NORM_LANES)
            for (int r = 0; r < NORM_LANES; r++) lane[r] += (double)g[i + r] * g[i + r];
        for (; i < hi; i++) tail += (double)g[i] * g[i];
        double s = tail;
        for (int r = 0; r < NORM_LANES; r++) s += lane[r];
        partial[t] = s;
    }
    double sum = 0.0;
    for (int t = 0; t < parts; t++) sum += partial[t];
    double norm = sqrt(sum);
    if (max_norm > 0 && norm > max_norm) {
        // torch.nn.utils.clip_grad_norm_ divides by (norm + 1e-6).
        float scale = (float)(max_norm / (norm + 1e-6));
#pragma omp parallel for
        for (size_t i = 0; i < n; i++) g[i] *= scale;
    }
    return norm;
}
