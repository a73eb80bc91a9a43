#!/usr/bin/env python3
"""Golden for tests/test_sentencepiece.c: a tiny XLM-RoBERTa-style tokenizer
and the ids transformers' XLMRobertaTokenizer gives for it.

Run from the repository root:  python3 tests/golden/gen_sentencepiece_golden.py
Needs: spm_train (Debian `sentencepiece`), transformers 5.x, and the Python
`sentencepiece` + `protobuf` packages (transformers reads the .model with
them).  Training runs single-threaded, so reruns give the same model.

Writes
  tests/golden/tok_xlmr_tiny/  sentencepiece.bpe.model (unigram, 1000 pieces,
                               nmt_nfkc like XLM-R's), tokenizer_config.json,
                               special_tokens_map.json, config.json
  tests/golden/sentencepiece_xlmr.json
      vocab_size, specials, every id's piece, and cases
      {a, b, max_len, tokens_a, tokens_b, ids, type_ids}: tokens_* are the
      ids without special tokens, ids / type_ids the full encoding (with
      longest_first truncation when max_len is set).
"""
import json
import os
import shutil
import subprocess
import tempfile

import transformers
from transformers import AutoTokenizer, XLMRobertaTokenizer

GOLDEN = "tests/golden"
OUT_DIR = os.path.join(GOLDEN, "tok_xlmr_tiny")
GLUE = "../shared/data/glue"
N_PIECES = 1000


def read_lines(path, limit=None):
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    return lines[:limit] if limit else lines


def tsv_column(task, col, limit):
    rows = [r.split("\t") for r in read_lines(os.path.join(GLUE, task, "dev.tsv"))[1:]]
    return [r[col] for r in rows if len(r) > col][:limit]


def train_model(tmp):
    corpus = os.path.join(tmp, "corpus.txt")
    multi = read_lines(os.path.join(GOLDEN, "spm_corpus_multilingual.txt"))
    lines = multi * 3
    for task in ["SST-2", "MRPC", "RTE", "CoLA"]:
        lines += read_lines(os.path.join(GLUE, task, "dev.tsv"), 300)
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    # Relative names: the model proto records them, and must not record tmp.
    subprocess.run(
        ["spm_train", "--input=corpus.txt", "--model_prefix=sentencepiece.bpe",
         f"--vocab_size={N_PIECES}", "--model_type=unigram", "--num_threads=1",
         "--minloglevel=2"],
        check=True, capture_output=True, cwd=tmp)
    return os.path.join(tmp, "sentencepiece.bpe.model")


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


def write_model_dir(model_path):
    os.makedirs(OUT_DIR, exist_ok=True)
    shutil.copyfile(model_path, os.path.join(OUT_DIR, "sentencepiece.bpe.model"))
    mask_id = N_PIECES + 1

    def added(content, lstrip=False):
        return {"content": content, "lstrip": lstrip, "normalized": False, "rstrip": False,
                "single_word": False, "special": True}

    # The layout of xlm-roberta-base's tokenizer_config.json (with <mask>
    # lstrip=True as there), scaled to this vocabulary.
    write_json(os.path.join(OUT_DIR, "tokenizer_config.json"), {
        "added_tokens_decoder": {"0": added("<s>"), "1": added("<pad>"), "2": added("</s>"),
                                 "3": added("<unk>"), str(mask_id): added("<mask>", True)},
        "bos_token": "<s>", "clean_up_tokenization_spaces": True, "cls_token": "<s>",
        "eos_token": "</s>", "mask_token": "<mask>", "model_max_length": 512,
        "pad_token": "<pad>", "sep_token": "</s>", "tokenizer_class": "XLMRobertaTokenizer",
        "unk_token": "<unk>"})
    write_json(os.path.join(OUT_DIR, "special_tokens_map.json"), {
        "bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>",
        "mask_token": {"content": "<mask>", "lstrip": True, "normalized": False,
                       "rstrip": False, "single_word": False},
        "pad_token": "<pad>", "sep_token": "</s>", "unk_token": "<unk>"})
    write_json(os.path.join(OUT_DIR, "config.json"), {
        "architectures": ["XLMRobertaForMaskedLM"], "model_type": "xlm-roberta",
        "vocab_size": N_PIECES + 2, "bos_token_id": 0, "pad_token_id": 1, "eos_token_id": 2})


