#!/bin/bash
# A WAGI user's modules.toml runs unchanged: relative and file:// module paths, a .wat
# module, volumes, per-module environment, argv, entrypoint, allowed_hosts and
# http_max_concurrency; relative paths resolve against the working directory, as in
# WAGI (whose own examples/modules.toml is run from the folder above it), and a file
# run from the wrong folder is refused with a message that says so; /healthz answers
# exactly what WAGI's does; `weft up` finds modules.toml / wagi.toml by itself; a
# weft.toml with a mistake is refused with file, line and key.
source "$(dirname "$0")/gw.bash"

DIR="$WORK/wagi"
mkdir -p "$DIR/modules" "$DIR/data" "$WORK/elsewhere"
cp "$GUESTS/gw_hello.wasm" "$GUESTS/gw_routes.wasm" "$DIR/modules/"
cp "$GUESTS/gw_cgi.wasm" "$WORK/elsewhere/"
echo "volume text" >"$DIR/data/in.txt"
cat >"$DIR/modules/hello.wat" <<'WAT'
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "Content-Type: text/plain\n\nhello from wat\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 41))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
WAT
cat >"$DIR/modules.toml" <<TOML
# A WAGI modules.toml, as WAGI documents it.
[[module]]
route = "/"
module = "modules/gw_hello.wasm"

[[module]]
route = "/cgi/..."
module = "file://$WORK/elsewhere/gw_cgi.wasm"
volumes = { "/data" = "data" }
environment = { FOO = "bar", NUMBER = 42 }
allowed_hosts = ["https://example.com"]
http_max_concurrency = 2
argv = "\${SCRIPT_NAME} \${ARGS}"

[[module]]
route = "/wat"
module = "modules/hello.wat"

[[module]]
route = "/dyn/..."
module = "modules/gw_routes.wasm"

[[module]]
route = "/entry"
module = "modules/gw_routes.wasm"
entrypoint = "_wild"
TOML
start_weft "$DIR" || { fail "server start"; finish; exit 1; }
check_contains "found modules.toml by itself" "$(cat "$DIR/out")" "Serving modules.toml"
check_contains "routes printed" "$(cat "$DIR/out")" "/dyn/wild/..."

get /
check "hello world module" "$STATUS:$BODY" "200:hello from weft"
get /wat
check "a .wat module, converted at load" "$STATUS:$BODY" "200:hello from wat"
get '/cgi/env?x=1&y=2'
var() { printf '%s\n' "$BODY" | grep -m1 "^$1=" | cut -d= -f2-; }
check "file:// module" "$STATUS" 200
check "per-module environment" "$(var FOO)" "bar"
check "a number in environment" "$(var NUMBER)" "42"
check "argv template" "$(printf '%s\n' "$BODY" | grep '^argv' | cut -d= -f2- | tr '\n' ' ')" "/cgi x=1 y=2 "
get /cgi/volume
check "a volume relative to the working directory" "$(printf '%s\n' "$BODY" | head -1)" "in=volume text"
check "volume written" "$(cat "$DIR/data/out.txt")" "written by the guest"
get /dyn/hello
check "_routes under WAGI" "$BODY" "hello entry"
get /entry
check "entrypoint" "$BODY" "wild entry"
get /healthz
check "/healthz" "$STATUS" 200
check "/healthz answers exactly OK, as WAGI does" "$(od -An -tx1 "$WORK/body" | tr -d ' \n')" "4f4b"
check "... with no Content-Type, as WAGI" "$(grep -ci '^content-type:' <<<"$HEADERS")" 0
check "... and a length of 2" "$(grep -i '^content-length:' <<<"$HEADERS")" "content-length: 2"
stop_weft
check "clean exit" "$STOP_RC" 0

# The same file named wagi.toml, found when there is no modules.toml; an unknown key
# is only a warning, as in WAGI.
mv "$DIR/modules.toml" "$DIR/wagi.toml"
sed -i 's|^route = "/wat"|route = "/wat"\nbindle_server = "ignored"|' "$DIR/wagi.toml"
start_weft "$DIR" || { fail "server start (wagi.toml)"; finish; exit 1; }
check_contains "found wagi.toml" "$(cat "$DIR/out")" "Serving wagi.toml"
check_contains "an unknown key in a WAGI file is a warning" "$(cat "$DIR/log")" \
  "wagi.toml:17: warning: unknown key 'bindle_server' in [[module]] ignored"
get /wat
check "serving with wagi.toml" "$BODY" "hello from wat"
stop_weft

# -c names any file.
cp "$DIR/wagi.toml" "$DIR/other-name.toml"
start_weft "$DIR" -c other-name.toml || { fail "server start (-c)"; finish; exit 1; }
get /
check "-c FILE in WAGI's format" "$BODY" "hello from weft"
stop_weft

