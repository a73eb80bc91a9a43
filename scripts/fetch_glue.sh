#!/usr/bin/env bash
# Fills a GLUE root (default data/glue) with the task folders.
# Here: copies the real GLUE files from ../shared/data/glue and checks each
# against the sha256 in its SOURCES.txt.  Elsewhere (no shared copy): the
# official GLUE zips from dl.fbaipublicfiles.com.  Idempotent.
set -euo pipefail

dest=${1:-data/glue}
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${GLUE_SHARED:-$here/../shared/data/glue}
tasks=(CoLA SST-2 MRPC QQP STS-B MNLI QNLI RTE WNLI)

if [[ -f "$shared/SOURCES.txt" ]]; then
  mkdir -p "$dest"
  copied=0
  # SOURCES.txt rows: dest | bytes | lines | rows | sha256 | source | note
  while IFS='|' read -r rel _ _ _ sum _; do
    rel=$(echo "$rel" | xargs); sum=$(echo "$sum" | xargs)
    [[ -z "$rel" || "$rel" == \#* ]] && continue
    if [[ -f "$dest/$rel" ]] && [[ "$(sha256sum "$dest/$rel" | cut -d' ' -f1)" == "$sum" ]]; then
      continue
    fi
    mkdir -p "$dest/$(dirname "$rel")"
    cp "$shared/$rel" "$dest/$rel.partial"
    got=$(sha256sum "$dest/$rel.partial" | cut -d' ' -f1)
    if [[ "$got" != "$sum" ]]; then
      echo "fetch_glue: $shared/$rel: sha256 $got, SOURCES.txt says $sum" >&2
      rm -f "$dest/$rel.partial"; exit 1
    fi
    mv "$dest/$rel.partial" "$dest/$rel"
    copied=$((copied + 1))
  done < <(grep -v '^#' "$shared/SOURCES.txt")
  echo "fetch_glue: $dest ready ($copied files copied from $shared, all verified)"
  exit 0
fi

echo "fetch_glue: no shared GLUE copy at $shared; downloading the official GLUE files"
base=https://dl.fbaipublicfiles.com/glue/data
mkdir -p "$dest"
for t in "${tasks[@]}"; do
  [[ -d "$dest/$t" ]] && continue
  [[ "$t" == MRPC ]] && { echo "fetch_glue: MRPC needs the MSR corpus; see GLUE's download_glue_data.py" >&2; continue; }
  tmp=$(mktemp -d)
  curl -fsSL --connect-timeout 10 -o "$tmp/$t.zip" "$base/$t.zip"
  (cd "$tmp" && unzip -q "$t.zip")
  mv "$tmp/$t" "$dest/$t"
  rm -rf "$tmp"
done
echo "fetch_glue: $dest ready"