# Texts where Hugging Face's per-grapheme charsmap differs from
# SentencePiece's longest match (a documented gap of tokenizer/sp_engine.c)
# are left out: decomposed Hangul jamo, halfwidth kana + halfwidth sound
# marks, and compatibility characters followed by combining marks.
EDGE = [
    "", " ", "   ", "\t\n", "  leading and trailing  ", "multiple    inner\t\tspaces",
    "a\u0085b", "a\u00a0b", "x\u3000y", "p\u2028q\u2029r", "a\u1680b\u2003c\u205fd",
    "a\u000bb\u000cc", "\u200bzero\u200bwidth", "join\u200ber", "a\u200db", "\ufeffBOM at start",
    "<mask>", "hello <mask> world", "hello<mask>world", "<s>hi</s>", "a<pad>b<unk>c",
    "</s></s>", "<mask", "mask>", "< mask >", "\uff1cs\uff1e fullwidth brackets",
    "\u2581x \u2581 y", "\u2581\u2581", "x\u2581", "000", "5.000", "1,000,000", "3.14159265358979",
    "2024-03-17T09:30:00Z", "...", "!!!!", "?!?!", "hahahahaha", "aaaaaaaaaaaa", "--", "$$$ 100",
    "\U0001F642\U0001F642\U0001F642", "\U0001F44D\U0001F3FD", "\U0001F1EB\U0001F1F7",
    "\u2764\ufe0f love", "\U0010FFFF", "\ue000 private use", "\ufffd replacement",
    "\ufb01 \ufb02 ligatures", "\uff21\uff22\uff23\uff11\uff12\uff13", "\u2460\u2461\u2462",
    "\u00bd cup", "Brand\u2122", "x\u00b2 + y\u00b3", "Cafe\u0301 (decomposed)", "caf\u00e9 (precomposed)",
    "na\u00efve co\u00f6perate", "\x01\x02control\x7f", "tab\tinside", "carriage\rreturn",
    "ALL CAPS SHOUTING", "MiXeD CaSe", "snake_case_identifier", "CamelCaseWord",
    "email@example.com", "https://example.org/a/b?c=d&e=f#g", "C:\\path\\to\\file.txt",
    "\u4e2d\u6587\u6ca1\u6709\u7a7a\u683c\u7684\u53e5\u5b50", "\u65e5\u672c\u8a9e\u306e\u6587\u7ae0\u3067\u3059\u3002",
    "\ud55c\uad6d\uc5b4 \ubb38\uc7a5", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629", "\u05e2\u05d1\u05e8\u05d9\u05ea",
    "\u0939\u093f\u0928\u094d\u0926\u0940", "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac", "\u0420\u0443\u0441\u0441\u043a\u0438\u0439 \u044f\u0437\u044b\u043a",
    "Unknown scripts: \u16a0\u16a2\u16a6 \u2c00\u2c01 \U00010330\U00010331 \u1200\u1208",
    # GLUE texts where libsentencepiece (spm_encode) segments differently
    # from transformers for this model: equal-score ties that its
    # single-precision Viterbi breaks the other way.
    "Mary sent Bill a book,\u2026.", "1438666", "485999", "1116661", "226669", "1245666",
    "3044479", "2388841", "81444", "3153666", "MRPC ids 2776662 and 3044424 and 3368666",
]


def collect_texts():
    singles = list(EDGE)
    singles += read_lines(os.path.join(GOLDEN, "spm_corpus_multilingual.txt"))[::3]
    singles += tsv_column("STS-B", 7, 400)[::40]  # unseen sentences
    singles += read_lines(os.path.join(GLUE, "STS-B", "dev.tsv"))[1:4]  # raw rows with "5.000"
    singles += tsv_column("QNLI", 2, 300)[::60]
    pairs = list(zip(tsv_column("MRPC", 3, 400)[::40], tsv_column("MRPC", 4, 400)[::40]))
    pairs += list(zip(tsv_column("RTE", 1, 200)[::50], tsv_column("RTE", 2, 200)[::50]))
    pairs += [("", "only the second"), ("only the first", ""), ("", ""),
              ("<mask> in a", "and in b <mask>"), ("same length", "also same"),
              ("a b c d e f", "g h i j k l"), ("\u65e5\u672c\u8a9e", "English"),
              ("5.000 points", "1,000,000 dollars")]
    return singles, pairs


def encode_case(tok, a, b, max_len):
    kw = {"truncation": True, "max_length": max_len} if max_len else {}
    enc = tok(a, b, return_token_type_ids=True, **kw)
    case = {"a": a, "b": b, "max_len": max_len,
            "tokens_a": tok(a, add_special_tokens=False)["input_ids"],
            "tokens_b": tok(b, add_special_tokens=False)["input_ids"] if b is not None else None,
            "ids": enc["input_ids"], "type_ids": enc["token_type_ids"]}
    return case


def main():
    with tempfile.TemporaryDirectory() as tmp:
        write_model_dir(train_model(tmp))
    tok = AutoTokenizer.from_pretrained(OUT_DIR)
    assert isinstance(tok, XLMRobertaTokenizer), type(tok)
    singles, pairs = collect_texts()
    cases = [encode_case(tok, a, None, None) for a in singles]
    for i, a in enumerate(singles[::4]):
        cases.append(encode_case(tok, a, None, [5, 8, 16][i % 3]))
    cases += [encode_case(tok, a, b, None) for a, b in pairs]
    for i, (a, b) in enumerate(pairs):
        for max_len in ([6, 9, 12, 25, 64] if i % 2 == 0 else [7, 16]):
            cases.append(encode_case(tok, a, b, max_len))
    golden = {
        "generator": f"transformers {transformers.__version__} XLMRobertaTokenizer",
        "vocab_size": len(tok),
        "cls_id": tok.cls_token_id, "sep_id": tok.sep_token_id, "pad_id": tok.pad_token_id,
        "unk_id": tok.unk_token_id, "mask_id": tok.mask_token_id,
        "pieces": tok.convert_ids_to_tokens(list(range(len(tok)))),
        "cases": cases,
    }
    # One case per line keeps the file small and its diffs readable.
    with open(os.path.join(GOLDEN, "sentencepiece_xlmr.json"), "w", encoding="utf-8") as f:
        f.write("{\n")
        for key, value in golden.items():
            if key != "cases":
                f.write(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n")
        rows = [json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in cases]
        f.write(' "cases": [\n  ' + ",\n  ".join(rows) + "\n ]\n}\n")
    print(f"{len(cases)} cases, vocab {len(tok)}")


if __name__ == "__main__":
    main()
