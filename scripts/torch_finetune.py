#!/usr/bin/env python3
"""The PyTorch reference for the README's results table: the same fine-tune
as ./finetune (BertForSequenceClassification from transformers, a plain
training loop), with the same hyperparameters and the same kind of batching
(length-grouped, padded to the longest row of each batch), on the CPU with
the same thread count.  Writes OUT/result.json with the dev metrics and the
wall time.  Needs torch, transformers and numpy (not needed by the engine).

    python3 scripts/torch_finetune.py --task sst2 --seed 1 --out runs/torch/sst2/seed1

For scripts/bench_e2e.sh: --bf16 (bf16 autocast, float32 master weights),
--attn-impl sdpa, --eval-only (score --model on dev, no training),
--eval-batch-size N and --eval-by-length (dev batches longest rows first,
as ./evaluate's); result.json's seconds_after_load times the training and
the dev evaluation, from the loaded model to the dev metrics.
"""
import argparse
import csv
import json
import math
import os
import random
import sys
import time

import numpy as np
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TQDM_DISABLE", "1")

import torch
from transformers import BertForSequenceClassification, BertTokenizer, get_linear_schedule_with_warmup

# task -> (folder, text_a column, text_b column or None, label column, header, labels or None=regression)
TASKS = {
    "sst2": ("SST-2", 0, None, 1, True, ["0", "1"]),
    "cola": ("CoLA", 3, None, 1, False, ["0", "1"]),
    "mrpc": ("MRPC", 3, 4, 0, True, ["0", "1"]),
    "rte": ("RTE", 1, 2, 3, True, ["entailment", "not_entailment"]),
    "stsb": ("STS-B", 7, 8, 9, True, None),
}


def load(path, spec):
    _, a, b, y, header, labels = spec
    rows = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        for i, line in enumerate(csv.reader(f, delimiter="\t", quotechar=None)):
            if header and i == 0:
                continue
            label = line[y] if labels is None else labels.index(line[y])
            rows.append((line[a], line[b] if b is not None else None,
                         float(label) if labels is None else label))
    return rows


def encode(tok, rows, max_len):
    out = []
    for a, b, y in rows:
        e = tok(a, b, truncation=True, max_length=max_len)
        out.append((e["input_ids"], e["token_type_ids"], y))
    return out


