#!/bin/bash
# The gateway routes to a reactor's exported function (a function's entrypoint): the
# request's CGI environment and stdio as for _start, the reactor's _initialize run once
# in each request's instance before it. A function's unknown_imports (weft.toml, and
# wagi.toml as a weft extension) runs a module whose imports weft does not provide.
# What cannot run stops `weft up` with the module and what it exports named.
source "$(dirname "$0")/gw.bash"

DIR="$WORK/app"
mkdir -p "$DIR"
cp "$GUESTS/reactor.wasm" "$GUESTS/imports_bridge.wasm" "$DIR/"
cat >"$DIR/weft.toml" <<'TOML'
[[function]]
name = "reactor"
source = "reactor.wasm"
route = "/r"
entrypoint = "handle"

[[function]]
name = "bridge-default"
source = "imports_bridge.wasm"
route = "/default"
unknown_imports = "default"

[[function]]
name = "bridge-trap"
source = "imports_bridge.wasm"
route = "/trap"
unknown_imports = "trap"
TOML
start_weft "$DIR" || { fail "server start"; finish; exit 1; }

get /r
check "a reactor's export answers, _initialize run once before it" "$STATUS:$BODY" \
  "200:inits=1 method=GET"
get /r -X POST -d x
check "each request a fresh instance, initialized once" "$STATUS:$BODY" "200:inits=1 method=POST"
check "_initialize's stderr is logged per request" "$(log_count 'reactor: _initialize ran$')" 2

get '/default?call'
check "unknown_imports = default: the call returns zero" "$STATUS:$BODY" "200:bridge returned 0"
get /trap
check "unknown_imports = trap: runs while the import is not called" "$STATUS:$BODY" \
  "200:bridge not called"
get '/trap?call'
check "unknown_imports = trap: calling it is a 500" "$STATUS" 500
log_has "trap: unknown import env.bridge called (weft does not provide it)" ||
  fail "the trap, with the import named, is logged"
stop_weft

# The same in a WAGI file, where unknown_imports is weft's own key.
rm "$DIR/weft.toml"
cat >"$DIR/wagi.toml" <<'TOML'
[[module]]
route = "/r"
module = "reactor.wasm"
entrypoint = "handle"

[[module]]
route = "/b"
module = "imports_bridge.wasm"
unknown_imports = "default"
TOML
start_weft "$DIR" || { fail "wagi server start"; finish; exit 1; }
get /r
check "wagi.toml: a reactor's export" "$STATUS:$BODY" "200:inits=1 method=GET"
get '/b?call'
check "wagi.toml: unknown_imports" "$STATUS:$BODY" "200:bridge returned 0"
stop_weft
check "no warning about the key" "$(grep -c "unknown key" "$DIR/log")" 0
rm "$DIR/wagi.toml"

# up_fails TOML: `weft up` with this weft.toml; $ERR its stderr.
up_fails() {
  printf '%s\n' "$1" >"$DIR/weft.toml"
  pushd "$DIR" >/dev/null
  run "$WEFT" up -q --listen 127.0.0.1:0
  popd >/dev/null
}

up_fails '[[function]]
name = "r"
source = "reactor.wasm"
route = "/r"'
check "a reactor routed to _start: weft up fails" "$RC" 1
check_contains "... saying it is a reactor and what it exports" "$ERR" \
  "route /r: reactor.wasm has no exported function '_start': it is a reactor (it exports _initialize and no _start); its functions are _initialize, report, add, mul64, scale, third, inits, fail, handle"

up_fails '[[function]]
name = "r"
source = "reactor.wasm"
route = "/r"
entrypoint = "add"'
check "an entrypoint that takes parameters: weft up fails" "$RC" 1
check_contains "... saying its type" "$ERR" \
  "route /r: reactor.wasm: export 'add' has type (func (param i32 i32) (result i32)); a call can start only at a function that takes no parameters and returns nothing"

up_fails '[[function]]
name = "b"
source = "imports_bridge.wasm"
route = "/b"'
check "unknown imports without unknown_imports: weft up fails" "$RC" 1
check_contains "... naming the import" "$ERR" \
  "imports_bridge.wasm imports env.bridge (func (param i32) (result i32)), which weft does not provide"

up_fails '[[function]]
name = "b"
source = "imports_bridge.wasm"
route = "/b"
unknown_imports = "ignore"'
check "an unknown_imports that is not a mode: weft up fails" "$RC" 1
check_contains "... with the file, line and key" "$ERR" \
  "weft.toml:5: 'unknown_imports' in [[function]] 'b': 'ignore' is not \"trap\", \"default\" or \"refuse\""
finish
