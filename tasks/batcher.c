#include "tasks/batcher.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/rng.h"

// Rows encoded per parallel block: bounds the scratch to block * max_len.
#define ENCODE_BLOCK 4096
// Batches per length-sorted chunk of plan_train.
#define PLAN_CHUNK_BATCHES 50

struct TokenizedSet {
    int n, max_len, pad_id;
    int *lengths;     // [n]
    size_t *offsets;  // [n] start of row i in ids / type_ids
    int *ids;         // [total]
    int *type_ids;    // [total]
    int *labels;      // [n]
    float *targets;   // [n]
};

void tokset_free(TokenizedSet *ts) {
    if (!ts) return;
    free(ts->lengths);
    free(ts->offsets);
    free(ts->ids);
    free(ts->type_ids);
    free(ts->labels);
    free(ts->targets);
    free(ts);
}

int tokset_size(const TokenizedSet *ts) { return ts->n; }
int tokset_max_len(const TokenizedSet *ts) { return ts->max_len; }
const int *tokset_lengths(const TokenizedSet *ts) { return ts->lengths; }

int tokset_row(const TokenizedSet *ts, int i, const int **ids, const int **type_ids) {
    if (i < 0 || i >= ts->n) return -1;
    *ids = ts->ids + ts->offsets[i];
    *type_ids = ts->type_ids + ts->offsets[i];
    return ts->lengths[i];
}

// Encodes rows [start, start + m) into the block buffers; returns the
// lowest failing row (its message in err) or -1.
static int encode_block(const Dataset *ds, EncodeFn encode, const void *ctx, int max_len,
                        int start, int m, int *ids, int *types, int *lens, Err *err) {
    int failed = -1;
#pragma omp parallel for schedule(dynamic, 16)
    for (int i = 0; i < m; i++) {
        const Example *ex = dataset_example(ds, start + i);
        Err e;
        e.msg[0] = '\0';
        int len = encode(ctx, ex->text_a, ex->text_b, max_len, ids + (size_t)i * max_len,
                         types + (size_t)i * max_len, &e);
        if (len >= 1 && len <= max_len) {
            lens[i] = len;
            continue;
        }
        if (len >= 0) err_set(&e, "encoder returned length %d (max_len %d)", len, max_len);
        if (e.msg[0] == '\0') err_set(&e, "encoder failed");
#pragma omp critical(tokset_error)
        if (failed < 0 || i < failed) {
            failed = i;
            *err = e;
        }
    }
    return failed;
}

TokenizedSet *tokset_build(const Dataset *ds, EncodeFn encode, const void *ctx, int max_len,
                           int pad_id, Err *err) {
    if (max_len < 1) {
        err_set(err, "tokenize: max_len %d", max_len);
        return NULL;
    }
    int n = dataset_size(ds);
    TokenizedSet *ts = err_calloc(err, 1, sizeof *ts, "tokenized set");
    if (!ts) return NULL;
    ts->n = n;
    ts->max_len = max_len;
    ts->pad_id = pad_id;
    int block = n < ENCODE_BLOCK ? (n > 0 ? n : 1) : ENCODE_BLOCK;
    size_t scratch = (size_t)block * max_len * sizeof(int);
    int *bids = err_malloc(err, scratch, "tokenize scratch");
    int *btypes = err_malloc(err, scratch, "tokenize scratch");
    int *blens = err_malloc(err, (size_t)block * sizeof(int), "tokenize scratch");
    ts->lengths = err_malloc(err, (size_t)n * sizeof(int), "lengths");
    ts->offsets = err_malloc(err, (size_t)n * sizeof(size_t), "row offsets");
    ts->labels = err_malloc(err, (size_t)n * sizeof(int), "labels");
    ts->targets = err_malloc(err, (size_t)n * sizeof(float), "targets");
    size_t total = 0, cap = 0;
    if (!bids || !btypes || !blens || !ts->lengths || !ts->offsets || !ts->labels || !ts->targets)
        goto fail;
    for (int start = 0; start < n; start += block) {
        int m = n - start < block ? n - start : block;
        int bad = encode_block(ds, encode, ctx, max_len, start, m, bids, btypes, blens, err);
        if (bad >= 0) {
            err_prefix(err, "%s:%d", dataset_path(ds), dataset_example(ds, start + bad)->line);
            goto fail;
        }
        size_t need = total;
        for (int i = 0; i < m; i++) need += (size_t)blens[i];
        if (need > cap) {
            size_t grown = grow_capacity(cap, need);
            if (RESIZE(ts->ids, grown, "token ids", err) ||
                RESIZE(ts->type_ids, grown, "token type ids", err))
                goto fail;
            cap = grown;
        }
        for (int i = 0; i < m; i++) {
            const Example *ex = dataset_example(ds, start + i);
            ts->lengths[start + i] = blens[i];
            ts->offsets[start + i] = total;
            ts->labels[start + i] = ex->label;
            ts->targets[start + i] = ex->target;
            memcpy(ts->ids + total, bids + (size_t)i * max_len, (size_t)blens[i] * sizeof(int));
            memcpy(ts->type_ids + total, btypes + (size_t)i * max_len,
                   (size_t)blens[i] * sizeof(int));
            total += (size_t)blens[i];
        }
    }
    free(bids);
    free(btypes);
    free(blens);
    return ts;
fail:
    free(bids);
    free(btypes);
    free(blens);
    tokset_free(ts);
    return NULL;
}