def length_grouped_batches(lengths, batch_size, rng):
    """Shuffle, sort chunks of 50 batches by length, cut, shuffle batch order
    (the engine's tasks/batcher.c rule)."""
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    chunk = 50 * batch_size
    batches = []
    for c in range(0, len(idx), chunk):
        part = sorted(idx[c:c + chunk], key=lambda i: -lengths[i])
        batches += [part[k:k + batch_size] for k in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(data, rows, pad_id):
    T = max(len(data[i][0]) for i in rows)
    ids = torch.full((len(rows), T), pad_id, dtype=torch.long)
    types = torch.zeros((len(rows), T), dtype=torch.long)
    mask = torch.zeros((len(rows), T), dtype=torch.long)
    for k, i in enumerate(rows):
        n = len(data[i][0])
        ids[k, :n] = torch.tensor(data[i][0])
        types[k, :n] = torch.tensor(data[i][1])
        mask[k, :n] = 1
    return ids, types, mask


def metrics(task, pred, gold):
    pred, gold = np.asarray(pred), np.asarray(gold)
    if task == "stsb":
        pearson = float(np.corrcoef(pred, gold)[0, 1])
        def avg_rank(v):  # average ranks for ties, as scipy's spearmanr
            order = np.argsort(v, kind="stable")
            ranks = np.empty(len(v))
            sv = v[order]
            i = 0
            while i < len(v):
                j = i
                while j + 1 < len(v) and sv[j + 1] == sv[i]:
                    j += 1
                ranks[order[i:j + 1]] = (i + j) / 2.0
                i = j + 1
            return ranks
        spearman = float(np.corrcoef(avg_rank(pred), avg_rank(gold))[0, 1])
        return {"pearson": pearson, "spearman": spearman, "primary": (pearson + spearman) / 2}
    acc = float((pred == gold).mean())
    out = {"accuracy": acc, "primary": acc}
    tp = float(((pred == 1) & (gold == 1)).sum())
    fp = float(((pred == 1) & (gold == 0)).sum())
    fn = float(((pred == 0) & (gold == 1)).sum())
    tn = float(((pred == 0) & (gold == 0)).sum())
    if task == "mrpc":
        f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        out.update(f1=f1, primary=(acc + f1) / 2)
    if task == "cola":
        den = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        mcc = (tp * tn - fp * fn) / den if den else 0.0
        out.update(matthews=mcc, primary=mcc)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", required=True, choices=sorted(TASKS))
    ap.add_argument("--model", default="models/all-MiniLM-L6-v2")
    ap.add_argument("--data-dir", default="data/glue")
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--warmup", type=float, default=0.1)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (float32 master weights)")
    ap.add_argument("--attn-impl", default="eager", choices=["eager", "sdpa"])
    ap.add_argument("--eval-only", action="store_true", help="score --model on dev, no training")
    ap.add_argument("--eval-batch-size", type=int, default=64)
    ap.add_argument("--eval-by-length", action="store_true",
                    help="dev batches of the longest rows first (tasks/batcher.c plan_eval)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    spec = TASKS[a.task]
    t_start = time.time()
    tok = BertTokenizer.from_pretrained(a.model)
    train = [] if a.eval_only else encode(tok, load(os.path.join(a.data_dir, spec[0], "train.tsv"), spec),
                                          a.max_len)
    dev = encode(tok, load(os.path.join(a.data_dir, spec[0], "dev.tsv"), spec), a.max_len)
    num_labels = 1 if spec[5] is None else len(spec[5])
    model = BertForSequenceClassification.from_pretrained(a.model, num_labels=num_labels,
                                                          attn_implementation=a.attn_impl)
    t_loaded = time.time()

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16)

    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not ("bias" in n or "LayerNorm" in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=a.lr)
    steps_per_epoch = math.ceil(len(train) / a.batch_size)
    total = 0 if a.eval_only else steps_per_epoch * a.epochs
    sched = get_linear_schedule_with_warmup(opt, math.ceil(a.warmup * total), total)
    rng = random.Random(a.seed)
    lengths = [len(x[0]) for x in train]
    step = 0
    for epoch in range(0 if a.eval_only else a.epochs):
        model.train()
        for rows in length_grouped_batches(lengths, a.batch_size, rng):
            ids, types, mask = collate(train, rows, tok.pad_token_id)
            y = torch.tensor([train[i][2] for i in rows],
                             dtype=torch.float if num_labels == 1 else torch.long)
            with autocast():
                loss = model(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=y).loss
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            opt.step()
            sched.step()
            step += 1
            if step % 50 == 0:
                print(f"step {step}/{total} loss {loss.item():.4f} "
                      f"{time.time() - t_start:.0f}s", file=sys.stderr, flush=True)
    model.eval()
    preds = [None] * len(dev)
    order = list(range(len(dev)))
    if a.eval_by_length:
        order.sort(key=lambda i: -len(dev[i][0]))
    with torch.no_grad(), autocast():
        for k in range(0, len(dev), a.eval_batch_size):
            rows = order[k:k + a.eval_batch_size]
            ids, types, mask = collate(dev, rows, tok.pad_token_id)
            logits = model(input_ids=ids, token_type_ids=types, attention_mask=mask).logits.float()
            out = logits[:, 0].tolist() if num_labels == 1 else logits.argmax(-1).tolist()
            for i, p in zip(rows, out):
                preds[i] = p
    seconds_after_load = time.time() - t_loaded
    result = metrics(a.task, preds, [x[2] for x in dev])
    result.update(task=a.task, seed=a.seed, wall_seconds=time.time() - t_start,
                  seconds_after_load=seconds_after_load, bf16=a.bf16, attn_impl=a.attn_impl,
                  eval_only=a.eval_only, steps=total,
                  torch=torch.__version__, threads=a.threads, command=" ".join(sys.argv))
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
