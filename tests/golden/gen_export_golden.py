#!/usr/bin/env python3
"""Golden for the ./export round trip in tests/test_cli.c: transformers loads
what our pipeline writes, and its logits are the reference for ./evaluate.

Run from the repository root after `make all` (it runs ./finetune and
./export):
    python3 tests/golden/gen_export_golden.py

1. ./finetune on tests/golden/tiny_bert + tests/golden/sgd_data (SST-2), AdamW,
   2 steps, seed 1, dropout 0.1, then ./export -> tests/golden/export_tiny/.
   The same with --attn rsoftmax --r 0.5 -> tests/golden/export_tiny_rsoftmax/.
   The C test reruns exactly FINETUNE_ARGS and checks that it reproduces the
   committed tensors, so keep the two in step.
2. For each export: BertForSequenceClassification.from_pretrained must report
   no missing / unexpected / mismatched keys; num_labels, id2label, label2id
   and problem_type must be right; AutoTokenizer must load the directory.  For
   the rsoftmax export, the config keeps our extra fields as plain
   attributes and the model still computes softmax attention (transformers
   ignores them).
3. The logits of each loaded model on sgd_data's dev split, tokenized by the
   export's own HF tokenizer, eval mode -> export_tiny_hf_logits.safetensors:
     logits            [4, 2]  export_tiny
     logits_rsoftmax   [4, 2]  export_tiny_rsoftmax (softmax attention, as HF runs it)
     labels            [4]     I32, dev labels
Everything is seeded and torch runs on one thread: reruns give the same files
(up to float summation order in ./finetune across thread counts; we pass
--threads 2 like the test).
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import safetensors.numpy
import torch
from transformers import AutoTokenizer, BertForSequenceClassification

GOLDEN = "tests/golden"
TINY = f"{GOLDEN}/tiny_bert"
DATA = f"{GOLDEN}/sgd_data"
FINETUNE_ARGS = ["--model", TINY, "--task", "sst2", "--data-dir", DATA, "--optim", "adamw",
                 "--lr", "1e-3", "--batch-size", "4", "--max-steps", "2", "--seed", "1",
                 "--dropout", "0.1", "--max-len", "64", "--threads", "2"]
EXPORTS = [("export_tiny", []), ("export_tiny_rsoftmax", ["--attn", "rsoftmax", "--r", "0.5"])]
LOGITS = f"{GOLDEN}/export_tiny_hf_logits.safetensors"


def run(cmd):
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stderr}")


def make_export(name, extra):
    out = f"{GOLDEN}/{name}"
    with tempfile.TemporaryDirectory() as tmp:
        run(["./finetune", *FINETUNE_ARGS, *extra, "--out", f"{tmp}/run"])
        shutil.rmtree(out, ignore_errors=True)
        run(["./export", "--checkpoint", f"{tmp}/run/last", "--out", out])
    return out


def dev_rows():
    with open(f"{DATA}/SST-2/dev.tsv", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f, delimiter="\t", quotechar=None))[1:]
    return [r[0] for r in rows], [int(r[1]) for r in rows]


def load_and_check(path, extra):
    model, info = BertForSequenceClassification.from_pretrained(path, output_loading_info=True)
    for key in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        assert not info.get(key), f"{path}: {key} {info[key]}"
    cfg = model.config
    assert cfg.num_labels == 2, cfg.num_labels
    assert cfg.id2label == {0: "0", 1: "1"}, cfg.id2label
    assert cfg.label2id == {"0": 0, "1": 1}, cfg.label2id
    assert cfg.problem_type == "single_label_classification", cfg.problem_type
    with open(f"{path}/config.json") as f:
        raw = json.load(f)
    if extra:
        # Our fields survive as plain attributes; nothing in BertModel reads them.
        assert cfg.attention_probs_fn == "rsoftmax" and raw["attention_probs_fn"] == "rsoftmax"
        assert abs(cfg.attention_r - 0.5) < 1e-12 and abs(raw["attention_r"] - 0.5) < 1e-12
    else:
        assert raw["attention_probs_fn"] == "softmax" and "attention_r" not in raw, raw
    tok = AutoTokenizer.from_pretrained(path)
    model.eval()
    return model, tok


def main():
    if not (os.path.isfile("./finetune") and os.path.isfile("./export") and os.path.isdir(TINY)):
        sys.exit("run from the repository root after `make all`")
    torch.manual_seed(0)
    torch.set_num_threads(1)
    texts, labels = dev_rows()
    out = {"labels": np.array(labels, dtype=np.int32)}
    for name, extra in EXPORTS:
        path = make_export(name, extra)
        model, tok = load_and_check(path, extra)
        enc = tok(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
        with torch.no_grad():
            logits = model(**enc).logits
        key = "logits" if not extra else "logits_rsoftmax"
        out[key] = logits.numpy().astype(np.float32)
        print(f"{name}: loaded with no missing/unexpected keys; {type(tok).__name__}; "
              f"logits {logits.numpy().round(5).tolist()}; files {sorted(os.listdir(path))}")
    safetensors.numpy.save_file(out, LOGITS)
    print("wrote", LOGITS)


if __name__ == "__main__":
    main()
