#!/bin/bash
# allowed_hosts from the manifest reaches a request handler's outbound HTTP: an allowed
# host answers, anything else is code 7 and logged with the function and the URL.
source "$(dirname "$0")/gw.bash"
source "$TESTS_DIR/host/serve.bash" # the host tests' local HTTP server: PORT, BASE
trap 'kill $SERVER_PID 2>/dev/null; cleanup_servers' EXIT
UPSTREAM=$BASE

DIR="$WORK/app"
mkdir -p "$DIR"
cp "$GUESTS/gw_outbound.wasm" "$DIR/"
cat >"$DIR/weft.toml" <<TOML
[[function]]
name = "allowed"
source = "gw_outbound.wasm"
route = "/allowed"
allowed_hosts = ["$UPSTREAM"]

[[function]]
name = "closed"
source = "gw_outbound.wasm"
route = "/closed"
TOML
start_weft "$DIR" || { fail "server start"; finish; exit 1; }

get "/allowed?url=$UPSTREAM/hello"
check "an allowed host: the guest gets the answer" "$(printf '%s\n' "$BODY" | head -2 | tr '\n' ' ')" \
  "code=0 status=200 "
check_contains "... and its body" "$BODY" "body=hello from the test server"
get "/allowed?url=http://127.0.0.2:$PORT/hello"
check "another host: denied (7)" "$(printf '%s\n' "$BODY" | head -1)" "code=7"
get "/closed?url=$UPSTREAM/hello"
check "no allowed_hosts: everything denied (7)" "$(printf '%s\n' "$BODY" | head -1)" "code=7"
log_has "closed: outbound HTTP request to $UPSTREAM/hello denied: not in allowed_hosts"
check "a denial is logged with the function and the URL" $? 0
stop_weft
check "clean exit" "$STOP_RC" 0
finish
