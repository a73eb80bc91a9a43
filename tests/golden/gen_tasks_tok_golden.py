#!/usr/bin/env python3
"""Golden encodings of GLUE rows for tests/test_tasks.c (tokset_encode):
the default model's Hugging Face tokenizer (models/all-MiniLM-L6-v2, a BERT
WordPiece tokenizer) on the first rows of a few splits, as transformers' GLUE
code calls it: tokenizer(text_a, text_b, truncation=True, max_length=L)
(longest_first truncation).  Texts are read the way the GLUE processors read
them (csv.reader, tab, no quoting, utf-8-sig).  Run from the repository root
after `make model`:
    python3 tests/golden/gen_tasks_tok_golden.py [GLUE_DIR]
"""
import csv
import json
import os
import sys

from transformers import AutoTokenizer

GLUE_DIR = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/glue"
MODEL = "models/all-MiniLM-L6-v2"
OUT = "tests/golden/tasks_tok_golden.json"
ROWS = 6

# (task, root, split, file, header, text_a column, text_b column, max_len)
SETS = [
    ("sst2", "real", "dev", "SST-2/dev.tsv", True, 0, None, 16),
    ("rte", "real", "dev", "RTE/dev.tsv", True, 1, 2, 40),
    ("mrpc", "real", "train", "MRPC/train.tsv", True, 3, 4, 128),
    ("mnli", "mini", "train", "MNLI/train.tsv", True, 8, 9, 20),
]


def main():
    tok = AutoTokenizer.from_pretrained(MODEL)
    out = {"model": MODEL, "pad_id": tok.pad_token_id, "sets": []}
    for task, root, split, rel, header, col_a, col_b, max_len in SETS:
        base = GLUE_DIR if root == "real" else "tests/golden/glue_mini"
        with open(os.path.join(base, rel), encoding="utf-8-sig") as f:
            rows = list(csv.reader(f, delimiter="\t", quotechar=None))[1 if header else 0:]
        enc = []
        for r in rows[:ROWS]:
            e = tok(r[col_a], r[col_b] if col_b is not None else None, truncation=True,
                    max_length=max_len)
            enc.append({"ids": e["input_ids"], "type_ids": e["token_type_ids"]})
        out["sets"].append({"task": task, "root": root, "split": split, "max_len": max_len,
                            "rows": enc})
    with open(OUT, "w") as f:
        json.dump(out, f)
        f.write("\n")


if __name__ == "__main__":
    main()
