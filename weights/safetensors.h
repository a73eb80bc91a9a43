// safetensors, read and written by our own code.
// Reader: mmaps the file and validates it strictly before handing out any
// tensor; every violation is reported as "PATH: tensor NAME: what is wrong"
// (or "PATH: header: what is wrong" when no tensor is involved).
#ifndef WEIGHTS_SAFETENSORS_H
#define WEIGHTS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER_BYTES (100u * 1000u * 1000u)

typedef enum {
    ST_BOOL, ST_U8, ST_I8, ST_F8_E5M2, ST_F8_E4M3, ST_I16, ST_U16, ST_F16, ST_BF16,
    ST_I32, ST_U32, ST_F32, ST_I64, ST_U64, ST_F64, ST_DTYPE_COUNT
} StDtype;

const char *st_dtype_name(StDtype dtype);  // "F32", ...
size_t st_dtype_size(StDtype dtype);       // bytes per element

typedef struct {
    const char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t numel;
    const void *data;  // points into the mapping
    size_t nbytes;
} StTensor;

typedef struct StFile StFile;

StFile *st_open(const char *path, Err *err);
void st_close(StFile *file);
const char *st_path(const StFile *file);
int st_count(const StFile *file);
const StTensor *st_tensor_at(const StFile *file, int index);  // in file (offset) order
const StTensor *st_find(const StFile *file, const char *name);  // NULL if absent
// Value of a __metadata__ string entry, or NULL.
const char *st_metadata(const StFile *file, const char *key);

// Converts an F32 / F16 / BF16 (also F64) tensor to float32 into out[count];
// count must equal the tensor's numel.  Other dtypes are an error naming the
// tensor.
int st_to_f32(const StFile *file, const StTensor *t, float *out, size_t count, Err *err);

// A model's weights: model.safetensors, or the shards listed by
// model.safetensors.index.json.  Lookup by name across shards.
typedef struct StModel StModel;
StModel *st_model_open(const char *dir, Err *err);
void st_model_close(StModel *model);
// Finds a tensor in any shard; *file_out receives the shard it lives in.
const StTensor *st_model_find(const StModel *model, const char *name, const StFile **file_out);
int st_model_shards(const StModel *model);
const StFile *st_model_shard(const StModel *model, int index);

// Writer.  Tensors are written in the Python library's order (its dtype
// order, descending: U64, I64, F64, F32, U32, I32, BF16, F16, ..., then
// name), the header padded with spaces to a multiple of 8, __metadata__
// {"format":"pt"} plus any extra (key, value) string pairs; written to
// PATH.tmp and renamed into place.
typedef struct {
    const char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;  // numel * dtype size bytes
} StWriteTensor;

int st_write(const char *path, const StWriteTensor *tensors, int count, const char *const *metadata_kv,
             int metadata_pairs, Err *err);

#endif
