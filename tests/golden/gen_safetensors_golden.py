#!/usr/bin/env python3
"""Goldens for tests/test_safetensors.c, written by the official `safetensors`
package (and huggingface_hub for the sharded checkpoint).

    python3 tests/golden/gen_safetensors_golden.py     (from the repo root)

Writes, under tests/golden/:
  st_types.safetensors + st_types.json
      every dtype we convert or read (F32 F16 BF16 F64 I64 I32 U8 BOOL) with
      special values (signed zeros, inf, nan incl. payloads, subnormals,
      extremes), scalars (shape []) and empty tensors (a 0 in the shape).
      The JSON sidecar holds, independently of the file, the expected float32
      bit patterns (numpy's / torch's own conversion to float32), the integer
      values (as decimal strings: JSON numbers lose precision past 2^53), the
      tensor order by data offset and the metadata.
  st_writer_ref.safetensors, st_writer_empty.safetensors
      the Python library's bytes for a deterministic recipe (see
      writer_recipe(); the C test rebuilds the same tensors and compares its
      own writer's bytes).  Metadata is {"format": "pt"} only: the library
      keeps __metadata__ in a Rust HashMap, so with two or more keys their
      order in the header changes from run to run and no byte comparison is
      possible.
  st_sharded/  a checkpoint split by huggingface_hub.save_torch_state_dict
      (model.safetensors.index.json + shards); values are closed-form
      (tensor k, element i = k + i / 16) so the test needs no sidecar.
  st_minilm.json
      facts about models/all-MiniLM-L6-v2/model.safetensors read with the
      Python library: tensor count, names/dtypes/shapes in data-offset order
      and spot values as float32 bits (skipped if the model is absent).
"""
import json
import os
import shutil
import struct

import numpy as np
import torch
from huggingface_hub import save_torch_state_dict
from safetensors import safe_open
from safetensors.torch import save_file

OUT = "tests/golden"
MODEL = "models/all-MiniLM-L6-v2/model.safetensors"


def f32_bits(t):
    """float32 bit patterns of a tensor's conversion to float32 by numpy
    (for F16, F32, F64) or torch (BF16, which numpy lacks)."""
    if t.dtype == torch.bfloat16:
        a = t.float().numpy()
    else:
        with np.errstate(over="ignore"):  # 1e300 -> inf is the point
            a = t.numpy().astype(np.float32)
    return [int(b) for b in a.reshape(-1).view(np.uint32)]


def from_bits(bits, np_uint, torch_dtype, shape):
    raw = np.array(bits, dtype=np_uint)
    signed = {np.uint16: np.int16}.get(np_uint, np_uint)
    return torch.from_numpy(raw.view(signed)).view(torch_dtype).reshape(shape)


