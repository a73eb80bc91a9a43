"""Reference attention maps (docs/attention-math.md) for the golden generators.

Each map takes scores x [..., n] over the n REAL keys of a row and returns
probabilities of the same shape; gradients come from torch autograd.  The
padding rule is applied by the attention function registered with
transformers: per batch row it slices the keys [0, length) out, applies the
map there and appends exact zeros for the padding keys, so masked keys take
no part in max / quantile / threshold / sum and get no gradient.
"""

import math
from fractions import Fraction

import numpy as np
import torch
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask


def softmax_ref(x):
    m = x.max(dim=-1, keepdim=True).values
    e = torch.exp(x - m)
    return e / e.sum(dim=-1, keepdim=True)


def tsoftmax(x, t):
    # torch.max (not amax): its gradient goes to the first argmax only, which
    # is the [k == a] term of the doc's gradient formula.
    m = x.max(dim=-1, keepdim=True).values
    u = x - m
    # relu, not clamp: relu's derivative at exactly 0 is 0 (the doc's rule).
    w = torch.relu(u + t)
    e = w * torch.exp(u)
    return e / e.sum(dim=-1, keepdim=True)


def rsoftmax(x, r):
    m = x.max(dim=-1, keepdim=True).values
    u = x - m
    # Quantile of the real keys only, default 'linear' interpolation; the
    # threshold is a constant for autograd.
    q = torch.quantile(u.detach(), r, dim=-1, keepdim=True)
    t = (-q) + 1e-8
    w = torch.relu(u + t)
    e = w * torch.exp(u)
    return e / e.sum(dim=-1, keepdim=True)


def sparsemax(x):
    n = x.shape[-1]
    m = x.max(dim=-1, keepdim=True).values
    z = x - m
    zs = torch.sort(z, dim=-1, descending=True).values
    cs = zs.cumsum(dim=-1)
    k = torch.arange(1, n + 1, dtype=x.dtype)
    with torch.no_grad():
        kstar = (k * zs > cs - 1).sum(dim=-1, keepdim=True)
    # tau depends on the top-k* scores through cumsum: autograd gives the
    # -vhat term of the sparsemax backward.
    tau = (cs.gather(-1, kstar - 1) - 1) / kstar.to(x.dtype)
    return torch.relu(z - tau)


def entmax15(x):
    n = x.shape[-1]
    m = x.max(dim=-1, keepdim=True).values
    X = (x - m) / 2
    Xs = torch.sort(X, dim=-1, descending=True).values
    k = torch.arange(1, n + 1, dtype=x.dtype)
    with torch.no_grad():
        mu = Xs.cumsum(-1) / k
        ss = k * ((Xs * Xs).cumsum(-1) / k - mu * mu)
        delta = (1 - ss) / k
        tau_all = mu - torch.sqrt(torch.clamp(delta, min=0))
        kstar = (tau_all <= Xs).sum(dim=-1, keepdim=True)
    # tau only at k* (with grad): the closed form is the exact root of
    # sum_S (X - tau)^2 = 1, so autograd through it is the exact gradient;
    # taking sqrt of the clamped deltas of other k would give 0 * inf = NaN.
    kf = kstar.to(x.dtype)
    mu = Xs.cumsum(-1).gather(-1, kstar - 1) / kf
    ss = kf * ((Xs * Xs).cumsum(-1).gather(-1, kstar - 1) / kf - mu * mu)
    delta = (1 - ss) / kf
    assert bool((delta > 0).all()), "entmax15: non-positive delta at k*"
    tau = mu - torch.sqrt(delta)
    return torch.relu(X - tau) ** 2


def map_fn(kind, r=None):
    if kind == "softmax":
        return softmax_ref
    if kind == "rsoftmax":
        return lambda x: rsoftmax(x, r)
    if kind == "sparsemax":
        return sparsemax
    if kind == "entmax15":
        return entmax15
    raise ValueError(kind)


def _lengths_from_mask(mask, batch, q_len, kv_len):
    """Key lengths from transformers' boolean [B, 1, Tq, Tk] mask (None = no padding)."""
    if mask is None:
        return [kv_len] * batch
    assert mask.dtype == torch.bool, mask.dtype
    mask = mask.expand(batch, 1, q_len, kv_len)
    lengths = mask[:, 0, 0, :].sum(dim=-1).tolist()
    prefix = torch.arange(kv_len)[None, :] < torch.tensor(lengths)[:, None]  # [B, Tk]
    # Only right padding, identical for every query row (padded queries
    # included): that is what the padding rule assumes.
    assert bool((mask == prefix[:, None, None, :]).all()), "mask is not a right-padding prefix"
    return lengths


