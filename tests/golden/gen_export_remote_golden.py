#!/usr/bin/env python3
"""Golden for exports of sparse attention maps (tests/test_views.c): an
exported directory carries modeling_sparse_attention.py and auto_map, and
transformers, trusting that code, computes our map.

Run from the repository root after `make all` (it runs ./finetune and
./export), with torch, transformers, sentencepiece and protobuf installed:
    python3 tests/golden/gen_export_remote_golden.py

For each family (tiny_bert on sgd_data's SST-2, tiny_xlmr on xlmr_data's
RTE) and each map (rsoftmax r = 0.25, sparsemax, entmax15):
1. ./finetune, AdamW, 2 steps, seed 1, dropout 0.1, then ./export ->
   tests/golden/export_remote/FAMILY_MAP/.
2. Loading checks, asserted here: AutoModelForSequenceClassification with
   trust_remote_code=True gives our class (SparseAttn...); without it,
   transformers refuses with a ValueError (it will not run softmax silently);
   the plain BertForSequenceClassification / XLMRobertaForSequenceClassification
   class loads the weights but (with a warning about the model_type) runs
   softmax, whose logits differ from ours by more than 1e-3.
3. transformers' logits on the dev split, tokenized by the export's own
   tokenizer and padded to the longest row (so the padding rule matters),
   eval mode -> export_remote_logits.safetensors:
     logits_FAMILY_MAP  [n_dev, 2]
   and the attention probabilities of the first dev example alone
   (output_attentions=True), for ./attention:
     attn_FAMILY_MAP    [L, NH, T, T]
     ids_FAMILY_MAP     [T] I32
The texts are recorded in export_remote_texts.json.  The committed export
directories leave out modeling_sparse_attention.py, which is the template
byte for byte (tests/test_views.c checks that ./export writes it so) and
which ./evaluate does not read.  Everything is seeded
and torch runs on one thread, so reruns give the same files.
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
from transformers import (AutoModelForSequenceClassification, AutoTokenizer,
                          BertForSequenceClassification, XLMRobertaForSequenceClassification)

GOLDEN = "tests/golden"
OUT_DIR = f"{GOLDEN}/export_remote"
LOGITS = f"{GOLDEN}/export_remote_logits.safetensors"
TEXTS = f"{GOLDEN}/export_remote_texts.json"
FAMILIES = {
    # name: (model, data dir, task, dev file, plain class, our class)
    "bert": (f"{GOLDEN}/tiny_bert", f"{GOLDEN}/sgd_data", "sst2", "SST-2/dev.tsv",
             BertForSequenceClassification, "SparseAttnBertForSequenceClassification"),
    "xlmr": (f"{GOLDEN}/tiny_xlmr", f"{GOLDEN}/xlmr_data", "rte", "RTE/dev.tsv",
             XLMRobertaForSequenceClassification, "SparseAttnXLMRobertaForSequenceClassification"),
}
MAPS = {"rsoftmax": ["--attn", "rsoftmax", "--r", "0.25"], "sparsemax": ["--attn", "sparsemax"],
        "entmax15": ["--attn", "entmax15"]}
# Keep in step with tests/test_views.c.
FINETUNE_ARGS = ["--optim", "adamw", "--lr", "1e-3", "--batch-size", "4", "--max-steps", "2",
                 "--seed", "1", "--dropout", "0.1", "--max-len", "64", "--threads", "2"]


def run(cmd):
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stderr}")


def make_export(family, kind):
    model, data, task, _, _, _ = FAMILIES[family]
    out = f"{OUT_DIR}/{family}_{kind}"
    with tempfile.TemporaryDirectory() as tmp:
        run(["./finetune", "--model", model, "--task", task, "--data-dir", data, *FINETUNE_ARGS,
             *MAPS[kind], "--out", f"{tmp}/run"])
        shutil.rmtree(out, ignore_errors=True)
        run(["./export", "--checkpoint", f"{tmp}/run/last", "--out", out])
    return out


def dev_rows(family):
    _, data, task, dev, _, _ = FAMILIES[family]
    with open(f"{data}/{dev}", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f, delimiter="\t", quotechar=None))[1:]
    if task == "sst2":
        return [(r[0], None) for r in rows]
    return [(r[1], r[2]) for r in rows]  # RTE: index, sentence1, sentence2, label


def encode(tok, rows, **kw):
    a = [r[0] for r in rows]
    b = [r[1] for r in rows] if rows[0][1] is not None else None
    return tok(a, b, truncation=True, max_length=64, return_tensors="pt", **kw)


def check_loading(path, family, kind):
    _, _, _, _, plain_cls, ours = FAMILIES[family]
    files = sorted(os.listdir(path))
    assert "modeling_sparse_attention.py" in files, files
    with open(f"{path}/config.json") as f:
        raw = json.load(f)
    assert raw["attention_probs_fn"] == kind and "auto_map" in raw, raw
    model = AutoModelForSequenceClassification.from_pretrained(path, trust_remote_code=True)
    assert type(model).__name__ == ours, type(model)
    try:
        AutoModelForSequenceClassification.from_pretrained(path, trust_remote_code=False)
        raise AssertionError(f"{path}: loaded without trust_remote_code")
    except ValueError as e:
        assert "trust_remote_code" in str(e), e
    plain = plain_cls.from_pretrained(path)
    return model.eval(), plain.eval()


def main():
    if not (os.path.isfile("./finetune") and os.path.isfile("./export")):
        sys.exit("run from the repository root after `make all`")
    torch.manual_seed(0)
    torch.set_num_threads(1)
    out, texts = {}, {}
    for family in FAMILIES:
        rows = dev_rows(family)
        texts[family] = {"text": rows[0][0], "pair": rows[0][1]}
        for kind in MAPS:
            path = make_export(family, kind)
            model, plain = check_loading(path, family, kind)
            tok = AutoTokenizer.from_pretrained(path, trust_remote_code=True)
            enc = encode(tok, rows, padding=True)
            one = encode(tok, rows[:1])
            with torch.no_grad():
                logits = model(**enc).logits
                softmax_logits = plain(**enc).logits
                attn = model(**one, output_attentions=True).attentions
            gap = float((logits - softmax_logits).abs().max())
            assert gap > 1e-3, f"{path}: softmax gives the same logits ({gap})"
            name = f"{family}_{kind}"
            out[f"logits_{name}"] = logits.numpy().astype(np.float32)
            out[f"attn_{name}"] = torch.stack([a[0] for a in attn]).numpy().astype(np.float32)
            out[f"ids_{name}"] = one["input_ids"][0].numpy().astype(np.int32)
            os.remove(f"{path}/modeling_sparse_attention.py")
            zeros = float((out[f"attn_{name}"] == 0).mean())
            print(f"{name}: {type(model).__name__}; plain class differs by {gap:.4f}; "
                  f"{len(attn)} layers, {zeros:.3f} of the first example's probabilities are 0")
    safetensors.numpy.save_file(out, LOGITS)
    with open(TEXTS, "w") as f:
        json.dump(texts, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote", LOGITS, TEXTS)


if __name__ == "__main__":
    main()
