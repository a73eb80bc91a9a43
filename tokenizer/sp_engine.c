// SentencePiece engine: raw text -> the ids the checkpoint's Hugging Face
// tokenizer gives.  Only the XLM-RoBERTa family is supported, and a model
// directory is classified from its configs, never guessed.
//
// transformers 5.x does not run libsentencepiece: XLMRobertaTokenizer
// rebuilds the .model file as a `tokenizers` pipeline, and that pipeline is
// what we reproduce here:
//   1. special tokens (<s> <pad> </s> <unk> <mask>) written in the text are
//      matched on the raw text and become their ids;
//   2. each other chunk is normalized with the model's precompiled charsmap,
//      split at Unicode White_Space, "▁" is prepended to every word, and
//      words are split again before each "▁" (WhitespaceSplit + Metaspace);
//   3. each piece of a word is segmented by Unigram Viterbi in double
//      precision over the piece scores (consecutive unknown characters fuse
//      into one <unk>);
//   4. ids follow fairseq's dictionary: <s>=0 <pad>=1 </s>=2 <unk>=3, spm
//      piece i (i >= 3) becomes i + 1, and <mask> is the last id.
// libsentencepiece itself (spm_encode) differs in 1. (no added tokens), in
// 2. (it splits only at ' ', e.g. not at U+0085) and in 3.: it sums scores
// in single precision, so exact ties such as "0"+"00" versus "00"+"0" fall
// the other way (~50 of 147k GLUE texts with a 1000-piece model).  We
// therefore use libsentencepiece to load and validate the model and for the
// piece strings, and read the scores and charsmap from the model proto.
// Like transformers we ignore the model's own type and flags (a BPE model
// is scored as Unigram too); models with extra control or user-defined
// pieces, which transformers would turn into added tokens, are refused.
//
// Known gap: Hugging Face applies the charsmap per grapheme cluster (a
// cluster under 6 bytes is replaced whole by the rule for its shortest
// matching prefix, a longer one char by char); we apply it like
// SentencePiece, by longest match.  The two differ only for clusters that
// combine a base with marks, e.g. "Ｂ\u0301" (HF: "B") or halfwidth "ｶﾞ"
// (HF: "カ\u3099", spm: "ガ").  Precomposed (NFC) text is unaffected.
#include <cJSON.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/engines.h"
#include "tokenizer/spm.h"
#include "tokenizer/unicode.h"
#include "util/buf.h"
#include "util/fileio.h"
#include "util/strmap.h"
#include "util/utf8.h"

#define SP_PATH_MAX 4096

// Hugging Face (fairseq) ids of XLM-R's special tokens; <mask> is the last
// id and so depends on the vocabulary size.
enum { XLMR_BOS = 0, XLMR_PAD = 1, XLMR_EOS = 2, XLMR_UNK = 3, XLMR_N_SPECIAL = 5 };
static const char *const XLMR_SPECIAL_TEXT[XLMR_N_SPECIAL] = {"<s>", "<pad>", "</s>", "<unk>",
                                                              "<mask>"};
#define XLMR_MODEL_FILE "sentencepiece.bpe.model"
#define META "\xE2\x96\x81"  // "▁", U+2581, SentencePiece's word-start mark
#define META_LEN 3
// tokenizers' Unigram scores unknown characters at min_score - 10.
#define UNK_PENALTY 10.0

struct SpEngine {
    SpmModel *spm;
    char model_path[SP_PATH_MAX];
    int n_ids;                // Hugging Face vocabulary: 4 specials + spm pieces 3.. + <mask>
    int mask_id;              // n_ids - 1
    const char **piece;       // [n_ids] text of each id (spm's strings or our specials)
    int *piece_len;           // [n_ids] bytes
    double *score;            // [n_ids] log-probabilities; 0 for the specials
    int max_piece_len;        // bytes
    double unk_score;
    StrMap *vocab;            // piece text -> id
    uint32_t *charsmap_trie;  // [charsmap_units] darts-clone double array
    size_t charsmap_units;
    char *charsmap_text;      // [charsmap_text_len] NUL-separated replacement strings
    size_t charsmap_text_len;
};

