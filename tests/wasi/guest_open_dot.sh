#!/bin/bash
# path_open of "." on a preopened directory, as toolchains' runtimes do it: with the
# preopen's own rights, with none, and with O_DIRECTORY and none, each succeeds (as in
# wasmtime); each new descriptor does what its rights allow and nothing more, and
# rights narrowed on the way down are not regained.
source "$(dirname "$0")/../lib.sh"
G="$GUESTS/wasi_open_dot.wasm"
S="$WORK/sandbox"
mkdir -p "$S"
printf 'hello' >"$S/file.txt"

line() { printf '%s\n' "$OUT" | grep -m1 "^$1" || echo "(no line '$1')"; }

for mode in "" ":readonly"; do
  what=${mode:-read-write}
  what=${what#:}
  run "$WEFT" run --dir "$S::/sandbox$mode" "$G"
  check "$what: exit" "$RC" 0
  check "$what: (a) the preopen's own rights" "$(line 'own rights:')" "own rights: ok, a directory"
  check "$what: (a) keeps exactly those rights" "$(line 'own rights: base')" \
    "own rights: base the preopen's, inheriting the preopen's"
  check "$what: (a) lists the directory" "$(line 'own rights readdir')" \
    "own rights readdir: ok, file.txt listed"
  check "$what: (a) opens a file beneath" "$(line 'own rights open')" \
    "own rights open file.txt: ok, read [hello]"
  check "$what: (b) no rights" "$(line 'no rights:')" "no rights: ok, a directory"
  check "$what: (b) holds no rights" "$(line 'no rights: base')" "no rights: base 0, inheriting 0"
  check "$what: (b) cannot list" "$(line 'no rights readdir')" "no rights readdir: ENOTCAPABLE"
  check "$what: (b) cannot open beneath" "$(line 'no rights open')" \
    "no rights open file.txt: ENOTCAPABLE"
  check "$what: (c) O_DIRECTORY, no rights" "$(line 'directory, no rights')" \
    "directory, no rights: ok, a directory"
  check "$what: narrowed: a file beneath opens" "$(line 'narrowed open')" \
    "narrowed open file.txt: ok, read [hello]"
  check "$what: narrowed: without the write right asked for" "$(line 'narrowed: write right')" \
    "narrowed: write right not granted"
  check "$what: narrowed: writing is refused" "$(line 'narrowed: fd_write')" \
    "narrowed: fd_write: ENOTCAPABLE"
  check "$what: narrowed: the right cannot be asked back" "$(line 'narrowed: asking')" \
    "narrowed: asking the write right back: ENOTCAPABLE"
  check "$what: narrowed again: no listing" "$(line 'narrowed again readdir')" \
    "narrowed again readdir: ENOTCAPABLE"
  check "$what: narrowed again: no opening" "$(line 'narrowed again open')" \
    "narrowed again open file.txt: ENOTCAPABLE"
done
check "the file is unchanged" "$(cat "$S/file.txt")" "hello"
finish
