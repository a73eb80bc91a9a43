#!/usr/bin/env python3
"""The r-softmax paper's first experiment on debtags: the output maps for
multi-label classification (issue 15), one fixed recipe, several seeds.

    python3 scripts/debtags_experiment.py run     [--seeds 1,2,3] [--configs ...]
    python3 scripts/debtags_experiment.py report  # docs/multilabel-results.md

Every run fine-tunes the default model on data/debtags (107 labels, rows
with none of them dropped: the protocol in data/debtags/SOURCES.txt), keeps
OUT/best by dev micro-F1, then scores OUT/best on dev and on test with
./evaluate.  Resumable: a run with eval.json is skipped; an interrupted one
continues from OUT/last (--resume).  Seed-major order, so every output map
gets seed 1 before any gets seed 2.  Standard library only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sweep import seed_results  # noqa: E402  (scripts/ is not a package)

# name -> (--output-map, --output-r or None, how it reads in the table)
CONFIGS = [
    ("sigmoid", "sigmoid", None, "sigmoid + BCE, p > 0.5 (baseline)"),
    ("softmax", "softmax", None, "softmax, threshold tuned on dev"),
    ("sparsemax", "sparsemax", None, "sparsemax, p > 0"),
    ("entmax15", "entmax15", None, "entmax-1.5, p > 0"),
    ("rsoftmax_auto", "rsoftmax", "auto", "r-softmax, r from the mean label count (keeps 3)"),
    ("rsoftmax_median", "rsoftmax", "0.982", "r-softmax, r = 0.982 from the median label count (keeps 2)"),
]
METRICS = [("micro_f1", "micro-F1"), ("macro_f1", "macro-F1"), ("exact_set", "exact set"),
           ("mean_set_size", "mean set size")]


def run_dir(args, name, seed):
    return os.path.join(args.root, name, f"seed{seed}")


def recipe(args):
    return ["--epochs", str(args.epochs), "--lr", str(args.lr), "--batch-size", str(args.batch_size),
            "--max-len", str(args.max_len), "--precision", args.precision,
            "--warmup", str(args.warmup), "--weight-decay", str(args.weight_decay),
            "--threads", str(args.threads)]


def evaluate(args, model, split, path):
    cmd = [os.path.join(args.bin_dir, "evaluate"), "--model", model, "--task", "debtags",
           "--split", split, "--max-len", str(args.max_len), "--precision", args.precision,
           "--threads", str(args.threads), "--metrics-out", path]
    with open(path + ".stderr", "w") as err:
        subprocess.run(cmd, check=True, stderr=err, stdout=err)
    with open(path) as f:
        return json.load(f)["splits"][split]["metrics"]


def run_one(args, name, output_map, output_r, seed):
    out = run_dir(args, name, seed)
    done = os.path.join(out, "eval.json")
    if os.path.exists(done):
        return "skipped"
    cmd = [os.path.join(args.bin_dir, "finetune"), "--task", "debtags", "--out", out,
           "--output-map", output_map, "--seed", str(seed), "--metric-for-best", "micro_f1",
           "--log-every", "100", "--save-every", "0"] + recipe(args)
    if output_r is not None:
        cmd += ["--output-r", output_r]
    if os.path.isdir(os.path.join(out, "last")):
        cmd.append("--resume")
    os.makedirs(out, exist_ok=True)
    t0 = time.time()
    with open(os.path.join(out, "finetune.stderr"), "a") as err:
        err.write(" ".join(cmd) + "\n")
        err.flush()
        subprocess.run(cmd, check=True, stderr=err)
    seconds = time.time() - t0
    best = os.path.join(out, "best")
    result = {"config": name, "seed": seed, "command": " ".join(cmd), "train_seconds": seconds,
              "dev": evaluate(args, best, "dev", os.path.join(out, "dev.json")),
              "test": evaluate(args, best, "test", os.path.join(out, "test.json"))}
    with open(done + ".tmp", "w") as f:
        json.dump(result, f, indent=1)
    os.replace(done + ".tmp", done)
    for sub in ("last", "best"):  # 90 MB each; the scores are recorded
        subprocess.run(["rm", "-rf", os.path.join(out, sub)], check=True)
    return f"{seconds:.0f}s, dev micro-F1 {result['dev']['micro_f1']:.4f}"


def cmd_run(args):
    chosen = [c for c in CONFIGS if args.configs is None or c[0] in args.configs.split(",")]
    plan = [(c, s) for s in [int(x) for x in args.seeds.split(",")] for c in chosen]
    t0 = time.time()
    for i, ((name, output_map, output_r, _), seed) in enumerate(plan):
        status = run_one(args, name, output_map, output_r, seed)
        print(f"[{i + 1}/{len(plan)}] {name} seed {seed}: {status} ({time.time() - t0:.0f}s)",
              flush=True)


def mean_std(values):
    if len(values) < 2:
        return (values[0] if values else float("nan")), float("nan")
    return statistics.mean(values), statistics.stdev(values)


def cell(values, digits=3):
    m, s = mean_std(values)
    return f"{m:.{digits}f} ± {s:.{digits}f}" if s == s else f"{m:.{digits}f}"


def cmd_report(args):
    results = {}
    for name, *_ in CONFIGS:
        runs = seed_results(os.path.join(args.root, name))
        if runs:
            results[name] = runs
    lines = []
    for split in ("dev", "test"):
        true_size = next((r[split]["mean_true_size"] for rs in results.values() for r in rs), None)
        lines += [f"**{split}** (mean ± sample std over seeds; true mean set size "
                  f"{true_size:.2f})" if true_size else f"**{split}**", "",
                  "| output map | seeds | " + " | ".join(label for _, label in METRICS) + " |",
                  "|---|---|" + "---|" * len(METRICS)]
        for name, _, _, label in CONFIGS:
            rs = results.get(name, [])
            if not rs:
                continue
            seeds = ",".join(str(r["seed"]) for r in rs)
            cells = [cell([r[split][key] for r in rs], 2 if key == "mean_set_size" else 3)
                     for key, _ in METRICS]
            lines.append(f"| {label} | {seeds} | " + " | ".join(cells) + " |")
        lines.append("")
    minutes = [r["train_seconds"] / 60 for rs in results.values() for r in rs]
    if minutes:
        lines.append(f"Fine-tuning time per run: median {statistics.median(minutes):.1f} min "
                     f"({len(minutes)} runs).")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        with open(args.write, "w") as f:
            f.write(text)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["run", "report"])
    p.add_argument("--root", default="runs/debtags")
    p.add_argument("--bin-dir", default=".")
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--configs", default=None, help="comma list of: " + ",".join(c[0] for c in CONFIGS))
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-len", type=int, default=64)
    p.add_argument("--precision", default="bf16")
    p.add_argument("--warmup", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--write", default=None, help="report: also write the tables to this file")
    args = p.parse_args()
    {"run": cmd_run, "report": cmd_report}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
