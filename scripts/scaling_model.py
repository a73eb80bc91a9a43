#!/usr/bin/env python3
"""Ring all-reduce model of a data-parallel fine-tuning step (docs/scaling.md).

step(N) = compute_per_example * B / N + allreduce(N)
allreduce(N) = 2 (N - 1) / N * bytes / bandwidth + 2 (N - 1) * latency
(the engine all-reduces the whole fp32 gradient after backward: no overlap).
compute_per_example is measured for MiniLM-L6 (the arguments) and scaled to
the other encoders by their encoder FLOPs per token (12 H^2 per layer per
token, times 6 for forward + backward); bytes = 4 x parameters.

Usage: scripts/scaling_model.py SECONDS_PER_EXAMPLE_MINILM [LATENCY_S]
"""
import sys

MODELS = {  # name: (parameters, layers, hidden)
    "MiniLM-L6": (22_713_216, 6, 384),
    "BERT-base": (109_482_240, 12, 768),
    "BERT-large": (335_141_888, 24, 1024),
}
NODES = [1, 2, 4, 8, 16, 32, 64]
LINKS = {"10 Gb/s": 10e9 / 8, "100 Gb/s": 100e9 / 8}


def encoder_flops(layers, hidden):
    return layers * 12 * hidden * hidden


def step_seconds(per_example, batch, nodes, params, link, latency):
    compute = per_example * batch / nodes
    ring = 0.0 if nodes == 1 else 2 * (nodes - 1) / nodes * 4 * params / link + 2 * (nodes - 1) * latency
    return compute, ring


def main():
    minilm = float(sys.argv[1])
    latency = float(sys.argv[2]) if len(sys.argv) > 2 else 50e-6
    base = encoder_flops(*MODELS["MiniLM-L6"][1:])
    for name, (params, layers, hidden) in MODELS.items():
        per_example = minilm * encoder_flops(layers, hidden) / base
        print(f"\n{name}: {params / 1e6:.1f}M parameters, {4 * params / 1e6:.0f} MB all-reduced per step, "
              f"{per_example * 1e3:.1f} ms/example on one node (scaled)")
        for link_name, link in LINKS.items():
            print(f"\n{link_name}, global batch 32 and 256: step seconds (efficiency)\n")
            print("| nodes | " + " | ".join(f"B=32" for _ in [0]) + " | B=256 | B for 80% |")
            print("|---|---|---|---|")
            for n in NODES:
                cells = []
                for batch in (32, 256):
                    c, r = step_seconds(per_example, batch, n, params, link, latency)
                    eff = (per_example * batch) / (n * (c + r))
                    cells.append(f"{c + r:.3f} ({eff:.0%})")
                # efficiency = c / (c + r) >= 0.8  <=>  per_example * B / n >= 4 r
                _, r = step_seconds(per_example, 1, n, params, link, latency)
                need = 4 * r * n / per_example if n > 1 else 0
                cells.append(f"{need:.0f}" if n > 1 else "-")
                print(f"| {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
