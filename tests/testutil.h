// Shared helpers for the Check suites.  Tests run from the repository root.
#ifndef TESTS_TESTUTIL_H
#define TESTS_TESTUTIL_H

#include <cJSON.h>
#include <check.h>
#include <stddef.h>

#include "tasks/batcher.h"
#include "weights/hf_model.h"

#define TEST_MODEL_DIR "models/all-MiniLM-L6-v2"
#define TEST_GOLDEN_DIR "tests/golden"

// Largest |got - want| over n floats must be <= atol + rtol * |want| at
// every index; on failure reports the tensor name, index and both values.
void assert_allclose(const char *what, const float *got, const float *want, size_t n, double atol,
                     double rtol);
void assert_allclose_d(const char *what, const double *got, const double *want, size_t n,
                       double atol, double rtol);

// Creates a fresh temporary directory (mkdtemp under /tmp); caller frees
// the path with test_tmpdir_remove.
char *test_tmpdir(void);
void test_tmpdir_remove(char *path);

// dir/name, malloc'ed (caller frees).
char *path_in(const char *dir, const char *name);
// The whole file as a NUL-terminated string (caller frees); fails the test
// on error.
char *read_text(const char *path);
// The file parsed as JSON (caller cJSON_Deletes); fails the test on error.
cJSON *read_json(const char *path);

// Writes text to dir/name; fails the test on error.
void test_write_file(const char *dir, const char *name, const void *data, size_t len);

// A copy of tests/golden/tiny_bert in a fresh temporary directory with the
// middle element of F32 tensor `tensor` set to `value` (caller removes it
// with test_tmpdir_remove).
char *test_tiny_with_value(const char *tensor, float value);

// Golden tensors: opens a safetensors golden (fails the test on error) and
// returns a tensor as a fresh float / int array (caller frees).  numel, if
// not NULL, receives the element count.
typedef struct StFile StFile;
StFile *golden_open(const char *path);
float *golden_f32(const StFile *file, const char *name, size_t *numel);
int *golden_i32(const StFile *file, const char *name, size_t *numel);
// An F64 golden tensor, unconverted.
double *golden_f64(const StFile *file, const char *name, size_t *numel);

// The golden gradient batch of tiny_bert (grad_softmax_pair: 5 rows of up
// to 12 tokens, labels, no targets) as the trainer's Batch; free it with
// golden_step_batch_free.
Batch golden_step_batch(void);
void golden_step_batch_free(Batch *b);

// Bridge for the double-precision suites (tests/*_f64.c): DIR's parameters,
// loaded by the float engine, as doubles in the shared layout (*params,
// *count; caller frees), and the HF name table (*refs, with the family's
// prefix; caller frees).  Returns the table's length.
int test_tiny_params(const char *dir, double **params, size_t *count, HfTensorRef **refs);

#endif