# Mistakes are refused before anything listens.
cat >"$DIR/weft.toml" <<'TOML'
[[function]]
name = "hello"
source = "modules/gw_hello.wasm"
tiemout = "1s"
TOML
pushd "$DIR" >/dev/null
run "$WEFT" up -q --listen 127.0.0.1:0
check "weft.toml is preferred, and a mistake in it fails" "$RC" 1
check "the error names file, line and key" "$ERR" \
  "weft: weft.toml:4: unknown key 'tiemout' in [[function]] 'hello'"
printf '[[function]]\nname = "hello"\nsource = "modules/gw_hello.wasm"\ntimeout = true\n' >weft.toml
run "$WEFT" up -q --listen 127.0.0.1:0
check "a wrong type" "$ERR" \
  "weft: weft.toml:4: 'timeout' in [[function]] 'hello' must be a duration like \"30s\", not a boolean"
printf '[[module]]\nroute = "/x"\nmodule = "missing.wasm"\n' >wagi.toml
rm weft.toml
run "$WEFT" up -q --listen 127.0.0.1:0
check "a missing module fails at start" "$RC" 1
check_contains "naming it" "$ERR" "missing.wasm"
mkdir -p empty && cd empty
run "$WEFT" up
check "no manifest at all" "$RC" 1
check_contains "says what to do" "$ERR" "name one with -c FILE"
popd >/dev/null

# WAGI's own layout: examples/modules.toml names examples/hello.wat, and
# `weft up -c examples/modules.toml` is run from the folder above.
LAYOUT="$WORK/layout"
mkdir -p "$LAYOUT/examples/data"
cp "$DIR/modules/hello.wat" "$LAYOUT/examples/hello.wat"
cp "$GUESTS/gw_cgi.wasm" "$LAYOUT/examples/"
echo "layout text" >"$LAYOUT/examples/data/in.txt"
cat >"$LAYOUT/examples/modules.toml" <<'TOML'
default_host = "localhost:3000"

[[module]]
route = "/"
module = "examples/hello.wat"

[[module]]
route = "/cgi/..."
module = "examples/gw_cgi.wasm"
volumes = { "/data" = "examples/data" }
TOML
DIR=$LAYOUT
start_weft "$LAYOUT" -c examples/modules.toml || { fail "server start (WAGI's layout)"; finish; exit 1; }
check_contains "WAGI's layout: its default_host is only a warning" "$(cat "$LAYOUT/log")" \
  "examples/modules.toml:1: warning: unknown key 'default_host' in the top level ignored"
get /
check "WAGI's layout: the module's answer" "$STATUS:$BODY" "200:hello from wat"
get /cgi/volume
check "WAGI's layout: a volume from the working directory" "$(printf '%s\n' "$BODY" | head -1)" \
  "in=layout text"
stop_weft
check "WAGI's layout: clean exit" "$STOP_RC" 0

# The same folder holding a file written for its own folder, run from above: refused,
# saying where the file is.
cat >"$LAYOUT/examples/modules.toml" <<'TOML'
[[module]]
route = "/"
module = "hello.wat"
TOML
pushd "$LAYOUT" >/dev/null
run "$WEFT" up -q --listen 127.0.0.1:0 -c examples/modules.toml
check "run from the wrong folder: exit 1" "$RC" 1
check "the error says where the module is and what to do" "$ERR" \
  "weft: examples/modules.toml:3: module 'hello.wat': no such file ./hello.wat; WAGI resolves module paths against the working directory, and examples/hello.wat exists: run weft up from examples, or use an absolute path"
cat >"$LAYOUT/examples/modules.toml" <<'TOML'
[[module]]
route = "/"
module = "examples/hello.wat"
volumes = { "/data" = "data" }
TOML
run "$WEFT" up -q --listen 127.0.0.1:0 -c examples/modules.toml
check "a volume from the wrong folder: exit 1" "$RC" 1
check "the error says where the volume is" "$ERR" \
  "weft: examples/modules.toml:4: volume '/data': no such folder ./data; WAGI resolves volume paths against the working directory, and examples/data exists: run weft up from examples, or use an absolute path"
popd >/dev/null

# weft.toml keeps its own rule: relative to its folder, wherever weft up runs.
cat >"$LAYOUT/examples/weft.toml" <<'TOML'
[[function]]
name = "hello"
source = "hello.wat"
route = "/"
TOML
DIR=$WORK
start_weft "$WORK" -c layout/examples/weft.toml || { fail "server start (weft.toml elsewhere)"; finish; exit 1; }
get /
check "weft.toml from another folder: paths relative to it" "$STATUS:$BODY" "200:hello from wat"
stop_weft
finish