def make_attention(prob):
    def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        # query/key/value [B, NH, T, D]; same score arithmetic as eager.
        if scaling is None:
            scaling = query.size(-1) ** -0.5
        scores = torch.matmul(query, key.transpose(2, 3)) * scaling  # [B, NH, Tq, Tk]
        batch, heads, q_len, kv_len = scores.shape
        assert dropout == 0.0, "goldens are computed without attention dropout"
        lengths = _lengths_from_mask(attention_mask, batch, q_len, kv_len)
        rows = []
        for b, n in enumerate(lengths):
            p = prob(scores[b, :, :, :n])  # [NH, Tq, n]; padded queries too
            if n < kv_len:
                p = torch.cat([p, p.new_zeros(heads, q_len, kv_len - n)], dim=-1)
            rows.append(p)
        probs = torch.stack(rows)  # [B, NH, Tq, Tk]
        out = torch.matmul(probs, value).transpose(1, 2).contiguous()  # [B, Tq, NH, D]
        return out, probs

    return attention


def impl_name(kind, r=None):
    return f"golden_{kind}" + ("" if r is None else f"_r{r}")


def register(kind, r=None):
    """Registers the map with transformers; returns the attn_implementation name."""
    name = impl_name(kind, r)
    AttentionInterface.register(name, make_attention(map_fn(kind, r)))
    # The boolean mask of sdpa (True = real key) is what the function reads.
    AttentionMaskInterface.register(name, sdpa_mask)
    return name


# ---------------------------------------------------------------- validation

def _grad(fn, x, v):
    x = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    p = fn(x)
    (p * torch.tensor(v, dtype=torch.float64)).sum().backward()
    return p.detach().numpy(), x.grad.numpy()


def _quantile_doc_recipe_f32(s, r):
    """Q per the doc's float32 recipe; s: ascending float32 keys."""
    rank = np.float32(r) * np.float32(len(s) - 1)
    lo, hi = int(math.floor(rank)), int(math.ceil(rank))
    w = np.float32(rank - np.float32(lo))
    if w < 0.5:
        return np.float32(s[lo] + w * (s[hi] - s[lo]))
    return np.float32(s[hi] - (s[hi] - s[lo]) * (np.float32(1) - w))


def _fma_f32(a, b, c):
    """float32 fma(a, b, c): exact a*b + c, rounded once."""
    return np.float32(float(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))))


def _quantile_torch_recipe_f32(s, r):
    """What torch 2.15's CPU quantile does in float32 (found empirically):
    the rank in double from the float32 r, the weight rounded to float32,
    and the lerp done with one fused multiply-add."""
    rank = float(np.float32(r)) * (len(s) - 1)
    lo, hi = int(math.floor(rank)), int(math.ceil(rank))
    w = np.float32(rank - lo)
    d = np.float32(s[hi] - s[lo])
    if w < 0.5:
        return _fma_f32(w, d, s[lo])
    return _fma_f32(w - np.float32(1), d, s[hi])


def recipe_disagreements(r, n_max):
    """Row lengths n where the doc recipe's rank is a whole number and
    torch's is not, or the other way round: there one key sits exactly on
    the threshold in one recipe only, an O(1) gradient difference."""
    out = []
    for n in range(1, n_max + 1):
        r32 = np.float32(r) * np.float32(n - 1)
        r64 = float(np.float32(r)) * (n - 1)
        if (r32 == math.floor(r32)) != (r64 == math.floor(r64)):
            out.append(n)
    return out


