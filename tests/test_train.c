// The training step's pieces against PyTorch / transformers: AdamW and SGD
// with the Trainer's weight-decay groups, the linear warmup schedule and its
// warmup step count, global-norm clipping (goldens: tests/golden/
// gen_train_goldens.py); dropout masks as stated properties; and bit-exact
// determinism of whole training steps.
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/bert.h"
#include "model/layers.h"
#include "tests/testutil.h"
#include "train/optim.h"
#include "train/step.h"
#include "util/rng.h"
#include "weights/hf_model.h"
#include "weights/safetensors.h"

#define TINY TEST_GOLDEN_DIR "/tiny_bert"
#define OPTIM_GOLDEN TEST_GOLDEN_DIR "/train_optim.safetensors"
#define CLIP_GOLDEN TEST_GOLDEN_DIR "/train_clip.safetensors"
#define SCHEDULE_GOLDEN TEST_GOLDEN_DIR "/train_schedule.safetensors"

// tiny_bert with gradients enabled, and its HF tensor table.
typedef struct {
    Bert *model;
    HfTensorRef *refs;
    int nrefs;
} Tiny;

static Tiny tiny_load(int max_batch, int max_seq) {
    Err err;
    HfConfig cfg;
    Tiny t;
    if (hf_config_load(TINY, &cfg, &err) != 0) ck_abort_msg("%s", err.msg);
    t.model = hf_load_model(TINY, &cfg, 0, max_batch, max_seq, 1, NULL, &err);
    if (!t.model) ck_abort_msg("%s", err.msg);
    if (bert_enable_grads(t.model, &err) != 0) ck_abort_msg("%s", err.msg);
    t.nrefs = hf_tensor_refs(t.model, cfg.family->tensor_prefix, &t.refs, &err);
    if (t.nrefs < 0) ck_abort_msg("%s", err.msg);
    // The golden tensors must cover every float of the buffers exactly once.
    size_t covered = 0, count;
    bert_params(t.model, &count);
    for (int i = 0; i < t.nrefs; i++)
        covered += (size_t)t.refs[i].rows * (t.refs[i].cols ? t.refs[i].cols : 1);
    ck_assert_uint_eq(covered, count);
    return t;
}

static void tiny_free(Tiny *t) {
    free(t->refs);
    bert_free(t->model);
}

static size_t ref_numel(const HfTensorRef *r) { return (size_t)r->rows * (r->cols ? r->cols : 1); }

// Fills buffer [num_params] (parameters or gradients) from golden tensors
// named PREFIX + HF name.
static void fill_from_golden(const Tiny *t, float *buffer, const StFile *f, const char *prefix) {
    for (int i = 0; i < t->nrefs; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s%s", prefix, t->refs[i].name);
        size_t numel;
        float *values = golden_f32(f, name, &numel);
        ck_assert_uint_eq(numel, ref_numel(&t->refs[i]));
        memcpy(buffer + t->refs[i].offset, values, sizeof(float) * numel);
        free(values);
    }
}

static void assert_matches_golden(const Tiny *t, const float *buffer, const StFile *f,
                                  const char *prefix, double atol, double rtol) {
    for (int i = 0; i < t->nrefs; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s%s", prefix, t->refs[i].name);
        size_t numel;
        float *want = golden_f32(f, name, &numel);
        ck_assert_uint_eq(numel, ref_numel(&t->refs[i]));
        assert_allclose(name, buffer + t->refs[i].offset, want, numel, atol, rtol);
        free(want);
    }
}

// ------------------------------------------------------------- optimizers

// Our no_decay table against transformers' Trainer.get_decay_parameter_names.
START_TEST(no_decay_matches_trainer) {
    Tiny t = tiny_load(1, 8);
    StFile *f = golden_open(OPTIM_GOLDEN);
    const BertConfig *c = bert_config(t.model);
    float *params = bert_params(t.model, NULL);
    for (int i = 0; i < t.nrefs; i++) {
        char name[256];
        snprintf(name, sizeof name, "decay.%s", t.refs[i].name);
        int *decay = golden_i32(f, name, NULL);
        int found = 0;
        for (int id = 0; id < PT_COUNT; id++) {
            size_t begin = (size_t)(bert_param(t.model, (ParamId)id) - params);
            if (t.refs[i].offset < begin || t.refs[i].offset >= begin + bert_param_numel(c, id))
                continue;
            ParamInfo info;
            bert_param_info(c, (ParamId)id, &info);
            ck_assert_msg(info.no_decay == !decay[0], "%s (%s): no_decay %d, Trainer decays: %d",
                          t.refs[i].name, info.name, info.no_decay, decay[0]);
            found = 1;
        }
        ck_assert_msg(found, "%s: no ParamId holds offset %zu", t.refs[i].name, t.refs[i].offset);
        free(decay);
    }
    st_close(f);
    tiny_free(&t);
}
END_TEST

