#!/usr/bin/env bash
# `make bench`: the engine's benchmark table, then the PyTorch reference on
# the same shapes in the same sitting when torch is installed, so the ratios
# compare numbers measured side by side.  Medians over repeated runs.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${MODEL_DIR:-models/all-MiniLM-L6-v2}
shape=(--batch "${BATCH:-32}" --seq "${SEQ:-128}" --threads "${THREADS:-2}")
args=("${shape[@]}" --reps "${REPS:-7}")
build/bench --model "$model" "${args[@]}"
echo
# Time by phase of the training step and the eval forward, one short run per
# precision (a precision this CPU cannot run says so in its table's place).
for precision in fp32 bf16; do
  build/bench --model "$model" "${shape[@]}" --reps "${PROFILE_REPS:-3}" --profile --precision "$precision"
done
if python3 -c "import torch, transformers" 2>/dev/null; then
  python3 scripts/bench_torch.py --model "$model" "${args[@]}" 2>/dev/null | grep -v '^Loading\|^Key\|^classifier\|^- \|^$'
else
  echo "(PyTorch reference skipped: torch and transformers are not installed)"
fi