// ------------------------------------------------------- model directory

const char *sp_engine_model_file(const char *model_dir, char *buf, int cap) {
    static const char *const known[] = {XLMR_MODEL_FILE, "spiece.model", "sentencepiece.model",
                                        "tokenizer.model"};
    if (!model_dir || !buf || cap <= 0) return NULL;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        int n = snprintf(buf, (size_t)cap, "%s/%s", model_dir, known[i]);
        if (n > 0 && n < cap && file_exists(buf)) return buf;
    }
    // Any other *.model; the alphabetically first, so the choice is stable.
    DIR *d = opendir(model_dir);
    if (!d) return NULL;
    char best[256] = "";
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        size_t len = strlen(ent->d_name);
        if (len <= 6 || len >= sizeof best || strcmp(ent->d_name + len - 6, ".model") != 0)
            continue;
        if (best[0] && strcmp(ent->d_name, best) >= 0) continue;
        int n = snprintf(buf, (size_t)cap, "%s/%s", model_dir, ent->d_name);
        if (n > 0 && n < cap && file_exists(buf)) memcpy(best, ent->d_name, len + 1);
    }
    closedir(d);
    if (!best[0]) return NULL;
    int n = snprintf(buf, (size_t)cap, "%s/%s", model_dir, best);
    return n > 0 && n < cap ? buf : NULL;
}

static const char *json_string(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

// The Hugging Face tokenizer this engine reproduces, as AutoTokenizer
// names it: its classes, and the model_types whose checkpoints use it when
// no tokenizer_class is given (transformers' model_type -> tokenizer
// mapping, tokenizer knowledge: "xlm-roberta-xl" is no family of ours, and
// "camembert" ships the same file name with other ids).  The families we
// load name this engine in their rows (weights/family.c).
static const char *const XLMR_CLASSES[] = {"XLMRobertaTokenizer", "XLMRobertaTokenizerFast"};
static const char *const XLMR_MODEL_TYPES[] = {"xlm-roberta", "xlm-roberta-xl"};

static bool in_list(const char *s, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0) return true;
    return false;
}

// Decides the tokenizer family the way AutoTokenizer does: tokenizer_class
// (tokenizer_config.json, then config.json), else config.json's model_type.
static int check_family(const char *dir, const cJSON *tok_cfg, const cJSON *cfg, Err *err) {
    const char *cls = json_string(tok_cfg, "tokenizer_class");
    const char *where = "tokenizer_config.json";
    if (!cls) cls = json_string(cfg, "tokenizer_class"), where = "config.json";
    if (cls) {
        if (in_list(cls, XLMR_CLASSES, sizeof XLMR_CLASSES / sizeof XLMR_CLASSES[0])) return 0;
        return err_set(err,
                       "%s/%s: tokenizer_class \"%s\" is not supported by the SentencePiece "
                       "engine (only XLMRobertaTokenizer)",
                       dir, where, cls);
    }
    const char *type = json_string(cfg, "model_type");
    if (type) {
        if (in_list(type, XLMR_MODEL_TYPES, sizeof XLMR_MODEL_TYPES / sizeof XLMR_MODEL_TYPES[0]))
            return 0;
        return err_set(err,
                       "%s/config.json: model_type \"%s\" has no supported SentencePiece "
                       "tokenizer (only XLM-RoBERTa)",
                       dir, type);
    }
    return err_set(err,
                   "%s: cannot tell which SentencePiece tokenizer this is: no tokenizer_class in "
                   "tokenizer_config.json or config.json and no model_type in config.json",
                   dir);
}

// Text of a special-token entry: "<s>" or {"content": "<s>", ...}.
static const char *token_text(const cJSON *v) {
    if (cJSON_IsString(v)) return v->valuestring;
    return json_string(v, "content");
}

