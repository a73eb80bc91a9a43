#!/usr/bin/env bash
# The test command: installs what is missing, builds, fetches the default
# model and the GLUE data, and runs every Check suite (Check prints its
# summary line; a failure makes this exit non-zero), then the safetensors,
# weights, tokenizer, task and attention suites again under AddressSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
make -j"$(nproc)" all
make test
make test-asan ASAN_SUITES="safetensors weights tokenizer sentencepiece tasks attention"
