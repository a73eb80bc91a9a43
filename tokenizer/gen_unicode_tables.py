#!/usr/bin/env python3
"""Generates tokenizer/unicode.h and tokenizer/unicode_tables.c.

    python3 tokenizer/gen_unicode_tables.py      (from the repository root)

The WordPiece engine must give exactly the ids of Hugging Face's
BertTokenizer, whose text handling lives in the Rust `tokenizers` library.
That library does not use one Unicode version.  As observed by probing it
(tokenizers 0.23.3): its control / punctuation / nonspacing-mark tests
come from the `unicode_categories` crate (Unicode 8 or older: e.g. U+08E2,
a Unicode 9 format character, is kept), NFD and combining classes from
`unicode-normalization-alignments` (Unicode 9 or older: no classes for
Unicode 10 marks), and lowercasing, White_Space and regex \w from Rust's
standard library and regex crate (Unicode 16: U+1C89 lowercases).  It also
never deletes unassigned (Cn) code points.  Python's unicodedata has one
version (14.0 on Python 3.11), so tables built from it alone would be wrong
on a few hundred code points.

So every table is first built from unicodedata and then checked, code point
by code point over all of U+0000..U+10FFFF, against the installed
`tokenizers` library itself (its BertNormalizer, NFD, BertPreTokenizer and
AddedToken matching, each switched on alone).  Where the two disagree the
library wins, and the disagreement is listed in the generated file's header.
"""

import os
import sys
import textwrap
import unicodedata

import tokenizers
from tokenizers import AddedToken, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)))
ALL_CPS = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
ASCII_PUNCT = set(map(ord, "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"))
# BERT's definition of a "Chinese character" (the CJK Unified Ideograph
# blocks); Hangul, Hiragana and Katakana are not in it.
CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
       (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]
HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3


def ranges(cps):
    out = []
    for cp in sorted(cps):
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


def fmt_ranges(cps):
    return " ".join(f"{a:04X}" if a == b else f"{a:04X}-{b:04X}" for a, b in ranges(cps))


