#!/usr/bin/env python3
"""Golden rows for tests/test_attention.c: the attention maps in float32 torch,
written straight from docs/attention-math.md, backward by autograd.

    python3 tests/golden/gen_attention_golden.py   (from the repository root)

writes tests/golden/attention_rows.json.  Every row holds the map, r (r-softmax
only), the scores x, an upstream gradient v = dL/dp, and torch's p, dx = dL/dx
for L = sum(v * p), and aux (r-softmax: t; sparsemax / entmax: tau).  Numbers
are float32 values written as the shortest decimal that reads back to the same
float32 (checked), so the file is byte-identical on every run.
"""
import json
import os

import numpy as np
import torch

OUT = os.path.join("tests", "golden", "attention_rows.json")
f32 = torch.float32


def rowmax(x):
    # torch.max over a dim sends the gradient to the index it returns, the
    # FIRST maximum: the doc's `a`.
    return torch.max(x, dim=-1, keepdim=True).values


def softmax(x, r):
    return torch.softmax(x, dim=-1), None


def rsoftmax(x, r):
    u = x - rowmax(x)
    # torch.quantile's default linear interpolation; t is a constant.
    q = torch.quantile(u.detach(), r, dim=-1, keepdim=True)
    t = (-q) + 1e-8
    w = torch.relu(u + t)  # relu: zero derivative at exactly 0
    g = w * torch.exp(u)
    return g / g.sum(dim=-1, keepdim=True), t


def sparsemax(x, r):
    z = x - rowmax(x)
    zs, _ = torch.sort(z, dim=-1, descending=True)
    cs = zs.cumsum(dim=-1) - 1
    k = torch.arange(1, z.shape[-1] + 1, dtype=f32)
    support = (k * zs > cs).sum(dim=-1, keepdim=True)
    tau = cs.gather(-1, support - 1) / support.to(f32)
    return torch.relu(z - tau), tau


def entmax15(x, r):
    X = (x - rowmax(x)) / 2
    Xs, _ = torch.sort(X, dim=-1, descending=True)
    rho = torch.arange(1, X.shape[-1] + 1, dtype=f32)
    mean = Xs.cumsum(dim=-1) / rho
    mean_sq = (Xs**2).cumsum(dim=-1) / rho
    ss = rho * (mean_sq - mean**2)
    delta = (1 - ss) / rho
    tau = mean - torch.sqrt(torch.clamp(delta, min=0))
    support = (tau <= Xs).sum(dim=-1, keepdim=True)
    tau_star = tau.gather(-1, support - 1)
    return torch.relu(X - tau_star) ** 2, tau_star


MAPS = {"softmax": softmax, "rsoftmax": rsoftmax, "sparsemax": sparsemax, "entmax15": entmax15}


def f32_text(v):
    """Shortest decimal that reads back (via double, as cJSON does) to v."""
    v = np.float32(v)
    s = np.format_float_positional(v, unique=True, trim="-")
    if np.float32(float(s)) != v:
        s = repr(float(v))
    return s


def run(name, x, v, r=None):
    x = torch.tensor(np.asarray(x, dtype=np.float32), requires_grad=True)
    v = torch.tensor(np.asarray(v, dtype=np.float32))
    p, aux = MAPS[name](x.unsqueeze(0), r)
    p = p.squeeze(0)
    (p * v).sum().backward()
    row = {"map": name}
    if r is not None:
        row["r"] = r
    row["x"] = x.detach().numpy()
    row["v"] = v.numpy()
    row["p"] = p.detach().numpy()
    row["dx"] = x.grad.numpy()
    if aux is not None:
        row["aux"] = np.float32(aux.detach().reshape(()).item())
    assert abs(float(p.detach().sum()) - 1) < 1e-5, (name, r)
    return row


