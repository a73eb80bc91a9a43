#!/usr/bin/env python3
"""Golden ids for the WordPiece tokenizer (tests/test_tokenizer.c).

    python3 tests/golden/gen_tokenizer_golden.py     (from the repository root)

Reference: transformers.BertTokenizer (5.x, backed by the Rust `tokenizers`
library), loaded with from_pretrained on a directory laid out exactly as the
C test lays it out:
  * "dir": a model directory used as is, or
  * "files": {name in the temp dir: file to copy there}, which is how the
    test builds a directory holding e.g. only tokenizer.json, or the default
    vocab.txt with another tokenizer_config.json (written here under
    tests/golden/tok_*/; the 230 KB vocab is never duplicated).
For every set and text it records tokenizer(text, add_special_tokens=False)
ids, and for encode cases tokenizer(a, b, truncation=True, max_length=N)
ids, token_type_ids and length.

Writes tests/golden/tokenizer_cases.json (hand-made strings, config
variants, truncation) and tests/golden/tokenizer_glue.json (GLUE dev
sentences drawn with a fixed seed).
"""

import csv
import json
import os
import random
import shutil
import sys
import tempfile
import unicodedata

import tokenizers
import transformers
from transformers import BertTokenizer

MODEL = "models/all-MiniLM-L6-v2"
GOLDEN = "tests/golden"
GLUE = "/work/shared/data/glue"

# ---------------------------------------------------------------- texts

BASE_SENTENCES = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "I can't believe it's not butter!",
    "She said: \"Don't go there\" -- and left.",
    "unaffable unbelievably counterrevolutionary antidisestablishmentarianism",
    "Café au lait at the naïve résumé façade, São Paulo.",
    "Ångström, Zoë, Dvořák, Łódź, Øresund, Kraków, Straße, Æsir, œuvre.",
    "Crème brûlée and piñata in El Niño's año.",
    "İstanbul'da ılık bir gün; IŞIK ve ışık.",
    "ΟΔΥΣΣΕΥΣ and Σίσυφος: final sigma ς vs σ.",
    "Москва — столица России. Ёлка и ежик.",
    "Привет, мир! Как дела?",
    "Die Größe des Maßstabs ist ÜBERMÄSSIG.",
    "naïve coöperation rôle élève",
    "Well... this is (very) [odd] {indeed}; isn't it?",
    "e-mail: john.doe+test@example.co.uk, web: https://www.example.com/path?q=1&r=2#frag",
    "Visit http://foo.bar/baz_qux-1.html or ftp://x.y/z.",
    "C:\\Users\\name\\file.txt and /usr/local/bin/python3",
    "#hashtag @mention $TICKER %percent ^caret &amp; *star*",
    "Prices: $5.99, €4,50, £3.20, ¥1000, ₹250 and 10% off!",
    "Pi is 3.14159, e is 2.71828, and 1,000,000 is a million.",
    "Call +1 (555) 123-4567 on 2024-03-15 at 10:30am.",
    "Version 2.0.1-beta, build #4521, ID=XJ-9000.",
    "Numbers: ½ ¾ ² ³ Ⅻ ٣ १२३ ๓ ①",
    "x² + y² = z²; ∀x∈ℝ: x²≥0; ∑∏∫√∞≈≠≤≥±×÷",
    "→ ⇒ ⟹ ← ↑ ↓ ↔ ♠ ♥ ♦ ♣ ★ ☆ ✓ ✗",
    "©2024 Acme™ ® ℃ ℉ № ℅ ‰ † ‡ • … ‹ › « »",
    "今天天气很好，我们去公园散步吧。",
    "北京是中华人民共和国的首都。",
    "日本語のテキストです。東京タワーに行きました。",
    "ｶﾀｶﾅ ﾃｷｽﾄ and ＦＵＬＬＷＩＤＴＨ １２３",
    "한국어 텍스트입니다. 안녕하세요, 세계!",
    "混合 text with 中文 and English words.",
    "مرحبا بالعالم! كيف حالك؟",
    "اَلْعَرَبِيَّةُ مع التشكيل",
    "שלום עולם! מה שלומך?",
    "בְּרֵאשִׁית בָּרָא אֱלֹהִים",
    "नमस्ते दुनिया! आप कैसे हैं?",
    "हिन्दी में लिखा गया वाक्य।",
    "สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่าง",
    "தமிழ் மொழி ქართული ენა Հայերեն լեզու",
    "ሰላም ዓለም ᐊᐃᑦ ᚠᚢᚦᚨᚱᚲ",
    "Tiếng Việt có dấu: Đường phố Hà Nội.",
    "I love 😀 emojis 👍🏽 and 👨‍👩‍👧‍👦 families!",
    "Flags 🇺🇸🇫🇷🇯🇵 and 🏳️‍🌈 and keycap 1️⃣",
    "New emoji 🥰 🫠 🥲 🫶🏼 (after Unicode 8).",
    "Tabs\tand\nnewlines\r\nand\rreturns.",
    "Non\u00a0breaking\u2028line\u2029para\u3000ideographic.",
    "Zero\u200bwidth\u200cjoiner\u200dand\ufeffBOM.",
    "Soft\u00adhyphen and LRM\u200e RLM\u200f marks.",
    "Control\x01chars\x07here\x1b[31mred\x1b[0m\x7f.",
    "C1 controls \x80\x85\x9f and U+FFFD \ufffd gone.",
    "Private use \ue000\U000f0000 and noncharacter \ufffe.",
    "[CLS] this is a sentence [SEP] another one [SEP]",
    "Masked [MASK] word and [mask] lower and [UNK] unknown.",
    "x[SEP]y[CLS]z[PAD][PAD]",
    "[[SEP]] [ SEP ] [SEP [SEP]] [MASK]ed",
    "The mathematician's proof was elegant; QED.",
    "Supercalifragilisticexpialidocious is a long word.",
    "Don't you think that's rather a LOT of CAPITAL letters?",
    "She sells sea-shells by the sea-shore.",
]