// Three steps with the golden's fixed gradients and per-step learning
// rates; every parameter after every step against torch.optim.
START_TEST(optimizer_matches_torch) {
    const OptimKind kind = _i == 0 ? OPTIM_ADAMW : OPTIM_SGD;
    const char *tag = kind == OPTIM_ADAMW ? "adamw" : "sgd";
    Tiny t = tiny_load(1, 8);
    StFile *f = golden_open(OPTIM_GOLDEN);
    float *hp = golden_f32(f, "hparams", NULL);
    char name[64];
    snprintf(name, sizeof name, "lr.%s", tag);
    size_t steps;
    float *lrs = golden_f32(f, name, &steps);
    ck_assert_uint_eq(steps, 3);
    OptimConfig oc = {kind, lrs[0], kind == OPTIM_ADAMW ? hp[0] : hp[4], hp[1], hp[2], hp[3]};
    Err err;
    Optimizer *opt = optim_build(&oc, t.model, &err);
    if (!opt) ck_abort_msg("%s", err.msg);
    for (long k = 0; k < (long)steps; k++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "grad.%ld.", k);
        fill_from_golden(&t, bert_grads(t.model, NULL), f, prefix);
        optim_step(opt, t.model, lrs[k], k);
        snprintf(prefix, sizeof prefix, "%s.%ld.", tag, k);
        assert_matches_golden(&t, bert_params(t.model, NULL), f, prefix, 1e-8, 1e-6);
    }
    optim_free(opt);
    free(hp);
    free(lrs);
    st_close(f);
    tiny_free(&t);
}
END_TEST

// ----------------------------------------------------------- schedule

// lr_at for every step of each (total, warmup) against the learning rate a
// torch optimizer under get_linear_schedule_with_warmup uses at that step.
START_TEST(schedule_matches_transformers) {
    StFile *f = golden_open(SCHEDULE_GOLDEN);
    size_t ncases;
    int *cases = golden_i32(f, "sched.cases", &ncases);
    ncases /= 2;
    const float peak = 3e-5f;
    for (size_t s = 0; s < ncases; s++) {
        long total = cases[2 * s], warmup = cases[2 * s + 1];
        char name[32];
        snprintf(name, sizeof name, "sched.%zu", s);
        size_t n;
        double *mult = golden_f64(f, name, &n);
        ck_assert_uint_eq(n, (size_t)total);
        for (long step = 0; step < total; step++) {
            double want = peak * mult[step], got = lr_at(peak, step, total, warmup);
            ck_assert_msg(fabs(got - want) <= 1e-6 * fabs(want) + 1e-9 * peak,
                          "total %ld warmup %ld step %ld: lr %.9g, transformers %.9g", total,
                          warmup, step, got, want);
        }
        free(mult);
    }
    free(cases);
    st_close(f);
}
END_TEST

// warmup_steps_for against TrainingArguments.get_warmup_steps for ratios
// as a user types them (the decimal number, i.e. the double nearest to it).
// Every mismatch is listed, not just the first.
START_TEST(warmup_steps_match_transformers) {
    StFile *f = golden_open(SCHEDULE_GOLDEN);
    size_t n;
    double *ratio = golden_f64(f, "warmup.ratio", &n);
    int *total = golden_i32(f, "warmup.total", NULL), *want = golden_i32(f, "warmup.steps", NULL);
    char msg[2048] = "";
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        long got = warmup_steps_for(ratio[i], total[i]);  // converted to the parameter's type
        if (got == want[i]) continue;
        bad++;
        size_t used = strlen(msg);
        snprintf(msg + used, sizeof msg - used, " [ratio %g of %d steps: got %ld, want %d]",
                 ratio[i], total[i], got, want[i]);
    }
    free(ratio);
    free(total);
    free(want);
    st_close(f);
    ck_assert_msg(bad == 0, "%d of %zu warmup step counts differ from transformers:%s", bad, n,
                  msg);
}
END_TEST

