// One Check runner over every suite; exits non-zero on any failure.
// CK_RUN_SUITE=name / CK_RUN_CASE=name select a subset (Check built-ins).
#include <check.h>
#include <omp.h>
#include <stdlib.h>

#include "model/bert.h"

#define SUITE(name) Suite *name##_suite(void);
#include "suites.inc"
#undef SUITE

int main(void) {
    bert_set_threads(omp_get_max_threads());
    SRunner *runner = srunner_create(NULL);
#define SUITE(name) srunner_add_suite(runner, name##_suite());
#include "suites.inc"
#undef SUITE
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