EDGE_TEXTS = [
    "", " ", "   ", "\t", "\n", "\r\n", "\t \n \r ", "\u00a0", "\u2028", "\u3000",
    "\u200b", "\u200d", "\ufeff", "\x01", "\ufffd", "\u00ad", " \u200b \u00a0 ",
    "a", "A", ".", "...", "!?", "a.b", "a-b", "a_b", "a/b", "a'b", "a\"b",
    "İ", "i̇", "ı", "I", "ǅ", "ǆ", "Ǆ", "ß", "ẞ", "ﬁ", "ﬃ", "Σ", "ς", "σ", "ΣΑΣ",
    "K", "Å", "Ω", "Ⅸ", "ⅸ", "Ａ", "ａ", "µ", "ÿ", "Ÿ", "ǰ", "ΐ",
    "e\u0301", "E\u0301", "a\u0308\u0301", "o\u0323\u0302", "a\u0301\u0323", "a\u0323\u0301",
    "\u0301", "\u0301\u0301\u0301", "x\u0334\u0301\u0316y", "e\u20dd", "\u0e48\u0e35",
    "한", "한국", "\u1112\u1161\u11ab", "ㄱㄴㄷ", "가나다라마바사",
    "中", "中文", "𠀀", "𪜀", "丽", "\U0002b820", "\U0002ceb0", "〇", "々", "ー",
    "こんにちは", "カタカナ", "ｱｲｳ",
    "😀", "👍🏽", "👨‍👩‍👧", "🇯🇵", "❤️", "©️", "#️⃣", "🧑🏾‍🚀",
    "\u0890", "\u08e2", "\u061d", "\u07fd", "\u1c89", "\ua7cb", "\U00016ea0", "\u166d",
    "\U000111c9", "\u1734", "\u0378", "\U0001f979", "\U00011938",
    "http://a.b", "a@b.c", "1.5", "1,5", "-5", "+5", "5%", "$5", "#5", "5th", "1st2nd3rd",
    "12345678901234567890", "3.141592653589793238462643383279",
    "[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "[cls]", "[Cls]", "[CLS][SEP]", "[CLS] [SEP]",
    " [CLS] ", "[CLS", "CLS]", "[[CLS]]", "a[MASK]b", "[MASK][MASK][MASK]",
    "hello", "HELLO", "Hello", "hElLo", "running", "unaffable", "##ing", "##", "#",
    "café", "CAFÉ", "cafe\u0301", "CAFE\u0301",
]


