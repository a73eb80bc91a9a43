// C API over sentencepiece::SentencePieceProcessor (see tokenizer/spm.h).
// Every entry point catches C++ exceptions and turns library status errors
// into err_set messages: nothing C++ may unwind into the C callers.

#include "tokenizer/spm.h"

#include <sentencepiece_processor.h>

#include <climits>
#include <exception>
#include <memory>
#include <string>
#include <vector>

struct SpmModel {
    sentencepiece::SentencePieceProcessor sp;
    std::string path;  // for error messages
};

extern "C" SpmModel *spm_load(const char *model_path, Err *err) {
    if (!model_path) {
        err_set(err, "spm_load: model path is NULL");
        return nullptr;
    }
    try {
        auto m = std::make_unique<SpmModel>();
        m->path = model_path;
        const sentencepiece::util::Status st = m->sp.Load(model_path);
        if (!st.ok()) {
            err_set(err, "%s: cannot load SentencePiece model: %s", model_path,
                    st.ToString().c_str());
            return nullptr;
        }
        return m.release();
    } catch (const std::exception &e) {
        err_set(err, "%s: cannot load SentencePiece model: %s", model_path, e.what());
    } catch (...) {
        err_set(err, "%s: cannot load SentencePiece model: unknown C++ exception", model_path);
    }
    return nullptr;
}

extern "C" void spm_free(SpmModel *m) { delete m; }

extern "C" int spm_vocab_size(const SpmModel *m) { return m->sp.GetPieceSize(); }

extern "C" int spm_piece_to_id(const SpmModel *m, const char *piece) {
    if (!piece) return -1;
    try {
        // PieceToId answers unk_id for unknown pieces; only the unk piece
        // itself may legitimately map there.
        const int id = m->sp.PieceToId(piece);
        if (id < 0 || id >= m->sp.GetPieceSize()) return -1;
        if (id == m->sp.unk_id() && m->sp.IdToPiece(id) != piece) return -1;
        return id;
    } catch (...) {
        return -1;
    }
}

extern "C" const char *spm_id_to_piece(const SpmModel *m, int id) {
    if (id < 0 || id >= m->sp.GetPieceSize()) return nullptr;
    // IdToPiece returns a reference into the model proto, so the pointer
    // lives as long as the model.
    return m->sp.IdToPiece(id).c_str();
}

extern "C" int spm_unk_id(const SpmModel *m) { return m->sp.unk_id(); }
extern "C" int spm_bos_id(const SpmModel *m) { return m->sp.bos_id(); }
extern "C" int spm_eos_id(const SpmModel *m) { return m->sp.eos_id(); }
extern "C" int spm_pad_id(const SpmModel *m) { return m->sp.pad_id(); }

// ids [cap]
extern "C" int spm_encode_ids(const SpmModel *m, const char *text, int *ids, int cap, Err *err) {
    if (!text) return err_set(err, "%s: encode: text is NULL", m->path.c_str());
    if (cap < 0 || (cap > 0 && !ids))
        return err_set(err, "%s: encode: bad output buffer (cap %d)", m->path.c_str(), cap);
    try {
        std::vector<int> out;
        const sentencepiece::util::Status st = m->sp.Encode(text, &out);
        if (!st.ok())
            return err_set(err, "%s: encode failed: %s", m->path.c_str(), st.ToString().c_str());
        if (out.size() > (size_t)INT_MAX)
            return err_set(err, "%s: encode: %zu ids overflow int", m->path.c_str(), out.size());
        const int n = (int)out.size();
        for (int i = 0; i < n && i < cap; i++) ids[i] = out[i];
        return n;
    } catch (const std::exception &e) {
        return err_set(err, "%s: encode failed: %s", m->path.c_str(), e.what());
    } catch (...) {
        return err_set(err, "%s: encode failed: unknown C++ exception", m->path.c_str());
    }
}