// ------------------------------------------------------------ clipping

// clip_grad_norm against torch.nn.utils.clip_grad_norm_: the returned norm
// and the gradients afterwards.  Gradients that need no clipping (norm below
// max_norm, or max_norm 0 = off) must come back bit-for-bit unchanged.
START_TEST(clipping_matches_torch) {
    Tiny t = tiny_load(1, 8);
    StFile *optim = golden_open(OPTIM_GOLDEN), *f = golden_open(CLIP_GOLDEN);
    size_t ncases;
    int *source = golden_i32(f, "source_step", &ncases);
    float *max_norm = golden_f32(f, "max_norm", NULL);
    double *norm = golden_f64(f, "norm", NULL);
    float *grads = bert_grads(t.model, NULL);
    for (size_t c = 0; c < ncases; c++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "grad.%d.", source[c]);
        fill_from_golden(&t, grads, optim, prefix);
        double got = clip_grad_norm(t.model, max_norm[c]);
        ck_assert_msg(fabs(got - norm[c]) <= 1e-6 * norm[c],
                      "case %zu (max_norm %g): norm %.9g, torch %.9g", c, max_norm[c], got, norm[c]);
        int untouched = max_norm[c] == 0 || norm[c] <= max_norm[c];
        snprintf(prefix, sizeof prefix, "clipped.%zu.", c);
        assert_matches_golden(&t, grads, f, prefix, untouched ? 0 : 1e-9, untouched ? 0 : 5e-7);
    }
    free(source);
    free(max_norm);
    free(norm);
    st_close(f);
    st_close(optim);
    tiny_free(&t);
}
END_TEST

// ------------------------------------------------------------- dropout

// x [n]: a deterministic spread of nonzero values of both signs.
static float *dropout_input(long n) {
    float *x = malloc(sizeof(float) * (size_t)n);
    ck_assert_ptr_nonnull(x);
    for (long i = 0; i < n; i++) x[i] = (float)((i % 17) - 8.5) * 0.37f;
    return x;
}

// Runs dropout_forward on a copy of x [n]; returns keep [n] and, if out is
// not NULL, the copy after dropout [n] (caller frees both).
static uint8_t *dropout_mask(const float *x, long n, float p, uint64_t seed, uint64_t site,
                             float **out) {
    float *y = malloc(sizeof(float) * (size_t)n);
    uint8_t *keep = malloc((size_t)n);
    ck_assert_ptr_nonnull(y);
    ck_assert_ptr_nonnull(keep);
    memcpy(y, x, sizeof(float) * (size_t)n);
    dropout_forward(y, keep, n, p, seed, site);
    if (out)
        *out = y;
    else
        free(y);
    return keep;
}

static long count_differences(const uint8_t *a, const uint8_t *b, long n) {
    long d = 0;
    for (long i = 0; i < n; i++) d += a[i] != b[i];
    return d;
}

// |observed - expected| of a Bernoulli(q) frequency over `trials` within
// 5 standard deviations.
static void assert_frequency(const char *what, long hits, long trials, double q) {
    double freq = (double)hits / (double)trials, sigma = sqrt(q * (1 - q) / (double)trials);
    ck_assert_msg(fabs(freq - q) <= 5 * sigma, "%s: frequency %.6f over %ld, expected %.6f +- %.6f",
                  what, freq, trials, q, 5 * sigma);
}

