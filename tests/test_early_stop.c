// --patience / --min-delta / --metric-for-best: train/early_stop.c on
// scripted metric sequences, each with the evaluation where the run must stop
// and the evaluations that must be new bests.
#include <math.h>

#include "tests/testutil.h"
#include "train/early_stop.h"

typedef struct {
    const char *what;
    int patience;
    double min_delta;
    int direction;
    double values[10];
    int n;
    int stop_at;           // index of the evaluation after which the run stops; -1: never
    const char *best_mask;  // '1' where the evaluation is a new best
} Script;

static const Script SCRIPTS[] = {
    // 0.61 beats 0.60 (a new best) but by less than 0.02: the count goes on.
    {"min-delta", 2, 0.02, 1, {0.50, 0.60, 0.60, 0.61, 0.90}, 5, 3, "11010"},
    {"improvements reset", 2, 0.0, 1, {0.5, 0.4, 0.6, 0.5, 0.7, 0.6, 0.6}, 7, 6, "1010100"},
    {"lower is better", 1, 0.0, -1, {3.0, 2.0, 2.5}, 3, 2, "110"},
    {"patience 0 never stops", 0, 0.0, 1, {0.9, 0.1, 0.1, 0.1, 0.1}, 5, -1, "10000"},
    // NaN: neither a best nor counted; the first finite value is the best.
    {"NaN skipped", 2, 0.0, 1, {NAN, 0.3, NAN, 0.2, 0.2}, 5, 4, "01000"},
};

START_TEST(test_scripted_sequences) {
    const Script *s = &SCRIPTS[_i];
    EarlyStop e = {.patience = s->patience, .min_delta = s->min_delta, .direction = s->direction};
    int stopped = -1;
    for (int k = 0; k < s->n && stopped < 0; k++) {
        bool stop;
        bool best = early_stop_update(&e, s->values[k], &stop);
        ck_assert_msg(best == (s->best_mask[k] == '1'), "%s: evaluation %d: best %d", s->what, k,
                      best);
        if (stop) stopped = k;
    }
    ck_assert_msg(stopped == s->stop_at, "%s: stopped after evaluation %d, want %d", s->what,
                  stopped, s->stop_at);
}
END_TEST

Suite *early_stop_suite(void) {
    Suite *s = suite_create("early_stop");
    TCase *tc = tcase_create("scripts");
    tcase_add_loop_test(tc, test_scripted_sequences, 0, (int)(sizeof SCRIPTS / sizeof SCRIPTS[0]));
    suite_add_tcase(s, tc);
    return s;
}
