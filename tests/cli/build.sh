#!/usr/bin/env bash
# weft build: runs each function's build command with /bin/sh -c in its workdir, in
# manifest order, saying which it builds and streaming the command's output; functions
# without a build are named once and skipped; the first failure stops it with status 1,
# naming the function and its exit status, the compiler's error shown and the functions
# after it not built. FUNCTION arguments build only those. weft up --build builds the
# same way before it serves, and does not serve after a failed build.
source "$(dirname "$0")/../gateway/gw.bash"

command -v clang >/dev/null || skip "no clang (Debian package clang)"
printf 'int main(void){return 0;}' >"$WORK/probe.c"
clang --target=wasm32-wasi -O2 "$WORK/probe.c" -o "$WORK/probe.wasm" 2>/dev/null ||
  skip "clang cannot build for wasm32-wasi (Debian packages wasi-libc, lld, libclang-rt-dev-wasm32)"

DIR=$WORK/app
mkdir -p "$DIR/a/src" "$DIR/b"
cd "$DIR" || exit 1
greeter() { printf '#include <stdio.h>\nint main(void) { printf("Content-Type: text/plain\\n\\n%s\\n"); return 0; }\n' "$1"; }
greeter "from a" >a/src/main.c
greeter "from b" >b/main.c
cp "$GUESTS/gw_hello.wasm" prebuilt.wasm
cat >weft.toml <<'EOF'
[[function]]
name = "fa"
source = "a/a.wasm"
route = "/a"
build = { command = "echo building in $(basename $PWD) && clang --target=wasm32-wasi -O2 src/main.c -o a.wasm", workdir = "a", watch = ["src/**/*.c"] }

[[function]]
name = "plain"
source = "prebuilt.wasm"
route = "/plain"

[[function]]
name = "fb"
source = "b/b.wasm"
route = "/b"
build = { command = "clang --target=wasm32-wasi -O2 b/main.c -o b/b.wasm" }
EOF

# ---- success -----------------------------------------------------------------------------
run "$WEFT" build
check "build: status" "$RC" 0
check "build: what it says, in manifest order, with the command's output" "$OUT" \
  "No build command for the function: plain (not built)
Building fa: echo building in \$(basename \$PWD) && clang --target=wasm32-wasi -O2 src/main.c -o a.wasm
building in a
Building fb: clang --target=wasm32-wasi -O2 b/main.c -o b/b.wasm
Finished building 2 functions"
[ -s a/a.wasm ] && [ -s b/b.wasm ] && pass || fail "build: the modules were not written"

# Only the functions named.
rm -f a/a.wasm b/b.wasm
run "$WEFT" build fb
check "build fb: status" "$RC" 0
[ ! -e a/a.wasm ] && [ -s b/b.wasm ] && pass || fail "build fb built $(ls a b)"
run "$WEFT" build nonesuch
check "build of an unknown function: status" "$RC" 2
check_contains "build of an unknown function: says so" "$ERR" "weft.toml has no function nonesuch"

# ---- a failure stops it --------------------------------------------------------------------
rm -f a/a.wasm b/b.wasm
printf 'int main(void) { return oops; }\n' >a/src/main.c
run "$WEFT" build
check "failure: status" "$RC" 1
check_contains "failure: the compiler's error" "$ERR" "src/main.c:1:25: error: use of undeclared identifier 'oops'"
check_contains "failure: the function named, and how its command ended" "$ERR" \
  "weft: the build of fa failed (exit 1): echo building in"
check_contains "failure: what it ran" "$OUT" "Building fa: "
case "$OUT" in *"Building fb"*) fail "failure: fb was built after fa failed" ;; *) pass ;; esac
[ ! -e b/b.wasm ] && pass || fail "failure: fb was built after fa failed"
case "$OUT" in *Finished*) fail "failure: said it finished" ;; *) pass ;; esac

# ---- weft up --build -------------------------------------------------------------------------
run "$WEFT" up --build --listen 127.0.0.1:0
check "up --build after a failed build: status" "$RC" 1
check_contains "up --build after a failed build: why" "$ERR" "the build of fa failed (exit 1)"
case "$OUT" in *Ready*) fail "up --build served after a failed build" ;; *) pass ;; esac
greeter "from a" >a/src/main.c
rm -f a/a.wasm b/b.wasm
if start_weft "$DIR" --build; then
  check_contains "up --build: built first" "$(cat "$DIR/out")" "Finished building 2 functions"
  get /a
  check "up --build: serves what it built" "$BODY" "from a"
  get /b
  check "up --build: every function" "$BODY" "from b"
  stop_weft
  check "up --build: clean exit" "$STOP_RC" 0
else
  fail "weft up --build did not start"
fi

# ---- -c, and a manifest without builds ---------------------------------------------------------
mkdir -p "$WORK/other"
printf '[[function]]\nname = "x"\nsource = "x.wasm"\n' >"$WORK/other/weft.toml"
run "$WEFT" build -c "$WORK/other/weft.toml"
check "nothing to build: status" "$RC" 0
check_contains "nothing to build: says so" "$OUT" "Nothing to build"
cd "$WORK" || exit 1
run "$WEFT" build
check "no manifest: status" "$RC" 1
check_contains "no manifest: says so" "$ERR" "no weft.toml, wagi.toml, modules.toml or spin.toml here"
run "$WEFT" build --help
check_contains "--help" "$OUT" "usage: weft build [options] [FUNCTION...]"
finish
