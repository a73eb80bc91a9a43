#!/usr/bin/env bash
# Fills data/debtags (or $1) with the debtags multi-label set (train.tsv,
# dev.tsv, test.tsv): copied from ../shared/data/debtags and checked against
# the sha256 of each file in its SOURCES.txt (the "file rows sha256" table).
# Without a shared copy it rebuilds the set from this machine's apt index of
# Debian main (the rule in SOURCES.txt, scripts/debtags_from_packages.py),
# warning that another Debian release gives other rows (the sha256 sums of
# SOURCES.txt then do not apply).  Idempotent.
set -euo pipefail

dest=${1:-data/debtags}
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${DEBTAGS_SHARED:-$here/../shared/data/debtags}

if [[ ! -f "$shared/SOURCES.txt" ]]; then
  [[ -f "$dest/train.tsv" && -f "$dest/dev.tsv" && -f "$dest/test.tsv" ]] && exit 0
  index=$(ls /var/lib/apt/lists/*_dists_*_main_binary-amd64_Packages* 2>/dev/null |
          grep -v -e '-updates_' -e '-security_' -e '-backports_' | head -1 || true)
  if [[ -z "$index" ]] || ! command -v python3 > /dev/null; then
    echo "fetch_debtags: no shared copy at $shared and no apt index of Debian main (or no" \
         "python3) to rebuild it from; --task debtags needs $dest/{train,dev,test}.tsv" >&2
    exit 0
  fi
  echo "fetch_debtags: no shared copy at $shared: rebuilding from $index." >&2
  mkdir -p "$dest"
  /usr/lib/apt/apt-helper cat-file "$index" | python3 "$here/scripts/debtags_from_packages.py" "$dest"
  # The shared set's sums (its SOURCES.txt): the same rows, or not.
  if sha256sum --status -c - <<SUMS 2> /dev/null; then
2b261ead4c55bef706115522f457f52adcb64fa359f66bcea53f3bb1208a73d9  $dest/train.tsv
f03c68fac5e2d93726e3399e2a5326a952d2e4455b2788563e30f18ab73cf31d  $dest/dev.tsv
fd1300b06df6239374ec92875eb9ad413a64b7d609768dd60dcfa4392f0cce18  $dest/test.tsv
SUMS
    echo "fetch_debtags: $dest rebuilt, identical to the shared set (sha256 checked)"
  else
    release=$(cat /etc/debian_version 2> /dev/null || echo unknown)
    echo "fetch_debtags: WARNING: this machine's Debian release ($release) gives other rows" \
         "than the shared set (Debian 12.15): numbers on $dest are not comparable" >&2
  fi
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