def bert_normalizer(**on):
    flags = dict(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    flags.update(on)
    return normalizers.BertNormalizer(**flags)


def hangul_nfd(cp):
    s = cp - HANGUL_FIRST
    lead, vowel, tail = 0x1100 + s // 588, 0x1161 + (s % 588) // 28, 0x11A7 + s % 28
    return [lead, vowel] + ([tail] if tail != 0x11A7 else [])


def probe_reference():
    """Per code point behaviour of the installed tokenizers library."""
    clean = bert_normalizer(clean_text=True)
    strip = bert_normalizer(strip_accents=True)
    lower = bert_normalizer(lowercase=True)
    cjk = bert_normalizer(handle_chinese_chars=True)
    nfd = normalizers.NFD()
    pretok = pre_tokenizers.BertPreTokenizer()
    ref = {k: set() for k in ("drop", "clean_space", "white_space", "punct", "cjk", "mn")}
    ref["nfd"], ref["lower"], ref["ccc_nonzero"] = {}, {}, set()
    for cp in ALL_CPS:
        c = chr(cp)
        cleaned = clean.normalize_str(c)
        if cleaned == "":
            ref["drop"].add(cp)
        elif cleaned == " ":
            ref["clean_space"].add(cp)
        pieces = len(pretok.pre_tokenize_str("a" + c + "a"))
        if pieces == 2:
            ref["white_space"].add(cp)
        elif pieces == 3:
            ref["punct"].add(cp)
        if cjk.normalize_str(c) == " " + c + " ":
            ref["cjk"].add(cp)
        d = nfd.normalize_str(c)
        if d != c:
            ref["nfd"][cp] = [ord(x) for x in d]
        elif strip.normalize_str(c) == "":
            ref["mn"].add(cp)
        low = lower.normalize_str(c)
        if low != c:
            ref["lower"][cp] = [ord(x) for x in low]
        # A nonzero combining class shows as canonical reordering against
        # U+0334 (class 1) or, for class-1 marks, against U+0301 (class 230).
        if d == c and unicodedata.combining(c):
            if unicodedata.combining(c) > 1:
                moved = nfd.normalize_str(c + "\u0334") == "\u0334" + c
            else:
                moved = nfd.normalize_str("\u0301" + c) == c + "\u0301"
            if moved:
                ref["ccc_nonzero"].add(cp)
    # Word characters (regex \w) decide AddedToken single_word matches:
    # "c<x>" keeps <x> whole only when c is not a word character.
    tk = Tokenizer(WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tk.add_tokens([AddedToken("<x>", single_word=True, normalized=False)])
    xid = tk.token_to_id("<x>")
    ref["word"] = set()
    for i in range(0, len(ALL_CPS), 20000):
        chunk = ALL_CPS[i:i + 20000]
        encs = tk.encode_batch([chr(cp) + "<x>" for cp in chunk], add_special_tokens=False)
        ref["word"].update(cp for cp, e in zip(chunk, encs) if xid not in e.ids)
    return ref


def from_unicodedata():
    base = {}
    cat = {cp: unicodedata.category(chr(cp)) for cp in ALL_CPS}
    base["drop"] = {cp for cp in ALL_CPS if cp in (0, 0xFFFD) or
                    (cat[cp] in ("Cc", "Cf", "Co", "Cs") and cp not in (9, 10, 13))}
    # str.isspace() is White_Space plus U+001C..U+001F (which are Cc).
    base["white_space"] = {cp for cp in ALL_CPS if chr(cp).isspace() and not 0x1C <= cp <= 0x1F}
    base["clean_space"] = {cp for cp in base["white_space"] if cp not in base["drop"]}
    base["punct"] = {cp for cp in ALL_CPS if cp in ASCII_PUNCT or cat[cp].startswith("P")}
    base["cjk"] = {cp for a, b in CJK for cp in range(a, b + 1)}
    base["mn"] = {cp for cp in ALL_CPS if cat[cp] == "Mn"}
    base["nfd"] = {}
    for cp in ALL_CPS:
        d = unicodedata.normalize("NFD", chr(cp))
        if d != chr(cp):
            base["nfd"][cp] = [ord(x) for x in d]
    base["lower"] = {cp: [ord(x) for x in chr(cp).lower()] for cp in ALL_CPS
                     if chr(cp).lower() != chr(cp)}
    base["ccc_nonzero"] = {cp for cp in ALL_CPS if unicodedata.combining(chr(cp))
                           and cp not in base["nfd"]}
    # Rust's \w is Alphabetic + marks + Nd + Pc + Join_Control; unicodedata
    # has no Alphabetic property, so letters + Nl stand in for it.
    base["word"] = {cp for cp in ALL_CPS if cat[cp][0] in "LM" or cat[cp] in ("Nd", "Nl", "Pc")
                    or cp in (0x200C, 0x200D)}
    return base


def set_diff_note(name, base, ref):
    only_ref, only_base = ref - base, base - ref
    notes = []
    if only_ref:
        notes.append(f"{name}: added per tokenizers ({len(only_ref)}): {fmt_ranges(only_ref)}")
    if only_base:
        notes.append(f"{name}: removed per tokenizers ({len(only_base)}): {fmt_ranges(only_base)}")
    return notes


def map_diff_note(name, base, ref):
    keys = {cp for cp in set(base) | set(ref) if base.get(cp) != ref.get(cp)}
    return [f"{name}: mapping taken from tokenizers ({len(keys)}): {fmt_ranges(keys)}"] if keys else []


def c_ranges(name, cps):
    rs = ranges(cps)
    rows = [f"{{0x{a:05X}, 0x{b:05X}}}" for a, b in rs]
    body = ",\n".join("    " + ", ".join(rows[i:i + 4]) for i in range(0, len(rows), 4))
    return f"static const UniRange {name}[{len(rs)}] = {{\n{body}\n}};\n"


def lower_runs(lower):
    """Single code point mappings as runs lo..hi (step 1 or 2) sharing one delta."""
    singles = sorted((cp, m[0]) for cp, m in lower.items() if len(m) == 1)
    runs = []
    for cp, to in singles:
        delta = to - cp
        if runs:
            lo, hi, d, step = runs[-1]
            gap_free = cp - hi == 1 or (cp - hi == 2 and hi + 1 not in lower)
            if d == delta and gap_free and (cp - hi == step or lo == hi):
                runs[-1] = [lo, cp, d, cp - hi]
                continue
        runs.append([cp, cp, delta, 1])
    return runs


def write_c(tables, notes, versions):
    nfd = tables["nfd"]
    nfd_cps = sorted(cp for cp in nfd if not HANGUL_FIRST <= cp <= HANGUL_LAST)
    pool, nfd_rows = [], []
    for cp in nfd_cps:
        nfd_rows.append(f"{{0x{cp:05X}, {len(pool)}, {len(nfd[cp])}}}")
        pool.extend(nfd[cp])
    multi_lower = sorted((cp, m) for cp, m in tables["lower"].items() if len(m) > 1)
    runs = lower_runs(tables["lower"])
    ccc_rows = []
    for cp in sorted(tables["ccc_nonzero"]):
        v = unicodedata.combining(chr(cp))
        if ccc_rows and ccc_rows[-1][1] == cp - 1 and ccc_rows[-1][2] == v:
            ccc_rows[-1][1] = cp
        else:
            ccc_rows.append([cp, cp, v])
    max_decomp = max(len(v) for v in nfd.values())
    max_lower = max(len(v) for v in tables["lower"].values())

    def ascii_class(cp):
        bits = [("drop", 1), ("clean_space", 2), ("white_space", 4), ("punct", 8), ("word", 16)]
        return sum(bit for name, bit in bits if cp in tables[name])

    def rows(items, per=4):
        return ",\n".join("    " + ", ".join(items[i:i + per]) for i in range(0, len(items), per))

    note_text = "\n".join(" *   " + line for n in notes for line in textwrap.wrap(n, 94,
                                                                     subsequent_indent="      "))
    src = f"""/* GENERATED by tokenizer/gen_unicode_tables.py -- do not edit.
 *
 * Source: Python unicodedata {versions['unidata']} (Python {versions['python']}), checked code
 * point by code point against Hugging Face tokenizers {versions['tokenizers']} (the library
 * behind transformers' BertTokenizer), which wins where they differ:
{note_text}
 */
#include "tokenizer/unicode.h"

#include <stddef.h>

typedef struct {{
    uint32_t lo, hi;
}} UniRange;

typedef struct {{
    uint32_t lo, hi;
    int32_t delta;
    uint32_t step;  // 1, or 2 for alternating upper/lower case pairs
}} UniLowerRun;

typedef struct {{
    uint32_t cp;
    uint16_t offset;
    uint8_t len;
}} UniDecomp;

typedef struct {{
    uint32_t lo, hi;
    uint8_t ccc;
}} UniClassRange;

{c_ranges("removed_controls", tables["drop"])}
{c_ranges("clean_spaces", tables["clean_space"])}
{c_ranges("white_spaces", tables["white_space"])}
{c_ranges("punctuation", tables["punct"])}
{c_ranges("cjk_ideographs", tables["cjk"])}
{c_ranges("nonspacing_marks", tables["mn"])}
{c_ranges("word_chars", tables["word"])}
static const UniClassRange combining_classes[{len(ccc_rows)}] = {{
{rows([f"{{0x{a:05X}, 0x{b:05X}, {v}}}" for a, b, v in ccc_rows], 3)}
}};

static const UniLowerRun lower_runs[{len(runs)}] = {{
{rows([f"{{0x{lo:05X}, 0x{hi:05X}, {d}, {s}}}" for lo, hi, d, s in runs], 3)}
}};

static const uint32_t lower_multi[{len(multi_lower)}][{1 + max_lower}] = {{
{rows(["{" + ", ".join(f"0x{x:05X}" for x in [cp] + m + [0] * (max_lower - len(m))) + "}" for cp, m in multi_lower], 2)}
}};

static const UniDecomp decompositions[{len(nfd_rows)}] = {{
{rows(nfd_rows, 4)}
}};

static const uint32_t decomposition_pool[{len(pool)}] = {{
{rows([f"0x{x:05X}" for x in pool], 8)}
}};

static bool in_ranges(const UniRange *r, size_t n, uint32_t cp) {{
    size_t lo = 0, hi = n;
    while (lo < hi) {{
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return true;
    }}
    return false;
}}

// ASCII answers without a search (most text is mostly ASCII).
enum {{ A_REMOVED = 1, A_CLEAN_SPACE = 2, A_WHITE_SPACE = 4, A_PUNCT = 8, A_WORD = 16 }};
static const uint8_t ascii_classes[128] = {{
{rows([str(ascii_class(cp)) for cp in range(128)], 16)}
}};

#define IN(table, cp) in_ranges(table, sizeof table / sizeof table[0], cp)
#define CLASS(bit, table, cp) ((cp) < 128 ? (ascii_classes[cp] & (bit)) != 0 : IN(table, cp))

bool uni_is_removed_control(uint32_t cp) {{ return CLASS(A_REMOVED, removed_controls, cp); }}
bool uni_is_clean_space(uint32_t cp) {{ return CLASS(A_CLEAN_SPACE, clean_spaces, cp); }}
bool uni_is_white_space(uint32_t cp) {{ return CLASS(A_WHITE_SPACE, white_spaces, cp); }}
bool uni_is_punctuation(uint32_t cp) {{ return CLASS(A_PUNCT, punctuation, cp); }}
bool uni_is_cjk(uint32_t cp) {{ return cp >= 0x3400 && IN(cjk_ideographs, cp); }}
bool uni_is_nonspacing_mark(uint32_t cp) {{ return cp >= 0x300 && IN(nonspacing_marks, cp); }}
bool uni_is_word_char(uint32_t cp) {{ return CLASS(A_WORD, word_chars, cp); }}

int uni_combining_class(uint32_t cp) {{
    if (cp < 0x300) return 0;
    size_t lo = 0, hi = sizeof combining_classes / sizeof combining_classes[0];
    while (lo < hi) {{
        size_t mid = lo + (hi - lo) / 2;
        if (cp < combining_classes[mid].lo)
            hi = mid;
        else if (cp > combining_classes[mid].hi)
            lo = mid + 1;
        else
            return combining_classes[mid].ccc;
    }}
    return 0;
}}

int uni_decompose(uint32_t cp, uint32_t *out) {{
    if (cp < 0xC0) {{
        out[0] = cp;
        return 1;
    }}
    if (cp >= 0x{HANGUL_FIRST:X} && cp <= 0x{HANGUL_LAST:X}) {{  // Hangul syllables: algorithmic
        uint32_t s = cp - 0x{HANGUL_FIRST:X};
        out[0] = 0x1100 + s / 588;
        out[1] = 0x1161 + (s % 588) / 28;
        if (s % 28 == 0) return 2;
        out[2] = 0x11A7 + s % 28;
        return 3;
    }}
    size_t lo = 0, hi = sizeof decompositions / sizeof decompositions[0];
    while (lo < hi) {{
        size_t mid = lo + (hi - lo) / 2;
        if (cp < decompositions[mid].cp)
            hi = mid;
        else if (cp > decompositions[mid].cp)
            lo = mid + 1;
        else {{
            const UniDecomp *d = &decompositions[mid];
            for (int i = 0; i < d->len; i++) out[i] = decomposition_pool[d->offset + i];
            return d->len;
        }}
    }}
    out[0] = cp;
    return 1;
}}

int uni_to_lower(uint32_t cp, uint32_t *out) {{
    if (cp < 128) {{
        out[0] = cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
        return 1;
    }}
    for (size_t i = 0; i < sizeof lower_multi / sizeof lower_multi[0]; i++) {{
        if (lower_multi[i][0] != cp) continue;
        int n = 0;
        while (n < UNI_MAX_LOWER && lower_multi[i][1 + n]) {{
            out[n] = lower_multi[i][1 + n];
            n++;
        }}
        return n;
    }}
    size_t lo = 0, hi = sizeof lower_runs / sizeof lower_runs[0];
    while (lo < hi) {{
        size_t mid = lo + (hi - lo) / 2;
        const UniLowerRun *r = &lower_runs[mid];
        if (cp < r->lo)
            hi = mid;
        else if (cp > r->hi)
            lo = mid + 1;
        else {{
            out[0] = (cp - r->lo) % r->step == 0 ? (uint32_t)((int32_t)cp + r->delta) : cp;
            return 1;
        }}
    }}
    out[0] = cp;
    return 1;
}}
"""
    hdr = f"""/* GENERATED by tokenizer/gen_unicode_tables.py -- do not edit.
 *
 * Character classes and mappings behind BertTokenizer's text handling, as the
 * Hugging Face tokenizers {versions['tokenizers']} library applies them (see the header of
 * tokenizer/unicode_tables.c for the Unicode versions and the exceptions).
 * Code points are Unicode scalar values (no surrogates).
 */
#ifndef TOKENIZER_UNICODE_H
#define TOKENIZER_UNICODE_H

#include <stdbool.h>
#include <stdint.h>

#define UNI_MAX_DECOMP {max_decomp}  // longest canonical decomposition
#define UNI_MAX_LOWER {max_lower}   // longest lowercase mapping

// BertNormalizer clean_text: characters it deletes (controls, format
// characters, private use, U+0000, U+FFFD) and ones it turns into ' '.
bool uni_is_removed_control(uint32_t cp);
bool uni_is_clean_space(uint32_t cp);
// White_Space as Rust's char::is_whitespace and regex \\s see it.
bool uni_is_white_space(uint32_t cp);
// BertPreTokenizer punctuation: ASCII punctuation or a P* category.
bool uni_is_punctuation(uint32_t cp);
// BERT's "Chinese character" blocks (CJK Unified Ideographs and friends).
bool uni_is_cjk(uint32_t cp);
// General category Mn (dropped after NFD when stripping accents).
bool uni_is_nonspacing_mark(uint32_t cp);
// Regex \\w (decides AddedToken single_word matches).
bool uni_is_word_char(uint32_t cp);
// Canonical combining class (0 for starters), for NFD's canonical ordering.
int uni_combining_class(uint32_t cp);
// Full canonical decomposition of one code point into out[UNI_MAX_DECOMP];
// returns the count (1 and out[0] = cp when it does not decompose).
int uni_decompose(uint32_t cp, uint32_t *out);
// Full lowercase mapping of one code point (Rust's char::to_lowercase, so
// no final-sigma context) into out[UNI_MAX_LOWER]; returns the count.
int uni_to_lower(uint32_t cp, uint32_t *out);

#endif
"""
    with open(os.path.join(OUT_DIR, "unicode_tables.c"), "w", encoding="utf-8") as f:
        f.write(src)
    with open(os.path.join(OUT_DIR, "unicode.h"), "w", encoding="utf-8") as f:
        f.write(hdr)


def main():
    ref = probe_reference()
    base = from_unicodedata()
    notes = []
    # Only code points that NFD leaves alone can show their Mn status.
    base["mn"] -= set(ref["nfd"])
    for name in ("drop", "clean_space", "white_space", "punct", "cjk", "mn", "ccc_nonzero", "word"):
        notes += set_diff_note(name, base[name], ref[name])
    for name in ("nfd", "lower"):
        notes += map_diff_note(name, base[name], ref[name])
    # Hangul syllables are decomposed in code, not by table.
    for cp in range(HANGUL_FIRST, HANGUL_LAST + 1):
        assert ref["nfd"][cp] == hangul_nfd(cp), hex(cp)
    # Every decomposition is one-level-complete (already fully decomposed).
    for cp, d in ref["nfd"].items():
        assert all(x not in ref["nfd"] for x in d), hex(cp)
    # The C fast paths assume nothing below these bounds is in the tables.
    assert not any(cp < 0x3400 for cp in ref["cjk"]) and not any(cp < 0x300 for cp in ref["mn"])
    assert not any(cp < 0x300 for cp in ref["ccc_nonzero"]) and not any(cp < 0xC0 for cp in ref["nfd"])
    assert all(ref["lower"].get(cp, [cp]) == [cp + 32 if 65 <= cp <= 90 else cp] for cp in range(128))
    versions = {"unidata": unicodedata.unidata_version, "python": sys.version.split()[0],
                "tokenizers": tokenizers.__version__}
    write_c(ref, notes, versions)
    for n in notes:
        print(n[:200] + ("..." if len(n) > 200 else ""))


if __name__ == "__main__":
    main()
