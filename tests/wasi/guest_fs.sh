#!/bin/bash
# File-system scenarios through wasi-libc and `weft run --dir HOST::GUEST`.
source "$(dirname "$0")/../lib.sh"
G="$GUESTS/wasi_fs.wasm"
S="$WORK/sandbox"

fresh() { rm -rf "$S"; mkdir -p "$S"; }
fs() { run "$WEFT" run --dir "$S::/sandbox" "$G" "$1" /sandbox "${@:2}"; }

fresh
fs many 1000
check "many: exit" "$RC" 0
check_contains "a thousand entries by readdir" "$OUT" "readdir: 1000 entries, 2 dots"
check_contains "a thousand entries in 64-byte buffers, none twice" "$OUT" \
  "fd_readdir 64-byte buffers: 1000 entries, 0 twice, many calls"
check "the host sees them" "$(ls "$S" | wc -l)" 1000

fresh
fs append
check "writes through an fd opened for append go to the end" "$OUT" "log=[one|two|three|]"
check "host file" "$(cat "$S/log")" "$(printf 'one\ntwo\nthree')"

fresh
fs seek
check "seeking past the end leaves a hole" "$OUT" "$(printf 'offset 8, read at end: 0\nsize 9\nholes=[abc00000Z]')"
check "host size" "$(stat -c %s "$S/holes")" 9

fresh
fs rename
check_contains "renamed over: new contents" "$OUT" "old=[new contents]"
check_contains "renamed over: old name gone" "$OUT" "new exists: 0"
check_contains "renamed over: open file kept the old one" "$OUT" "opened before: [old contents]"
check "host after rename" "$(ls "$S")" "old"

fresh
fs delete-open
check_contains "deleted while open: gone from the directory" "$OUT" "exists: 0"
check_contains "deleted while open: still readable" "$OUT" "read after unlink: [still readable]"
check "host after delete" "$(ls -A "$S")" ""

fresh
fs tree
check "tree: exit" "$RC" 0
check "tree" "$OUT" "$(printf '%s\n' 'mkdir: 0' 'mkdir again: File exists' 'mkdir deep: 0' \
  'symlink: 0' 'readlink: 6 [b/file]' 'lstat link: symlink' 'stat link: file size 1' \
  'rmdir non-empty: Directory not empty' 'link: 0' 'nlink: 2' 'rmdir: 0' 'gone: 1')"

# A read-only preopen: readable, every change refused.
mkdir -p "$WORK/ro"
echo "ro data" >"$WORK/ro/data"
before=$(ls -l --time-style=full-iso "$WORK/ro"; cat "$WORK/ro/data")
run "$WEFT" run --dir "$WORK/ro::/ro:readonly" "$G" readonly /ro
check "read-only" "$OUT" "$(printf '%s\n' 'data=[ro data|]' 'append: Read-only file system' \
  'create: Read-only file system' 'mkdir: Read-only file system' 'unlink: Read-only file system')"
check "read-only host unchanged" "$(ls -l --time-style=full-iso "$WORK/ro"; cat "$WORK/ro/data")" "$before"

# proc_exit passes the status on.
run "$WEFT" run "$G" exit 42
check "exit status" "$RC" 42

finish
