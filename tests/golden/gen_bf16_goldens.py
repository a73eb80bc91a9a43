"""bf16 accuracy goldens: PyTorch's own bf16 mixed precision as the bar.

Run from the repository root (needs torch, transformers, safetensors and the
default model in models/all-MiniLM-L6-v2):  python3 tests/golden/gen_bf16_goldens.py

A. bf16_grads.safetensors: on tiny_bert, for every attention map and both
   gradient batches of gen_model_goldens.py (the same ids, types, lengths and
   labels as grad_<map>_<variant>.safetensors, checked here), every parameter
   gradient twice:
     "<map>_<variant>.f64.grad.<name>"   whole model .double(): the reference
     "<map>_<variant>.bf16.grad.<name>"  float32 model under
                                         torch.autocast("cpu", dtype=torch.bfloat16)
   and the logits of both ("<map>_<variant>.f64.logits", ".bf16.logits").
B. bf16_minilm_logits.safetensors: all-MiniLM-L6-v2 with the head of
   forward_minilm.safetensors on its 20 inputs: "f64.logits" (float64 model)
   and "bf16.logits" (autocast).

tests/test_bf16_model.c measures, per tensor, the norm-relative distance
|g - g64| / |g64| of our bf16 result and of PyTorch's bf16 result to the
float64 one, and requires ours <= 1.5x PyTorch's.
"""
import os
import sys

import numpy as np
import safetensors.numpy
import torch
from transformers import BertForSequenceClassification

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_model_goldens as g  # noqa: E402

# (kind, r) of the maps the bf16 bar covers: each map once, r-softmax at the
# two r the GLUE comparisons use.
MAPS = [("softmax", None), ("rsoftmax", 0.25), ("rsoftmax", 0.5), ("sparsemax", None),
        ("entmax15", None)]
VARIANTS = ("single", "pair")
# True gradient 0 (a key bias shifts a whole score row): its float64 value is
# rounding noise, so no relative distance is defined.  The C test skips it too.
SKIP_SUFFIX = "attention.self.key.bias"


def rel(a, ref):
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    return float(np.linalg.norm(a - ref) / np.linalg.norm(ref))


def grads_of(kind, r, variant, autocast):
    ids, types, lengths, mask = g.grad_batch(variant)
    dtype = torch.float32 if autocast else torch.float64
    model = g.load_tiny(g.TINY, kind, r, dtype)
    target = torch.tensor(g.CE_LABELS)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        model.zero_grad(set_to_none=True)
        logits = model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
        loss = g.loss_of(model, logits.float() if autocast else logits, target)
    loss.backward()
    out = {"logits": logits.detach().float().numpy() if autocast else logits.detach().numpy()}
    for name, p in model.named_parameters():
        assert p.grad.dtype == dtype, (name, p.grad.dtype)
        out[f"grad.{name}"] = p.grad.detach().numpy()
    return (ids, types, lengths), out


def gen_grads():
    tensors = {}
    worst = []
    for kind, r in MAPS:
        tag = g.map_tag(kind, r)
        for variant in VARIANTS:
            batch, ref = grads_of(kind, r, variant, autocast=False)
            _, bf = grads_of(kind, r, variant, autocast=True)
            # The same batch as the float32 golden the C test reads it from.
            old = safetensors.numpy.load_file(f"{g.GOLDEN}/grad_{tag}_{variant}.safetensors")
            for key, a in zip(("input_ids", "token_type_ids", "lengths"), batch):
                assert np.array_equal(old[key], np.asarray(a, np.int32)), (tag, variant, key)
            assert np.array_equal(old["labels"], np.asarray(g.CE_LABELS, np.int32))
            for name in ref:
                tensors[f"{tag}_{variant}.f64.{name}"] = ref[name].astype(np.float64)
                tensors[f"{tag}_{variant}.bf16.{name}"] = bf[name].astype(np.float32)
                if not name.endswith(SKIP_SUFFIX):
                    worst.append((rel(bf[name], ref[name]), f"{tag}_{variant} {name}"))
    worst.sort(reverse=True)
    print("A: PyTorch bf16 autocast vs float64, norm-relative, largest:")
    for d, what in worst[:5]:
        print(f"   {d:.2e}  {what}")
    path = f"{g.GOLDEN}/bf16_grads.safetensors"
    safetensors.numpy.save_file(tensors, path)
    print(f"A: {path}: {len(tensors)} tensors, {os.path.getsize(path)} bytes")


def gen_minilm():
    f = safetensors.numpy.load_file(f"{g.GOLDEN}/forward_minilm.safetensors")
    ids = torch.tensor(f["input_ids"], dtype=torch.long)
    types = torch.tensor(f["token_type_ids"], dtype=torch.long)
    lengths = f["lengths"]
    mask = (torch.arange(ids.shape[1])[None, :] < torch.tensor(lengths)[:, None]).long()
    out = {}
    for autocast in (False, True):
        model = BertForSequenceClassification.from_pretrained(g.MINILM, num_labels=2,
                                                              attn_implementation="eager")
        with torch.no_grad():
            model.classifier.weight.copy_(torch.tensor(f["classifier.weight"]))
            model.classifier.bias.copy_(torch.tensor(f["classifier.bias"]))
        model.eval()
        model = model.to(torch.float32 if autocast else torch.float64)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits = model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
        out["bf16.logits" if autocast else "f64.logits"] = (
            logits.float().numpy() if autocast else logits.numpy().astype(np.float64))
    # The float64 model agrees with the float32 golden (a sanity check).
    print(f"B: float64 vs float32 golden logits: max |diff| "
          f"{np.abs(out['f64.logits'] - f['logits']).max():.1e}; bf16 autocast vs float64: "
          f"norm-relative {rel(out['bf16.logits'], out['f64.logits']):.2e}")
    path = f"{g.GOLDEN}/bf16_minilm_logits.safetensors"
    safetensors.numpy.save_file(out, path)
    print(f"B: {path}")


def main():
    torch.manual_seed(0)
    print("torch", torch.__version__)
    gen_grads()
    gen_minilm()


if __name__ == "__main__":
    main()