// The tokenizer must use XLM-R's own special tokens: custom or extra added
// tokens would be matched in the text by Hugging Face, and we do not.
static int check_special_tokens(const char *dir, const char *file, const cJSON *cfg, int mask_id,
                                Err *err) {
    if (!cfg) return 0;
    static const char *const keys[][2] = {{"bos_token", "<s>"},   {"cls_token", "<s>"},
                                          {"pad_token", "<pad>"}, {"eos_token", "</s>"},
                                          {"sep_token", "</s>"},  {"unk_token", "<unk>"},
                                          {"mask_token", "<mask>"}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, keys[i][0]);
        if (!v || cJSON_IsNull(v)) continue;
        const char *text = token_text(v);
        if (!text || strcmp(text, keys[i][1]) != 0)
            return err_set(err, "%s/%s: %s must be \"%s\" for XLM-R, found %s", dir, file,
                           keys[i][0], keys[i][1], text ? text : "a non-string");
    }
    if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cfg, "add_prefix_space")))
        return err_set(err, "%s/%s: add_prefix_space=false is not supported", dir, file);
    const cJSON *entry;
    static const char *const lists[] = {"additional_special_tokens", "extra_special_tokens"};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        cJSON_ArrayForEach(entry, cJSON_GetObjectItemCaseSensitive(cfg, lists[i])) {
            const char *text = token_text(entry);
            int t = 0;
            while (t < XLMR_N_SPECIAL && (!text || strcmp(text, XLMR_SPECIAL_TEXT[t]) != 0)) t++;
            if (t == XLMR_N_SPECIAL)
                return err_set(err, "%s/%s: %s entry \"%s\" is not supported", dir, file, lists[i],
                               text ? text : "?");
        }
    }
    cJSON_ArrayForEach(entry, cJSON_GetObjectItemCaseSensitive(cfg, "added_tokens_decoder")) {
        const char *text = token_text(entry);
        const char *key = entry->string ? entry->string : "";
        char *end;
        long id = strtol(key, &end, 10);
        bool numeric = end != key && *end == '\0';
        int want = -1;  // index into XLMR_SPECIAL_TEXT
        if (numeric && id >= 0 && id < 4) want = (int)id;
        if (numeric && id == mask_id) want = XLMR_N_SPECIAL - 1;
        if (!text || want < 0 || strcmp(text, XLMR_SPECIAL_TEXT[want]) != 0)
            return err_set(err,
                           "%s/%s: added token \"%s\" (id %s) is not supported (only XLM-R's "
                           "<s> <pad> </s> <unk> <mask> at ids 0-3 and %d)",
                           dir, file, text ? text : "?", key, mask_id);
    }
    return 0;
}

// ------------------------------------------------------ model proto reader

static uint32_t read_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

// A cursor over one protobuf message.
typedef struct {
    const uint8_t *p, *end;
} Pb;

static int pb_varint(Pb *pb, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64 && pb->p < pb->end; shift += 7) {
        uint8_t b = *pb->p++;
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) return 0;
    }
    return -1;
}

// Next field: its number and wire type; varints in *value, length-delimited
// and fixed-size payloads in *data / *len.  Returns 1, 0 at the end, -1 if
// malformed.
static int pb_next(Pb *pb, uint32_t *field, int *wire, uint64_t *value, const uint8_t **data,
                   size_t *len) {
    if (pb->p >= pb->end) return 0;
    uint64_t key, n = 0;
    if (pb_varint(pb, &key) != 0) return -1;
    *field = (uint32_t)(key >> 3);
    *wire = (int)(key & 7);
    switch (*wire) {
    case 0: return pb_varint(pb, value) == 0 ? 1 : -1;
    case 1: n = 8; break;
    case 2:
        if (pb_varint(pb, &n) != 0) return -1;
        break;
    case 5: n = 4; break;
    default: return -1;  // groups: never in a SentencePiece model
    }
    if (n > (uint64_t)(pb->end - pb->p)) return -1;
    *data = pb->p;
    *len = (size_t)n;
    pb->p += n;
    return 1;
}