// Same (seed, site) -> identical masks and outputs, whatever n and the
// thread count; a different seed or site -> a mask as unrelated as an
// independent draw (two independent masks differ at a rate 2p(1-p)).
START_TEST(dropout_mask_is_pure_function) {
    const long n = 100003;  // not a multiple of the 4 draws per hash
    const float p = 0.1f;
    float *x = dropout_input(n), *y1, *y2;
    uint8_t *k1 = dropout_mask(x, n, p, 42, 7, &y1), *k2 = dropout_mask(x, n, p, 42, 7, &y2);
    ck_assert_int_eq(memcmp(k1, k2, (size_t)n), 0);
    ck_assert_int_eq(memcmp(y1, y2, sizeof(float) * (size_t)n), 0);

    uint8_t *prefix = dropout_mask(x, 1001, p, 42, 7, NULL);
    ck_assert_int_eq(memcmp(prefix, k1, 1001), 0);
    int threads = omp_get_max_threads();
    omp_set_num_threads(threads > 1 ? 1 : 3);
    uint8_t *other_threads = dropout_mask(x, n, p, 42, 7, NULL);
    omp_set_num_threads(threads);
    ck_assert_int_eq(memcmp(other_threads, k1, (size_t)n), 0);

    const double q = 2 * p * (1 - p);
    uint8_t *seed2 = dropout_mask(x, n, p, 43, 7, NULL), *site2 = dropout_mask(x, n, p, 42, 8, NULL);
    assert_frequency("mask differences, seed 42 vs 43", count_differences(k1, seed2, n), n, q);
    assert_frequency("mask differences, site 7 vs 8", count_differences(k1, site2, n), n, q);
    free(x);
    free(y1);
    free(y2);
    free(k1);
    free(k2);
    free(prefix);
    free(other_threads);
    free(seed2);
    free(site2);
}
END_TEST

// Over 1e6 elements the kept fraction is within 5 sigma of 1 - p, in each
// of the four 16-bit lanes of a hash word too, and elements LAG apart are
// independent (both kept at rate (1-p)^2; counted over disjoint pairs).
START_TEST(dropout_keep_rate) {
    const long n = 1000000;
    const float ps[] = {0.1f, 0.5f};
    const uint64_t seeds[][2] = {{0, 0}, {1234, 3}, {0xDEADBEEFull, 20}};
    float *x = dropout_input(n);
    for (int a = 0; a < 2; a++)
        for (int s = 0; s < 3; s++) {
            const double q = 1.0 - ps[a];
            uint8_t *keep = dropout_mask(x, n, ps[a], seeds[s][0], seeds[s][1], NULL);
            long kept = 0, lane[4] = {0};
            for (long i = 0; i < n; i++) {
                kept += keep[i];
                lane[i & 3] += keep[i];
            }
            char what[96];
            snprintf(what, sizeof what, "p %g seed %llu: kept", ps[a], (unsigned long long)seeds[s][0]);
            assert_frequency(what, kept, n, q);
            for (int l = 0; l < 4; l++) {
                snprintf(what, sizeof what, "p %g seed %llu: kept in lane %d", ps[a],
                         (unsigned long long)seeds[s][0], l);
                assert_frequency(what, lane[l], n / 4, q);
            }
            static const long lags[] = {1, 2, 3, 4, 5, 8};
            for (int g = 0; g < 6; g++) {
                const long lag = lags[g];
                long pairs = 0, both = 0;
                for (long i = 0; i + lag < n; i++) {
                    if ((i / lag) % 2) continue;  // i in the first half of a 2*lag block
                    pairs++;
                    both += keep[i] && keep[i + lag];
                }
                snprintf(what, sizeof what, "p %g seed %llu: pairs %ld apart both kept", ps[a],
                         (unsigned long long)seeds[s][0], lag);
                assert_frequency(what, both, pairs, q * q);
            }
            free(keep);
        }
    free(x);
}
END_TEST

// Kept values are x / (1 - p) (to float rounding; exactly 2x for p = 0.5),
// dropped ones exactly 0; p = 0 leaves x untouched.
START_TEST(dropout_scale) {
    const long n = 40000;
    const float ps[] = {0.1f, 0.5f, 0.25f, 0.9f};
    float *x = dropout_input(n);
    for (int a = 0; a < 4; a++) {
        float *y;
        uint8_t *keep = dropout_mask(x, n, ps[a], 5, 1, &y);
        const double inv = 1.0 / (1.0 - (double)ps[a]);
        for (long i = 0; i < n; i++) {
            if (!keep[i]) {
                ck_assert_msg(y[i] == 0.0f, "p %g [%ld]: dropped value %g", ps[a], i, y[i]);
                continue;
            }
            double want = x[i] * inv;
            if (ps[a] == 0.5f)
                ck_assert_msg(y[i] == 2.0f * x[i], "p 0.5 [%ld]: %.9g, want %.9g", i, y[i], want);
            else
                ck_assert_msg(fabs(y[i] - want) <= 0x1p-23 * fabs(want), "p %g [%ld]: %.9g, want %.9g",
                              ps[a], i, y[i], want);
        }
        // 1 kept: the scale itself, rounded once.  Some site's first draw keeps it.
        float one = 1.0f;
        uint8_t k = 0;
        for (uint64_t site = 0; site < 64 && !k; site++) {
            one = 1.0f;
            dropout_forward(&one, &k, 1, ps[a], 5, site);
        }
        ck_assert_int_eq(k, 1);
        ck_assert_msg(one == (float)inv, "p %g: 1 kept as %.9g, want %.9g", ps[a], one, (float)inv);
        free(y);
        free(keep);
    }
    float *y;
    uint8_t *keep = dropout_mask(x, n, 0.0f, 5, 1, &y);
    for (long i = 0; i < n; i++) ck_assert_int_eq(keep[i], 1);
    ck_assert_int_eq(memcmp(x, y, sizeof(float) * (size_t)n), 0);
    free(y);
    free(keep);
    free(x);
}
END_TEST

