#!/usr/bin/env bash
# Developer helper: builds and runs ONE Check suite from an explicit list of
# sources, so work in progress elsewhere in the tree cannot break it.
#   scripts/dev_test.sh SUITE [extra flags via DEV_CFLAGS] file.c file.cc ...
# util/*.c and tests/testutil.c are always included.
set -euo pipefail
suite=$1; shift
out=build/dev-$suite
mkdir -p "$out"
printf 'SUITE(%s)\n' "$suite" > "$out/suites.inc"
pk="openblas libcjson sentencepiece check"
cflags="-O1 -g -std=gnu11 -fopenmp -Wall -Wextra -Wno-unused-parameter -I. -I$out $(pkg-config --cflags $pk) ${DEV_CFLAGS:-}"
objs=()
for src in "$@" util/*.c tests/testutil.c tests/check_main.c; do
  obj="$out/$(echo "$src" | tr '/' '_').o"
  case "$src" in
    *.cc) g++ -O1 -g -std=c++17 -I. ${DEV_CFLAGS:-} -c "$src" -o "$obj" ;;
    *.c)  gcc $cflags -c "$src" -o "$obj" ;;
  esac
  objs+=("$obj")
done
gcc $cflags "${objs[@]}" -o "$out/run" $(pkg-config --libs $pk) -lstdc++ -lm ${DEV_CFLAGS:-}
"$out/run"