// ModelProto fields we read: pieces = 1 (SentencePiece: score = 2, a float;
// type = 3) and normalizer_spec = 3 (NormalizerSpec: precompiled_charsmap = 2).
enum { PB_PIECES = 1, PB_NORMALIZER = 3, PB_PIECE_SCORE = 2, PB_PIECE_TYPE = 3, PB_CHARSMAP = 2 };
enum { PIECE_NORMAL = 1, PIECE_UNKNOWN = 2, PIECE_CONTROL = 3, PIECE_USER = 4 };

// scores [n_pieces]; charsmap points into data.
static int read_model_proto(const char *path, const uint8_t *data, size_t len, float *scores,
                            int n_pieces, const uint8_t **charsmap, size_t *charsmap_len,
                            Err *err) {
    Pb model = {data, data + len};
    uint32_t field;
    int wire, rc, n = 0;
    uint64_t v;
    const uint8_t *sub;
    size_t sub_len;
    *charsmap = NULL;
    *charsmap_len = 0;
    while ((rc = pb_next(&model, &field, &wire, &v, &sub, &sub_len)) == 1) {
        if (wire != 2) continue;
        if (field == PB_PIECES) {
            if (n >= n_pieces) return err_set(err, "%s: more pieces than spm reports", path);
            Pb piece = {sub, sub + sub_len};
            const uint8_t *d;
            size_t d_len;
            uint64_t type = PIECE_NORMAL;
            scores[n] = 0.0f;
            while ((rc = pb_next(&piece, &field, &wire, &v, &d, &d_len)) == 1) {
                if (field == PB_PIECE_SCORE && wire == 5) {
                    uint32_t bits = read_u32le(d);
                    memcpy(&scores[n], &bits, 4);
                }
                if (field == PB_PIECE_TYPE && wire == 0) type = v;
            }
            if (rc < 0) break;
            // transformers turns control and user-defined pieces into added
            // tokens matched in the raw text; XLM-R has none past <unk> <s> </s>.
            if (n >= 3 && (type == PIECE_UNKNOWN || type == PIECE_CONTROL || type == PIECE_USER))
                return err_set(err,
                               "%s: piece %d is a control or user-defined symbol (type %llu), "
                               "which the XLM-R tokenizer does not support",
                               path, n, (unsigned long long)type);
            n++;
        } else if (field == PB_NORMALIZER) {
            Pb norm = {sub, sub + sub_len};
            const uint8_t *d;
            size_t d_len;
            while ((rc = pb_next(&norm, &field, &wire, &v, &d, &d_len)) == 1)
                if (field == PB_CHARSMAP && wire == 2) *charsmap = d, *charsmap_len = d_len;
            if (rc < 0) break;
        }
    }
    if (rc < 0) return err_set(err, "%s: malformed SentencePiece model proto", path);
    if (n != n_pieces)
        return err_set(err, "%s: proto has %d pieces, spm reports %d", path, n, n_pieces);
    return 0;
}

// ------------------------------------------------------------- charsmap

// precompiled_charsmap = [u32 trie bytes][darts-clone units][replacements],
// the replacements NUL-terminated strings that trie values index.
static int load_charsmap(SpEngine *sp, const uint8_t *cm, size_t len, Err *err) {
    if (len == 0) return 0;  // identity normalizer
    if (len < 4) return err_set(err, "%s: charsmap too short", sp->model_path);
    uint32_t trie_bytes = read_u32le(cm);
    if (trie_bytes % 4 != 0 || trie_bytes == 0 || trie_bytes > len - 4)
        return err_set(err, "%s: charsmap trie size %u is invalid", sp->model_path, trie_bytes);
    sp->charsmap_units = trie_bytes / 4;
    sp->charsmap_trie = err_malloc(err, trie_bytes, "charsmap trie");
    sp->charsmap_text_len = len - 4 - trie_bytes;
    sp->charsmap_text = err_malloc(err, sp->charsmap_text_len + 1, "charsmap text");
    if (!sp->charsmap_trie || !sp->charsmap_text) return -1;
    for (size_t i = 0; i < sp->charsmap_units; i++)
        sp->charsmap_trie[i] = read_u32le(cm + 4 + 4 * i);
    memcpy(sp->charsmap_text, cm + 4 + trie_bytes, sp->charsmap_text_len);
    sp->charsmap_text[sp->charsmap_text_len] = '\0';
    return 0;
}

