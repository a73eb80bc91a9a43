// The output-map golden check, included by tests/test_output_map.c (float
// build, against torch float32) and tests/test_output_map_f64.c (double
// build, against torch float64): one body, compiled in each precision.
// tests/golden/output_map_rows.json is made by gen_output_map_goldens.py.
#ifndef TESTS_OUTPUT_MAP_GOLDEN_H
#define TESTS_OUTPUT_MAP_GOLDEN_H

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/output_map.h"
#include "tests/testutil.h"
#include "util/fileio.h"

#define GOLDEN_MAX_C 16

static int golden_reals(const cJSON *obj, const char *key, real *out) {  // out[GOLDEN_MAX_C]
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(obj, key);
    ck_assert_msg(cJSON_IsArray(arr), "output map golden: no array '%s'", key);
    ck_assert_int_le(cJSON_GetArraySize(arr), GOLDEN_MAX_C);
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        ck_assert(cJSON_IsNumber(e));
        out[n++] = (real)e->valuedouble;
    }
    return n;
}

static void check_close(const char *what, int k, double got, double want, double atol,
                        double rtol) {
    if (!(fabs(got - want) <= atol + rtol * fabs(want)))
        ck_abort_msg("%s[%d]: got %.12g, torch %.12g", what, k, got, want);
}

// Every case: probabilities, the zero pattern, the loss and dL/dz (scale 1)
// against torch's `precision` ("f32" / "f64") numbers.  Returns the cases run.
static int check_output_map_golden(const char *precision, double atol, double rtol) {
    char *text;
    size_t len;
    Err err;
    if (file_read_all(TEST_GOLDEN_DIR "/output_map_rows.json", &text, &len, &err) != 0)
        ck_abort_msg("%s", err.msg);
    cJSON *root = cJSON_Parse(text);
    free(text);
    ck_assert_ptr_nonnull(root);
    int cases = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(root, "cases")) {
        const char *name = cJSON_GetObjectItemCaseSensitive(c, "map")->valuestring;
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(c, "r");
        const char *what_row = cJSON_GetObjectItemCaseSensitive(c, "what")->valuestring;
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(c, precision);
        ck_assert_ptr_nonnull(want);
        OutputMap map;
        if (output_map_parse(name, r ? (float)r->valuedouble : 0.0f, &map, &err) != 0)
            ck_abort_msg("golden case %d: %s", cases, err.msg);
        real z[GOLDEN_MAX_C], y[GOLDEN_MAX_C], want_p[GOLDEN_MAX_C], want_dz[GOLDEN_MAX_C];
        real p[GOLDEN_MAX_C], dz[GOLDEN_MAX_C], scratch[4 * GOLDEN_MAX_C];
        int C = golden_reals(c, "z", z);
        ck_assert_int_eq(golden_reals(c, "y", y), C);
        ck_assert_int_eq(golden_reals(want, "p", want_p), C);
        ck_assert_int_eq(golden_reals(want, "dz", want_dz), C);
        ck_assert_int_le(output_map_scratch(C), 4 * GOLDEN_MAX_C);
        char what[128];
        snprintf(what, sizeof what, "%s %s r=%g (%s) p", precision, name, (double)map.r, what_row);
        output_map_probs(map, z, p, C, scratch);
        for (int k = 0; k < C; k++) {
            check_close(what, k, p[k], want_p[k], atol, rtol);
            if ((p[k] == 0) != (want_p[k] == 0))
                ck_abort_msg("%s[%d]: got %.9g, torch %.9g: zero pattern differs", what, k,
                             (double)p[k], (double)want_p[k]);
        }
        double loss = output_map_loss(map, z, y, dz, C, 1.0f, scratch);
        snprintf(what, sizeof what, "%s %s r=%g (%s) loss", precision, name, (double)map.r,
                 what_row);
        check_close(what, 0, loss, cJSON_GetObjectItemCaseSensitive(want, "loss")->valuedouble,
                    atol, rtol);
        snprintf(what, sizeof what, "%s %s r=%g (%s) dz", precision, name, (double)map.r,
                 what_row);
        for (int k = 0; k < C; k++) check_close(what, k, dz[k], want_dz[k], atol, rtol);
        cases++;
    }
    cJSON_Delete(root);
    return cases;
}

#endif
