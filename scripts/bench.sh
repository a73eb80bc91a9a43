#!/usr/bin/env bash
# `make bench`: the engine's benchmark table, then the PyTorch reference on
# the same shapes in the same sitting when torch is installed, so the ratios
# compare numbers measured side by side.  Medians over repeated runs.
#
# Knobs (environment; `make bench GROWTH=1` passes them on too):
#   MODEL_DIR BATCH SEQ THREADS REPS  shapes and repetitions of every table
#   BASE=0     skip the default tables above (run only the pieces below)
#   GROWTH=1   cost growth: tokens/s of the eval forward and the softmax
#              training step at each of SEQS (default 32 64 128 256 512), in
#              each of PRECISIONS (default fp32 bf16), with the peak RSS;
#              one process per row, ours and PyTorch's TORCH_SETTINGS
#              (default fp32-sdpa bf16-sdpa, see scripts/bench_torch.py)
#   SHAPES=1   the same rows for the random-weight models of CONFIGS
#              (default bench/configs/*.json: BERT-base, BERT-large) at
#              BATCH x SEQ
#   E2E=1      end to end on SST-2 against PyTorch (scripts/bench_e2e.py,
#              E2E_REPS runs each, default 3)
#   INTERLEAVE=1  ROUNDS (default 3) rounds at BATCH x SEQ, each ours in
#              every precision then PyTorch's TORCH_SETTINGS, one process
#              per row: ratios per round survive the host's drift
#   KEEP_OPENBLAS_CORETYPE=1  keep an OPENBLAS_CORETYPE the environment sets
#              (see below)
set -euo pipefail
cd "$(dirname "$0")/.."
# OpenBLAS picks its kernels for the CPU it finds unless OPENBLAS_CORETYPE
# pins them (the development hosts set Haswell, the AVX2 kernels, for their
# tests; on an AVX-512 CPU that halves sgemm).  A user's machine has no such
# pin, and PyTorch's fp32 does not go through OpenBLAS, so the benchmark
# unsets it for its own processes (keeping OPENBLAS_L2_SIZE, or setting it
# from sysfs in KB) and says so.  Tests and CI leave the environment alone.
if [ -n "${OPENBLAS_CORETYPE:-}" ] && [ "${KEEP_OPENBLAS_CORETYPE:-0}" != 1 ]; then
  if [ -z "${OPENBLAS_L2_SIZE:-}" ] && [ -r /sys/devices/system/cpu/cpu0/cache/index2/size ]; then
    OPENBLAS_L2_SIZE=$(sed 's/K$//' /sys/devices/system/cpu/cpu0/cache/index2/size)
    export OPENBLAS_L2_SIZE
  fi
  echo "(bench: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE from the environment unset for this benchmark," \
       "OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}; KEEP_OPENBLAS_CORETYPE=1 keeps it)"
  unset OPENBLAS_CORETYPE
fi
model=${MODEL_DIR:-models/all-MiniLM-L6-v2}
threads=${THREADS:-2}
reps=${REPS:-7}
args=(--batch "${BATCH:-32}" --seq "${SEQ:-128}" --threads "$threads" --reps "$reps")
have_torch() { python3 -c "import torch, transformers" 2>/dev/null; }
# transformers' loading messages are not part of the tables.
torch_quiet() { grep -v '^Loading\|^Key\|^classifier\|^- \|^$' || true; }

if [ "${BASE:-1}" = 1 ]; then
  build/bench --model "$model" "${args[@]}"
  echo
  # The GEMM ceilings at the model's shapes: OpenBLAS sgemm and oneDNN's bf16
  # matmul, with the instruction set and implementation oneDNN picked.
  build/bench --model "$model" --threads "$threads" --reps "$reps" --gemm
  echo
  # Time by phase of the training step and the eval forward, one short run per
  # precision (a precision this CPU cannot run says so in its table's place).
  for precision in fp32 bf16; do
    build/bench --model "$model" --batch "${BATCH:-32}" --seq "${SEQ:-128}" --threads "$threads" \
      --reps "${PROFILE_REPS:-3}" --profile --precision "$precision"
  done
  if have_torch; then
    python3 scripts/bench_torch.py --model "$model" "${args[@]}" 2>/dev/null | torch_quiet
  else
    echo "(PyTorch reference skipped: torch and transformers are not installed)"
  fi
fi

# One growth-table row per process (build/bench --growth and
# bench_torch.py --growth print these columns): MODEL_ARGS BATCH SEQ.
growth_rows() {
  local batch=$1 seq=$2; shift 2
  local common=(--batch "$batch" --seq "$seq" --threads "$threads" --reps "$reps" --growth)
  for p in ${PRECISIONS:-fp32 bf16}; do
    build/bench "$@" "${common[@]}" --precision "$p" ||
      echo "| ours | $* | $p | $batch x $seq | not run: the message above | | | | | |"
  done
  if have_torch; then
    for s in ${TORCH_SETTINGS:-fp32-sdpa bf16-sdpa}; do
      python3 scripts/bench_torch.py "$@" "${common[@]}" --settings "$s" 2>/dev/null | torch_quiet ||
        echo "| PyTorch $s | $* | | $batch x $seq | failed | | | | | |"
    done
  fi
}
growth_header() {
  echo "| engine | model | precision | batch x seq | eval forward | eval tokens/s | eval peak RSS | training step (softmax) | training tokens/s | training peak RSS |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
}

if [ "${GROWTH:-0}" = 1 ]; then
  echo
  echo "Cost growth, $model, $threads threads, median of $reps, one process per row:"
  echo
  growth_header
  for seq in ${SEQS:-32 64 128 256 512}; do growth_rows "${BATCH:-32}" "$seq" --model "$model"; done
  have_torch || echo "(PyTorch rows skipped: torch and transformers are not installed)"
fi

if [ "${SHAPES:-0}" = 1 ]; then
  echo
  echo "Model shapes with random weights, $threads threads, median of $reps, one process per row:"
  echo
  growth_header
  for config in ${CONFIGS:-bench/configs/*.json}; do
    growth_rows "${BATCH:-32}" "${SEQ:-128}" --random-init "$config"
  done
  have_torch || echo "(PyTorch rows skipped: torch and transformers are not installed)"
fi

if [ "${INTERLEAVE:-0}" = 1 ]; then
  echo
  echo "Interleaved rounds, $model, $threads threads, median of $reps per process:"
  echo
  growth_header
  for round in $(seq "${ROUNDS:-3}"); do growth_rows "${BATCH:-32}" "${SEQ:-128}" --model "$model"; done
fi

if [ "${E2E:-0}" = 1 ]; then
  echo
  python3 scripts/bench_e2e.py --model "$model" --threads "$threads" --reps "${E2E_REPS:-3}"
fi