// Longest charsmap rule matching a prefix of s[n] (darts-clone traversal,
// every index bounds-checked against a corrupt model): returns the matched
// length (0 if none) and the replacement in *out.
static size_t charsmap_match(const SpEngine *sp, const char *s, size_t n, const char **out) {
    const uint32_t *a = sp->charsmap_trie;
    size_t units = sp->charsmap_units, best = 0;
    if (units == 0) return 0;
    size_t pos = 0;
    uint32_t unit = a[0];
#define UNIT_OFFSET(u) (((u) >> 10) << (((u) & (1u << 9)) >> 6))
    pos ^= UNIT_OFFSET(unit);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        pos ^= c;
        if (pos >= units) break;
        unit = a[pos];
        if ((unit & (0x80000000u | 0xFFu)) != c) break;
        pos ^= UNIT_OFFSET(unit);
        if (pos >= units) break;
        if ((unit >> 8) & 1) {
            uint32_t value = a[pos] & 0x7FFFFFFFu;
            if (value < sp->charsmap_text_len) best = i + 1, *out = sp->charsmap_text + value;
        }
    }
#undef UNIT_OFFSET
    return best;
}

// Appends the normalized form of s[n] to out.
static int normalize(const SpEngine *sp, const char *s, size_t n, Buf *out, Err *err) {
    out->len = 0;
    if (buf_append(out, "", 0, "tokenizer buffer", err) != 0) return -1;
    for (size_t i = 0; i < n;) {
        const char *rep;
        size_t m = charsmap_match(sp, s + i, n - i, &rep);
        uint32_t c;
        if (m > 0) {
            if (buf_append(out, rep, strlen(rep), "tokenizer buffer", err) != 0) return -1;
            i += m;
        } else {
            m = (size_t)utf8_decode(s + i, n - i, &c);
            if (m == 0)
                return err_set(err, "%s: charsmap rule ends inside a character", sp->model_path);
            if (buf_append(out, s + i, m, "tokenizer buffer", err) != 0) return -1;
            i += m;
        }
    }
    return 0;
}

// ----------------------------------------------------------- vocabulary

// Id of the piece s[n] (hash h), or -1.
static int lookup(const SpEngine *sp, const char *s, size_t n, uint64_t h) {
    return strmap_find_hashed(sp->vocab, h, "", 0, s, n);
}

// Builds Hugging Face's vocabulary from the spm pieces and scores[n_pieces]:
// fairseq's 4 specials, spm's pieces from 3 on, then <mask>.
static int build_vocab(SpEngine *sp, const float *scores, int n_pieces, Err *err) {
    if (n_pieces < 3) return err_set(err, "%s: only %d pieces", sp->model_path, n_pieces);
    sp->n_ids = n_pieces + 2;
    sp->mask_id = sp->n_ids - 1;
    sp->piece = err_calloc(err, (size_t)sp->n_ids, sizeof *sp->piece, "vocabulary");
    sp->piece_len = err_calloc(err, (size_t)sp->n_ids, sizeof *sp->piece_len, "vocabulary");
    sp->score = err_calloc(err, (size_t)sp->n_ids, sizeof *sp->score, "vocabulary");
    if (!sp->piece || !sp->piece_len || !sp->score) return -1;
    sp->vocab = strmap_new((size_t)sp->n_ids, err);
    if (!sp->vocab) return -1;
    double min_score = 0.0;
    for (int id = 0; id < sp->n_ids; id++) {
        if (id < 4 || id == sp->mask_id) {
            sp->piece[id] = XLMR_SPECIAL_TEXT[id < 4 ? id : XLMR_N_SPECIAL - 1];
        } else {
            sp->piece[id] = spm_id_to_piece(sp->spm, id - 1);
            sp->score[id] = scores[id - 1];
        }
        sp->piece_len[id] = (int)strlen(sp->piece[id]);
        if (sp->piece_len[id] > sp->max_piece_len) sp->max_piece_len = sp->piece_len[id];
        if (sp->score[id] < min_score) min_score = sp->score[id];
        // Like tokenizers' HashMap, a repeated piece text keeps its last id.
        if (strmap_put(sp->vocab, sp->piece[id], (size_t)sp->piece_len[id], id, err) != 0) return -1;
    }
    sp->unk_score = min_score - UNK_PENALTY;
    return 0;
}

