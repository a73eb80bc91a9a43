#!/usr/bin/env bash
# Fills data/debtags (or $1) with the debtags multi-label set (train.tsv,
# dev.tsv, test.tsv): copied from ../shared/data/debtags and checked against
# the sha256 of each file in its SOURCES.txt (the "file rows sha256" table).
# Without a shared copy it says so and leaves the folder alone: rebuilding
# the set from this machine's Debian Packages index (the rule in
# SOURCES.txt) is not implemented, and another Debian release would give
# other rows anyway.  Idempotent.
set -euo pipefail

dest=${1:-data/debtags}
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${DEBTAGS_SHARED:-$here/../shared/data/debtags}

if [[ ! -f "$shared/SOURCES.txt" ]]; then
  echo "fetch_debtags: no shared copy at $shared (set DEBTAGS_SHARED); --task debtags needs" \
       "$dest/{train,dev,test}.tsv" >&2
  exit 0
fi
mkdir -p "$dest"
copied=0 listed=0
# SOURCES.txt table rows: "  train.tsv  24307   <sha256>"
while read -r file rows sum; do
  listed=$((listed + 1))
  if [[ -f "$dest/$file" ]] && [[ "$(sha256sum "$dest/$file" | cut -d' ' -f1)" == "$sum" ]]; then
    continue
  fi
  cp "$shared/$file" "$dest/$file.partial"
  got=$(sha256sum "$dest/$file.partial" | cut -d' ' -f1)
  if [[ "$got" != "$sum" ]]; then
    echo "fetch_debtags: $shared/$file: sha256 $got, SOURCES.txt says $sum" >&2
    rm -f "$dest/$file.partial"; exit 1
  fi
  got_rows=$(($(wc -l < "$dest/$file.partial") - 1))
  if [[ "$got_rows" != "$rows" ]]; then
    echo "fetch_debtags: $shared/$file: $got_rows rows, SOURCES.txt says $rows" >&2
    rm -f "$dest/$file.partial"; exit 1
  fi
  mv "$dest/$file.partial" "$dest/$file"
  copied=$((copied + 1))
done < <(grep -E '^ +[a-z]+\.tsv +[0-9]+ +[0-9a-f]{64} *$' "$shared/SOURCES.txt")
if [[ "$listed" != 3 ]]; then
  echo "fetch_debtags: $shared/SOURCES.txt lists $listed files, expected train, dev and test" >&2
  exit 1
fi
cp "$shared/SOURCES.txt" "$dest/SOURCES.txt"
echo "fetch_debtags: $dest ready ($copied files copied from $shared, all verified)"