def header_of(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def offset_order(path):
    h = header_of(path)
    h.pop("__metadata__", None)
    return sorted(h, key=lambda k: tuple(h[k]["data_offsets"]))


def gen_types():
    f32 = np.array([0.0, -0.0, 1.0, -1.5, np.inf, -np.inf, np.nan, 1.1754944e-38, 1e-45,
                    1.1754942e-38, 3.4028235e38, 3.1415927], dtype=np.float32)
    # F16 bits: zeros, +-1, inf, quiet and signalling NaNs with payloads,
    # smallest/largest subnormal, smallest normal, largest finite, 1/3, 100.
    f16_bits = [0x0000, 0x8000, 0x3C00, 0xBC00, 0x7C00, 0xFC00, 0x7E00, 0x7C01,
                0xFE01, 0x0001, 0x03FF, 0x8001, 0x0400, 0x7BFF, 0x3555, 0x5640]
    bf16_bits = [0x0000, 0x8000, 0x3F80, 0xBFC0, 0x7F80, 0xFF80, 0x7FC0, 0x7F81,
                 0x0001, 0x007F, 0x0080, 0x7F7F, 0x4049, 0xFF81, 0x8001]
    f64 = np.array([0.0, -0.0, 1.0 / 3.0, 1e300, -1e300, 1e-300, np.nan, -np.inf,
                    3.4028235677973366e38, 1.401298464324817e-45], dtype=np.float64)
    tensors = {
        "f32.special": torch.from_numpy(f32.copy()),
        "f16.special": from_bits(f16_bits, np.uint16, torch.float16, (4, 4)),
        "bf16.special": from_bits(bf16_bits, np.uint16, torch.bfloat16, (3, 5)),
        "f64.values": torch.from_numpy(f64.reshape(2, 5).copy()),
        "i64.values": torch.tensor([0, -1, 2**62, -2**63, 2**63 - 1], dtype=torch.int64),
        "i32.values": torch.tensor([[0, -1, 7], [2**31 - 1, -2**31, 123456]], dtype=torch.int32),
        "u8.values": torch.tensor([0, 1, 127, 128, 254, 255], dtype=torch.uint8),
        "bool.mask": torch.tensor([True, False, False, True, True, False, True]),
        "scalar.f32": torch.tensor(2.5, dtype=torch.float32),
        "scalar.i64": torch.tensor(42, dtype=torch.int64),
        "empty.f32": torch.zeros((0, 3), dtype=torch.float32),
        "empty.i64": torch.zeros((0,), dtype=torch.int64),
        "empty.bf16": torch.zeros((2, 0), dtype=torch.bfloat16),
    }
    metadata = {"format": "pt", "note": "caf\u00e9 \"quoted\"", "step": "17"}
    path = os.path.join(OUT, "st_types.safetensors")
    save_file(tensors, path, metadata=metadata)

    side = {"metadata": metadata, "offset_order": offset_order(path), "tensors": []}
    with safe_open(path, "pt") as f:
        assert f.metadata() == metadata
        for name in sorted(f.keys()):
            t = f.get_tensor(name)
            entry = {"name": name, "dtype": f.get_slice(name).get_dtype(), "shape": list(t.shape)}
            if t.is_floating_point():
                entry["f32_bits"] = f32_bits(t)
            else:
                entry["ints"] = [str(int(v)) for v in t.reshape(-1).tolist()]
            side["tensors"].append(entry)
    with open(os.path.join(OUT, "st_types.json"), "w") as f:
        json.dump(side, f, indent=1, ensure_ascii=True)
        f.write("\n")


# Mirrored in tests/test_safetensors.c (writer_recipe): name, dtype, shape.
# Byte j of recipe tensor k is (j * 31 + k * 17 + 5) & 0xFF; BOOL bytes are
# (j + k) & 1.  Names exercise the ordering (ties of width, upper case,
# non-ASCII) and JSON escaping.
RECIPE = [
    ("b.u64", "U64", [3]),
    ("a.i64", "I64", [2, 2]),
    ("c.f64", "F64", [3]),
    ("w.f32", "F32", [2, 3]),
    ("a.f32", "F32", []),
    ("u32", "U32", [2]),
    ("i32", "I32", [3]),
    ("bf16", "BF16", [5]),
    ("h.f16", "F16", [2, 2]),
    ("u16", "U16", [3]),
    ("i16", "I16", [1]),
    ("e4m3", "F8_E4M3", [3]),
    ("e5m2", "F8_E5M2", [2]),
    ("i8", "I8", [5]),
    ("u8", "U8", [7]),
    ("mask", "BOOL", [3]),
    ("zero.f32", "F32", [0, 4]),
    ("quote\"back\\slash\nnl\ttab\x01\x7f\u00e9", "F32", [1]),
    ("Z.upper", "F32", [2]),
    ("\u00e9t\u00e9", "I32", [1]),
]
TORCH_DTYPE = {
    "BOOL": torch.bool, "U8": torch.uint8, "I8": torch.int8, "F8_E5M2": torch.float8_e5m2,
    "F8_E4M3": torch.float8_e4m3fn, "I16": torch.int16, "U16": torch.uint16,
    "F16": torch.float16, "BF16": torch.bfloat16, "I32": torch.int32, "U32": torch.uint32,
    "F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "U64": torch.uint64,
}


def writer_recipe():
    tensors = {}
    for k, (name, dtype, shape) in enumerate(RECIPE):
        tdt = TORCH_DTYPE[dtype]
        numel = int(np.prod(shape, dtype=np.int64))
        nbytes = numel * torch.empty((), dtype=tdt).element_size()
        if dtype == "BOOL":
            raw = [(j + k) & 1 for j in range(nbytes)]
        else:
            raw = [(j * 31 + k * 17 + 5) & 0xFF for j in range(nbytes)]
        if nbytes == 0:  # torch cannot reinterpret an empty byte tensor
            tensors[name] = torch.zeros(shape, dtype=tdt)
            continue
        u8 = torch.from_numpy(np.array(raw, dtype=np.uint8))
        tensors[name] = u8.view(tdt).reshape(shape)
    return tensors


def gen_writer_ref():
    path = os.path.join(OUT, "st_writer_ref.safetensors")
    tensors = writer_recipe()
    save_file(tensors, path, metadata={"format": "pt"})
    with safe_open(path, "pt") as f:
        for name, t in tensors.items():
            got = f.get_tensor(name)
            assert got.dtype == t.dtype and got.shape == t.shape
            assert got.view(-1).view(torch.uint8).tolist() == t.view(-1).view(torch.uint8).tolist()
    save_file({}, os.path.join(OUT, "st_writer_empty.safetensors"), metadata={"format": "pt"})


def gen_sharded():
    out = os.path.join(OUT, "st_sharded")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    state = {}
    for k in range(6):
        state[f"layer.{k}.weight"] = k + torch.arange(32, dtype=torch.float32).reshape(4, 8) / 16
    state["layer.5.weight"] = state["layer.5.weight"].to(torch.bfloat16)  # exact: 5 + i/16 needs 7 bits
    state["ids"] = torch.arange(6, dtype=torch.int64) * 1000
    save_torch_state_dict(state, out, max_shard_size=300, metadata={"format": "pt"})
    index = json.load(open(os.path.join(out, "model.safetensors.index.json")))
    assert len(set(index["weight_map"].values())) >= 2, "expected several shards"


def gen_minilm():
    if not os.path.exists(MODEL):
        print(f"skipping st_minilm.json: {MODEL} not found")
        return
    order = offset_order(MODEL)
    facts = {"count": len(order), "tensors": [], "spots": []}
    with safe_open(MODEL, "pt") as f:
        for name in order:
            sl = f.get_slice(name)
            facts["tensors"].append({"name": name, "dtype": sl.get_dtype(), "shape": sl.get_shape()})
        spots = {
            "embeddings.word_embeddings.weight": [0, 1, 383, 384, 7654321, 30522 * 384 - 1],
            "embeddings.LayerNorm.weight": [0, 100, 383],
            "encoder.layer.5.output.LayerNorm.bias": [0, 7, 383],
            "encoder.layer.3.attention.self.query.weight": [0, 1000, 147455],
            "pooler.dense.weight": [0, 77, 147455],
        }
        for name, idx in spots.items():
            flat = f.get_tensor(name).reshape(-1)
            bits = flat.numpy().view(np.uint32)
            facts["spots"].append({"name": name, "index": idx, "f32_bits": [int(bits[i]) for i in idx]})
        pos = f.get_tensor("embeddings.position_ids").reshape(-1)
        facts["position_ids"] = {"index": [0, 1, 511], "ints": [str(int(pos[i])) for i in (0, 1, 511)]}
    with open(os.path.join(OUT, "st_minilm.json"), "w") as f:
        json.dump(facts, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    gen_types()
    gen_writer_ref()
    gen_sharded()
    gen_minilm()
