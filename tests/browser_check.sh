#!/usr/bin/env bash
# Renders a training report and an attention map in headless Chromium and
# checks what a reader would see: the page loads, the DOM Chromium built
# holds the expected SVG (one curve per series of the log, one cell per
# (layer, head, query, key)), and the screenshot is not blank (enough
# non-white pixels, the plotting colours present).
# Usage: tests/browser_check.sh [SCREENSHOT_DIR]   (run from the repository
# root after `make all`; screenshots are kept in SCREENSHOT_DIR if given).
set -euo pipefail
cd "$(dirname "$0")/.."
browser=$(command -v chromium || command -v chromium-browser || true)
[[ -n "$browser" ]] || { echo "browser_check: chromium not found (scripts/install_deps.sh installs it)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
shots=${1:-$tmp}
mkdir -p "$shots"
shots=$(realpath "$shots")
golden=tests/golden

fail() { echo "browser_check: $*" >&2; exit 1; }

# Chromium, headless; its own profile so that runs never share state.
chrome() {
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$tmp/profile" "$@" 2>"$tmp/chromium.err"
}

# $1 page, $2 png, $3 width, $4 height, $5 colour that must appear (hex)
screenshot() {
  chrome --window-size="$3,$4" --screenshot="$2" "file://$(realpath "$1")" >/dev/null ||
    { cat "$tmp/chromium.err" >&2; fail "$1: chromium --screenshot failed"; }
  [[ -s "$2" ]] || fail "$2: no screenshot"
  python3 - "$2" "$5" <<'PY' || fail "$2: looks blank"
import struct, sys, zlib
path, want = sys.argv[1], bytes.fromhex(sys.argv[2])
data = open(path, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype in (2, 6), (depth, ctype)
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw, stride = zlib.decompress(idat), w * bpp
prev, rows, i = bytearray(stride), [], 0
for _ in range(h):
    f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
    i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b, c = prev[x], prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(bytes(line))
    prev = line
pixels = [r[x:x + 3] for r in rows for x in range(0, stride, bpp)]
non_white = sum(p != b"\xff\xff\xff" for p in pixels) / len(pixels)
colours = set(pixels)
print(f"  {path}: {w}x{h}, {non_white:.1%} non-white, {len(colours)} colours, "
      f"{want.hex()} {'present' if want in colours else 'ABSENT'}")
sys.exit(0 if non_white > 0.02 and len(colours) > 8 and want in colours else 1)
PY
}

count() { { grep -o "$2" "$1" || true; } | wc -l; }

# 1. A report: 2 epochs of tiny_bert with sparsemax (2 layers).
./finetune --model $golden/tiny_bert --task sst2 --data-dir $golden/sgd_data --batch-size 2 \
  --epochs 2 --seed 3 --max-len 64 --threads 2 --attn sparsemax --out "$tmp/run" 2>"$tmp/ft.err" ||
  { cat "$tmp/ft.err" >&2; fail "./finetune failed"; }
chrome --dump-dom "file://$tmp/run/report.html" >"$tmp/report.dom" ||
  { cat "$tmp/chromium.err" >&2; fail "report.html: chromium --dump-dom failed"; }
# Loss (2 curves), lr, gradient norm, throughput, one per dev metric, one per layer.
metrics=$(grep -m1 '"event":"eval"' "$tmp/run/log.jsonl" |
          { grep -oE '"(accuracy|f1|matthews|pearson|spearman)":' || true; } | wc -l)
want=$((5 + metrics + 2))
got=$(count "$tmp/report.dom" '<polyline class="curve"')
[[ $got -eq $want ]] || fail "report.html: $got curves in the DOM, want $want"
charts=$(count "$tmp/report.dom" '<svg class="chart"')
[[ $charts -eq 6 ]] || fail "report.html: $charts charts in the DOM, want 6"
grep -q "<title>Training report" "$tmp/report.dom" || fail "report.html: no title in the DOM"
echo "browser_check: report.html: $got curves in $charts charts"
screenshot "$tmp/run/report.html" "$shots/report.png" 1300 1100 1f77b4

# 2. An attention map: 4 tokens ([CLS] a b [SEP]), 2 layers x 4 heads, two models.
./attention --model $golden/export_remote/bert_sparsemax --compare $golden/export_remote/bert_rsoftmax \
  --text "a b" --out "$tmp/attention.html" 2>"$tmp/att.err" || { cat "$tmp/att.err" >&2; fail "./attention failed"; }
chrome --dump-dom "file://$tmp/attention.html" >"$tmp/attention.dom" ||
  fail "attention.html: chromium --dump-dom failed"
want=$((2 * 2 * 4 * 4 * 4))
got=$(count "$tmp/attention.dom" '<rect class="cell')
[[ $got -eq $want ]] || fail "attention.html: $got cells in the DOM, want $want"
zeros=$(count "$tmp/attention.dom" '<rect class="cell zero"')
[[ $zeros -gt 0 ]] || fail "attention.html: no exact zeros drawn for sparsemax"
echo "browser_check: attention.html: $got cells, $zeros exact zeros"
screenshot "$tmp/attention.html" "$shots/attention.png" 1300 700 08306b
echo "browser_check: ok"
