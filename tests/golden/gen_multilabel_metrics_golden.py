#!/usr/bin/env python3
"""Golden multi-label metrics for tests/test_multilabel.c from scikit-learn:
micro / macro F1 (f1_score, zero_division=0), exact-set accuracy
(accuracy_score on indicator matrices), on seeded random sets with a label
that is never true nor predicted, a label never predicted, and rows with
empty sets.  For threshold tuning: float32 probabilities and the best
micro-F1 over every threshold {p > t} (t below each distinct probability,
brute force with sklearn).  Run from the repository root:
    pip install scikit-learn
    python3 tests/golden/gen_multilabel_metrics_golden.py
"""
import json

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

OUT = "tests/golden/multilabel_metrics_golden.json"
rng = np.random.default_rng(15)


def scores(pred, gold):
    return {
        "micro_f1": f1_score(gold, pred, average="micro", zero_division=0),
        "macro_f1": f1_score(gold, pred, average="macro", zero_division=0),
        "exact": accuracy_score(gold, pred),
        "mean_set_size": float(pred.sum(axis=1).mean()),
        "mean_true_size": float(gold.sum(axis=1).mean()),
    }


cases = []
for n, C in [(40, 7), (9, 3), (200, 12)]:
    gold = (rng.random((n, C)) < 0.3).astype(np.int64)
    pred = np.where(rng.random((n, C)) < 0.75, gold, 1 - gold)
    gold[:, C - 1] = 0  # never true ...
    pred[:, C - 1] = 0  # ... nor predicted: F1 0 in the macro mean
    pred[:, 0] = 0      # never predicted
    gold[0, :] = 0      # an empty true set
    pred[1, :] = 0      # an empty predicted set
    probs = rng.random((n, C)).astype(np.float32)
    probs[2, :] = probs[3, :]  # tied probabilities
    best = 0.0
    for t in sorted(set(probs.ravel().tolist()) | {0.0}):
        below = np.nextafter(np.float32(t), np.float32(-1))  # every p >= t
        f1 = f1_score(gold, (probs > below).astype(np.int64), average="micro", zero_division=0)
        best = max(best, f1)
    cases.append({"n": n, "C": C, "pred": pred.ravel().tolist(), "gold": gold.ravel().tolist(),
                  "scores": scores(pred, gold), "probs": [float(p) for p in probs.ravel()],
                  "best_micro_f1": best})
with open(OUT, "w") as f:
    json.dump({"cases": cases}, f)
    f.write("\n")
print(f"wrote {OUT}: {len(cases)} cases")
