# A standalone artifact (`weft compile app.wasm -o app.wasmc`) runs wherever a .wasm
# does: `weft run` by a relative or an absolute path, and weft.toml, modules.toml and
# wagi.toml under `weft up`, whatever its name. One that is cut short, damaged, built
# by another weft or for another CPU is refused before it is loaded, with a message that
# says which, names the file and tells how to recompile it. `-o` leaves no file behind
# for a module weft refuses, and reports a file it cannot write.
source "$TESTS_DIR/gateway/gw.bash"
H="$GUESTS/hello.wasm"
cd "$WORK" || exit 1

run "$WEFT" compile --help
check_contains "--help documents -o" "$OUT" "-o, --output FILE"
check_contains "--help documents the refusals" "$OUT" "for another CPU"

# ---- Round trip --------------------------------------------------------------------

run "$WEFT" compile "$H" -o hello.wasmc -q
check "compile -o after the module: status" "$RC" 0
check "compile -o prints the file" "$OUT" "hello.wasmc"
test -f hello.wasmc && pass || fail "hello.wasmc written"

# argv[0] is the path as given; the rest must be the same as the .wasm's.
others() { grep -v '^argv\[0\]=' <<<"$1"; }
run "$WEFT" run "$H" x y
want_rc=$RC want=$(others "$OUT")
check "the .wasm itself runs" "$want_rc" 7
run "$WEFT" run hello.wasmc x y
check "by a relative path without a slash: status" "$RC" "$want_rc"
check "by a relative path: the .wasm's output" "$(others "$OUT")" "$want"
run "$WEFT" run "$WORK/hello.wasmc" x y
check "by an absolute path: status" "$RC" "$want_rc"
check "by an absolute path: the .wasm's output" "$(others "$OUT")" "$want"
cp hello.wasmc disguised.wasm
run "$WEFT" run disguised.wasm x
check "known by its content, not its name" "$RC" 7

# Loaded from a copy in the cache named by its checksum (the 32 bytes before the last
# 16), made once; so the file itself can be overwritten in place (as `cp` does) while
# weft runs it. (Loaded in place, the truncated file's code would be gone: SIGBUS.)
shared_cache=$XDG_CACHE_HOME
export XDG_CACHE_HOME="$WORK/own-cache"
sum=$(tail -c 48 hello.wasmc | head -c 32 | od -An -tx1 | tr -d ' \n')
copy="$XDG_CACHE_HOME/weft/art-$sum.so"
cp hello.wasmc live.wasmc
mkfifo live.in
"$WEFT" run live.wasmc x <live.in >live.out 2>live.err &
pid=$!
exec 3>live.in
for _ in $(seq 1 100); do grep -q "/art-$sum.so" "/proc/$pid/maps" 2>/dev/null && break; sleep 0.1; done
maps=$(grep -o '/[^ ]*\(art-\|live\)[^ ]*' "/proc/$pid/maps" 2>/dev/null | sort -u)
check "what weft maps is the cache's copy" "$maps" "$copy"
: >live.wasmc
printf 'after\n' >&3
exec 3>&-
wait "$pid"
check "overwritten while it runs: status" "$?" 7
check_contains "overwritten while it runs: output" "$(cat live.out)" "after"
cmp -s hello.wasmc "$copy" && pass || fail "the cache's copy holds the same bytes"
before=$(stat -c %i "$copy")
run "$WEFT" run hello.wasmc
check "run again: status" "$RC" 0
check "the copy is made once" "$(stat -c %i "$copy")" "$before"
export XDG_CACHE_HOME=$shared_cache
# Where the cache cannot be written, the artifact is loaded in place.
run env XDG_CACHE_HOME=/dev/null/no-cache "$WEFT" run hello.wasmc x
check "in place, without a cache, by a relative path" "$RC" 7
check_contains "in place: its output" "$OUT" "argc=2"

# ---- In manifests ----------------------------------------------------------------------

DIR="$WORK/app"
mkdir -p "$DIR/modules"
run "$WEFT" compile -q "$GUESTS/gw_hello.wasm" -o "$DIR/modules/hello.wasmc"
check "compile gw_hello -o" "$RC" 0
cat >"$DIR/weft.toml" <<'TOML'
[[function]]
name = "hello"
source = "modules/hello.wasmc"
route = "/"
TOML
if start_weft "$DIR"; then
  get /
  check "weft.toml: an artifact as a function's source" "$STATUS:$BODY" "200:hello from weft"
  stop_weft
  check "weft.toml: clean exit" "$STOP_RC" 0