def long_word_texts():
    out = []
    for n in (99, 100, 101):
        out.append("a" * n)
        out.append("word " + "b" * n + " end")
        out.append("é" * n)  # 100 composed chars stay 100 after stripping
        out.append("x" * n + "!")
        out.append("ab" * (n // 2) + "c" * (n % 2))
        out.append("中" * n)
    out.append("e\u0301" * 60)  # 120 chars raw, 60 after accent stripping
    out.append("İ" * 60)  # 60 chars raw, 120 after lowercasing
    out.append("z" * 250 + " short")
    out.append("pneumonoultramicroscopicsilicovolcanoconiosis" * 3)
    out.append(("unaffable" * 12)[:100])
    out.append(("unaffable" * 12)[:101])
    return out


def variant_texts():
    out = []
    for s in BASE_SENTENCES:
        out.append(s)
        if s.upper() != s:
            out.append(s.upper())
        if unicodedata.normalize("NFD", s) != s:
            out.append(unicodedata.normalize("NFD", s))
        if s.title() != s and len(out) % 3 == 0:
            out.append(s.title())
    return out


def truncation_texts():
    # Texts whose token counts are easy to see: "a b c ..." is one id per letter.
    letters = "a b c d e f g h i j k l m n o p q r s t u v w x y z".split()
    return {n: " ".join((letters * 4)[:n]) for n in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 20, 40, 100)}


def all_texts():
    texts = []
    seen = set()
    for s in variant_texts() + EDGE_TEXTS + long_word_texts():
        if s not in seen and "\x00" not in s:
            seen.add(s)
            texts.append(s)
    return texts

# ---------------------------------------------------------------- GLUE


def read_tsv(path, skip_header=True):
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return rows[1:] if skip_header else rows


def glue_samples():
    rng = random.Random(20240601)
    singles, pairs = [], []
    sst = [r[0] for r in read_tsv(f"{GLUE}/SST-2/dev.tsv")]
    cola = [r[3] for r in read_tsv(f"{GLUE}/CoLA/dev.tsv", skip_header=False)]
    mrpc = [(r[3], r[4]) for r in read_tsv(f"{GLUE}/MRPC/dev.tsv")]
    rte = [(r[1], r[2]) for r in read_tsv(f"{GLUE}/RTE/dev.tsv")]
    stsb = [(r[7], r[8]) for r in read_tsv(f"{GLUE}/STS-B/dev.tsv")]
    singles += rng.sample(sst, 25) + rng.sample(cola, 25)
    pairs += rng.sample(mrpc, 20) + rng.sample(rte, 15) + rng.sample(stsb, 15)
    return singles, pairs

# ---------------------------------------------------------------- layouts


def dumps(obj, depth=0):
    """JSON with one line per leaf record (lists of scalars and small dicts
    stay on one line), so goldens diff readably."""
    flat = json.dumps(obj, ensure_ascii=False)
    if len(flat) < 100 or not isinstance(obj, (dict, list)) or (
            isinstance(obj, dict) and all(not isinstance(v, (dict, list)) or
                                          all(not isinstance(x, (dict, list)) for x in v)
                                          for v in obj.values())):
        return flat
    pad = " " * (depth + 1)
    if isinstance(obj, dict):
        items = [f"{pad}{json.dumps(k)}: {dumps(v, depth + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"
    items = [pad + dumps(v, depth + 1) for v in obj]
    return "[\n" + ",\n".join(items) + "\n" + " " * depth + "]"


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        f.write(dumps(obj) + "\n")


def small_tokenizer_json():
    """A small WordPiece tokenizer.json (vocab subset, ids shuffled in the
    object) whose normalizer says lowercase=false: BertTokenizer ignores it
    and, with no tokenizer_config.json, lowercases anyway."""
    with open(f"{MODEL}/vocab.txt", encoding="utf-8") as f:
        full = [line.rstrip("\n") for line in f]
    keep = [t for t in full[:1000]] + [t for t in full if t in (
        "hello", "world", "the", "quick", "brown", "fox", "##ing", "##s", "run", "un", "##aff",
        "##able", "cafe", "a", "b", "is", "this", "sentence", "another", "one", "word")]
    pieces = list(dict.fromkeys(keep))
    rng = random.Random(7)
    ids = list(range(len(pieces)))
    order = list(range(len(pieces)))
    rng.shuffle(order)
    vocab = {pieces[i]: ids[i] for i in order}
    n = len(pieces)
    tj = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [
            {"id": pieces.index(t), "content": t, "single_word": False, "lstrip": False,
             "rstrip": False, "normalized": False, "special": True}
            for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
        ] + [
            {"id": n, "content": "<special>", "single_word": False, "lstrip": False,
             "rstrip": False, "normalized": False, "special": True},
            {"id": n + 1, "content": "Hello World", "single_word": False, "lstrip": False,
             "rstrip": False, "normalized": True, "special": False},
        ],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": False,
                       "strip_accents": False, "lowercase": False},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": None,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }
    return tj


ADDED_CONFIG = {
    "do_lower_case": True,
    "added_tokens_decoder": {
        "0": {"content": "[PAD]", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True},
        "100": {"content": "[UNK]", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True},
        "101": {"content": "[CLS]", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True},
        "102": {"content": "[SEP]", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True},
        "103": {"content": "[MASK]", "lstrip": True, "normalized": False, "rstrip": False, "single_word": False, "special": True},
        "30522": {"content": "<ent>", "lstrip": False, "normalized": False, "rstrip": True, "single_word": True, "special": False},
        "30523": {"content": "Héllo", "lstrip": False, "normalized": True, "rstrip": False, "single_word": False, "special": False},
        "30524": {"content": "ab", "lstrip": True, "normalized": True, "rstrip": True, "single_word": True, "special": False},
        "30530": {"content": "[CLS][SEP]", "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True},
        "30531": {"content": "New York", "lstrip": False, "normalized": True, "rstrip": False, "single_word": True, "special": False},
    },
    "mask_token": "[MASK]",
    "extra_special_tokens": ["<extra>"],
    "tokenizer_class": "BertTokenizer",
}

ADDED_TEXTS = [
    "x<ent> <ent>  y <ent>", "<ent><ent>", "a<ent>", "<ent>b", "<ent>, <ent>. <ent>",
    "HÉLLO héllo He\u0301llo hello Héllos", "ab xab abx  ab  ab", "ab,ab.ab", "  [MASK]  x [MASK]",
    "w[MASK]", "<extra> <extra>x", "[CLS][SEP] [CLS] [SEP]", "I love new york and NEW YORK!",
    "newyork new  york new\tyork", "Foo <ENT> <Ent>", "中<ent>中 ab中",
]


def layouts():
    """(name, layout) pairs; layout is {"dir": path} or {"files": {dst: src}}."""
    own = lambda d, f: f"{GOLDEN}/{d}/{f}"
    return [
        ("default", {"dir": MODEL}),
        ("json_only", {"files": {"tokenizer.json": f"{MODEL}/tokenizer.json",
                                 "tokenizer_config.json": f"{MODEL}/tokenizer_config.json",
                                 "special_tokens_map.json": f"{MODEL}/special_tokens_map.json"}}),
        ("vocab_txt", {"files": {"vocab.txt": f"{MODEL}/vocab.txt",
                                 "tokenizer_config.json": f"{MODEL}/tokenizer_config.json"}}),
        ("vocab_only", {"files": {"vocab.txt": f"{MODEL}/vocab.txt"}}),
        ("cased", {"files": {"vocab.txt": f"{MODEL}/vocab.txt",
                             "tokenizer_config.json": own("tok_cased", "tokenizer_config.json")}}),
        ("lower_keep_accents", {"files": {"vocab.txt": f"{MODEL}/vocab.txt",
                                          "tokenizer_config.json": own("tok_lower_keep_accents", "tokenizer_config.json")}}),
        ("cased_strip_accents", {"files": {"vocab.txt": f"{MODEL}/vocab.txt",
                                           "tokenizer_config.json": own("tok_cased_strip_accents", "tokenizer_config.json")}}),
        ("no_cjk_split", {"files": {"vocab.txt": f"{MODEL}/vocab.txt",
                                    "tokenizer_config.json": own("tok_no_cjk_split", "tokenizer_config.json")}}),
        ("added_tokens", {"files": {"vocab.txt": f"{MODEL}/vocab.txt",
                                    "tokenizer_config.json": own("tok_added_tokens", "tokenizer_config.json")}}),
        ("split_special", {"files": {"vocab.txt": f"{MODEL}/vocab.txt",
                                     "tokenizer_config.json": own("tok_split_special", "tokenizer_config.json")}}),
        ("legacy_maps", {"files": {"vocab.txt": f"{MODEL}/vocab.txt",
                                   "special_tokens_map.json": own("tok_legacy_maps", "special_tokens_map.json"),
                                   "added_tokens.json": own("tok_legacy_maps", "added_tokens.json")}}),
        ("small_json", {"files": {"tokenizer.json": own("tok_small_json", "tokenizer.json")}}),
        ("vocab_quirks", {"files": {"vocab.txt": own("tok_vocab_quirks", "vocab.txt")}}),
    ]


# vocab.txt read as tokenizers' WordPiece::read_file does: CRLF endings,
# trailing whitespace trimmed ("[SEP] "), a repeated piece keeps its last
# line's id (so id 4 has no piece), an empty line is the piece "".
QUIRKY_VOCAB = ("[PAD]\r\n[UNK]\r\n[CLS]\n[SEP] \nhello\t\n[MASK]\nhello\nworld\n##s\n\n x\n"
                "##ing\nrun\nthe\n,\n.\n!\ncafe\n中\n##llo\nhe\n##\u00e9\n\u00e9t\n##e\u3000\n")


def write_config_dirs():
    def put(d, name, obj):
        os.makedirs(f"{GOLDEN}/{d}", exist_ok=True)
        write_json(f"{GOLDEN}/{d}/{name}", obj)
    put("tok_cased", "tokenizer_config.json", {"do_lower_case": False, "tokenizer_class": "BertTokenizer"})
    put("tok_lower_keep_accents", "tokenizer_config.json", {"do_lower_case": True, "strip_accents": False})
    put("tok_cased_strip_accents", "tokenizer_config.json", {"do_lower_case": False, "strip_accents": True})
    put("tok_no_cjk_split", "tokenizer_config.json", {"tokenize_chinese_chars": False})
    put("tok_added_tokens", "tokenizer_config.json", ADDED_CONFIG)
    put("tok_split_special", "tokenizer_config.json", {**ADDED_CONFIG, "split_special_tokens": True})
    put("tok_legacy_maps", "special_tokens_map.json", {
        "unk_token": "[UNK]", "sep_token": "[SEP]",
        "mask_token": {"content": "[MASK]", "lstrip": True, "rstrip": False, "single_word": False,
                       "normalized": False}})
    put("tok_legacy_maps", "added_tokens.json", {"<new>": 30522, "Foo": 30523})
    os.makedirs(f"{GOLDEN}/tok_vocab_quirks", exist_ok=True)
    with open(f"{GOLDEN}/tok_vocab_quirks/vocab.txt", "w", encoding="utf-8", newline="") as f:
        f.write(QUIRKY_VOCAB)
    os.makedirs(f"{GOLDEN}/tok_small_json", exist_ok=True)
    with open(f"{GOLDEN}/tok_small_json/tokenizer.json", "w", encoding="utf-8") as f:
        json.dump(small_tokenizer_json(), f, ensure_ascii=False)


def load(layout):
    """BertTokenizer on the layout, plus the temp dir to remove."""
    if "dir" in layout:
        return BertTokenizer.from_pretrained(layout["dir"]), None
    tmp = tempfile.mkdtemp()
    for dst, src in layout["files"].items():
        shutil.copy(src, os.path.join(tmp, dst))
    return BertTokenizer.from_pretrained(tmp), tmp

# ---------------------------------------------------------------- cases


def encode(tok, texts, a, b, max_len):
    enc = tok(texts[a], None if b is None else texts[b], truncation=True, max_length=max_len)
    return {"a": a, "b": b, "max_len": max_len, "ids": enc["input_ids"],
            "type_ids": enc["token_type_ids"], "len": len(enc["input_ids"])}


def set_record(name, layout, tok, texts, encodes):
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    top = max(tok.get_vocab().values())
    probe_ids = [0, 1, 2, 3, 4, 9, 10, 100, 101, 102, 103, 999, 1000, 2000, 7592, top, top + 1,
                 len(tok) - 1, len(tok)]
    return {
        "name": name, **layout,
        # len(tokenizer) counts distinct pieces; our tok_vocab_size is one past
        # the largest id (they differ only when vocab.txt repeats a piece).
        "len": len(tok),
        "vocab_size": max(tok.get_vocab().values()) + 1,
        "cls_id": tok.cls_token_id, "sep_id": tok.sep_token_id,
        "pad_id": tok.pad_token_id, "unk_id": tok.unk_token_id,
        "pieces": [[i, tok.convert_ids_to_tokens(i)] for i in probe_ids],
        "tokenize": [{"text": i, "ids": v} for i, v in enumerate(ids)],
        "encode": [encode(tok, texts, a, b, m) for a, b, m in encodes],
    }


def truncation_cases(texts, index):
    """(a, b, max_len) triples: singles and pairs at several budgets, both
    sides long, one side long, equal lengths (ties), odd and even budgets."""
    lens = truncation_texts()
    at = {n: index[s] for n, s in lens.items()}
    cases = []
    for n in (0, 1, 5, 10, 40):
        for m in (2, 3, 4, 7, 12, 13, 128):
            cases.append((at[n], None, m))
    pair_lens = [(0, 0), (0, 10), (10, 0), (1, 1), (3, 3), (4, 4), (5, 5), (10, 10), (2, 9),
                 (9, 2), (3, 20), (20, 3), (7, 8), (8, 7), (13, 13), (40, 6), (6, 40), (100, 100),
                 (100, 40), (40, 100), (1, 100), (100, 1)]
    for n1, n2 in pair_lens:
        for m in (3, 4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 24, 25, 64, 128):
            cases.append((at[n1], at[n2], m))
    # Realistic pairs: two sentences of the text list.
    s = [index[t] for t in BASE_SENTENCES[:12]]
    for i in range(0, 12, 2):
        for m in (8, 15, 16, 33, 512):
            cases.append((s[i], s[i + 1], m))
    # A pair whose second text is empty encodes as a single text.
    cases += [(s[0], index[""], 16), (index[""], s[0], 16), (index[""], index[""], 5)]
    return cases


def main():
    write_config_dirs()
    texts = all_texts()
    for s in truncation_texts().values():
        if s not in texts:
            texts.append(s)
    texts += [t for t in ADDED_TEXTS if t not in texts]
    index = {t: i for i, t in enumerate(texts)}
    trunc = truncation_cases(texts, index)
    short_trunc = [c for c in trunc if c[2] in (3, 4, 7, 16, 17, 128)]
    versions = {"generator": "tests/golden/gen_tokenizer_golden.py",
                "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                "python": sys.version.split()[0], "reference": "transformers.BertTokenizer"}
    sets = []
    for name, layout in layouts():
        tok, tmp = load(layout)
        encodes = trunc if name in ("default", "cased") else short_trunc
        sets.append(set_record(name, layout, tok, texts, encodes))
        if tmp:
            shutil.rmtree(tmp)
    write_json(f"{GOLDEN}/tokenizer_cases.json", {**versions, "texts": texts, "sets": sets})

    singles, pairs = glue_samples()
    gtexts = list(dict.fromkeys(singles + [x for p in pairs for x in p]))
    gi = {t: i for i, t in enumerate(gtexts)}
    gencodes = [(gi[s], None, m) for s in singles for m in (128, 12)]
    gencodes += [(gi[a], gi[b], m) for a, b in pairs for m in (128, 40, 17)]
    gsets = []
    for name, layout in layouts()[:1] + [l for l in layouts() if l[0] == "cased"]:
        tok, tmp = load(layout)
        gsets.append(set_record(name, layout, tok, gtexts, gencodes))
        if tmp:
            shutil.rmtree(tmp)
    write_json(f"{GOLDEN}/tokenizer_glue.json", {**versions, "texts": gtexts, "sets": gsets})
    print(f"{len(texts)} texts x {len(sets)} sets, {sum(len(s['encode']) for s in sets)} encodes; "
          f"GLUE {len(gtexts)} texts x {len(gsets)} sets, {len(gencodes)} encodes each")


if __name__ == "__main__":
    main()
