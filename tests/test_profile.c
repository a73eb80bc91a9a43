// Time by phase (model/profile.h): profiling changes no result (bytes of
// parameters, gradients and logits with and without a profile), and its
// phases account for a pass consistently: every phase non-negative, their
// sum within the pass's measured wall time, and each phase's calls per pass
// the count the model config implies (expected_calls below, derived from the
// layer structure, not read back from the profiler).  Each case runs in fp32
// and, where this CPU has a bf16 matmul, in bf16, with the last layer on
// the [CLS] rows only (the default) and on every token.
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/bert.h"
#include "model/profile.h"
#include "tests/testutil.h"
#include "train/optim.h"
#include "train/step.h"
#include "util/clock.h"
#include "weights/hf_model.h"

#define TINY TEST_GOLDEN_DIR "/tiny_bert"

// Loop index -> the case: precision (bit 0) and all-token last layer (bit 1).
typedef struct {
    Precision precision;
    int all_tokens;
} Case;

static Case case_of(int i) {
    return (Case){(i & 1) ? PRECISION_BF16 : PRECISION_FP32, (i >> 1) & 1};
}
enum { CASES = 4 };

// tiny_bert with gradients in the case's precision; NULL (the test skips,
// saying so) for bf16 where this CPU has no bf16 matmul.
static Bert *tiny_load(Case c, const char *test) {
    Err err;
    HfConfig cfg;
    if (hf_config_load(TINY, &cfg, &err) != 0) ck_abort_msg("%s", err.msg);
    if (c.precision == PRECISION_BF16 && !precision_info(PRECISION_BF16)->available()) {
        fprintf(stderr, "profile: %s (bf16) skipped: this CPU has no bf16 matmul (needs AVX-512)\n",
                test);
        return NULL;
    }
    Bert *m = hf_load_model(TINY, &cfg, 0, 5, 12, 1, NULL, &err);
    if (!m || bert_enable_grads(m, &err) != 0 || bert_set_precision(m, c.precision, &err) != 0)
        ck_abort_msg("%s", err.msg);
    bert_output_all_tokens(m, c.all_tokens);
    return m;
}

static const Dropout DROPOUT = {0.1f, 0.1f, 0.1f, 29};  // every rate > 0
static const StepSchedule SCHEDULE = {1e-3f, 2, 0, 1.0f};

// Calls per pass of every phase, from the config: L layers, the head, the
// precision, a training step (train_step, every dropout rate > 0) or an
// eval forward, and whether the last layer runs on the [CLS] rows only.
static void expected_calls(const BertConfig *c, Case k, int training, long want[PHASE_COUNT]) {
    const long L = c->num_layers, xlmr = c->head == HEAD_XLMR,
               bf16 = k.precision == PRECISION_BF16, cls_only = !k.all_tokens;
    memset(want, 0, sizeof(long) * PHASE_COUNT);
    // Forward.
    want[PHASE_EMBEDDINGS] = 1;
    want[PHASE_LAYERNORM] = 1 + 2 * L;  // the embeddings', two per layer
    want[PHASE_GEMM_FWD] = 4 * L + 2;   // QKV, output, FFN in and out; pooler, classifier
    want[PHASE_ATTN_PRODUCTS_FWD] = L;  // one attention region per layer
    want[PHASE_ATTN_MAP_FWD] = L;
    want[PHASE_GELU] = L;
    want[PHASE_ELEMENTWISE] = 2 * L + cls_only;  // two residual adds a layer; the [CLS] rows moved
    want[PHASE_HEAD_LOSS] = 2;                   // [CLS] rows gathered; pooler tanh
    // GEMM inputs: the layer input (kept for the backward; QKV runs in
    // float32), the context, ln1_out; GELU writes the FFN-out input itself.
    want[PHASE_BF16_CONVERT] = bf16 * 3 * L;
    if (!training) return;
    // Hidden dropout after the embeddings, twice a layer, on the pooled
    // output (and XLM-R's head input), and on each layer's attention
    // probabilities; the backward applies each mask once more.
    want[PHASE_DROPOUT] = 2 * ((1 + 2 * L + 1 + xlmr) + L);
    want[PHASE_HEAD_LOSS] += 1;  // the loss
    // Backward.
    want[PHASE_EMBEDDINGS] += 1;
    want[PHASE_LAYERNORM] += 1 + 2 * L;
    want[PHASE_GEMM_BWD] = 4 * L + 2;
    want[PHASE_ATTN_PRODUCTS_BWD] = L;
    want[PHASE_ATTN_MAP_BWD] = L;
    want[PHASE_GELU] += L;
    // Per layer two gradient clears and two copies around the LayerNorm
    // backwards; the last layer's [CLS] rows spread; the embeddings' clear.
    want[PHASE_ELEMENTWISE] += 4 * L + cls_only + 1;
    want[PHASE_HEAD_LOSS] += 2;               // tanh backward; [CLS] rows spread
    want[PHASE_BF16_CONVERT] += bf16 * 4 * L;  // each layer GEMM's dout
    // The step: norm and clip; zero_grad and the update (which writes the
    // bf16 weight copies and checks the weights: no pass of their own).
    want[PHASE_CLIP_CHECKS] = 1;
    want[PHASE_OPTIMIZER] = 2;
    want[PHASE_WEIGHT_REFRESH] = 0;
}