// ------------------------------------------------------------- the engine

void *sp_engine_load(const char *model_dir, Err *err) {
    char model_path[SP_PATH_MAX];
    if (!sp_engine_model_file(model_dir, model_path, sizeof model_path)) {
        err_set(err, "%s: no SentencePiece *.model file", model_dir);
        return NULL;
    }
    cJSON *tok_cfg = NULL, *cfg = NULL, *special_map = NULL;
    SpEngine *sp = NULL, *result = NULL;
    char *data = NULL;
    float *scores = NULL;
    if (json_read_optional(model_dir, "tokenizer_config.json", &tok_cfg, err) != 0 ||
        json_read_optional(model_dir, "config.json", &cfg, err) != 0 ||
        json_read_optional(model_dir, "special_tokens_map.json", &special_map, err) != 0 ||
        check_family(model_dir, tok_cfg, cfg, err) != 0)
        goto fail;
    const char *base = strrchr(model_path, '/') + 1;
    if (strcmp(base, XLMR_MODEL_FILE) != 0) {
        err_set(err, "%s: XLM-R tokenizer expects %s, found %s", model_dir, XLMR_MODEL_FILE, base);
        goto fail;
    }
    sp = err_calloc(err, 1, sizeof *sp, "SpEngine");
    if (!sp) goto fail;
    memcpy(sp->model_path, model_path, sizeof model_path);
    sp->spm = spm_load(model_path, err);
    if (!sp->spm) goto fail;
    int n_pieces = spm_vocab_size(sp->spm);
    size_t len;
    const uint8_t *charsmap;
    size_t charsmap_len;
    scores = err_calloc(err, (size_t)n_pieces + 1, sizeof *scores, "piece scores");
    if (!scores || file_read_all(model_path, &data, &len, err) != 0 ||
        read_model_proto(model_path, (const uint8_t *)data, len, scores, n_pieces, &charsmap,
                         &charsmap_len, err) != 0 ||
        load_charsmap(sp, charsmap, charsmap_len, err) != 0 ||
        build_vocab(sp, scores, n_pieces, err) != 0 ||
        check_special_tokens(model_dir, "tokenizer_config.json", tok_cfg, sp->mask_id, err) != 0 ||
        check_special_tokens(model_dir, "special_tokens_map.json", special_map, sp->mask_id,
                             err) != 0)
        goto fail;
    result = sp;
    sp = NULL;
fail:
    free(data);
    free(scores);
    cJSON_Delete(tok_cfg);
    cJSON_Delete(cfg);
    cJSON_Delete(special_map);
    sp_engine_free(sp);
    return result;
}

void sp_engine_free(void *engine) {
    SpEngine *sp = engine;
    if (!sp) return;
    spm_free(sp->spm);
    free(sp->piece);
    free(sp->piece_len);
    free(sp->score);
    strmap_free(sp->vocab);
    free(sp->charsmap_trie);
    free(sp->charsmap_text);
    free(sp);
}

int sp_engine_vocab_size(const void *engine) { return ((const SpEngine *)engine)->n_ids; }

const char *sp_engine_id_to_piece(const void *engine, int id) {
    const SpEngine *sp = engine;
    return id >= 0 && id < sp->n_ids ? sp->piece[id] : NULL;
}

SpecialTokens sp_engine_specials(const void *engine) {
    return (SpecialTokens){.cls_id = XLMR_BOS, .sep_id = XLMR_EOS, .pad_id = XLMR_PAD,
                           .unk_id = XLMR_UNK, .pair_separators = 2, .second_type_id = 0};
}

// -------------------------------------------------------------- encoding

// Output ids: written below cap, counted beyond it.
typedef struct {
    int *ids;  // [cap]
    int cap, count;
} Sink;

