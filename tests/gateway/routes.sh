#!/bin/bash
# Route rules: exact routes, /prefix/... wildcards, the most specific match, a
# module's _routes export, [[route]] tables with their own entry point, /healthz, 404.
source "$(dirname "$0")/gw.bash"

DIR="$WORK/app"
mkdir -p "$DIR"
cp "$GUESTS/gw_cgi.wasm" "$GUESTS/gw_routes.wasm" "$DIR/"
cat >"$DIR/weft.toml" <<'TOML'
[[function]]
name = "catchall"
source = "gw_cgi.wasm"
route = "/..."

[[function]]
name = "foo-wild"
source = "gw_cgi.wasm"
route = "/foo/..."
environment = { WHO = "foo-wild" }

[[function]]
name = "foo-bar-wild"
source = "gw_cgi.wasm"
route = "/foo/bar/..."
environment = { WHO = "foo-bar-wild" }

[[function]]
name = "exact"
source = "gw_cgi.wasm"
route = "/foo/bar/exact"
environment = { WHO = "exact" }

[[function]]
name = "dyn"
source = "gw_routes.wasm"
route = "/dyn/..."

[[route]]
path = "/also/hello"
function = "dyn"
entrypoint = "_hello"
TOML
start_weft "$DIR" || { fail "server start"; finish; exit 1; }

check_contains "the routes are printed at start" "$(cat "$DIR/out")" "/foo/bar/exact"
check_contains "_routes sub-routes are printed" "$(cat "$DIR/out")" "/dyn/hello"

# who PATH: which function answered (its WHO, or "catchall"), and what PATH_INFO it saw.
who() {
  get "$1"
  local w s
  w=$(printf '%s\n' "$BODY" | grep -m1 '^WHO=' | cut -d= -f2-)
  s=$(printf '%s\n' "$BODY" | grep -m1 '^SCRIPT_NAME=' | cut -d= -f2-)
  echo "${w:-catchall} $s"
}
# The guest answers /env... with its variables: every path below ends in /env.
check "/foo/... matches /foo/env" "$(who /foo/env)" "foo-wild /foo"
get /foo
check "/foo/... matches /foo itself" "$(printf '%s\n' "$HEADERS" | grep '^x-who:')" "x-who: foo-wild"
check "... with an empty PATH_INFO" "$BODY" "no such test: "
get /foo/
check "/foo/... matches /foo/" "$(printf '%s\n' "$HEADERS" | grep '^x-who:')" "x-who: foo-wild"
check "/foo/... does not match /foobar: the catch-all does" "$(who /foobar/env)" "catchall /"
check "the longer wildcard wins" "$(who /foo/bar/env)" "foo-bar-wild /foo/bar"
get /foo/bar/exact
check "an exact route wins over wildcards" "$(printf '%s\n' "$HEADERS" | grep '^x-who:')" "x-who: exact"
check "... with an empty PATH_INFO" "$BODY" "no such test: "
check "an exact route matches only itself" "$(who /foo/bar/exact/env)" "foo-bar-wild /foo/bar"
check "/... catches the rest" "$(who /elsewhere/env)" "catchall /"
get /env
check "PATH_INFO under /... keeps the leading slash" "$(printf '%s\n' "$BODY" | grep '^PATH_INFO=')" "PATH_INFO=/env"

# _routes
get /dyn/hello
check "_routes: an exact sub-route calls its entry point" "$BODY" "hello entry"
get /dyn/wild/deeper/path
check "_routes: a wildcard sub-route" "$BODY" "wild entry"
get /dyn/wild
check "_routes: a wildcard sub-route matches its prefix" "$BODY" "wild entry"
get /dyn/other
check "_routes: the module's own route calls _start" "$BODY" "main entry"
get /dyn/hellox
check "_routes: /dyn/hellox is not /dyn/hello" "$BODY" "main entry"
get /also/hello
check "[[route]] with its own entry point" "$BODY" "hello entry"

get /healthz
check "/healthz answers 200" "$STATUS:$BODY" "200:OK"
stop_weft

# Without a catch-all, an unknown path is 404.
cat >"$DIR/weft.toml" <<'TOML'
[[function]]
name = "only"
source = "gw_cgi.wasm"
route = "/only"
TOML
start_weft "$DIR" || { fail "server start 2"; finish; exit 1; }
get /nothing/here
check "no match: 404" "$STATUS" 404
get /onlyx
check "an exact route does not match a longer path" "$STATUS" 404
get /only/
check "an exact route does not match with a trailing slash" "$STATUS" 404
get /healthz
check "/healthz with no routes of its own" "$STATUS" 200
stop_weft

# A route naming an entry point the module does not export fails at start.
cat >"$DIR/weft.toml" <<'TOML'
[[function]]
name = "dyn"
source = "gw_routes.wasm"

[[route]]
path = "/x"
function = "dyn"
entrypoint = "_nope"
TOML
pushd "$DIR" >/dev/null
run "$WEFT" up -q --listen 127.0.0.1:0
popd >/dev/null
check "a missing entry point: weft up fails" "$RC" 1
check_contains "and says which, and what the module exports" "$ERR" \
  "gw_routes.wasm has no exported function '_nope': its functions are _start, _routes, _hello, _wild"
finish