// Every phase non-negative, calls as expected, and the sum of the phases
// within the measured wall time of the pass.
static void assert_accounts(const Profile *prof, const long want[PHASE_COUNT], double wall,
                            const char *pass) {
    for (int p = 0; p < PHASE_COUNT; p++) {
        const char *name = profile_phase((Phase)p)->name;
        ck_assert_msg(profile_calls(prof, (Phase)p) == want[p], "%s: %s: %ld calls, expected %ld",
                      pass, name, profile_calls(prof, (Phase)p), want[p]);
        ck_assert_msg(profile_seconds(prof, (Phase)p) >= 0, "%s: %s: %g s", pass, name,
                      profile_seconds(prof, (Phase)p));
        if (want[p] == 0) ck_assert(profile_seconds(prof, (Phase)p) == 0);
    }
    const double EPSILON = 1e-6;  // seconds: rounding of the attention shares
    ck_assert_msg(profile_total_seconds(prof) <= wall + EPSILON,
                  "%s: phases sum to %.9f s, the pass took %.9f s", pass,
                  profile_total_seconds(prof), wall);
}

START_TEST(phases_account_for_the_pass) {
    const Case k = case_of(_i);
    Bert *m = tiny_load(k, "phases_account_for_the_pass");
    if (!m) return;
    Batch b = golden_step_batch();
    Err err;
    Profile *prof = profile_build(&err);
    OptimConfig oc = {OPTIM_ADAMW, 1e-3f, 0.01f, 0.9f, 0.999f, 1e-8f};
    Optimizer *opt = optim_build(&oc, m, &err);
    if (!prof || !opt) ck_abort_msg("%s", err.msg);
    bert_set_profile(m, prof);
    long want[PHASE_COUNT];

    BertInput in = {b.size, b.T, b.ids, b.type_ids, b.lengths};
    double t0 = clock_seconds();
    if (bert_forward(m, &in, NULL, &err) != 0) ck_abort_msg("%s", err.msg);
    double wall = clock_seconds() - t0;
    expected_calls(bert_config(m), k, 0, want);
    assert_accounts(prof, want, wall, "eval forward");

    profile_reset(prof);
    StepStats st;
    t0 = clock_seconds();
    if (train_step(m, opt, &b, &DROPOUT, 0, &SCHEDULE, &st, &err) != 0) ck_abort_msg("%s", err.msg);
    wall = clock_seconds() - t0;
    expected_calls(bert_config(m), k, 1, want);
    assert_accounts(prof, want, wall, "training step");

    // Taken back: the next pass records nothing.
    bert_set_profile(m, NULL);
    profile_reset(prof);
    if (bert_forward(m, &in, NULL, &err) != 0) ck_abort_msg("%s", err.msg);
    for (int p = 0; p < PHASE_COUNT; p++) ck_assert_int_eq(profile_calls(prof, (Phase)p), 0);

    optim_free(opt);
    profile_free(prof);
    golden_step_batch_free(&b);
    bert_free(m);
}
END_TEST