else
  fail "weft up with an artifact in weft.toml"
fi
rm "$DIR/weft.toml"
cat >"$DIR/modules.toml" <<TOML
[[module]]
route = "/"
module = "modules/hello.wasmc"

[[module]]
route = "/abs"
module = "file://$DIR/modules/hello.wasmc"
TOML
if start_weft "$DIR"; then
  check_contains "modules.toml found" "$(cat "$DIR/out")" "Serving modules.toml"
  get /
  check "modules.toml: a relative artifact" "$STATUS:$BODY" "200:hello from weft"
  get /abs
  check "modules.toml: a file:// artifact" "$STATUS:$BODY" "200:hello from weft"
  stop_weft
else
  fail "weft up with artifacts in modules.toml"
fi
mv "$DIR/modules.toml" "$DIR/wagi.toml"
if start_weft "$DIR"; then
  check_contains "wagi.toml found" "$(cat "$DIR/out")" "Serving wagi.toml"
  get /abs
  check "wagi.toml: an artifact" "$STATUS:$BODY" "200:hello from weft"
  stop_weft
else
  fail "weft up with artifacts in wagi.toml"
fi

# ---- Refusals --------------------------------------------------------------------------

# The trailer's layout (artifact.c), from the end of the file: magic "WEFTART2" (8),
# the code's length (8), SHA-256 (32), then the meta (100): glue ABI (u32 LE), weft's
# version (32), target (32), runtime headers' SHA-256 (32).
TRAILER=148
# patch FILE OFFSET LEN TEXT [keep]: writes TEXT (\xNN escapes allowed), padded with
# NULs to LEN bytes, at OFFSET in FILE's meta and recomputes the checksum, as another
# weft (or weft on another machine) would have written the file; with "keep", leaves
# the checksum as it was.
patch() {
  python3 - "$@" <<'PY'
import hashlib, sys
path, off, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
text = sys.argv[4].encode().decode("unicode_escape").encode("latin-1").ljust(n, b"\0")
b = bytearray(open(path, "rb").read())
meta = len(b) - 148
b[meta + off : meta + off + n] = text
if len(sys.argv) < 6:
    b[-48:-16] = hashlib.sha256(b[:-48]).digest()
open(path, "wb").write(b)
PY
}
# meta_text FILE OFFSET: a text field of FILE's meta.
meta_text() { tail -c $((TRAILER - $2)) "$1" | head -c 32 | tr -d '\0'; }
suggest() { printf '; recompile it from its .wasm: weft compile MODULE.wasm -o %s' "$1"; }
size=$(stat -c %s hello.wasmc)

cp hello.wasmc flipped.wasmc
printf '\x55' | dd of=flipped.wasmc bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
run "$WEFT" run flipped.wasmc
check "a flipped byte: status" "$RC" 1
check "a flipped byte: corrupted" "$ERR" \
  "weft: flipped.wasmc: corrupted artifact (checksum mismatch)$(suggest flipped.wasmc)"

head -c $((size / 2)) hello.wasmc >half.wasmc
run "$WEFT" run half.wasmc
check "cut in half: status" "$RC" 1
check_contains "cut in half: truncated" "$ERR" "weft: half.wasmc: truncated artifact ($((size / 2)) bytes; "
check_contains "cut in half: how to recompile" "$ERR" "$(suggest half.wasmc)"
head -c $((size - 10)) hello.wasmc >short.wasmc
run "$WEFT" run short.wasmc
check "trailer cut off: truncated" "$ERR" \
  "weft: short.wasmc: truncated artifact ($((size - 10)) bytes, its trailer is cut off)$(suggest short.wasmc)"
head -c $((size - TRAILER)) hello.wasmc >bare.so
run "$WEFT" run bare.so
check "no trailer at all: status" "$RC" 1
check_contains "no trailer at all: not weft's" "$ERR" \
  "weft: bare.so: not a weft artifact, or truncated: a shared object without weft's trailer"

target=$(meta_text hello.wasmc 36)
version=$(meta_text hello.wasmc 4)
check "the meta names this weft's version" "$version" "$("$WEFT" --version | cut -d' ' -f2)"
abi=$(tail -c $TRAILER hello.wasmc | head -c 4 | od -An -tu4 | tr -d ' ')
foreign=aarch64-linux-gnu
[ "$target" = "$foreign" ] && foreign=x86_64-linux-gnu
cp hello.wasmc cpu.wasmc
patch cpu.wasmc 36 32 "$foreign"
run "$WEFT" run cpu.wasmc
check "another CPU: status" "$RC" 1
check "another CPU: says so" "$ERR" \
  "weft: cpu.wasmc: artifact built for another CPU ($foreign; this machine runs $target)$(suggest cpu.wasmc)"

