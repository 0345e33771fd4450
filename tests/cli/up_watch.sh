#!/usr/bin/env bash
# weft up --watch: builds first, then a change to a file the function's build.watch
# globs match ("src/**/*.c", "src/**/*.h" of the http-c template) rebuilds it and serves
# the new module, with no request failing meanwhile; a build that fails is logged with
# the compiler's output and the previous module keeps serving; a folder created under
# src/ is watched from then on; a file no glob matches builds nothing; an edit of the
# manifest reloads it as without --watch; SIGTERM during a build stops the build and
# weft up, cleanly.
source "$(dirname "$0")/../gateway/gw.bash"

command -v clang >/dev/null || skip "no clang (Debian package clang)"
printf 'int main(void){return 0;}' >"$WORK/probe.c"
clang --target=wasm32-wasi -O2 "$WORK/probe.c" -o "$WORK/probe.wasm" 2>/dev/null ||
  skip "clang cannot build for wasm32-wasi (Debian packages wasi-libc, lld, libclang-rt-dev-wasm32)"

cd "$WORK" || exit 1
"$WEFT" new http-c hello >/dev/null || { fail "weft new failed"; finish; exit; }
DIR=$WORK/hello
# answer TEXT [INCLUDE]: src/main.c answers TEXT (written in place, as an editor
# that saves over the file does). Each module is new to the shared artifact cache (the
# test's folder in a header), so that each reload compiles for a while, as a user's
# would, and requests meet the swap.
answer() {
  python3 - "$DIR/src/main.c" "$1" "${2:-}" "$WORK" <<'PY'
import sys
path, text, include, run = sys.argv[1:5]
src = '#include <stdio.h>\n'
if include:
    src += '#include "%s"\n' % include
src += 'int main(void) { printf("Content-Type: text/plain\\nX-Run: %s\\n\\n%%s\\n", %s); return 0; }\n' % (run, text)
with open(path, "r+") as f:
    f.truncate(0)
    f.write(src)
PY
}
# serves TEXT: waits (20 s at most) until / answers TEXT.
serves() {
  for _ in $(seq 1 200); do
    get /
    [ "$BODY" == "$1" ] && return 0
    sleep 0.1
  done
  return 1
}
builds() { grep -c 'changed: building' "$DIR/log"; }
reloads() { grep -c 'weft.toml: reloaded in ' "$DIR/log"; }
# quiet: waits (30 s at most) until weft is between builds and reloads (every build
# and every reload logged as started has ended, and the log has not grown for a
# second), so that what the next step counts is not still in flight from the last
# one: on a loaded machine a build and its reload can take seconds.
quiet() {
  local size=-1 now still=0
  for _ in $(seq 1 150); do
    now=$(wc -c <"$DIR/log")
    if [ "$now" == "$size" ] &&
      [ "$(builds)" == "$(grep -cE ': built in |^weft: build of .* failed' "$DIR/log")" ] &&
      [ "$(grep -c ': reloading$' "$DIR/log")" == "$(grep -cE 'reloaded in |not reloaded' "$DIR/log")" ]; then
      still=$((still + 1))
      [ "$still" -ge 5 ] && return 0
    else
      still=0
    fi
    size=$now
    sleep 0.2
  done
  return 1
}
# reloaded_after N: waits (20 s at most) until the log counts more than N reloads.
reloaded_after() {
  for _ in $(seq 1 200); do
    [ "$(reloads)" -gt "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

answer '"A"'
start_weft "$DIR" --watch || { fail "weft up --watch did not start"; finish; exit; }
check_contains "built before serving" "$(cat "$DIR/out")" "Finished building 1 function"
log_has "--watch: hello is rebuilt when src/**/*.c, src/**/*.h change" && pass ||
  fail "the log does not say what is watched: $(cat "$DIR/log")"
get /
check "serves A" "$BODY" "A"

# Requests all along, from here to the end of the edits: none may fail.
rm -f "$WORK/stop" "$WORK/codes"
(while [ ! -e "$WORK/stop" ]; do
  curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 "$URL/" >>"$WORK/codes"
done) &
LOOP=$!

answer '"B"'
serves B && pass || fail "a changed src/main.c is not served: $BODY; $(tail -5 "$DIR/log")"
log_has "hello: src/main.c changed: building: clang --target=wasm32-wasi -O2 src/main.c -o hello.wasm" &&
  pass || fail "the log does not say what changed and what it runs"
log_has "weft.toml: a function was rebuilt: reloading" && pass || fail "not reloaded through the manifest's reload"

# A build that fails: the previous version serves on.
answer 'oops'
log_has "build of hello failed (exit 1); still serving the previous version" && pass ||
  fail "a failed build is not logged: $(tail -5 "$DIR/log")"
check_contains "the compiler's output in the log" "$(cat "$DIR/log")" "use of undeclared identifier 'oops'"
get /
check "after a failed build: the previous version" "$BODY" "B"

# A header in a folder created under src/, included by main.c: watched too.
mkdir -p "$DIR/src/lib"
printf '#define GREETING "C"\n' >"$DIR/src/lib/greeting.h"
answer 'GREETING' 'lib/greeting.h'
serves C && pass || fail "the fixed build was not served: $BODY"
n=$(builds)
printf '#define GREETING "D"\n' >"$DIR/src/lib/greeting.h.tmp"
mv "$DIR/src/lib/greeting.h.tmp" "$DIR/src/lib/greeting.h"
serves D && pass || fail "a header in a new folder is not watched: $BODY"
log_has "hello: src/lib/greeting.h changed: building" && pass || fail "the header's change not logged"

# Folders made after the last reload (which watches the tree afresh): watched as they
# appear, a file already in one when it is found included.
quiet || fail "weft did not settle after the header's build: $(tail -5 "$DIR/log")"
r=$(reloads)
mkdir -p "$DIR/src/extra/deeper"
printf '#define UNUSED 1\n' >"$DIR/src/extra/deeper/unused.h"
log_has "hello: src/extra/deeper/unused.h changed: building" && pass ||
  fail "a header in a folder made since the last reload is not watched: $(tail -3 "$DIR/log")"
reloaded_after "$r" || fail "not reloaded after the header's build"

# A file no glob matches: nothing is built.
quiet || fail "weft did not settle after the new folder's build: $(tail -5 "$DIR/log")"
n=$(builds)
echo notes >"$DIR/src/notes.txt"
echo x >"$DIR/hello.wasm.notes"
echo 'int x;' >"$DIR/src/.scratch.c" # '*' does not match a leading '.'
sleep 1
check "a file no glob matches builds nothing" "$(builds)" "$n"

touch "$WORK/stop"
wait "$LOOP"
total=$(wc -l <"$WORK/codes")
check "requests during the rebuilds: none failed (of $total)" "$(grep -vc '^200$' "$WORK/codes")" 0
[ "$total" -ge 20 ] && pass || fail "only $total requests were made during the rebuilds"

# The manifest: reloaded as without --watch.
quiet || fail "weft did not settle before the manifest's edit: $(tail -5 "$DIR/log")"
r=$(reloads)
echo '# edited' >>"$DIR/weft.toml"
log_has "weft.toml: changed: reloading" && pass || fail "an edit of the manifest is not reloaded"
reloaded_after "$r" || fail "the edited manifest was not reloaded"
get /
check "after the manifest's reload" "$BODY" "D"

# An edit while the function builds (after the compiler read the file, before the
# build ends): built again once that build is done.
r=$(reloads)
sed -i 's/-o hello.wasm"/-o hello.wasm \&\& sleep 1.5"/' "$DIR/weft.toml"
reloaded_after "$r" || fail "the slower build command was not loaded"
answer '"E"'
log_has "hello: src/main.c changed: building: clang --target=wasm32-wasi -O2 src/main.c -o hello.wasm && sleep 1.5" &&
  pass || fail "the slower build did not start"
sleep 0.5
answer '"F"'
serves F && pass || fail "an edit made during a build was lost: $BODY; $(tail -5 "$DIR/log")"

# Globs that match the function's own module: its build writing it builds nothing more
# (or it would build for ever).
r=$(reloads)
sed -i 's|watch = \[.*\]|watch = ["**"]|' "$DIR/weft.toml"
reloaded_after "$r" || fail "the new globs were not loaded"
n=$(builds)
answer '"H"'
serves H && pass || fail "not rebuilt with the globs **: $BODY"
sleep 2.5
check "a build writing its module where its globs look: built once" "$(builds)" "$((n + 1))"

# SIGTERM while a build runs: the build is stopped, weft up exits 0 at once.
r=$(reloads)
sed -i 's/sleep 1.5/sleep 47.5/' "$DIR/weft.toml"
reloaded_after "$r" && pass || fail "the slowest build command was not loaded"
answer '"G"'
log_has "hello.wasm && sleep 47.5" && pass || fail "the slow build did not start"
t0=$(date +%s)
stop_weft
check "SIGTERM during a build: clean exit" "$STOP_RC" 0
[ $(($(date +%s) - t0)) -lt 10 ] && pass || fail "SIGTERM waited for the build"
sleep 0.2
check "SIGTERM during a build: the build stopped" "$(pgrep -f 'sleep 47.5' | wc -l)" 0

# --watch reloads what it builds: not with --no-reload.
run "$WEFT" up --watch --no-reload
check "--watch with --no-reload: status" "$RC" 2
[ "$FAILED" -eq 0 ] || sed 's/^/log: /' "$DIR/log" >&2 # what weft did, step by step
finish