def main():
    # the doc's a is the first max; check that torch agrees
    assert torch.max(torch.tensor([1.0, 3.0, 3.0]), dim=-1).indices.item() == 1

    rng = np.random.default_rng(20240611)

    def scores(n, scale=1.0):
        return (rng.standard_normal(n) * scale).astype(np.float32)

    def grads(n):
        return rng.standard_normal(n).astype(np.float32)

    rows = []
    for n, scale in [(1, 1), (2, 1), (7, 0.5), (33, 2), (128, 1), (16, 30)]:
        rows.append(run("softmax", scores(n, scale), grads(n)))

    # r as the float32 the C side holds (AttnMap.r); torch reads the Python
    # float back to the same float32
    def r32(r):
        return float(np.float32(r))

    for n in [1, 2, 3, 5, 8, 16, 31, 64, 129]:
        for r in [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1, 0.37]:
            if n > 31 and r in (0.1, 0.37):  # keep the file small
                continue
            rows.append(run("rsoftmax", scores(n, [0.5, 1, 3][n % 3]), grads(n), r32(r)))

    # The float32 corner of the doc: r (n - 1) whole, so Q is one key's u.
    # |Q| in [0.125, 0.25): 1e-8 survives in t, the quantile key keeps a tiny
    # weight and an O(1) gradient; |Q| >= 0.25: it gets weight 0 exactly.
    for q_key in [-0.2, -0.13, -0.3, -0.25, -1.7]:
        u = np.array([-2.5, -1.25, q_key, -0.05, 0.0], dtype=np.float32)
        perm = rng.permutation(5)
        rows.append(run("rsoftmax", u[perm] + np.float32(0.375), grads(5), r32(0.5)))
    u = np.array([-3.0, -2.0, -1.0, -0.5, -0.2, -0.15, -0.1, -0.05, 0.0], dtype=np.float32)
    rows.append(run("rsoftmax", u[rng.permutation(9)], grads(9), r32(0.5)))  # Q = -0.2
    rows.append(run("rsoftmax", u[rng.permutation(9)], grads(9), r32(0.375)))  # Q = -0.5
    # r = 0.9f is a little below 0.9: rank 8.99999976, lo 8, w ~ 1
    rows.append(run("rsoftmax", scores(11), grads(11), r32(0.9)))
    # ties: at the max (the first max takes the max term), at the quantile,
    # all equal (uniform)
    rows.append(run("rsoftmax", [0.5, 2.0, -1.0, 2.0, 1.0, 0.0], grads(6), r32(0.3)))
    rows.append(run("rsoftmax", [2.0, 2.0, 2.0, 1.0], grads(4), r32(0.2)))
    rows.append(run("rsoftmax", [0.0, -1.0, 3.0, -1.0, 1.0], grads(5), r32(0.25)))
    rows.append(run("rsoftmax", [0.7] * 6, grads(6), r32(0.5)))
    rows.append(run("rsoftmax", scores(40, 100), grads(40), r32(0.6)))

    for name in ["sparsemax", "entmax15"]:
        for n, scale in [(1, 1), (2, 0.3), (3, 1), (6, 1), (17, 0.5), (17, 3), (64, 1), (100, 2)]:
            rows.append(run(name, scores(n, scale), grads(n)))
        rows.append(run(name, [0.5, 2.0, -1.0, 2.0, 1.0, 1.0], grads(6)))
        rows.append(run(name, [0.7] * 5, grads(5)))

    def to_json(v):
        if isinstance(v, np.ndarray):
            return "[" + ", ".join(f32_text(e) for e in v.reshape(-1)) + "]"
        return f32_text(v) if isinstance(v, (float, np.floating)) else json.dumps(v)

    lines = []
    for row in rows:
        fields = ", ".join(f'"{k}": {to_json(v)}' for k, v in row.items())
        lines.append("  {" + fields + "}")
    text = ('{"generator": "tests/golden/gen_attention_golden.py", "torch": "%s",\n"rows": [\n'
            % torch.__version__.split("+")[0]) + ",\n".join(lines) + "\n]}\n"
    json.loads(text)
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {OUT}: {len(rows)} rows, {len(text)} bytes")


if __name__ == "__main__":
    main()
