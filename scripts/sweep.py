#!/usr/bin/env python3
"""The paper's experiment on your machine: fine-tune the default model on
GLUE dev with every attention map (softmax, r-softmax at several r,
sparsemax, entmax-1.5) under the same hyperparameters and several seeds,
then write docs/results.md and docs/results.svg.

Resumable: every run writes runs/sweep/<task>/<map>/seed<k>/eval.json when
it is complete, and runs that have one are skipped, so the sweep can span
several sittings.  An interrupted run continues from its OUT/last (--resume).

    python3 scripts/sweep.py run  [--tasks cola,mrpc,rte,stsb,sst2] [--seeds 1,2,3] ...
    python3 scripts/sweep.py reference [--tasks ...] [--seeds 1]   # softmax: ours vs transformers
    python3 scripts/sweep.py report        # tables + plot from what has finished
    python3 scripts/sweep.py run --root runs/lr/1e-4 --lr 1e-4 --tasks cola,mrpc --seeds 1 \
        --maps softmax,rsoftmax_r0.5,rsoftmax_r0.75,sparsemax,entmax15   # (and 2e-4)
    python3 scripts/sweep.py lr-report     # docs/lr_probe.md: the maps at each learning rate

Standard library only: no numpy, no matplotlib.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

MAPS = [("softmax", None), ("rsoftmax", 0.1), ("rsoftmax", 0.25), ("rsoftmax", 0.5),
        ("rsoftmax", 0.75), ("rsoftmax", 0.9), ("sparsemax", None), ("entmax15", None)]
TASKS = {  # name -> (GLUE folder, primary metric label)
    "cola": ("CoLA", "Matthews corr."),
    "mrpc": ("MRPC", "(acc + F1) / 2"),
    "rte": ("RTE", "accuracy"),
    "stsb": ("STS-B", "(Pearson + Spearman) / 2"),
    "sst2": ("SST-2", "accuracy"),
}


def map_label(attn, r):
    return f"{attn} r={r}" if r is not None else attn


def map_name(attn, r):
    return attn if r is None else f"{attn}_r{r}"


def run_dir(root, task, attn, r, seed):
    return os.path.join(root, task, map_name(attn, r), f"seed{seed}")


def parse_list(text, cast):
    return [cast(x) for x in text.split(",") if x]


def run_one(args, task, attn, r, seed, epochs, root=None):
    out = run_dir(root or args.root, task, attn, r, seed)
    done = os.path.join(out, "eval.json")
    if os.path.exists(done):
        return "skipped"
    cmd = [os.path.join(args.bin_dir, "finetune"), "--model", args.model, "--task", task,
           "--data-dir", args.data_dir, "--out", out, "--epochs", str(epochs),
           "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--warmup", str(args.warmup),
           "--weight-decay", str(args.weight_decay), "--max-len", str(args.max_len),
           "--seed", str(seed), "--attn", attn, "--threads", str(args.threads),
           "--log-every", "50", "--save-every", "0", "--precision", args.precision]
    if r is not None:
        cmd += ["--r", str(r)]
    if os.path.isdir(os.path.join(out, "last")):
        cmd.append("--resume")
    t0 = time.time()
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "finetune.stderr"), "a") as err:
        err.write(" ".join(cmd) + "\n")
        err.flush()
        subprocess.run(cmd, check=True, stderr=err)
    train_seconds = time.time() - t0
    # Final model, measured sparsity: ./evaluate on OUT/last (the checkpoint
    # records the attention map).
    ev = [os.path.join(args.bin_dir, "evaluate"), "--model", os.path.join(out, "last"),
          "--task", task, "--data-dir", args.data_dir, "--max-len", str(args.max_len),
          "--threads", str(args.threads), "--precision", args.precision, "--metrics-out", done + ".tmp"]
    with open(os.path.join(out, "evaluate.stderr"), "w") as err:
        subprocess.run(ev, check=True, stderr=err, stdout=err)
    with open(done + ".tmp") as f:
        result = json.load(f)
    result["train_seconds"] = train_seconds
    result["command"] = " ".join(cmd)
    version = os.path.join(args.bin_dir, "VERSION")  # the commit the binaries were built from
    if os.path.exists(version):
        with open(version) as f:
            result["engine_version"] = f.read().strip()
    with open(done + ".tmp", "w") as f:
        json.dump(result, f, indent=1)
    os.replace(done + ".tmp", done)
    # The checkpoints are large and the result is recorded: keep the logs only.
    for sub in ("last", "best"):
        subprocess.run(["rm", "-rf", os.path.join(out, sub)], check=True)
    return f"{train_seconds:.0f}s"


def epochs_for(args, task):
    return args.sst2_epochs if task == "sst2" else args.epochs


def torch_dir(args, task, seed):
    return os.path.join(args.root, "torch", task, f"seed{seed}")


def cmd_reference(args):
    """Softmax fine-tunes with ./finetune and with transformers on the same
    hyperparameters, interleaved so both see the same machine load."""
    tasks = parse_list(args.tasks, str)
    for seed in parse_list(args.seeds, int):
        for task in tasks:
            # Our side is the sweep's own softmax run: same hyperparameters.
            status = run_one(args, task, "softmax", None, seed, epochs_for(args, task))
            print(f"ours {task} seed {seed}: {status}", flush=True)
            out = torch_dir(args, task, seed)
            if os.path.exists(os.path.join(out, "result.json")):
                print(f"torch {task} seed {seed}: skipped", flush=True)
                continue
            os.makedirs(out, exist_ok=True)
            cmd = [sys.executable, "scripts/torch_finetune.py", "--task", task, "--model", args.model,
                   "--data-dir", args.data_dir, "--out", out, "--epochs", str(epochs_for(args, task)),
                   "--batch-size", str(args.batch_size), "--lr", str(args.lr),
                   "--warmup", str(args.warmup), "--weight-decay", str(args.weight_decay),
                   "--max-len", str(args.max_len), "--seed", str(seed), "--threads", str(args.threads)]
            with open(os.path.join(out, "stderr.log"), "w") as err:
                subprocess.run(cmd, check=True, stderr=err, stdout=err)
            print(f"torch {task} seed {seed}: done", flush=True)


def cmd_run(args):
    tasks = parse_list(args.tasks, str)
    seeds = parse_list(args.seeds, int)
    maps = [(a, r) for a, r in MAPS if args.maps is None or map_name(a, r) in args.maps.split(",")]
    if not maps:
        sys.exit(f"run: --maps {args.maps}: no such map; choose from "
                 + ",".join(map_name(a, r) for a, r in MAPS))
    plan = []
    for seed in seeds:  # seed-major: every map gets seed 1 before any gets seed 2
        for task in tasks:
            if task == "sst2" and seed not in parse_list(args.sst2_seeds, int):
                continue
            epochs = epochs_for(args, task)
            for attn, r in maps:
                plan.append((task, attn, r, seed, epochs))
    t_start = time.time()
    for i, (task, attn, r, seed, epochs) in enumerate(plan):
        status = run_one(args, task, attn, r, seed, epochs)
        print(f"[{i + 1}/{len(plan)}] {task} {map_label(attn, r)} seed {seed}: {status} "
              f"(sweep {time.time() - t_start:.0f}s)", flush=True)


# ------------------------------------------------------------------ report

def seed_results(base):
    """The finished runs under base (one folder per seed, each with its
    eval.json), in folder order; each result gets "run_dir", where its
    log.jsonl is.  [] when base does not exist."""
    runs = []
    for seed_dir in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        path = os.path.join(base, seed_dir, "eval.json")
        if os.path.exists(path):
            with open(path) as f:
                result = json.load(f)
            result["run_dir"] = os.path.join(base, seed_dir)
            runs.append(result)
    return runs


def load_results(root):
    rows = {}
    for task in TASKS:
        for attn, r in MAPS:
            runs = seed_results(os.path.dirname(run_dir(root, task, attn, r, 0)))
            if runs:
                rows[(task, attn, r)] = runs
    return rows


def grad_norms(out):
    """Pre-clipping gradient norms of every step in OUT/log.jsonl."""
    with open(os.path.join(out, "log.jsonl")) as f:
        events = [json.loads(line) for line in f if line.strip()]
    return [e["grad_norm"] for e in events if e.get("event") == "step"]


def split_of(result):
    splits = result["splits"]
    return splits[sorted(splits)[0]]


def sparsity_of(result):
    """The measured fraction of exact attention zeros, or None: ./evaluate
    counts them for the sparse maps only (softmax has none)."""
    sparsity = split_of(result).get("attention_sparsity")
    return sparsity["overall"] if sparsity else None


def primary_of(result):
    return split_of(result)["metrics"]["primary"]


def mean_std(values):
    if not values:
        return float("nan"), float("nan")
    if len(values) == 1:
        return values[0], float("nan")
    return statistics.mean(values), statistics.stdev(values)


def fmt(m, s, scale=100.0):
    if math.isnan(m):
        return "–"
    if math.isnan(s):
        return f"{m * scale:.1f}"
    return f"{m * scale:.1f} ± {s * scale:.1f}"


def flag_of(run, flag):
    """The value a run's recorded command line gave a flag, or None."""
    cmd = run.get("command", "").split()
    return cmd[cmd.index(flag) + 1] if flag in cmd else None