cp hello.wasmc abi.wasmc
patch abi.wasmc 0 4 "$(printf '\\x%02x' $((abi - 1)))"
run "$WEFT" run abi.wasmc
check "another glue ABI: status" "$RC" 1
check "another glue ABI: says so" "$ERR" \
  "weft: abi.wasmc: artifact built by another version of weft (weft $version, glue ABI $((abi - 1)); this is weft $version, glue ABI $abi)$(suggest abi.wasmc)"

cp hello.wasmc version.wasmc
patch version.wasmc 4 32 "0.0.1-other"
run "$WEFT" run version.wasmc
check_contains "another weft version: says so" "$ERR" \
  "weft: version.wasmc: artifact built by another version of weft (weft 0.0.1-other, glue ABI $abi; this is weft $version"

cp hello.wasmc runtime.wasmc
patch runtime.wasmc 68 7 "changed"
run "$WEFT" run runtime.wasmc
check "another build of weft: says so" "$ERR" \
  "weft: runtime.wasmc: artifact built by another build of weft $version (its runtime headers differ)$(suggest runtime.wasmc)"

cp hello.wasmc format.wasmc
printf '1' | dd of=format.wasmc bs=1 seek=$((size - 1)) conv=notrunc 2>/dev/null
run "$WEFT" run format.wasmc
check_contains "an earlier trailer format: another version" "$ERR" \
  "weft: format.wasmc: artifact built by another version of weft (artifact format 1, this weft reads format 2)"

# The checksum covers the meta: a damaged field is damage, not a foreign artifact.
cp hello.wasmc meta.wasmc
patch meta.wasmc 36 32 "s390x-linux-gnu" keep
run "$WEFT" run meta.wasmc
check_contains "a damaged meta: corrupted" "$ERR" "weft: meta.wasmc: corrupted artifact (checksum mismatch)"

# weft up refuses it at start, naming the file.
cp flipped.wasmc "$DIR/modules/hello.wasmc"
(cd "$DIR" && run timeout 60 "$WEFT" up -q --listen 127.0.0.1:0 && echo "$RC" >"$WORK/up.rc" &&
  echo "$ERR" >"$WORK/up.err")
check "weft up: a corrupted artifact stops it" "$(cat "$WORK/up.rc")" 1
check_contains "weft up: names it" "$(cat "$WORK/up.err")" "modules/hello.wasmc: corrupted artifact (checksum mismatch)"

# ---- compile -o's failures -------------------------------------------------------------

run "$WEFT" compile "$GUESTS/imports_env.wasm" -o refused.wasmc
check "a refused module: status" "$RC" 1
check_contains "a refused module: why" "$ERR" "which weft does not provide"
test -e refused.wasmc && fail "a refused module left refused.wasmc" || pass
printf 'not wasm at all' >text.wasm
cp hello.wasmc kept.wasmc
run "$WEFT" compile text.wasm -o kept.wasmc
check "a malformed module: status" "$RC" 1
cmp -s hello.wasmc kept.wasmc && pass || fail "a failed compile changed the existing kept.wasmc"
check "nothing else left behind" "$(ls | grep -c 'tmp')" 0

run "$WEFT" compile "$H" -o "$WORK/no/such/folder/out.wasmc"
check "a missing folder: status" "$RC" 1
check_contains "a missing folder: reported" "$ERR" "weft: cannot write $WORK/no/such/folder/out.wasmc: "
check_contains "a missing folder: why" "$ERR" "No such file or directory"
run "$WEFT" compile "$H" -o "$WORK/text.wasm/out.wasmc"
check_contains "a file as folder: reported" "$ERR" "weft: cannot write $WORK/text.wasm/out.wasmc: "
if [ "$(id -u)" != 0 ]; then # root writes into any folder
  mkdir ro && chmod 555 ro
  run "$WEFT" compile "$H" -o ro/out.wasmc
  check "an unwritable folder: status" "$RC" 1
  check_contains "an unwritable folder: reported" "$ERR" "weft: cannot write ro/out.wasmc: "
  check_contains "an unwritable folder: why" "$ERR" "Permission denied"
  chmod 755 ro
fi

run "$WEFT" compile hello.wasmc
check "compiling an artifact: status" "$RC" 1
check "compiling an artifact: says what to do" "$ERR" \
  "weft: hello.wasmc is a compiled artifact already: compile the .wasm it was compiled from"
finish
