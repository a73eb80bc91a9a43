#!/usr/bin/env python3
"""PyTorch reference for build/bench: the same model, batch, sequence length
and thread count; eval forward (sentences/s) and one training step (forward,
backward, clipping, AdamW) with transformers' BertForSequenceClassification,
softmax attention, in the three settings a PyTorch user would pick: float32
with eager attention, float32 with SDPA, and bf16 autocast with SDPA (float32
master weights, as our --precision bf16).  Medians over repeated runs; the
peak RSS of the process after each setting.

    python3 scripts/bench_torch.py --model models/all-MiniLM-L6-v2 [--batch 32] [--seq 128] [--threads 2]

--random-init CONFIG.json: a model of that config's shapes with random
weights (BertConfig.from_json_file, transformers' init), as build/bench
--random-init.  --growth --settings NAME: one row of scripts/bench.sh's
cost-growth table (one setting per process: the peak RSS only grows).
"""
import argparse
import os
import resource
import statistics
import time

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TQDM_DISABLE", "1")

import torch
from transformers import BertConfig, BertForSequenceClassification

# name -> (what the table calls it, attn_implementation, autocast dtype or None)
SETTINGS = {
    "fp32-eager": ("fp32, eager attention", "eager", None),
    "fp32-sdpa": ("fp32, SDPA", "sdpa", None),
    "bf16-sdpa": ("bf16 autocast, SDPA", "sdpa", torch.bfloat16),
}


def peak_rss_mb():
    """The process's peak resident set so far (Linux: ru_maxrss in kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build_model(a, attn):
    torch.manual_seed(0)
    if a.random_init:
        config = BertConfig.from_json_file(a.random_init)
        config.num_labels = 2
        return BertForSequenceClassification._from_config(config, attn_implementation=attn)
    return BertForSequenceClassification.from_pretrained(a.model, num_labels=2, attn_implementation=attn)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/all-MiniLM-L6-v2")
    ap.add_argument("--random-init", metavar="CONFIG", default=None,
                    help="a config.json: random weights of its shapes instead of --model's")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--settings", default=",".join(SETTINGS),
                    help="comma-separated: " + ", ".join(SETTINGS))
    ap.add_argument("--growth", action="store_true",
                    help="one cost-growth row per setting (scripts/bench.sh's columns)")
    a = ap.parse_args()
    names = a.settings.split(",")
    for n in names:
        if n not in SETTINGS:
            ap.error(f"--settings: unknown setting '{n}' (one of: {', '.join(SETTINGS)})")
    torch.set_num_threads(a.threads)
    model_name = os.path.basename(os.path.normpath(a.random_init or a.model))
    g = torch.Generator().manual_seed(7)
    ids = None
    labels = torch.arange(a.batch) % 2

    def timed(fn):
        fn()
        times = []
        for _ in range(a.reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    if not a.growth:
        print(f"torch {torch.__version__}, model {model_name}{' (random weights)' if a.random_init else ''}, "
              f"batch {a.batch} x seq {a.seq}, {a.threads} threads, median of {a.reps}")
        print("| PyTorch setting | eval forward | sentences/s | training step (softmax) | peak RSS so far |")
        print("|---|---|---|---|---|")
    for setting in names:
        name, attn, dtype = SETTINGS[setting]
        model = build_model(a, attn)
        if ids is None:  # token ids 1000..20999, folded into a smaller vocabulary
            ids = torch.randint(1000, 21000, (a.batch, a.seq), generator=g) % model.config.vocab_size
            types = torch.zeros_like(ids)
            mask = torch.ones_like(ids)

        def autocast():
            return torch.autocast("cpu", dtype=dtype, enabled=dtype is not None)

        model.eval()
        with torch.no_grad(), autocast():
            fwd = timed(lambda: model(input_ids=ids, token_type_ids=types, attention_mask=mask))
        rss_eval = peak_rss_mb()
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
        tokens = a.batch * a.seq
        if a.growth:  # the columns of scripts/bench.sh's growth header, as build/bench --growth
            print(f"| PyTorch {torch.__version__.split('+')[0]} {name} | {model_name} | "
                  f"{'bf16' if dtype else 'fp32'} | {a.batch} x {a.seq} | {fwd * 1e3:.1f} ms | "
                  f"{tokens / fwd:.0f} | {rss_eval:.0f} MB | {train * 1e3:.1f} ms | {tokens / train:.0f} | "
                  f"{peak_rss_mb():.0f} MB |")
        else:
            print(f"| {name} | {fwd * 1e3:.1f} ms | {a.batch / fwd:.1f} | {train * 1e3:.1f} ms | "
                  f"{peak_rss_mb():.0f} MB |")
        del model, opt


if __name__ == "__main__":
    main()