static int sink_push(Sink *out, int id, Err *err) {
    if (out->count == INT32_MAX) return err_set(err, "too many tokens");
    if (out->count < out->cap) out->ids[out->count] = id;
    out->count++;
    return 0;
}

// Per-call scratch for Viterbi over words of up to `cap` bytes.
typedef struct {
    double *best;  // [cap + 1] best score of a path ending at each byte
    int *from;     // [cap + 1] start of its last piece (-1: none yet)
    int *id;       // [cap + 1] id of that piece
    size_t cap;
} Lattice;

// Unigram Viterbi over one piece of a word, w[n] (tokenizers'
// Unigram::encode_optimized: double-precision sums, the first of equal
// scores wins, an unknown character costs unk_score and runs of them fuse).
static int encode_word(const SpEngine *sp, const char *w, size_t n, Lattice *lat, Sink *out,
                       Err *err) {
    if (n >= INT32_MAX) return err_set(err, "word of %zu bytes is too long", n);
    if (n + 1 > lat->cap) {
        size_t cap = n + 1;
        if (RESIZE(lat->best, cap, "lattice", err) || RESIZE(lat->from, cap, "lattice", err) ||
            RESIZE(lat->id, cap, "lattice", err))
            return -1;
        lat->cap = cap;
    }
    for (size_t i = 0; i <= n; i++) lat->best[i] = 0.0, lat->from[i] = -1;
    for (size_t start = 0; start < n;) {
        uint32_t c;
        size_t char_len = (size_t)utf8_decode(w + start, n - start, &c);
        if (char_len == 0)
            return err_set(err, "%s: charsmap produced invalid UTF-8", sp->model_path);
        bool single = false;
        size_t max_len = (size_t)sp->max_piece_len;
        if (max_len > n - start) max_len = n - start;
        uint64_t h = STRMAP_SEED;
        for (size_t len = 1; len <= max_len; len++) {
            h = strmap_hash(h, w + start + len - 1, 1);
            int id = lookup(sp, w + start, len, h);
            if (id < 0) continue;
            double s = sp->score[id] + lat->best[start];
            if (lat->from[start + len] < 0 || s > lat->best[start + len])
                lat->best[start + len] = s, lat->from[start + len] = (int)start,
                                    lat->id[start + len] = id;
            if (len == char_len) single = true;
        }
        if (!single) {
            double s = sp->unk_score + lat->best[start];
            if (lat->from[start + char_len] < 0 || s > lat->best[start + char_len])
                lat->best[start + char_len] = s, lat->from[start + char_len] = (int)start,
                                         lat->id[start + char_len] = XLMR_UNK;
        }
        start += char_len;
    }
    // Backtrack: turn `from` into forward links (next piece's end) in place.
    int next = -1;
    for (int end = (int)n; end > 0;) {
        int start = lat->from[end];
        lat->from[end] = next;
        next = end;
        end = start;
    }
    for (int start = 0, end = next; end > 0;) {
        int id = lat->id[end], stop = end;
        if (id == XLMR_UNK) {
            // A run of unknown characters is one token; its text could
            // still be a piece, as tokenizers looks the fused text up.
            while (lat->from[stop] > 0 && lat->id[lat->from[stop]] == XLMR_UNK)
                stop = lat->from[stop];
            size_t span = (size_t)(stop - start);
            int fused = strmap_find(sp->vocab, w + start, span);
            id = fused >= 0 ? fused : XLMR_UNK;
        }
        if (sink_push(out, id, err) != 0) return -1;
        start = stop;
        end = lat->from[stop];
    }
    return 0;
}

