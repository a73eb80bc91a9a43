#!/usr/bin/env python3
"""Golden rows for the multi-label output maps (model/output_map.c), from the
definitions in docs/output-maps.md, gradients by torch autograd.

    python3 tests/golden/gen_output_map_goldens.py   (from the repository root)

writes tests/golden/output_map_rows.json.  Each case holds the map (and r for
r-softmax), the logits z [C], the multi-hot target y [C] and, in float32 and
in float64, torch's probabilities p = map(z), the row loss L(z, y) and its
gradient dL/dz.  The simplex maps' probabilities come from attn_ref.py (the
attention maps' reference); the losses are written from their definitions,
so autograd checks both the loss and the claim that a Fenchel-Young loss's
gradient is p - q.  Rows include ties, true labels that get probability 0
(all of them, for the sparse maps) and, for sigmoid, a row with no label.
Numbers are written with repr (shortest round-trip), so reruns are
byte-identical.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attn_ref import entmax15, rsoftmax, softmax_ref, sparsemax  # noqa: E402

OUT = os.path.join("tests", "golden", "output_map_rows.json")


def target(y):
    return y / y.sum()


def fenchel_young(omega, p, q, z):
    return omega(q) - omega(p) + ((p - q) * z).sum()


def omega_shannon(p):
    return torch.special.xlogy(p, p).sum()


def omega_gini(p):
    return 0.5 * (p * p).sum()


def omega_tsallis15(p):
    return (4.0 / 3.0) * (p.clamp(min=0) ** 1.5 - p).sum()


def loss_and_probs(name, r, z, y):
    if name == "sigmoid":
        return F.binary_cross_entropy_with_logits(z, y), torch.sigmoid(z)
    q = target(y)
    if name == "softmax":
        # cross-entropy with the soft target q, minus q's entropy: the
        # softmax Fenchel-Young loss, 0 when softmax(z) = q.
        ce = F.cross_entropy(z[None], q[None])
        return ce + omega_shannon(q), softmax_ref(z)
    if name == "sparsemax":
        p = sparsemax(z)
        return fenchel_young(omega_gini, p, q, z), p
    if name == "entmax15":
        p = entmax15(z)
        return fenchel_young(omega_tsallis15, p, q, z), p
    if name == "rsoftmax":
        p = rsoftmax(z, r)
        return 0.5 * ((p - q) ** 2).sum(), p
    raise ValueError(name)


ROWS = [
    # (what, z, y)
    ("random", [0.3, -1.2, 2.1, 0.7, -0.4, 1.5], [0, 0, 1, 0, 0, 1]),
    ("ties", [1.0, 1.0, 0.5, 0.5, -1.0, 0.0], [1, 0, 1, 0, 0, 0]),
    ("true labels at zero", [3.0, 2.8, -2.0, -2.5, -3.0, -1.0], [0, 0, 0, 1, 1, 0]),
    ("one true label far below", [2.0, 1.9, 1.7, -4.0, 0.2, 1.0], [0, 0, 0, 1, 0, 0]),
    ("all labels true", [0.1, -0.2, 0.4, 0.0, 0.3, -0.1], [1, 1, 1, 1, 1, 1]),
    ("wide", [0.5, -0.3, 1.8, 1.7, -2.2, 0.9, 0.0, 1.1, -0.6, 2.4, 0.2, -1.4],
     [0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0]),
]
MAPS = [("sigmoid", None), ("softmax", None), ("sparsemax", None), ("entmax15", None),
        ("rsoftmax", 0.5), ("rsoftmax", 0.25)]


def case(name, r, what, z, y, dtype):
    zt = torch.tensor(z, dtype=dtype, requires_grad=True)
    yt = torch.tensor(y, dtype=dtype)
    loss, p = loss_and_probs(name, r, zt, yt)
    loss.backward()
    return {"loss": loss.item(), "p": p.detach().tolist(), "dz": zt.grad.tolist()}


def main():
    cases = []
    for name, r in MAPS:
        for what, z, y in ROWS:
            c = {"map": name, "what": what, "z": z, "y": y}
            if r is not None:
                c["r"] = r
            c["f32"] = case(name, r, what, z, y, torch.float32)
            c["f64"] = case(name, r, what, z, y, torch.float64)
            cases.append(c)
    # Sigmoid scores a row with no label (the simplex maps have no target then).
    z = [0.3, -1.2, 2.1, 0.7]
    y = [0, 0, 0, 0]
    cases.append({"map": "sigmoid", "what": "no label", "z": z, "y": y,
                  "f32": case("sigmoid", None, "", z, y, torch.float32),
                  "f64": case("sigmoid", None, "", z, y, torch.float64)})
    with open(OUT, "w") as f:
        json.dump({"cases": cases}, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
