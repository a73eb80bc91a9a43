#!/usr/bin/env bash
# The test command: installs what is missing, builds, fetches the default
# model and the GLUE data, and runs every Check suite (Check prints its
# summary line; a failure makes this exit non-zero), then the safetensors,
# weights, tokenizer, task and attention suites again under AddressSanitizer,
# and the report and an attention map in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
make -j"$(nproc)" all
make test
tests/browser_check.sh
make test-asan ASAN_SUITES="safetensors weights tokenizer sentencepiece tasks attention"
