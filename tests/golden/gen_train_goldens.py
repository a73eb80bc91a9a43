#!/usr/bin/env python3
"""Golden files for the training-step tests (tests/test_train.c), from torch
and transformers on the CPU.

Run from the repository root:  python3 tests/golden/gen_train_goldens.py

A. train_optim.safetensors: three optimizer steps on tiny_bert with FIXED
   gradients (stored), for torch.optim.AdamW and torch.optim.SGD with the
   parameter groups transformers' Trainer builds (weight decay on everything
   but biases and LayerNorm parameters, Trainer.get_decay_parameter_names),
   and the parameters after every step.
     grad.{k}.NAME     gradient fed to step k (k = 0, 1, 2)
     adamw.{k}.NAME    parameters after AdamW step k
     sgd.{k}.NAME      parameters after SGD step k
     decay.NAME        I32 [1]: 1 if the Trainer decays NAME, else 0
     lr.adamw, lr.sgd  F32 [3]: learning rate of each step
     hparams           F32 [5]: weight_decay, beta1, beta2, eps (AdamW),
                       weight_decay (SGD)
B. train_clip.safetensors: torch.nn.utils.clip_grad_norm_ over all gradients.
     source_step I32 [K]: which grad.{k} of A is the input of case c
     max_norm F32 [K], norm F64 [K] (torch's returned total norm)
     clipped.{c}.NAME  the gradients afterwards.  max_norm 0 means "off" (the
                       Trainer skips clipping then; torch would zero them), so
                       that case stores the untouched gradients.
C. train_schedule.safetensors: the learning rate each optimizer step uses
   under transformers.get_linear_schedule_with_warmup, read from a real
   torch optimizer + LambdaLR stepped as the Trainer does (optimizer.step(),
   then scheduler.step()); and TrainingArguments.get_warmup_steps.
     sched.cases I32 [S, 2] (total, warmup); sched.{s} F64 [total]: lr / peak
     warmup.ratio F64 [R], warmup.total I32 [R], warmup.steps I32 [R]

Everything is seeded; torch runs on one thread so reruns give the same bytes.
"""

import math
import os
import sys
from types import SimpleNamespace

import numpy as np
import safetensors
import safetensors.numpy
import torch
import transformers
from transformers import BertForSequenceClassification, Trainer, TrainingArguments
from transformers import get_linear_schedule_with_warmup

GOLDEN = "tests/golden"
TINY = f"{GOLDEN}/tiny_bert"

# One metadata key: safetensors writes several in hash order, which would
# change the bytes from run to run.
METADATA = {"generated_by": (
    f"tests/golden/gen_train_goldens.py; torch {torch.__version__}; transformers "
    f"{transformers.__version__}; safetensors {safetensors.__version__}; numpy {np.__version__}; "
    f"python {sys.version.split()[0]}")}

F32 = lambda x: float(np.float32(x))  # noqa: E731  the engine's float hyperparameters

ADAMW_LRS = [F32(1e-3), F32(5e-4), F32(2e-4)]
SGD_LRS = [F32(0.1), F32(0.05), F32(0.02)]
WEIGHT_DECAY = F32(0.01)
BETAS = (F32(0.9), F32(0.999))
EPS = F32(1e-8)


def save(path, tensors):
    for name, a in tensors.items():
        assert a.dtype in (np.int32, np.float32, np.float64), (name, a.dtype)
    safetensors.numpy.save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, path,
                                metadata=METADATA)
    print(f"{path}: {len(tensors)} tensors, {os.path.getsize(path)} bytes")


def load_tiny():
    model, info = BertForSequenceClassification.from_pretrained(TINY, output_loading_info=True)
    assert not any(info.values()), info  # every tensor present, nothing initialised
    return model


def step_gradients(model):
    """Three gradient sets: PyTorch autograd gradients of the tiny model on a
    real batch (tests/golden/grad_softmax_pair.safetensors, which has exact
    zeros on unused embedding rows), then a rescaled noisy copy, then seeded
    noise with 20% exact zeros."""
    ref = safetensors.numpy.load_file(f"{GOLDEN}/grad_softmax_pair.safetensors")
    rng = np.random.default_rng(1234)
    names = [n for n, _ in model.named_parameters()]
    g0 = {n: ref[f"grad.{n}"].astype(np.float32) for n in names}
    g1 = {n: (3.0 * g0[n] + 0.01 * rng.standard_normal(g0[n].shape)).astype(np.float32)
          for n in names}
    g2 = {}
    for n in names:
        g = 0.05 * rng.standard_normal(g0[n].shape)
        g[rng.random(g.shape) < 0.2] = 0.0
        g2[n] = g.astype(np.float32)
    return [g0, g1, g2]


def param_groups(model, decay_names):
    decay = [p for n, p in model.named_parameters() if n in decay_names]
    no_decay = [p for n, p in model.named_parameters() if n not in decay_names]
    return [{"params": decay, "weight_decay": WEIGHT_DECAY},
            {"params": no_decay, "weight_decay": 0.0}]