// Normalizes one chunk between special tokens and encodes its words.
static int encode_chunk(const SpEngine *sp, const char *s, size_t n, Buf *norm, Buf *word,
                        Lattice *lat, Sink *out, Err *err) {
    if (normalize(sp, s, n, norm, err) != 0) return -1;
    const char *t = norm->data;
    size_t len = norm->len;
    for (size_t i = 0; i < len;) {
        // WhitespaceSplit: the next maximal run of non-White_Space chars.
        uint32_t c;
        size_t k = (size_t)utf8_decode(t + i, len - i, &c);
        if (k == 0) return err_set(err, "%s: charsmap produced invalid UTF-8", sp->model_path);
        if (uni_is_white_space(c)) {
            i += k;
            continue;
        }
        size_t begin = i;
        while (i < len) {
            k = (size_t)utf8_decode(t + i, len - i, &c);
            if (k == 0) return err_set(err, "%s: charsmap produced invalid UTF-8", sp->model_path);
            if (uni_is_white_space(c)) break;
            i += k;
        }
        // Metaspace: prepend "▁" unless present, then split before each "▁".
        word->len = 0;
        if ((i - begin < META_LEN || memcmp(t + begin, META, META_LEN) != 0) &&
            buf_append(word, META, META_LEN, "tokenizer buffer", err) != 0)
            return -1;
        if (buf_append(word, t + begin, i - begin, "tokenizer buffer", err) != 0) return -1;
        for (size_t p = 0; p < word->len;) {
            size_t q = p + META_LEN;
            while (q + META_LEN <= word->len && memcmp(word->data + q, META, META_LEN) != 0) q++;
            if (q + META_LEN > word->len) q = word->len;
            if (encode_word(sp, word->data + p, q - p, lat, out, err) != 0) return -1;
            p = q;
        }
    }
    return 0;
}

// Leftmost (then longest) special token in s[n]: its offset, or n if none.
static size_t find_special(const char *s, size_t n, int *which) {
    for (size_t i = 0; i < n; i++) {
        int best = -1;
        size_t best_len = 0;
        for (int t = 0; t < XLMR_N_SPECIAL; t++) {
            size_t m = strlen(XLMR_SPECIAL_TEXT[t]);
            if (m > best_len && m <= n - i && memcmp(s + i, XLMR_SPECIAL_TEXT[t], m) == 0)
                best = t, best_len = m;
        }
        if (best >= 0) {
            *which = best;
            return i;
        }
    }
    return n;
}

// ids [cap]
int sp_engine_tokenize(const void *engine, const char *text, int *ids, int cap, Err *err) {
    const SpEngine *sp = engine;
    if (!text) return err_set(err, "%s: tokenize: text is NULL", sp->model_path);
    if (cap < 0 || (cap > 0 && !ids))
        return err_set(err, "%s: tokenize: bad output buffer (cap %d)", sp->model_path, cap);
    size_t len = strlen(text);
    for (size_t i = 0; i < len;) {
        uint32_t c;
        int k = utf8_decode(text + i, len - i, &c);
        if (k == 0) return err_set(err, "invalid UTF-8 in text at byte %zu", i);
        i += (size_t)k;
    }
    Sink out = {ids, cap, 0};
    Buf norm = {0}, word = {0};
    Lattice lat = {0};
    int rc = 0;
    for (size_t i = 0; i <= len && rc == 0;) {
        int which = 0;
        size_t at = i + find_special(text + i, len - i, &which);
        rc = encode_chunk(sp, text + i, at - i, &norm, &word, &lat, &out, err);
        if (at == len || rc != 0) break;
        rc = sink_push(&out, which == XLMR_N_SPECIAL - 1 ? sp->mask_id : which, err);
        i = at + strlen(XLMR_SPECIAL_TEXT[which]);
    }
    buf_free(&norm);
    buf_free(&word);
    free(lat.best);
    free(lat.from);
    free(lat.id);
    return rc == 0 ? out.count : -1;
}

// ------------------------------------------------------------- engine row

static int sp_present(const char *dir, bool *yes, Err *err) {
    char path[SP_PATH_MAX];
    *yes = sp_engine_model_file(dir, path, sizeof path) != NULL;
    return 0;
}

const TokEngine SENTENCEPIECE_ENGINE = {
    TOK_SENTENCEPIECE, "SentencePiece", "a SentencePiece *.model file", sp_present,
    sp_engine_load, sp_engine_free, sp_engine_tokenize, sp_engine_vocab_size,
    sp_engine_id_to_piece, sp_engine_specials,
};