def validate():
    """Asserts every test vector of docs/attention-math.md; returns a short log."""
    close = lambda a, b, tol=1e-4: np.allclose(a, b, atol=tol, rtol=0)
    log = []
    vectors = [
        ([3, 2, 1, 1], 0.5, [0.8908, 0.1092, 0, 0]),
        ([4, 6, 6, 5], 0.5, [0, 0.5, 0.5, 0]),
        ([3, 2, 1], 0.5, [1, 0, 0]),
        ([3, 2, 1, 1], 0.75, [1, 0, 0, 0]),
        ([4, 6, 5, 5], 0.25, [0, 0.8717, 0.0641, 0.0641]),
    ]
    for dtype in (torch.float32, torch.float64):
        for x, r, want in vectors:
            p = rsoftmax(torch.tensor(x, dtype=dtype), r).numpy()
            assert close(p, want), (x, r, p, want)
        for r in (0.0, 0.25, 0.5, 0.9, 1.0):
            p = rsoftmax(torch.zeros(7, dtype=dtype), r).numpy()
            assert close(p, np.full(7, 1 / 7), 1e-6), (r, p)
    log.append("rsoftmax table + all-zeros: ok")

    x = [0.3, 1.7, -0.4, 1.1, 0.9, -2.0]
    v = [0.5, -1.2, 2, 0.7, -0.3, 1.1]
    p, dx = _grad(lambda z: tsoftmax(z, 1.3), x, v)
    assert close(p, [0, 0.681045, 0, 0.201258, 0.117697, 0], 1e-6), p
    assert close(dx, [0, -0.835349, 0, 0.689988, 0.145362, 0], 1e-6), dx
    log.append("t-softmax gradient case: ok")

    p, dx = _grad(sparsemax, [0.3, 1.7, -0.4, 1.1, 1.0, -2.0], v)
    assert close(p, [0, 0.766667, 0, 0.166667, 0.066667, 0], 1e-6), p
    assert close(dx, [0, -0.933333, 0, 0.966667, -0.033333, 0], 1e-6), dx
    log.append("sparsemax case: ok")

    p, dx = _grad(entmax15, x, v)
    assert close(p, [0.006891, 0.613109, 0, 0.233301, 0.146699, 0], 1e-6), p
    assert close(dx, [0.073853, -0.63451, 0, 0.526318, 0.034339, 0], 1e-6), dx
    log.append("entmax15 case: ok")

    # The doc's closed-form r-softmax gradient against autograd, on random
    # rows (ties broken by the first max, as torch.max does).
    gen = torch.Generator().manual_seed(7)
    worst = 0.0
    for n in range(1, 13):
        for r in (0.0, 0.25, 0.5, 0.9, 1.0):
            xs = torch.randn(n, generator=gen, dtype=torch.float64)
            vs = torch.randn(n, generator=gen, dtype=torch.float64)
            p, dx = _grad(lambda z: rsoftmax(z, r), xs.numpy(), vs.numpy())
            u = xs.numpy() - xs.numpy().max()
            t = -np.quantile(u, r) + 1e-8
            w = np.maximum(u + t, 0)
            A = w > 0
            S = (w * np.exp(u)).sum()
            q = np.where(A, np.exp(u) / S, 0)
            d = vs.numpy() - (vs.numpy() * p).sum()
            want = (p + q) * d
            want[int(np.argmax(xs.numpy()))] -= (q * d)[A].sum()
            worst = max(worst, float(np.abs(dx - want).max()))
    assert worst < 1e-6, worst
    log.append(f"rsoftmax closed-form gradient vs autograd (f64, random rows): max diff {worst:.1e}")

    # torch.quantile in float32 against both recipes, on random rows.
    rng = np.random.default_rng(11)
    doc_diff, cases = 0, 0
    for n in range(1, 130):
        for r in (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0):
            s = np.sort(rng.standard_normal(n).astype(np.float32) * 3)
            got = np.float32(torch.quantile(torch.from_numpy(s), r).item())
            assert got == _quantile_torch_recipe_f32(s, r), (n, r)
            doc_diff += int(got != _quantile_doc_recipe_f32(s, r))
            cases += 1
            if r in (0.0, 0.25, 0.5, 1.0):  # r exact in binary, small n: same Q
                assert got == _quantile_doc_recipe_f32(s, r), (n, r)
    log.append(f"torch.quantile f32 == double-rank + fma recipe bitwise ({cases} rows); "
               f"doc f32 recipe differs (by ulps) on {doc_diff} rows, none with r in 0/.25/.5/1")
    # t = (-Q) + 1e-8 is one float32 addition of float32(1e-8).
    qs = torch.from_numpy(rng.standard_normal(10000).astype(np.float32) * 0.3)
    t = ((-qs) + 1e-8).numpy()
    assert (t == (-qs.numpy()) + np.float32(1e-8)).all()
    log.append("t = (-Q) + 1e-8 == float32 add of 1e-8f: ok")
    return log