def run_optimizer(kind, grads, decay_names, out):
    model = load_tiny()
    groups = param_groups(model, decay_names)
    if kind == "adamw":
        opt = torch.optim.AdamW(groups, lr=ADAMW_LRS[0], betas=BETAS, eps=EPS)
        lrs = ADAMW_LRS
    else:
        opt = torch.optim.SGD(groups, lr=SGD_LRS[0], momentum=0.0)
        lrs = SGD_LRS
    params = dict(model.named_parameters())
    for k, g in enumerate(grads):
        for n, p in params.items():
            p.grad = torch.from_numpy(g[n].copy())
        for group in opt.param_groups:
            group["lr"] = lrs[k]
        opt.step()
        for n, p in params.items():
            out[f"{kind}.{k}.{n}"] = p.detach().numpy().astype(np.float32).copy()
    out[f"lr.{kind}"] = np.array(lrs, dtype=np.float32)


def gen_optim(model, grads, decay_names):
    out = {}
    for k, g in enumerate(grads):
        for n, a in g.items():
            out[f"grad.{k}.{n}"] = a
    for n, _ in model.named_parameters():
        out[f"decay.{n}"] = np.array([1 if n in decay_names else 0], dtype=np.int32)
    run_optimizer("adamw", grads, decay_names, out)
    run_optimizer("sgd", grads, decay_names, out)
    out["hparams"] = np.array([WEIGHT_DECAY, BETAS[0], BETAS[1], EPS, WEIGHT_DECAY],
                              dtype=np.float32)
    save(f"{GOLDEN}/train_optim.safetensors", out)


def gen_clip(model, grads):
    names = [n for n, _ in model.named_parameters()]

    def total_norm(g):
        return float(torch.nn.utils.get_total_norm([torch.from_numpy(g[n].copy()) for n in names]))

    n0, n1, n2 = (total_norm(g) for g in grads)
    # (source step, max_norm): well above, Trainer-default 1.0 below the norm,
    # far below, and off.
    cases = [(0, F32(0.5 * n0)), (1, F32(1.0)), (2, F32(2.0 * n2)), (1, 0.0)]
    assert n1 > 1.0
    out = {"source_step": np.array([c[0] for c in cases], dtype=np.int32),
           "max_norm": np.array([c[1] for c in cases], dtype=np.float32)}
    norms = []
    for c, (k, max_norm) in enumerate(cases):
        params = [torch.nn.Parameter(torch.zeros(grads[k][n].shape)) for n in names]
        for p, n in zip(params, names):
            p.grad = torch.from_numpy(grads[k][n].copy())
        if max_norm > 0:
            norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        else:
            norm = float(torch.nn.utils.get_total_norm([p.grad for p in params]))
        norms.append(norm)
        for p, n in zip(params, names):
            out[f"clipped.{c}.{n}"] = p.grad.numpy().astype(np.float32).copy()
    out["norm"] = np.array(norms, dtype=np.float64)
    save(f"{GOLDEN}/train_clip.safetensors", out)


def gen_schedule():
    cases = [(10, 0), (1, 0), (10, 3), (7, 1), (100, 6), (5, 5), (4, 9), (30, 29)]
    out = {"sched.cases": np.array(cases, dtype=np.int32)}
    for s, (total, warmup) in enumerate(cases):
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=1.0)
        sched = get_linear_schedule_with_warmup(opt, warmup, total)
        lrs = []
        for _ in range(total):
            lrs.append(opt.param_groups[0]["lr"])  # what this optimizer step uses
            p.grad = torch.zeros(1)
            opt.step()
            sched.step()
        out[f"sched.{s}"] = np.array(lrs, dtype=np.float64)

    # Ratios < 1 only: transformers 5 reads warmup_steps >= 1 as a step count.
    ratios = [0.0, 0.06, 0.1, 0.1, 0.1, 0.2, 0.25, 0.3, 0.05, 0.5, 0.33, 0.999]
    totals = [100, 1000, 10, 100, 1000, 50, 7, 20000, 2000, 3, 1000, 1000]
    steps = []
    for r, t in zip(ratios, totals):
        # The method only reads self.warmup_steps; a TrainingArguments object
        # itself would need accelerate, which is not installed here.
        w = TrainingArguments.get_warmup_steps(SimpleNamespace(warmup_steps=r), t)
        assert w == math.ceil(t * r)
        steps.append(w)
    out["warmup.ratio"] = np.array(ratios, dtype=np.float64)
    out["warmup.total"] = np.array(totals, dtype=np.int32)
    out["warmup.steps"] = np.array(steps, dtype=np.int32)
    save(f"{GOLDEN}/train_schedule.safetensors", out)


def main():
    torch.set_num_threads(1)
    model = load_tiny()
    decay_names = set(Trainer.get_decay_parameter_names(None, model))
    grads = step_gradients(model)
    gen_optim(model, grads, decay_names)
    gen_clip(model, grads)
    gen_schedule()


if __name__ == "__main__":
    main()
