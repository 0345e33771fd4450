# The artifact cache: reused, detected when corrupt and rebuilt, safe under concurrent
# compiles, and artifacts run directly.
. "$TESTS_DIR/lib.sh"
export XDG_CACHE_HOME="$WORK/cache"
H="$GUESTS/hello.wasm"

run "$WEFT" compile -q "$H"
check "compile: status" "$RC" 0
art=$OUT
case "$art" in "$WORK/cache/weft/"*.so) pass ;; *) fail "artifact path $art" ;; esac
test -f "$art" && pass || fail "artifact exists"
before=$(stat -c %Y.%i "$art")
sleep 1
run "$WEFT" compile -q "$H"
check "second compile names the same artifact" "$OUT" "$art"
check "second compile reuses it" "$(stat -c %Y.%i "$art")" "$before"

run "$WEFT" run "$art" x
check "an artifact runs directly" "$RC" 7
check_contains "artifact output" "$OUT" "argc=2"

run "$WEFT" compile -q -o "$WORK/copy.so" "$H"
run "$WEFT" run "$WORK/copy.so"
check "a copied artifact runs" "$RC" 0

# Truncated: detected, refused when named directly, rebuilt when reached via the .wasm.
size=$(stat -c %s "$art")
head -c $((size / 2)) "$art" >"$WORK/half" && cp "$WORK/half" "$art"
run "$WEFT" run "$art"
check "truncated artifact refused" "$RC" 1
check_contains "truncated artifact: message" "$ERR" "truncated"
run "$WEFT" run "$H"
check "truncated artifact rebuilt" "$RC" 0
check "rebuilt to full size" "$(stat -c %s "$art")" "$size"

# One flipped byte in the middle: checksum mismatch, rebuilt.
printf '\x55' | dd of="$art" bs=1 seek=$((size / 3)) conv=notrunc 2>/dev/null
run "$WEFT" run "$art"
check "corrupt artifact refused" "$RC" 1
check_contains "corrupt artifact: message" "$ERR" "corrupt"
run "$WEFT" run "$H"
check "corrupt artifact rebuilt" "$RC" 0

# Four processes compiling the same module into an empty cache at once.
rm -rf "$WORK/cache"
for i in 1 2 3 4; do
  "$WEFT" run "$H" >"$WORK/c$i.out" 2>"$WORK/c$i.err" &
done
ok=0
for i in 1 2 3 4; do wait -n && ok=$((ok + 1)); done
check "concurrent compiles all succeed" "$ok" 4
check "one artifact, no temporaries left" "$(ls "$WORK/cache/weft" | grep -c .)" 1

# A compile that is killed leaves its build folder behind; the next compile removes
# it, and leaves alone the folder of a compile whose process is alive.
python3 "$SRC/tests/engine/segments.py" "$WORK/slow.wat" 3000 >/dev/null &&
  wat2wasm "$WORK/slow.wat" -o "$WORK/slow.wasm"
check "a module that takes seconds to compile" "$?" 0
"$WEFT" compile -q --tier opt "$WORK/slow.wasm" >/dev/null 2>&1 &
victim=$!
for _ in $(seq 1 100); do
  ls -d "$WORK"/cache/weft/tmp-* >/dev/null 2>&1 && break
  sleep 0.1
done
sleep 0.5
kill -KILL $victim
wait $victim 2>/dev/null
left=$(ls -d "$WORK"/cache/weft/tmp-* 2>/dev/null | wc -l)
check "the killed compile left its build folder" "$left" 1
key=$(printf '%064d' 0)
mkdir -p "$WORK/cache/weft/tmp-$key-$$-alive0"
run "$WEFT" compile -q --tier opt "$WORK/slow.wasm"
check "the next compile succeeds" "$RC" 0
check "and removes the dead compile's folder, not the live one's" \
  "$(cd "$WORK/cache/weft" && ls -d tmp-* 2>/dev/null | tr '\n' ' ')" "tmp-$key-$$-alive0 "

# A compiler does not outlive a weft killed with SIGKILL: here a wasm2c that would
# run for ever (a yosys-sized translation holds 1.8 GB for a minute).
mkdir -p "$WORK/hang"
printf '#!/bin/sh\necho $$ >"%s"\nexec sleep 300\n' "$WORK/hang/pid" >"$WORK/hang/wasm2c"
chmod +x "$WORK/hang/wasm2c"
PATH="$WORK/hang:$PATH" "$WEFT" compile -q --cache-dir "$WORK/hang-cache" "$WORK/slow.wasm" \
  >/dev/null 2>&1 &
victim=$!
for _ in $(seq 1 100); do
  [ -s "$WORK/hang/pid" ] && break
  sleep 0.1
done
child=$(cat "$WORK/hang/pid" 2>/dev/null)
[ -n "$child" ] && kill -0 "$child" 2>/dev/null && pass || fail "the hanging wasm2c did not start"
kill -KILL $victim
wait $victim 2>/dev/null
for _ in $(seq 1 50); do
  kill -0 "$child" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$child" 2>/dev/null; then
  fail "wasm2c (pid $child) runs on after weft was killed"
  kill -KILL "$child"
else
  pass
fi

# A relative --cache-dir: the compilers run inside a build folder under it, and their
# logs are opened there (they once were opened by a path relative to the wrong folder,
# so every compile failed as "wasm2c refused it").
mkdir -p "$WORK/rel"
cp "$H" "$WORK/rel/h.wasm"
(cd "$WORK/rel" && "$WEFT" compile -q --cache-dir relcache h.wasm) >"$WORK/rel.out" 2>&1
check "weft compile with a relative --cache-dir" "$?:$(ls "$WORK"/rel/relcache/*.so 2>/dev/null | wc -l)" "0:1"

# The key holds the compiler: the same module compiled by gcc and by clang is two
# artifacts; by gcc again, the one it already has.
if command -v gcc >/dev/null && command -v clang >/dev/null; then
  a=$(CC=gcc "$WEFT" compile -q --cache-dir "$WORK/cc" "$H")
  b=$(CC=clang "$WEFT" compile -q --cache-dir "$WORK/cc" "$H")
  c=$(CC=gcc "$WEFT" compile -q --cache-dir "$WORK/cc" "$H")
  check "one artifact per compiler" "$([ -n "$a" ] && [ "$a" != "$b" ] && [ "$a" = "$c" ] && echo yes)" yes
fi
finish
