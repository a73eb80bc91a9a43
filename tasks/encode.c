// The one step of tasks/ that needs the tokenizer.
#include "tasks/batcher.h"

static int encode_with_tokenizer(const void *ctx, const char *a, const char *b, int max_len,
                                 int *ids, int *type_ids, Err *err) {
    return tok_encode(ctx, a, b, max_len, ids, type_ids, err);
}

TokenizedSet *tokset_encode(const Dataset *ds, const Tokenizer *tok, int max_len, Err *err) {
    return tokset_build(ds, encode_with_tokenizer, tok, max_len, tok_pad_id(tok), err);
}
