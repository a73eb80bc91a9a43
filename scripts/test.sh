#!/usr/bin/env bash
# The test command: installs what is missing, builds, fetches the default
# model and the GLUE data, and runs every Check suite (Check prints its
# summary line; a failure makes this exit non-zero), the report and an
# attention map in headless Chromium, then every suite again under
# AddressSanitizer + UBSan, then each libFuzzer harness (fuzz/) for 30
# seconds on its seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
make -j"$(nproc)" all
make test
tests/browser_check.sh
make -j"$(nproc)" test-asan
make -j"$(nproc)" fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