struct BatchPlan {
    int n, num_batches;
    int *order;   // [n] dataset rows, batch after batch
    int *starts;  // [num_batches + 1] batch k is order[starts[k] .. starts[k + 1])
};

void plan_free(BatchPlan *plan) {
    if (!plan) return;
    free(plan->order);
    free(plan->starts);
    free(plan);
}

int plan_num_batches(const BatchPlan *plan) { return plan->num_batches; }

int plan_batch(const BatchPlan *plan, int k, const int **rows) {
    if (k < 0 || k >= plan->num_batches) {
        *rows = NULL;
        return 0;
    }
    *rows = plan->order + plan->starts[k];
    return plan->starts[k + 1] - plan->starts[k];
}

void plan_scatter(const BatchPlan *plan, int k, const float *batch_out, int width, float *out) {
    const int *rows;
    int m = plan_batch(plan, k, &rows);
    for (int j = 0; j < m; j++)
        memcpy(out + (size_t)rows[j] * width, batch_out + (size_t)j * width,
               (size_t)width * sizeof(float));
}

static BatchPlan *plan_alloc(const int *lengths, int n, int batch_size, Err *err) {
    if (n < 0 || batch_size < 1) {
        err_set(err, "batch plan: %d rows, batch size %d", n, batch_size);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (lengths[i] < 0) {
            err_set(err, "batch plan: row %d has length %d", i, lengths[i]);
            return NULL;
        }
    BatchPlan *plan = err_calloc(err, 1, sizeof *plan, "batch plan");
    if (!plan) return NULL;
    plan->n = n;
    plan->num_batches = (int)(((long)n + batch_size - 1) / batch_size);
    plan->order = err_malloc(err, (size_t)n * sizeof(int), "batch order");
    plan->starts = err_malloc(err, (size_t)(plan->num_batches + 1) * sizeof(int), "batch starts");
    if (!plan->order || !plan->starts) {
        plan_free(plan);
        return NULL;
    }
    for (int k = 0; k <= plan->num_batches; k++)
        plan->starts[k] = (int)((long)k * batch_size < n ? (long)k * batch_size : n);
    return plan;
}

typedef struct {
    int length, position, row;
} SortKey;

// Longest first; equal lengths keep their order (position is unique).
static int cmp_longest_first(const void *a, const void *b) {
    const SortKey *x = a, *y = b;
    if (x->length != y->length) return x->length > y->length ? -1 : 1;
    return (x->position > y->position) - (x->position < y->position);
}

static int sort_longest_first(const int *lengths, int *rows, int n, Err *err) {
    SortKey *keys = err_malloc(err, (size_t)n * sizeof *keys, "sort keys");
    if (!keys) return -1;
    for (int i = 0; i < n; i++) keys[i] = (SortKey){lengths[rows[i]], i, rows[i]};
    qsort(keys, (size_t)n, sizeof *keys, cmp_longest_first);
    for (int i = 0; i < n; i++) rows[i] = keys[i].row;
    free(keys);
    return 0;
}

BatchPlan *plan_train(const int *lengths, int n, int batch_size, uint64_t seed, int epoch,
                      Err *err) {
    BatchPlan *plan = plan_alloc(lengths, n, batch_size, err);
    if (!plan) return NULL;
    int nb = plan->num_batches;
    int *rows = err_malloc(err, (size_t)n * sizeof(int), "batch order");
    int *perm = err_malloc(err, (size_t)nb * sizeof(int), "batch order");
    if (!rows || !perm) goto fail;
    Rng rng;
    rng_seed(&rng, rng_hash(seed, (uint64_t)(int64_t)epoch));
    for (int i = 0; i < n; i++) rows[i] = i;
    rng_shuffle(&rng, rows, n);
    long chunk = (long)PLAN_CHUNK_BATCHES * batch_size;
    for (long c = 0; c < n; c += chunk) {
        int m = (int)(n - c < chunk ? n - c : chunk);
        if (sort_longest_first(lengths, rows + c, m, err) != 0) goto fail;
    }
    for (int k = 0; k < nb; k++) perm[k] = k;
    rng_shuffle(&rng, perm, nb);
    // Batch k of the plan is batch perm[k] of the sorted rows; the short
    // batch (if any) may land anywhere.
    int pos = 0;
    for (int k = 0; k < nb; k++) {
        int from = perm[k] * batch_size;
        int m = n - from < batch_size ? n - from : batch_size;
        memcpy(plan->order + pos, rows + from, (size_t)m * sizeof(int));
        plan->starts[k] = pos;
        pos += m;
    }
    plan->starts[nb] = pos;
    free(rows);
    free(perm);
    return plan;
fail:
    free(rows);
    free(perm);
    plan_free(plan);
    return NULL;
}

BatchPlan *plan_eval(const int *lengths, int n, int batch_size, Err *err) {
    BatchPlan *plan = plan_alloc(lengths, n, batch_size, err);
    if (!plan) return NULL;
    for (int i = 0; i < n; i++) plan->order[i] = i;
    if (sort_longest_first(lengths, plan->order, n, err) != 0) {
        plan_free(plan);
        return NULL;
    }
    return plan;
}

void batch_free(Batch *b) {
    if (!b) return;
    free(b->ids);
    free(b->type_ids);
    free(b->lengths);
    free(b->labels);
    free(b->targets);
    free(b);
}

Batch *batch_alloc(int max_rows, int max_len, Err *err) {
    if (max_rows < 1 || max_len < 1) {
        err_set(err, "batch: %d rows of %d tokens", max_rows, max_len);
        return NULL;
    }
    Batch *b = err_calloc(err, 1, sizeof *b, "batch");
    if (!b) return NULL;
    b->max_rows = max_rows;
    b->max_len = max_len;
    size_t cells = (size_t)max_rows * max_len;
    b->ids = err_malloc(err, cells * sizeof(int), "batch ids");
    b->type_ids = err_malloc(err, cells * sizeof(int), "batch type ids");
    b->lengths = err_malloc(err, (size_t)max_rows * sizeof(int), "batch lengths");
    b->labels = err_malloc(err, (size_t)max_rows * sizeof(int), "batch labels");
    b->targets = err_malloc(err, (size_t)max_rows * sizeof(float), "batch targets");
    if (!b->ids || !b->type_ids || !b->lengths || !b->labels || !b->targets) {
        batch_free(b);
        return NULL;
    }
    return b;
}

int batch_fill(Batch *b, const TokenizedSet *ts, const int *rows, int n, Err *err) {
    if (n < 1 || n > b->max_rows)
        return err_set(err, "batch: %d rows, capacity %d", n, b->max_rows);
    int T = 0;
    for (int r = 0; r < n; r++) {
        if (rows[r] < 0 || rows[r] >= ts->n)
            return err_set(err, "batch: row %d out of range [0, %d)", rows[r], ts->n);
        if (ts->lengths[rows[r]] > T) T = ts->lengths[rows[r]];
    }
    if (T > b->max_len)
        return err_set(err, "batch: a row of %d tokens exceeds the batch's %d", T, b->max_len);
    b->size = n;
    b->T = T;
    for (int r = 0; r < n; r++) {
        int i = rows[r], len = ts->lengths[i];
        int *ids = b->ids + (size_t)r * T, *types = b->type_ids + (size_t)r * T;
        memcpy(ids, ts->ids + ts->offsets[i], (size_t)len * sizeof(int));
        memcpy(types, ts->type_ids + ts->offsets[i], (size_t)len * sizeof(int));
        for (int t = len; t < T; t++) {
            ids[t] = ts->pad_id;
            types[t] = 0;
        }
        b->lengths[r] = len;
        b->labels[r] = ts->labels[i];
        b->targets[r] = ts->targets[i];
    }
    return 0;
}
