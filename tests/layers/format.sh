#!/usr/bin/env bash
# Every C file of the tree is formatted as .clang-format says. The tree is formatted
# with clang-format 14 (Debian 12's); another major version formats some constructs
# differently, so with another one the test is skipped rather than failing on
# clang-format's own changes. To fix a failure: clang-format -i FILE.
source "$(dirname "$0")/../lib.sh"

command -v clang-format >/dev/null || skip "no clang-format (Debian package clang-format)"
version=$(clang-format --version | grep -oE 'version [0-9]+' | grep -oE '[0-9]+')
[ "$version" == 14 ] || skip "clang-format $version here; the tree is formatted with 14"
[ -f "$SRC/.clang-format" ] || { fail "no .clang-format in $SRC"; finish; exit; }

if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git -C "$SRC" ls-files -co --exclude-standard '*.c' '*.h')
else
  mapfile -t files < <(cd "$SRC" && find src tests fuzz bench sdk examples \
    -name '*.[ch]' 2>/dev/null)
fi
[ "${#files[@]}" -gt 50 ] && pass || fail "found only ${#files[@]} C files under $SRC"
# One clang-format for every file; it names each file it would change.
(cd "$SRC" && clang-format --dry-run -Werror "${files[@]}" >/dev/null 2>"$WORK/fmt")
mapfile -t bad < <(grep -oE '^[^:]+:[0-9]+:[0-9]+: error' "$WORK/fmt" | cut -d: -f1 | sort -u)
for f in "${bad[@]}"; do
  fail "$f is not formatted as .clang-format says (clang-format -i $f): $(grep -m1 "^$f:" "$WORK/fmt")"
done
for ((i = ${#bad[@]}; i < ${#files[@]}; i++)); do pass; done
finish