def epochs_of(run):
    return flag_of(run, "--epochs") or "?"


def cmd_report(args):
    rows = load_results(args.root)
    if not rows:
        sys.exit(f"report: no finished runs under {args.root}")
    lines = ["# r-softmax in the attention of a pretrained encoder: GLUE dev results", "",
             "Generated by `python3 scripts/sweep.py report` from the runs under "
             f"`{args.root}` (one `eval.json` per run). Each cell is the dev score of the "
             "final model (end of training, no selection on dev) ×100, mean ± sample std "
             "over seeds; n = seeds.", ""]
    header = "| map | " + " | ".join(f"{TASKS[t][0]} ({TASKS[t][1]})" for t in TASKS) + " |"
    lines += [header, "|" + "---|" * (len(TASKS) + 1)]
    for attn, r in MAPS:
        cells = []
        for task in TASKS:
            runs = rows.get((task, attn, r), [])
            scores = [primary_of(x) for x in runs]
            m, s = mean_std(scores)
            cells.append(f"{fmt(m, s)} (n={len(runs)})" if runs else "–")
        lines.append(f"| {map_label(attn, r)} | " + " | ".join(cells) + " |")
    if any((task, attn, r) not in rows for task in TASKS for attn, r in MAPS):
        lines += ["", "– : not run yet; `python3 scripts/sweep.py run` resumes the sweep there."]
    lines += ["", "Measured attention sparsity (fraction of attention probabilities that are "
              "exactly zero among real keys, over the dev set, ×100):", "",
              "| map | " + " | ".join(TASKS[t][0] for t in TASKS) + " |",
              "|" + "---|" * (len(TASKS) + 1)]
    for attn, r in MAPS:
        cells = []
        for task in TASKS:
            runs = rows.get((task, attn, r), [])
            zs = [z for z in map(sparsity_of, runs) if z is not None]
            m, s = mean_std(zs)
            cells.append(fmt(m, s) if zs else "–")
        lines.append(f"| {map_label(attn, r)} | " + " | ".join(cells) + " |")
    lines += ["", "Gradient norm before clipping (clip 1.0), over every training step of the finished "
              "runs of all tasks: share of steps above 100, and the largest:", "",
              "| map | steps | steps with norm > 100 | largest norm |", "|---|---|---|---|"]
    for attn, r in MAPS:
        norms = [n for task in TASKS for x in rows.get((task, attn, r), []) for n in grad_norms(x["run_dir"])]
        if norms:
            big = sum(n > 100 for n in norms)
            lines.append(f"| {map_label(attn, r)} | {len(norms)} | {100 * big / len(norms):.2f}% "
                         f"| {max(norms):.3g} |")
    total = sum(x.get("train_seconds", 0) for runs in rows.values() for x in runs)
    nruns = sum(len(v) for v in rows.values())
    lines += ["", f"Runs: {nruns}; fine-tuning wall time summed over runs: {total / 3600:.2f} h "
              "(2 threads each, one run at a time).", "", "Epochs per task: " +
              ", ".join(f"{TASKS[t][0]} {epochs_of(rows[k][0])}" for t in TASKS
                        for k in rows if k[0] == t and k[1] == 'softmax'), "",
              "Commands: each run's exact `./finetune` command is in its `eval.json` "
              "(`command`).", ""]
    os.makedirs(os.path.dirname(args.out_md), exist_ok=True)
    with open(args.out_md, "w") as f:
        f.write("\n".join(lines))
    write_reference(args, rows)
    write_svg(rows, args.out_svg)
    print(f"wrote {args.out_md} and {args.out_svg}")