// Two training steps and an eval forward on two copies of tiny_bert, one
// profiled: parameters, gradients and logits identical to the byte.
START_TEST(profiling_changes_no_result) {
    const Case k = case_of(_i);
    Bert *plain = tiny_load(k, "profiling_changes_no_result");
    if (!plain) return;
    Bert *timed = tiny_load(k, "profiling_changes_no_result");
    Batch b = golden_step_batch();
    Err err;
    Profile *prof = profile_build(&err);
    if (!prof) ck_abort_msg("%s", err.msg);
    bert_set_profile(timed, prof);
    OptimConfig oc = {OPTIM_ADAMW, 1e-3f, 0.01f, 0.9f, 0.999f, 1e-8f};
    Bert *models[2] = {plain, timed};
    for (int i = 0; i < 2; i++) {
        Optimizer *opt = optim_build(&oc, models[i], &err);
        if (!opt) ck_abort_msg("%s", err.msg);
        StepStats st;
        for (long step = 0; step < 2; step++)
            if (train_step(models[i], opt, &b, &DROPOUT, step, &SCHEDULE, &st, &err) != 0)
                ck_abort_msg("%s", err.msg);
        BertInput in = {b.size, b.T, b.ids, b.type_ids, b.lengths};
        if (bert_forward(models[i], &in, NULL, &err) != 0) ck_abort_msg("%s", err.msg);
        optim_free(opt);
    }
    ck_assert_int_gt(profile_calls(prof, PHASE_GEMM_FWD), 0);  // it did time them
    size_t n;
    const float *p0 = bert_params(plain, &n);
    ck_assert_int_eq(memcmp(p0, bert_params(timed, NULL), sizeof(float) * n), 0);
    ck_assert_int_eq(memcmp(bert_grads(plain, NULL), bert_grads(timed, NULL), sizeof(float) * n), 0);
    const int C = bert_config(plain)->num_labels;
    ck_assert_int_eq(memcmp(bert_logits(plain), bert_logits(timed), sizeof(float) * b.size * C), 0);

    profile_free(prof);
    golden_step_batch_free(&b);
    bert_free(plain);
    bert_free(timed);
}
END_TEST

// A parallel region's wall time shared in proportion to its parts' thread
// time: 1 s over parts of 1 and 3 thread-seconds gives 0.25 s and 0.75 s; a
// region whose parts registered no time goes whole to its first part.
START_TEST(split_shares_the_wall_time) {
    Err err;
    Profile *prof = profile_build(&err);
    if (!prof) ck_abort_msg("%s", err.msg);
    profile_split(prof, 1.0, (Phase[]){PHASE_ATTN_PRODUCTS_FWD, PHASE_ATTN_MAP_FWD},
                  (double[]){1.0, 3.0}, 2);
    ck_assert_double_eq_tol(profile_seconds(prof, PHASE_ATTN_PRODUCTS_FWD), 0.25, 1e-15);
    ck_assert_double_eq_tol(profile_seconds(prof, PHASE_ATTN_MAP_FWD), 0.75, 1e-15);
    profile_split(prof, 0.5, (Phase[]){PHASE_DROPOUT, PHASE_GELU}, (double[]){0.0, 0.0}, 2);
    ck_assert_double_eq_tol(profile_seconds(prof, PHASE_DROPOUT), 0.5, 1e-15);
    ck_assert(profile_seconds(prof, PHASE_GELU) == 0.0);
    for (int p = 0; p < PHASE_COUNT; p++)
        ck_assert_int_eq(profile_calls(prof, (Phase)p),
                         p == PHASE_ATTN_PRODUCTS_FWD || p == PHASE_ATTN_MAP_FWD ||
                                 p == PHASE_DROPOUT || p == PHASE_GELU
                             ? 1
                             : 0);
    ck_assert_double_eq_tol(profile_total_seconds(prof), 1.5, 1e-15);
    profile_split(NULL, 1.0, (Phase[]){PHASE_GELU}, (double[]){1.0}, 1);  // off: a no-op
    profile_free(prof);
}
END_TEST

Suite *profile_suite(void) {
    Suite *s = suite_create("profile");
    TCase *tc = tcase_create("phases");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, split_shares_the_wall_time);
    tcase_add_loop_test(tc, phases_account_for_the_pass, 0, CASES);
    tcase_add_loop_test(tc, profiling_changes_no_result, 0, CASES);
    suite_add_tcase(s, tc);
    return s;
}
