#!/usr/bin/env bash
# The main job: installs what is missing, builds, fetches the default model
# (all-MiniLM-L6-v2) and GLUE, fine-tunes SST-2 with r-softmax attention,
# then evaluates the best checkpoint on the dev set.
#
# Trade-off to finish in well under 30 minutes on 2 cores: ONE epoch over
# SST-2's 67k training sentences (as the SST-2 results in README.md; the small
# tasks there use 3).  r = 0.25 is the default chosen from those results:
# the sparsest r-softmax that stayed within noise of softmax (README, Results).
# Rerunning continues an interrupted run (--resume) instead of starting over.
set -euo pipefail
cd "$(dirname "$0")/.."
R=${R:-0.25}
OUT=${OUT:-runs/sst2-rsoftmax}
# PRECISION=bf16 runs the bf16 mixed precision (README, Precision) where the
# CPU has a bf16 matmul; the default is float32, the README's results.
PRECISION=${PRECISION:-fp32}
scripts/install_deps.sh
make -j"$(nproc)" all
scripts/fetch_model.sh models/all-MiniLM-L6-v2
scripts/fetch_glue.sh data/glue
resume=()
[[ -d "$OUT/last" ]] && resume=(--resume)
# The defaults do the rest: --model models/all-MiniLM-L6-v2, --lr 5e-5,
# --batch-size 32, --max-len 128, --seed 42.
./finetune --task sst2 --attn rsoftmax --r "$R" --epochs 1 --out "$OUT" --precision "$PRECISION" \
  "${resume[@]}"
./evaluate --model "$OUT/best" --task sst2 --split dev --precision "$PRECISION" \
  --predictions "$OUT/dev_predictions.tsv" --metrics-out "$OUT/dev_metrics.json"
