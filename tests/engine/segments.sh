#!/usr/bin/env bash
# A module compiled in several units computes what it computes in one: its functions
# read passive data segments (memory.init) and drop them (data.drop) from every unit,
# beside an active segment (segments.py). The split build, the unsplit build and the
# fast tier's split build all print the line the generator expects.
source "$(dirname "$0")/../lib.sh"

command -v wat2wasm >/dev/null || skip "no wat2wasm (Debian package wabt)"
expect=$(python3 "$(dirname "$0")/segments.py" "$WORK/segs.wat" 3000)
check "generator ran" "$?" 0
wat2wasm "$WORK/segs.wat" -o "$WORK/segs.wasm"
check "wat2wasm" "$?" 0

# build NAME UNITS TIER: compiles and runs in a cache of its own, keeping the build.
build() {
  mkdir -p "$WORK/$1"
  XDG_CACHE_HOME=$WORK/$1 WEFT_KEEP_BUILD=1 WEFT_COMPILE_UNITS=$2 \
    run "$WEFT" run --tier "$3" "$WORK/segs.wasm"
  check "$1: runs" "$RC" 0
  check "$1: prints what the generator expects" "$OUT" "$expect"
  KEPT=("$WORK/$1"/weft/tmp-*/)
}

build split 3 opt
units=$(ls "${KEPT[0]}" | grep -c '^unit[0-9]*\.c$')
check "split: three units" "$units" 3
# Every unit reads segments, through the shared bytes, not copies of them.
for u in 0 1 2; do
  f=${KEPT[0]}unit$u.c
  [ "$(grep -c 'memory_init(&instance->w2c_memory, data_segment_data_' "$f")" -ge 1 ] && pass ||
    fail "split: unit$u has no memory.init of a segment"
  grep -q '^extern const u8 data_segment_data_w2c_d1\[\];' "$f" && pass ||
    fail "split: unit$u does not declare the segments' bytes extern"
done
grep -q '^const u8 data_segment_data_w2c_d1\[\] = {' "${KEPT[0]}module.c" && pass ||
  fail "split: module.c does not define the segments' bytes for the units"

build whole 1 opt
check "whole: no units" "$(ls "${KEPT[0]}" | grep -c '^unit[0-9]*\.c$')" 0

if command -v tcc >/dev/null; then
  build fast 3 fast
  check "fast: three units" "$(ls "${KEPT[0]}" | grep -c '^unit[0-9]*\.c$')" 3
else
  fail "no tcc (Debian package tcc): the fast tier was not checked"
fi
finish
