#!/usr/bin/env python3
"""Golden rows for the GLUE loaders (tests/test_tasks.c), from transformers'
GLUE processors (transformers.data.processors.glue; removed in transformers 5,
so run this with transformers 4.x, e.g. in a venv:
    python3 -m venv /tmp/tf4 && /tmp/tf4/bin/pip install 'transformers==4.46.3'
    /tmp/tf4/bin/python tests/golden/gen_glue_golden.py [GLUE_DIR]
from the repository root).

For each task and split it records what the processor yields: the example
count, label histogram (or the sum of regression targets), the first 3 and
last 2 examples, and a 64-bit FNV-1a hash over every example, so the C loader
is checked row for row.  Our extra fields are derived independently here:
`index` is the file's index column for test files (read with the processor's
own TSV reader) and otherwise the 0-based data row; `line` is the physical
line (GLUE's TSV rows never span lines).

Real data: GLUE_DIR (default /work/shared/data/glue) for CoLA, SST-2, MRPC,
STS-B, RTE, WNLI and QNLI dev/test.  MNLI, QQP and QNLI train come from the
small files in tests/golden/glue_mini/, written in the exact GLUE layout.
"""
import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")
try:
    from transformers.data.processors.glue import glue_processors
except ImportError:
    sys.exit("needs transformers 4.x (transformers.data.processors.glue); see the docstring")

GLUE_DIR = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/glue"
MINI_DIR = "tests/golden/glue_mini"
OUT = "tests/golden/glue_golden.json"

# (root, folder, processor name, our task name, split name, getter, file, header)
JOBS = []
for folder, proc, name in [("CoLA", "cola", "cola"), ("SST-2", "sst-2", "sst2"),
                           ("MRPC", "mrpc", "mrpc"), ("STS-B", "sts-b", "stsb"),
                           ("RTE", "rte", "rte"), ("WNLI", "wnli", "wnli")]:
    for split in ["train", "dev", "test"]:
        header = not (folder == "CoLA" and split != "test")
        JOBS.append(("real", folder, proc, name, split, split, split + ".tsv", header))
JOBS += [("real", "QNLI", "qnli", "qnli", "dev", "dev", "dev.tsv", True),
         ("real", "QNLI", "qnli", "qnli", "test", "test", "test.tsv", True),
         ("mini", "QNLI", "qnli", "qnli", "train", "train", "train.tsv", True),
         ("mini", "QQP", "qqp", "qqp", "train", "train", "train.tsv", True),
         ("mini", "QQP", "qqp", "qqp", "dev", "dev", "dev.tsv", True),
         ("mini", "QQP", "qqp", "qqp", "test", "test", "test.tsv", True),
         ("mini", "MNLI", "mnli", "mnli", "train", "train", "train.tsv", True),
         ("mini", "MNLI", "mnli", "mnli", "dev_matched", "dev", "dev_matched.tsv", True),
         ("mini", "MNLI", "mnli-mm", "mnli", "dev_mismatched", "dev", "dev_mismatched.tsv", True),
         ("mini", "MNLI", "mnli", "mnli", "test_matched", "test", "test_matched.tsv", True),
         ("mini", "MNLI", "mnli-mm", "mnli", "test_mismatched", "test", "test_mismatched.tsv",
          True)]


def fnv1a64(data, h=0xCBF29CE484222325):
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    out = []
    for root, folder, proc_name, name, split, getter, fname, header in JOBS:
        proc = glue_processors[proc_name]()
        data_dir = os.path.join(GLUE_DIR if root == "real" else MINI_DIR, folder)
        examples = getattr(proc, "get_%s_examples" % getter)(data_dir)
        raw = proc._read_tsv(os.path.join(data_dir, fname))[1 if header else 0:]
        assert len(raw) == len(examples), (folder, split)
        regression = proc_name == "sts-b"
        rows, h, hist, target_sum = [], 0xCBF29CE484222325, {}, 0.0
        for i, ex in enumerate(examples):
            row = {"text_a": ex.text_a, "text_b": ex.text_b,
                   "index": int(raw[i][0]) if split.startswith("test") else i,
                   "line": i + 1 + (1 if header else 0)}
            label = ex.label if ex.label is not None else ""
            if regression and ex.label is not None:
                row["target"] = float(ex.label)
                target_sum += float(ex.label)
                label = ""
            elif ex.label is not None:
                row["label"] = ex.label
                hist[ex.label] = hist.get(ex.label, 0) + 1
            rows.append(row)
            blob = "%s\x1f%s\x1f%s\x1e" % (ex.text_a, ex.text_b or "", label)
            h = fnv1a64(blob.encode("utf-8"), h)
        entry = {"root": root, "task": name, "split": split, "count": len(examples),
                 "fnv1a64": "%016x" % h, "first": rows[:3], "last": rows[-2:]}
        if regression:
            entry["target_sum"] = target_sum
        else:
            entry["labels"] = hist
        out.append(entry)
        print(folder, split, len(examples), file=sys.stderr)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
