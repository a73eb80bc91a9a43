#!/usr/bin/env python3
"""PyTorch reference for build/bench: the same model, batch, sequence length
and thread count; eval forward (sentences/s) and one training step (forward,
backward, clipping, AdamW) with transformers' BertForSequenceClassification,
softmax attention, in the three settings a PyTorch user would pick: float32
with eager attention, float32 with SDPA, and bf16 autocast with SDPA (float32
master weights, as our --precision bf16).  Medians over repeated runs.

    python3 scripts/bench_torch.py --model models/all-MiniLM-L6-v2 [--batch 32] [--seq 128] [--threads 2]
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TQDM_DISABLE", "1")

import torch
from transformers import BertForSequenceClassification


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/all-MiniLM-L6-v2")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(1000, 21000, (a.batch, a.seq), generator=g)
    types = torch.zeros_like(ids)
    mask = torch.ones_like(ids)
    labels = torch.arange(a.batch) % 2

    def timed(fn):
        fn()
        times = []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    print(f"torch {torch.__version__}, batch {a.batch} x seq {a.seq}, {a.threads} threads, median of {a.reps}")
    print("| PyTorch setting | eval forward | sentences/s | training step (softmax) |")
    print("|---|---|---|---|")
    settings = [("fp32, eager attention", "eager", None), ("fp32, SDPA", "sdpa", None),
                ("bf16 autocast, SDPA", "sdpa", torch.bfloat16)]
    for name, attn, dtype in settings:
        torch.manual_seed(0)
        model = BertForSequenceClassification.from_pretrained(a.model, num_labels=2, attn_implementation=attn)

        def autocast():
            return torch.autocast("cpu", dtype=dtype, enabled=dtype is not None)

        model.eval()
        with torch.no_grad(), autocast():
            fwd = timed(lambda: model(input_ids=ids, token_type_ids=types, attention_mask=mask))
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01)

        def step():
            with autocast():
                out = model(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=labels)
            opt.zero_grad()
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()

        train = timed(step)
        print(f"| {name} | {fwd * 1e3:.1f} ms | {a.batch / fwd:.1f} | {train * 1e3:.1f} ms |")

if __name__ == "__main__":
    main()