// The backward applies the forward's mask and scale: bit-identical to
// running the forward (same seed and site) on the incoming gradient, also
// in place.
START_TEST(dropout_backward_uses_forward_mask) {
    const long n = 50001;
    const float ps[] = {0.1f, 0.5f};
    float *x = dropout_input(n);
    float *dout = malloc(sizeof(float) * (size_t)n), *dx = malloc(sizeof(float) * (size_t)n);
    ck_assert_ptr_nonnull(dout);
    ck_assert_ptr_nonnull(dx);
    Rng rng;
    rng_seed(&rng, 9);
    for (long i = 0; i < n; i++) dout[i] = (float)rng_normal(&rng);
    for (int a = 0; a < 2; a++) {
        uint8_t *keep = dropout_mask(x, n, ps[a], 77, 4, NULL);
        float *want;
        uint8_t *keep_again = dropout_mask(dout, n, ps[a], 77, 4, &want);
        dropout_backward(dx, dout, keep, n, ps[a]);
        ck_assert_int_eq(memcmp(dx, want, sizeof(float) * (size_t)n), 0);
        memcpy(dx, dout, sizeof(float) * (size_t)n);
        dropout_backward(dx, dx, keep, n, ps[a]);
        ck_assert_int_eq(memcmp(dx, want, sizeof(float) * (size_t)n), 0);
        free(keep);
        free(keep_again);
        free(want);
    }
    free(x);
    free(dout);
    free(dx);
}
END_TEST

// ---------------------------------------------------------- determinism

// Two training steps as app/finetune.c did them (dropout 0.1 everywhere
// with the mask seed hashed from (seed, step), loss, backward, clipping at
// 1, AdamW under the schedule) on the golden gradient batch.  Returns the
// step-0 loss.
static float train_two_steps(Tiny *t, uint64_t seed) {
    Batch b = golden_step_batch();
    const int *labels = b.labels;
    Err err;
    OptimConfig oc = {OPTIM_ADAMW, 1e-3f, 0.01f, 0.9f, 0.999f, 1e-8f};
    Optimizer *opt = optim_build(&oc, t->model, &err);
    if (!opt) ck_abort_msg("%s", err.msg);
    BertInput in = {b.size, b.T, b.ids, b.type_ids, b.lengths};
    float first_loss = 0;
    for (long step = 0; step < 2; step++) {
        Dropout drop = {0.1f, 0.1f, 0.1f, rng_hash(seed, (uint64_t)step)};
        if (bert_forward(t->model, &in, &drop, &err) != 0) ck_abort_msg("%s", err.msg);
        float loss = bert_loss(t->model, labels, NULL);
        if (step == 0) first_loss = loss;
        bert_zero_grads(t->model);
        if (bert_backward(t->model, &err) != 0) ck_abort_msg("%s", err.msg);
        clip_grad_norm(t->model, 1.0f);
        optim_step(opt, t->model, lr_at(oc.lr, step, 2, 0), step);
    }
    optim_free(opt);
    golden_step_batch_free(&b);
    return first_loss;
}