def write_reference(args, rows):
    """docs/reference.md: ./finetune vs transformers, softmax, same hyperparameters."""
    lines = ["# ./finetune vs transformers (softmax attention, same hyperparameters)", "",
             "Generated by `python3 scripts/sweep.py report` from `scripts/sweep.py reference` "
             "runs. Dev score of the final model ×100 (mean ± std over seeds, n seeds); wall "
             "time per run (median over seeds: the machine is noisy), fine-tuning plus the final "
             "dev evaluation, on this machine with 2 threads.", "",
             "| task | metric | epochs | ours | transformers | ours wall | transformers wall | speed-up |",
             "|---|---|---|---|---|---|---|---|"]
    for task in TASKS:
        ours, ref = rows.get((task, "softmax", None), []), []
        tbase = os.path.dirname(torch_dir(args, task, 0))
        for d in sorted(os.listdir(tbase)) if os.path.isdir(tbase) else []:
            p = os.path.join(tbase, d, "result.json")
            if os.path.exists(p):
                with open(p) as f:
                    ref.append(json.load(f))
        if not ours and not ref:
            continue
        om, os_ = mean_std([primary_of(x) for x in ours])
        tm, ts = mean_std([x["primary"] for x in ref])
        ow = statistics.median([x["train_seconds"] for x in ours]) if ours else float("nan")
        tw = statistics.median([x["wall_seconds"] for x in ref]) if ref else float("nan")
        epochs = epochs_of(ours[0]) if ours else "?"
        lines.append(f"| {TASKS[task][0]} | {TASKS[task][1]} | {epochs} | {fmt(om, os_)} (n={len(ours)}) | "
                     f"{fmt(tm, ts)} (n={len(ref)}) | {ow / 60:.1f} min | {tw / 60:.1f} min | "
                     f"{tw / ow:.2f}x |")
    lines += ["", "Commands: `eval.json` (`command`) of each of our runs and `result.json` "
              "(`command`) of each transformers run hold the exact command lines.", ""]
    path = os.path.join(os.path.dirname(args.out_md), "reference.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def parse_results_table(path):
    """The first table of a `report`-written results.md: {(map label, task):
    (mean, std, n)} on the 0-1 scale (std NaN for one seed)."""
    by_header = {f"{TASKS[t][0]} ({TASKS[t][1]})": t for t in TASKS}
    with open(path, encoding="utf-8") as f:
        lines = [x.strip() for x in f]
    start = next(i for i, x in enumerate(lines) if x.startswith("| map |"))
    tasks = [by_header[h.strip()] for h in lines[start].strip("|").split("|")[1:]]
    table = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        for task, cell in zip(tasks, cells[1:]):
            if cell == "–":
                continue
            value, n = cell.rsplit(" (n=", 1)
            mean, _, std = value.partition(" ± ")
            table[(cells[0], task)] = (float(mean) / 100, float(std) / 100 if std else float("nan"),
                                       int(n.rstrip(")")))
    return table


def cmd_precision_report(args):
    """bf16 (or another precision's) runs against the fp32 sweep's table:
    is every mean within one fp32 seed std (issue 12's accuracy bar)?"""
    rows = load_results(args.root)
    if not rows:
        sys.exit(f"precision-report: no finished runs under {args.root}")
    ref = parse_results_table(args.reference)
    precisions = {flag_of(x, "--precision") for runs in rows.values() for x in runs}
    name = ", ".join(sorted(p or "fp32" for p in precisions))
    lines = [f"# {name} against fp32 on GLUE dev", "",
             f"Generated by `python3 scripts/sweep.py precision-report` from the runs under `{args.root}` "
             f"and the fp32 sweep's table in `{args.reference}` (same hyperparameters, seeds and "
             "epochs; final model, dev score ×100).  *gap* is the precision's mean minus fp32's; "
             "*within* says whether its size is at most one fp32 seed std (SST-2 has one seed each: "
             "compared with the other tasks' largest fp32 std for that map, and marked so).  "
             "Wall times are not a speed measurement here (other work shared the machine).", "",
             f"| map | task | {name} | fp32 | gap | within one fp32 std? |", "|---|---|---|---|---|---|"]
    misses = []
    for attn, r in MAPS:
        label = map_label(attn, r)
        stds = [v[1] for (m, t), v in ref.items() if m == label and not math.isnan(v[1])]
        for task in TASKS:
            runs = rows.get((task, attn, r), [])
            if not runs or (label, task) not in ref:
                continue
            m, s = mean_std([primary_of(x) for x in runs])
            fm, fs, fn = ref[(label, task)]
            bar, note = (fs, "") if not math.isnan(fs) else (max(stds) if stds else float("nan"),
                                                             ", the map's largest std on the other tasks")
            ok = abs(m - fm) <= bar
            if not ok:
                misses.append(f"{label} {TASKS[task][0]}")
            lines.append(f"| {label} | {TASKS[task][0]} | {fmt(m, s)} (n={len(runs)}) | "
                         f"{fmt(fm, fs)} (n={fn}) | {round(100 * (m - fm), 1) + 0.0:+.1f} | "
                         f"{'yes' if ok else 'no'} ({100 * abs(m - fm):.1f} {'≤' if ok else '>'} "
                         f"{100 * bar:.1f}{note}) |")
    total = sum(x.get("train_seconds", 0) for runs in rows.values() for x in runs)
    lines += ["", "Outside one fp32 std: " + (", ".join(misses) if misses else "none") + ".", "",
              f"Runs: {sum(len(v) for v in rows.values())}; fine-tuning wall time summed: "
              f"{total / 3600:.2f} h.  Each run's command is in its `eval.json`.", ""]
    with open(args.out_md, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


def cmd_lr_report(args):
    """docs/lr_probe.md: does a map that loses at the sweep's learning rate do
    better at another?  Reads every root given; the learning rate of each run is
    taken from its own command line, not from the folder name."""
    seeds = set(parse_list(args.seeds, int))
    by_lr = {}  # lr -> rows of load_results restricted to the chosen seeds
    for root in args.roots.split(","):
        for key, runs in load_results(root).items():
            for x in runs:
                if int(flag_of(x, "--seed")) in seeds:
                    by_lr.setdefault(float(flag_of(x, "--lr")), {}).setdefault(key, []).append(x)
    if not by_lr:
        sys.exit(f"lr-report: no finished runs with seeds {args.seeds} under {args.roots}")
    lrs = sorted(by_lr)
    tasks = [t for t in TASKS if all(any(k[0] == t for k in by_lr[lr]) for lr in lrs)]
    maps = [(a, r) for a, r in MAPS if all((t, a, r) in by_lr[lr] for t in tasks for lr in lrs)]
    if not tasks or not maps:
        sys.exit("lr-report: no task and map has a finished run at every learning rate")
    main_rows = load_results(args.root)
    if not main_rows:
        sys.exit(f"lr-report: no finished runs under {args.root} (the sweep, for its learning rate and spread)")
    lines = ["# Learning-rate probe: is a sparse map's loss a learning-rate choice?", "",
             "Generated by `python3 scripts/sweep.py lr-report` from the runs under "
             f"`{args.roots.replace(',', '`, `')}`: dev score ×100 of the final model, seed(s) "
             f"{args.seeds}, every other hyperparameter as in the sweep (`docs/results.md`). "
             "*best* is the map's highest score over the learning rates, *vs softmax* its "
             "distance to softmax's best, and the last column the sweep's spread over its "
             "three seeds at its own learning rate: the scale of noise for a one-seed cell.", ""]
    for t in tasks:
        def score(attn, r, lr):
            return statistics.mean(primary_of(x) for x in by_lr[lr][(t, attn, r)])
        softmax_best = max(score("softmax", None, lr) for lr in lrs) if ("softmax", None) in maps else None
        lines += [f"## {TASKS[t][0]} ({TASKS[t][1]})", "",
                  "| map | " + " | ".join(f"lr {lr:g}" for lr in lrs)
                  + " | best | vs softmax | std over seeds (sweep) |",
                  "|" + "---|" * (len(lrs) + 4)]
        for attn, r in maps:
            scores = {lr: score(attn, r, lr) for lr in lrs}
            top = max(scores, key=scores.get)
            gap = "–" if softmax_best is None else f"{(scores[top] - softmax_best) * 100:+.1f}"
            _, sd = mean_std([primary_of(x) for x in main_rows.get((t, attn, r), [])])
            lines.append(f"| {map_label(attn, r)} | " + " | ".join(f"{scores[lr] * 100:.1f}" for lr in lrs)
                         + f" | {scores[top] * 100:.1f} at {top:g} | {gap} | "
                         + ("–" if math.isnan(sd) else f"{sd * 100:.1f}") + " |")
        lines.append("")
    sweep_lr = float(flag_of(next(iter(main_rows.values()))[0], "--lr"))
    total = sum(x.get("train_seconds", 0) for lr in lrs if lr != sweep_lr
                for runs in by_lr[lr].values() for x in runs)
    lines += [f"Probe runs (learning rates other than the sweep's {sweep_lr:g}): fine-tuning "
              f"wall time {total / 3600:.2f} h.", "",
              "Commands: each run's exact `./finetune` command is in its `eval.json` (`command`).", ""]
    with open(args.out_md, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {args.out_md}")


def write_svg(rows, path):
    """Two panels per task: dev score vs r (r-softmax, with softmax /
    sparsemax / entmax as horizontal reference lines) and measured sparsity
    vs r; error bars and the softmax band are ± one std over seeds.  Hand-written SVG, no plotting library."""
    rs = [r for a, r in MAPS if a == "rsoftmax"]
    tasks = [t for t in TASKS if any(k[0] == t for k in rows)]
    pw, ph, pad = 260, 180, 45
    width, height = pad + len(tasks) * (pw + pad), 2 * (ph + pad) + 40
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    colors = {"rsoftmax": "#1f77b4", "softmax": "#d62728", "sparsemax": "#2ca02c",
              "entmax15": "#9467bd"}

    def panel(x0, y0, title, series, refs, ylabel, fixed_range=None):
        spread = [(v, 0.0 if math.isnan(e) else e) for _, v, e in series] + \
                 [(v, 0.0 if math.isnan(e) else e) for _, v, e in refs]
        vals = [v + sign * e for v, e in spread if not math.isnan(v) for sign in (-1, 1)]
        if not vals:
            return
        lo, hi = min(vals), max(vals)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)
        if fixed_range:
            lo, hi = fixed_range
        X = lambda r: x0 + r * pw
        Y = lambda v: y0 + ph - (v - lo) / (hi - lo) * ph
        out.append(f'<rect x="{x0}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
        out.append(f'<text x="{x0 + pw / 2}" y="{y0 - 8}" text-anchor="middle">{title}</text>')
        out.append(f'<text x="{x0 - 35}" y="{y0 + ph / 2}" transform="rotate(-90 {x0 - 35} '
                   f'{y0 + ph / 2})" text-anchor="middle">{ylabel}</text>')
        for t in (0, 0.25, 0.5, 0.75, 1.0):
            out.append(f'<text x="{X(t)}" y="{y0 + ph + 14}" text-anchor="middle">{t}</text>')
        for v in (lo, (lo + hi) / 2, hi):
            out.append(f'<text x="{x0 - 4}" y="{Y(v) + 4}" text-anchor="end">{v:.1f}</text>')
        for name, v, e in refs:
            if not math.isnan(v) and not math.isnan(e) and e > 0:  # ± std band over seeds
                out.append(f'<rect x="{x0}" y="{Y(v + e):.1f}" width="{pw}" '
                           f'height="{2 * e / (hi - lo) * ph:.1f}" fill="{colors[name]}" '
                           'fill-opacity="0.12"/>')
            if not math.isnan(v):
                out.append(f'<line x1="{x0}" x2="{x0 + pw}" y1="{Y(v)}" y2="{Y(v)}" '
                           f'stroke="{colors[name]}" stroke-dasharray="4 3"/>')
        pts = [(X(r), Y(v), e) for r, v, e in series if not math.isnan(v)]
        if pts:
            out.append('<polyline fill="none" stroke="%s" points="%s"/>' % (
                colors["rsoftmax"], " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in pts)))
            for x, y, e in pts:
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colors["rsoftmax"]}"/>')
                if not math.isnan(e):
                    dy = e / (hi - lo) * ph
                    out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y - dy:.1f}" y2="{y + dy:.1f}" '
                               f'stroke="{colors["rsoftmax"]}"/>')

    def stat(task, attn, r, key):
        runs = rows.get((task, attn, r), [])
        if key == "score":
            v = [primary_of(x) * 100 for x in runs]
        else:
            v = [z * 100 for z in map(sparsity_of, runs) if z is not None]
        return mean_std(v)

    for i, task in enumerate(tasks):
        x0 = pad + i * (pw + pad)
        for row, key, ylabel in ((0, "score", "dev score ×100"), (1, "sparsity", "zeros %")):
            series = [(r,) + stat(task, "rsoftmax", r, key) for r in rs]
            refs = [(a,) + stat(task, a, None, key) for a in ("softmax", "sparsemax", "entmax15")]
            panel(x0, 30 + row * (ph + pad), f"{TASKS[task][0]}: {'score' if row == 0 else 'sparsity'} vs r",
                  series, refs, ylabel, None if row == 0 else (0.0, 100.0))
    ly = height - 12
    for k, (name, label) in enumerate((("rsoftmax", "r-softmax (± std)"), ("softmax", "softmax (band: ± std)"),
                                       ("sparsemax", "sparsemax"), ("entmax15", "entmax-1.5"))):
        dash = "" if name == "rsoftmax" else 'stroke-dasharray="4 3"'
        out.append(f'<line x1="{pad + k * 200}" x2="{pad + k * 200 + 25}" y1="{ly - 4}" y2="{ly - 4}" '
                   f'stroke="{colors[name]}" {dash}/>')
        out.append(f'<text x="{pad + k * 200 + 30}" y="{ly}">{label}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run")
    run.add_argument("--tasks", default="cola,mrpc,rte,stsb,sst2")
    run.add_argument("--seeds", default="1,2,3")
    run.add_argument("--sst2-seeds", default="1", help="seeds for SST-2 (the expensive task)")
    run.add_argument("--epochs", type=int, default=3)
    run.add_argument("--sst2-epochs", type=int, default=1)
    run.add_argument("--lr", type=float, default=5e-5)
    run.add_argument("--batch-size", type=int, default=32)
    run.add_argument("--warmup", type=float, default=0.1)
    run.add_argument("--weight-decay", type=float, default=0.01)
    run.add_argument("--max-len", type=int, default=128)
    run.add_argument("--threads", type=int, default=2)
    run.add_argument("--model", default="models/all-MiniLM-L6-v2")
    run.add_argument("--data-dir", default="data/glue")
    run.add_argument("--bin-dir", default=".", help="where finetune and evaluate are")
    run.add_argument("--root", default="runs/sweep")
    run.add_argument("--precision", default="fp32", help="fp32 | bf16, for ./finetune and ./evaluate")
    ref = sub.add_parser("reference")
    for action in run._actions[1:]:
        ref._add_action(action)
    run.add_argument("--maps", default=None,
                     help="comma-separated subset, e.g. softmax,rsoftmax_r0.25 (default: all)")
    rep = sub.add_parser("report")
    rep.add_argument("--root", default="runs/sweep")
    rep.add_argument("--out-md", default="docs/results.md")
    rep.add_argument("--out-svg", default="docs/results.svg")
    prp = sub.add_parser("precision-report")
    prp.add_argument("--root", default="runs/bf16")
    prp.add_argument("--reference", default="docs/results.md", help="the fp32 sweep's report")
    prp.add_argument("--out-md", default="docs/bf16-glue.md")
    lrp = sub.add_parser("lr-report")
    lrp.add_argument("--roots", default="runs/sweep,runs/lr/1e-4,runs/lr/2e-4",
                     help="comma-separated run roots, one learning rate or more each")
    lrp.add_argument("--root", default="runs/sweep", help="the sweep, for the spread over seeds")
    lrp.add_argument("--seeds", default="1", help="seeds compared in every column")
    lrp.add_argument("--out-md", default="docs/lr_probe.md")
    args = ap.parse_args()
    {"run": cmd_run, "reference": cmd_reference, "report": cmd_report,
     "lr-report": cmd_lr_report, "precision-report": cmd_precision_report}[args.cmd](args)


if __name__ == "__main__":
    main()
