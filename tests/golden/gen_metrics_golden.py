#!/usr/bin/env python3
"""Golden metric values for tests/test_tasks.c from scikit-learn and scipy
(accuracy_score, f1_score, matthews_corrcoef, pearsonr, spearmanr) on seeded
random predictions, ties and degenerate cases.  Regression inputs are float32
values (what the model produces), passed to scipy as float64.  NaN is
written as null.

"task_scores": seeded float32 model outputs for whole GLUE dev sets, with the
scores each task reports (GLUE conventions: MRPC/QQP accuracy and F1 of class
"1", CoLA Matthews, STS-B Pearson and Spearman) and the primary score
(accuracy; mean of accuracy and F1; Matthews; mean of Pearson and Spearman).
Gold labels are read the way transformers' processors read GLUE (csv.reader,
tab, no quoting, utf-8-sig).  Run from the repository root:
    pip install scikit-learn scipy
    python3 tests/golden/gen_metrics_golden.py [GLUE_DIR]
"""
import csv
import os
import sys
import json
import math
import warnings

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

warnings.filterwarnings("ignore")
OUT = "tests/golden/metrics_golden.json"
rng = np.random.default_rng(20240611)


def num(v):
    v = float(v)
    return None if math.isnan(v) else v


def classification(name, pred, gold, k):
    pred, gold = [int(p) for p in pred], [int(g) for g in gold]
    return {"name": name, "num_classes": k, "pred": pred, "gold": gold,
            "accuracy": num(accuracy_score(gold, pred)),
            "f1": num(f1_score(gold, pred, pos_label=1)) if k == 2 else None,
            "matthews": num(matthews_corrcoef(gold, pred))}


def regression(name, x, y):
    x = np.asarray(x, dtype=np.float32).astype(np.float64)
    y = np.asarray(y, dtype=np.float32).astype(np.float64)
    p = pearsonr(x, y).statistic if len(x) >= 2 else float("nan")
    s = spearmanr(x, y).statistic if len(x) >= 2 else float("nan")
    return {"name": name, "x": [float(v) for v in x], "y": [float(v) for v in y],
            "pearson": num(p), "spearman": num(s)}


def noisy(gold, k, p_keep):
    keep = rng.random(len(gold)) < p_keep
    return np.where(keep, gold, rng.integers(0, k, len(gold)))


cls = []
g = rng.integers(0, 2, 200)
cls.append(classification("binary_random", noisy(g, 2, 0.7), g, 2))
g = (rng.random(57) < 0.2).astype(int)
cls.append(classification("binary_imbalanced", noisy(g, 2, 0.5), g, 2))
g = rng.integers(0, 3, 300)
cls.append(classification("three_class", noisy(g, 3, 0.6), g, 3))
g = rng.integers(0, 5, 1000)
cls.append(classification("five_class", noisy(g, 5, 0.4), g, 5))
g = rng.integers(0, 3, 40)
cls.append(classification("three_class_pred_misses_a_class", np.minimum(noisy(g, 3, 0.5), 1), g, 3))
g = rng.integers(0, 2, 30)
cls.append(classification("perfect", g, g, 2))
cls.append(classification("all_wrong", 1 - g, g, 2))
cls.append(classification("pred_all_one", np.ones(30, int), g, 2))
cls.append(classification("gold_all_zero", g, np.zeros(30, int), 2))
cls.append(classification("both_all_zero", np.zeros(12, int), np.zeros(12, int), 2))
cls.append(classification("both_all_one", np.ones(12, int), np.ones(12, int), 2))
cls.append(classification("single_example", [1], [0], 2))

reg = []
y = rng.normal(2.5, 1.2, 100).astype(np.float32)
reg.append(regression("random", y + rng.normal(0, 0.8, 100), y))
y = np.round(rng.uniform(0, 5, 200) * 2) / 2  # STS-B-like gold with many ties
reg.append(regression("gold_ties", np.clip(y + rng.normal(0, 1, 200), 0, 5), y))
reg.append(regression("both_heavy_ties", rng.integers(0, 4, 50), rng.integers(0, 4, 50)))
reg.append(regression("constant_prediction", np.full(20, 2.5), rng.uniform(0, 5, 20)))
reg.append(regression("constant_gold", rng.uniform(0, 5, 20), np.full(20, 1.0)))
reg.append(regression("two_points", [0.5, 3.25], [1.0, 4.0]))
x = rng.uniform(-2, 2, 60)
reg.append(regression("monotonic_nonlinear", np.exp(x), x))
reg.append(regression("anti_correlated", -x + rng.normal(0, 0.3, 60), x))
reg.append(regression("large_offset", 1e4 + rng.normal(0, 1, 80), rng.normal(0, 1, 80)))

GLUE_DIR = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/glue"


def gold_column(path, col, header):
    with open(path, encoding="utf-8-sig") as f:
        rows = list(csv.reader(f, delimiter="\t", quotechar=None))
    return [r[col] for r in rows[1 if header else 0:]]


def task_score(task, root, split, path, col, header, metric):
    gold = gold_column(path, col, header)
    n = len(gold)
    entry = {"task": task, "root": root, "split": split, "accuracy": None, "f1": None,
             "matthews": None, "pearson": None, "spearman": None}
    if metric == "regression":
        y = np.array([float(g) for g in gold])
        out = (y + rng.normal(0, 1.0, n)).astype(np.float32)
        yf = y.astype(np.float32).astype(np.float64)  # the loader stores float targets
        entry["pearson"] = num(pearsonr(out.astype(np.float64), yf).statistic)
        entry["spearman"] = num(spearmanr(out.astype(np.float64), yf).statistic)
        entry["primary"] = (entry["pearson"] + entry["spearman"]) / 2
    else:
        y = np.array([int(g) for g in gold])  # labels "0"/"1": canonical ids
        out = rng.normal(0, 1, (n, 2)).astype(np.float32)
        out[np.arange(n), y] += np.float32(1.0)
        pred = np.argmax(out, axis=1)
        entry["accuracy"] = num(accuracy_score(y, pred))
        if metric == "acc_f1":
            entry["f1"] = num(f1_score(y, pred, pos_label=1))
            entry["primary"] = (entry["accuracy"] + entry["f1"]) / 2
        elif metric == "matthews":
            entry["matthews"] = num(matthews_corrcoef(y, pred))
            entry["primary"] = entry["matthews"]
        else:
            entry["primary"] = entry["accuracy"]
    entry["outputs"] = [float(v) for v in out.reshape(-1)]
    return entry


tasks = [
    task_score("cola", "real", "dev", os.path.join(GLUE_DIR, "CoLA/dev.tsv"), 1, False, "matthews"),
    task_score("sst2", "real", "dev", os.path.join(GLUE_DIR, "SST-2/dev.tsv"), 1, True, "accuracy"),
    task_score("mrpc", "real", "dev", os.path.join(GLUE_DIR, "MRPC/dev.tsv"), 0, True, "acc_f1"),
    task_score("stsb", "real", "dev", os.path.join(GLUE_DIR, "STS-B/dev.tsv"), -1, True,
               "regression"),
    task_score("qqp", "mini", "dev", "tests/golden/glue_mini/QQP/dev.tsv", 5, True, "acc_f1"),
]

with open(OUT, "w") as f:
    json.dump({"classification": cls, "regression": reg, "task_scores": tasks}, f)
    f.write("\n")