START_TEST(training_is_deterministic) {
    Tiny a = tiny_load(5, 12), b = tiny_load(5, 12), c = tiny_load(5, 12);
    size_t n;
    const float *pa = bert_params(a.model, &n);
    float la = train_two_steps(&a, 17), lb = train_two_steps(&b, 17), lc = train_two_steps(&c, 18);
    ck_assert_int_eq(memcmp(&la, &lb, sizeof la), 0);
    ck_assert_int_eq(memcmp(pa, bert_params(b.model, NULL), sizeof(float) * n), 0);
    ck_assert_int_eq(memcmp(bert_grads(a.model, NULL), bert_grads(b.model, NULL), sizeof(float) * n), 0);

    // Another seed: other masks, so another loss and other parameters
    // almost everywhere a gradient reached.
    ck_assert_msg(la != lc, "step-0 loss %.9g with both dropout seeds", la);
    const float *pc = bert_params(c.model, NULL);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) differ += pa[i] != pc[i];
    ck_assert_msg(differ > n / 2, "only %zu of %zu parameters differ between dropout seeds", differ, n);
    tiny_free(&a);
    tiny_free(&b);
    tiny_free(&c);
}
END_TEST

// The same two steps through train_step (train/step.c, what app/finetune.c
// runs): bit for bit the sequence above, with the stats it reports.
START_TEST(train_step_is_the_sequence) {
    Tiny a = tiny_load(5, 12), b = tiny_load(5, 12);
    float la = train_two_steps(&a, 17);

    Batch batch = golden_step_batch();
    long tokens = 0;
    for (int i = 0; i < batch.size; i++) tokens += batch.lengths[i];
    Err err;
    OptimConfig oc = {OPTIM_ADAMW, 1e-3f, 0.01f, 0.9f, 0.999f, 1e-8f};
    Optimizer *opt = optim_build(&oc, b.model, &err);
    if (!opt) ck_abort_msg("%s", err.msg);
    const Dropout drop = {0.1f, 0.1f, 0.1f, 17};
    const StepSchedule schedule = {oc.lr, 2, 0, 1.0f};
    StepStats st[2];
    for (long step = 0; step < 2; step++)
        if (train_step(b.model, opt, &batch, &drop, step, &schedule, &st[step], &err) != 0)
            ck_abort_msg("%s", err.msg);
    ck_assert_int_eq(memcmp(&la, &st[0].loss, sizeof la), 0);
    size_t n;
    const float *pa = bert_params(a.model, &n);
    ck_assert_int_eq(memcmp(pa, bert_params(b.model, NULL), sizeof(float) * n), 0);
    ck_assert_int_eq(memcmp(bert_grads(a.model, NULL), bert_grads(b.model, NULL), sizeof(float) * n), 0);
    for (long step = 0; step < 2; step++) {
        ck_assert_float_eq(st[step].lr, lr_at(oc.lr, step, 2, 0));
        ck_assert_int_eq(st[step].tokens, tokens);
        ck_assert(isfinite(st[step].grad_norm) && st[step].grad_norm > 0);
    }

    // A non-finite loss stops the step before any update, naming the step.
    float *cls_b = bert_param(b.model, PT_CLS_B);
    cls_b[0] = NAN;
    float *before = malloc(sizeof(float) * n);
    ck_assert_ptr_nonnull(before);
    memcpy(before, bert_params(b.model, NULL), sizeof(float) * n);
    ck_assert_int_eq(train_step(b.model, opt, &batch, &drop, 6, &schedule, &st[0], &err), -1);
    ck_assert_msg(strstr(err.msg, "step 7: the loss is ") && strstr(err.msg, "nan"), "%s", err.msg);
    ck_assert_int_eq(memcmp(before, bert_params(b.model, NULL), sizeof(float) * n), 0);

    free(before);
    optim_free(opt);
    golden_step_batch_free(&batch);
    tiny_free(&a);
    tiny_free(&b);
}
END_TEST

Suite *train_suite(void) {
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("optimizer");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, no_decay_matches_trainer);
    tcase_add_loop_test(tc, optimizer_matches_torch, 0, 2);
    tcase_add_test(tc, clipping_matches_torch);
    suite_add_tcase(s, tc);
    tc = tcase_create("schedule");
    tcase_add_test(tc, schedule_matches_transformers);
    tcase_add_test(tc, warmup_steps_match_transformers);
    suite_add_tcase(s, tc);
    tc = tcase_create("dropout");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, dropout_mask_is_pure_function);
    tcase_add_test(tc, dropout_keep_rate);
    tcase_add_test(tc, dropout_scale);
    tcase_add_test(tc, dropout_backward_uses_forward_mask);
    suite_add_tcase(s, tc);
    tc = tcase_create("determinism");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, training_is_deterministic);
    tcase_add_test(tc, train_step_is_the_sequence);
    suite_add_tcase(s, tc);
    return s;
}
