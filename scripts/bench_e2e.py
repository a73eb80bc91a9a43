#!/usr/bin/env python3
"""End to end against PyTorch (issue 12's targets): one epoch of ./finetune
over the first 1,280 rows of SST-2's train.tsv plus its dev evaluation, and
./evaluate of the SST-2 dev set, in each precision; PyTorch fp32 and bf16
autocast (SDPA) on the same work through scripts/torch_finetune.py.  Ours
are timed as whole processes (load, tokenize, train, evaluate, write the
checkpoints); PyTorch's from its loaded model to its dev metrics (its
result.json's seconds_after_load).  Prints a Markdown table of the medians
and the speed ratios.  Standard library only; the PyTorch columns are
skipped without torch.

    python3 scripts/bench_e2e.py [--reps 3] [--rows 1280] [--threads 2]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# (column, how its runs are made): ours per precision, PyTorch per setting.
OURS = [("ours fp32", ["--precision", "fp32"]), ("ours bf16", ["--precision", "bf16"])]
TORCH = [("PyTorch fp32 (SDPA)", ["--attn-impl", "sdpa"]),
         ("PyTorch bf16 autocast (SDPA)", ["--attn-impl", "sdpa", "--bf16"])]
# The ratios printed: (numerator column, denominator column) as speed = time_den / time_num.
RATIOS = [("ours bf16", "PyTorch bf16 autocast (SDPA)"), ("ours fp32", "PyTorch fp32 (SDPA)"),
          ("ours bf16", "ours fp32")]


def glue_subset(src, dst, rows, dev_rows):
    """dst/SST-2/{train,dev}.tsv: the header and the first rows of src's."""
    os.makedirs(os.path.join(dst, "SST-2"))
    for name, n in (("train.tsv", rows), ("dev.tsv", dev_rows)):
        with open(os.path.join(src, "SST-2", name), encoding="utf-8") as f:
            lines = f.readlines()
        if n and len(lines) < n + 1:
            sys.exit(f"bench_e2e: {src}/SST-2/{name}: {len(lines) - 1} rows, fewer than {n}")
        with open(os.path.join(dst, "SST-2", name), "w", encoding="utf-8") as f:
            f.writelines(lines[:n + 1] if n else lines)


def run(cmd, log):
    """Wall seconds of one process, or None (its output's last line goes to stderr)."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.perf_counter() - t0
    with open(log, "a", encoding="utf-8") as f:
        f.write("$ " + " ".join(cmd) + "\n" + p.stdout)
    if p.returncode != 0:
        last = p.stdout.strip().splitlines()[-1:] or ["(no output)"]
        print(f"bench_e2e: failed ({log}): {' '.join(cmd)}: {last[0]}", file=sys.stderr)
        return None
    return seconds


def torch_seconds(cmd, out, log):
    """PyTorch's time after model load (result.json), or None."""
    if run(cmd, log) is None:
        return None
    with open(os.path.join(out, "result.json"), encoding="utf-8") as f:
        return json.load(f)["seconds_after_load"]


def median_or_none(times):
    return statistics.median(times) if times and None not in times else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/all-MiniLM-L6-v2")
    ap.add_argument("--data-dir", default="data/glue")
    ap.add_argument("--rows", type=int, default=1280, help="SST-2 training rows (the first ones)")
    ap.add_argument("--dev-rows", type=int, default=0, help="SST-2 dev rows (0: all; smaller for a smoke run)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the work directory (its logs)")
    a = ap.parse_args()
    has_torch = subprocess.run([sys.executable, "-c", "import torch, transformers"],
                               stderr=subprocess.DEVNULL).returncode == 0
    work = tempfile.mkdtemp(prefix="bench_e2e.")
    log = os.path.join(work, "log.txt")
    glue = os.path.join(work, "glue")
    glue_subset(a.data_dir, glue, a.rows, a.dev_rows)
    common = ["--task", "sst2", "--data-dir", glue, "--threads", str(a.threads)]
    train = {}  # column -> [seconds]
    evaluate = {}
    checkpoint = None  # ./evaluate scores ours fp32's fine-tuned model, the same for every column
    for name, extra in OURS:
        train[name] = []
        for r in range(a.reps):
            out = os.path.join(work, f"ours-{extra[-1]}-{r}")
            train[name].append(run(["./finetune", *common, "--model", a.model, "--epochs", "1",
                                    "--out", out, *extra], log))
            if checkpoint is None and train[name][-1] is not None:
                checkpoint = os.path.join(out, "best")
            elif train[name][-1] is not None:
                shutil.rmtree(out)
    if checkpoint is None:
        sys.exit(f"bench_e2e: no ./finetune run succeeded (see {log})")
    for name, extra in OURS:
        evaluate[name] = [run(["./evaluate", *common, "--model", checkpoint, *extra], log)
                          for _ in range(a.reps)]
    for name, extra in TORCH if has_torch else []:
        train[name], evaluate[name] = [], []
        for r in range(a.reps):
            out = os.path.join(work, "torch")
            base = [sys.executable, "scripts/torch_finetune.py", *common, "--out", out,
                    "--eval-batch-size", "32", "--eval-by-length", *extra]
            train[name].append(torch_seconds([*base, "--model", a.model, "--epochs", "1"], out, log))
            evaluate[name].append(torch_seconds([*base, "--model", checkpoint, "--eval-only"], out, log))

    columns = list(train)
    print(f"End to end, SST-2, {a.threads} threads, median of {a.reps}; ours: whole processes, "
          f"PyTorch {'' if has_torch else '(not installed) '}after model load")
    print()
    print("| work | " + " | ".join(columns) + " | "
          + " | ".join(f"{x} vs {y}" for x, y in RATIOS if x in columns and y in columns) + " |")
    print("|---|" + "---|" * (len(columns) + sum(x in columns and y in columns for x, y in RATIOS)))
    dev = f"{a.dev_rows} rows of " if a.dev_rows else ""
    for work_name, times in ((f"./finetune, {a.rows} rows, 1 epoch + {dev}dev eval", train),
                             (f"./evaluate, {dev}SST-2 dev", evaluate)):
        med = {c: median_or_none(times[c]) for c in columns}
        cells = [f"{med[c]:.2f} s" if med[c] is not None else "failed" for c in columns]
        for x, y in RATIOS:
            if x in columns and y in columns:
                ok = med[x] is not None and med[y] is not None
                cells.append(f"{med[y] / med[x]:.2f}x" if ok else "")
        print(f"| {work_name} | " + " | ".join(cells) + " |")
    print()
    print("(ratios: speed, the second column's time over the first's; > 1: the first is faster)")
    if a.keep:
        print(f"work directory: {work}")
    else:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
