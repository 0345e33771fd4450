#!/bin/bash
# A Spin app run by `weft up -c spin.toml`, end to end over real sockets: a Spin 1 HTTP
# handler (tests/guests/spin_handler.c, the canonical ABI written by hand) built by
# `weft build` from the manifest's [component.NAME.build], a WAGI-executor component,
# a static response, `:name` routes, variables resolved from SPIN_VARIABLE_*, key-value
# within the component's key_value_stores, outbound HTTP within
# allowed_outbound_hosts; then the same handler under a manifest of version 1 with a
# base path, files mapped read-only, and a component refused for what it is.
source "$(dirname "$0")/../gateway/gw.bash"
source "$TESTS_DIR/host/serve.bash" # a local HTTP server for outbound requests: BASE
trap 'kill $SERVER_PID 2>/dev/null; cleanup_servers' EXIT
command -v clang >/dev/null || { skip "clang is needed to build the component"; exit 0; }

DIR="$WORK/app"
mkdir -p "$DIR/src"
cp "$TESTS_DIR/guests/spin_handler.c" "$DIR/src/handler.c"
cp "$GUESTS/gw_cgi.wasm" "$DIR/"
cat >"$DIR/spin.toml" <<TOML
spin_manifest_version = 2

[application]
name = "spin-e2e"
version = "0.1.0"
authors = ["weft tests"]

[variables]
greeting = { default = "hello" }
token = { required = true, secret = true }

[[trigger.http]]
route = "/echo/:id/..."
component = "handler"

[[trigger.http]]
route = "/config/..."
component = "handler"

[[trigger.http]]
route = "/kv/..."
component = "handler"

[[trigger.http]]
route = "/http"
component = "handler"

[[trigger.http]]
route = "/trap"
component = "handler"

[[trigger.http]]
route = "/badret"
component = "handler"

[[trigger.http]]
route = "/cgi/:who/..."
component = "cgi"
executor = { type = "wagi", argv = "\${SCRIPT_NAME} \${ARGS} last" }

[[trigger.http]]
route = "/static"
static_response = { status_code = 201, headers = { x-static = "yes" }, body = "from the manifest" }

[component.handler]
source = "handler.wasm"
key_value_stores = ["default"]
allowed_outbound_hosts = ["$BASE"]
sqlite_databases = ["default"]
[component.handler.variables]
message = "{{ greeting }}, world"
secret = "{{ token }}"
[component.handler.build]
command = "clang --target=wasm32-wasi -mexec-model=reactor -O2 src/handler.c -o handler.wasm"
watch = ["src/**/*.c"]

[component.cgi]
source = "gw_cgi.wasm"
environment = { WHO = "spin" }
TOML

# weft build runs the component's build command, from the manifest's folder.
cd "$DIR" && run "$WEFT" build -c spin.toml; cd - >/dev/null; echo "$OUT$ERR" >&2
check "weft build of a spin.toml: exit 0" "$RC" 0
check_contains "... and it names the component" "$OUT$ERR" "handler"
[ -s "$DIR/handler.wasm" ]
check "... which built handler.wasm" $? 0
# The wasm is a Spin 1 handler: the export and the canonical ABI's allocator.
EXPORTS=$(wasm-objdump -x "$DIR/handler.wasm" | sed -n 's/.*-> "\(.*\)"$/\1/p' | sort | tr '\n' ' ')
check_contains "the component exports handle-http-request" "$EXPORTS" "handle-http-request"
check_contains "... and canonical_abi_realloc" "$EXPORTS" "canonical_abi_realloc"

export SPIN_VARIABLE_GREETING=hi SPIN_VARIABLE_TOKEN=s3cret
# With a token: weft's own endpoints need it, the app's routes (static ones too) never.
start_weft "$DIR" -c spin.toml --token spin-app-token || { fail "server start"; finish; exit 1; }
unset SPIN_VARIABLE_GREETING SPIN_VARIABLE_TOKEN
log_has "sqlite_databases"
check "a key weft does not implement is warned about by name" $? 0

# The Spin executor: the records as the handler received them.
get "/echo/42/rest/of?q=1&r" -H "X-Test: a b"
check "GET through the Spin executor: 200" "$STATUS" 200
check_contains "method GET is 0" "$BODY" "method=0"
check_contains "the uri is the path and query" "$BODY" "uri=/echo/42/rest/of?q=1&r"
check_contains "request headers, names in lower case" "$BODY" "h:x-test=a b"
check_contains "spin-full-url" "$BODY" "h:spin-full-url=http://$HOSTPORT/echo/42/rest/of?q=1&r"
check_contains "spin-path-info: what the wildcard matched" "$BODY" "h:spin-path-info=/rest/of"
check_contains "spin-matched-route" "$BODY" "h:spin-matched-route=/echo/:id/..."
check_contains "spin-base-path" "$BODY" "h:spin-base-path=/"
check_contains "spin-raw-component-route" "$BODY" "h:spin-raw-component-route=/echo/:id/..."
check_contains "spin-component-route" "$BODY" "h:spin-component-route=/echo/:id"
check_contains "spin-client-addr" "$BODY" "h:spin-client-addr=127.0.0.1:"
check_contains "spin-path-match-id" "$BODY" "h:spin-path-match-id=42"
check_contains "the params carry the named segment" "$BODY" "p:id=42"
check_contains "an empty body is still Some" "$BODY" "body="
check_contains "the handler's headers are sent, repeats kept" "$HEADERS" "x-spin: yes"
check_contains "... both of them" "$HEADERS" "x-spin: twice"
get "/echo/7/x" -X POST --data-binary 'payload'
check_contains "POST is 1, the body passed" "$BODY" "method=1"
check_contains "... with its bytes" "$BODY" "body=payload"
get "/echo/" 
check "a named segment needs a segment: 404" "$STATUS" 404
get "/echo/7/x" -X PROPFIND
check "a method Spin has no case for: 405" "$STATUS" 405

# spin-config.get-config: the component's variables, resolved from [variables] and
# SPIN_VARIABLE_* (which overrode the default greeting).
get "/config/message"
check "get-config: the template resolved, the environment's value first" "$BODY" "hi, world"
get "/config/secret"
check "get-config: a required secret from the environment" "$BODY" "s3cret"
get "/config/nope"
check "get-config of an unknown key: the handler's 404" "$STATUS" 404
if log_has "s3cret"; then fail "a secret's value appeared in the log"; else pass; fi

# key-value on weft's store, within key_value_stores.
get "/kv/default"
check "key-value on a granted store" "$BODY" "open: ok
set k1: ok
get k1: ok v1
exists k1: ok true
exists nope: ok false
get-keys: ok 1: k1
delete k1: ok
delete k1 again: ok
exists k1: ok false
get nope: err 4
get after close: err 3"
get "/kv/other"
check "a store not in key_value_stores: access-denied (2)" "$BODY" "open: err 2"

# wasi-outbound-http within allowed_outbound_hosts.
get "/http?u=$BASE/echo"
check_contains "an allowed host answers" "$BODY" "status=200"
get "/http?u=http://127.0.0.2:$PORT/echo"
check_contains "another host: destination-not-allowed (1)" "$BODY" "err 1"

# A failing handler fails its own request only.
get "/trap"
check "a trap: 500" "$STATUS" 500
get "/badret"
check "a response record out of memory: 500" "$STATUS" 500
log_has "out of memory bounds"
check "... said in the log" $? 0
get "/echo/1/after"
check "the next request is served" "$STATUS" 200

# The WAGI executor with Spin's argv template and Spin's variables.
get "/cgi/bob/x/env?a=1"
check "the WAGI executor: 200" "$STATUS" 200
check_contains "argv from the template: SCRIPT_NAME, the query's items, the rest" "$BODY" \
  "argv[0]=/cgi/bob/x/env
argv[1]=a=1
argv[2]=last"
check_contains "PATH_INFO is what the wildcard matched" "$BODY" "PATH_INFO=/x/env"
check_contains "X_PATH_MATCH_WHO" "$BODY" "X_PATH_MATCH_WHO=bob"
check_contains "X_RAW_COMPONENT_ROUTE" "$BODY" "X_RAW_COMPONENT_ROUTE=/cgi/:who/..."
check_contains "X_FULL_URL" "$BODY" "X_FULL_URL=http://$HOSTPORT/cgi/bob/x/env?a=1"
check_contains "the component's environment" "$BODY" "WHO=spin"

# A static response, answered by weft, with no token asked for.
get "/_weft/describe"
check "the token is in force for weft's own endpoints" "$STATUS" 401
get "/static"
check "static_response: its status" "$STATUS" 201
check "... its body" "$BODY" "from the manifest"
check_contains "... its headers" "$HEADERS" "x-static: yes"
stop_weft
check "clean exit" "$STOP_RC" 0

# Version 1: a base path, [component.config], key_value_stores, files mapped read-only.
V1="$WORK/v1"
mkdir -p "$V1/assets"
cp "$DIR/handler.wasm" "$DIR/gw_cgi.wasm" "$V1/"
echo "from the assets" >"$V1/assets/in.txt"
cat >"$V1/spin.toml" <<TOML
spin_version = "1"
name = "spin-v1"
version = "1.0.0"
trigger = { type = "http", base = "/base" }

[[component]]
id = "handler"
source = "handler.wasm"
key_value_stores = ["default"]
[component.config]
message = "version one"
[component.trigger]
route = "/x/..."

[[component]]
id = "files"
source = "gw_cgi.wasm"
files = [{ source = "assets", destination = "/data" }]
[component.trigger]
route = "/files/..."
executor = { type = "wagi" }
TOML
DIR=$V1 # where log_has reads the server's log
start_weft "$V1" -c spin.toml || { fail "v1 server start"; finish; exit 1; }
get "/base/x/y"
check "v1: the route under the base" "$STATUS" 200
check_contains "v1: spin-matched-route has the base" "$BODY" "h:spin-matched-route=/base/x/..."
check_contains "v1: spin-base-path" "$BODY" "h:spin-base-path=/base"
check_contains "v1: spin-raw-component-route as written" "$BODY" "h:spin-raw-component-route=/x/..."
check_contains "v1: spin-path-info" "$BODY" "h:spin-path-info=/y"
get "/x/y"
check "v1: without the base: 404" "$STATUS" 404
get "/base/files/volume"
check_contains "v1: files are mapped where Spin maps them" "$BODY" "in=from the assets"
check_contains "... read-only" "$BODY" "out=failed"
[ ! -e "$V1/assets/out.txt" ]
check "... nothing written beside the manifest" $? 0
stop_weft

# A component-model binary is refused, saying what it is.
C="$WORK/component"
mkdir -p "$C"
printf '\0asm\x0d\0\x01\0' >"$C/comp.wasm"
cat >"$C/spin.toml" <<'TOML'
spin_manifest_version = 2
[application]
name = "component"
[[trigger.http]]
route = "/..."
component = "comp"
[component.comp]
source = "comp.wasm"
TOML
cd "$C" && run "$WEFT" up -c spin.toml --listen 127.0.0.1:0; cd - >/dev/null
check "a component: weft up refuses it (exit 1)" "$RC" 1
check_contains "... saying it is a component, not a core module" "$ERR" \
  "a WebAssembly component (component model, e.g. wasi:http), not a core module"

# A source weft would have to download is refused.
sed -i 's|^source = "comp.wasm"|source = { url = "https://example.com/c.wasm", digest = "sha256:00" }|' "$C/spin.toml"
cd "$C" && run "$WEFT" up -c spin.toml --listen 127.0.0.1:0; cd - >/dev/null
check "a URL source: refused (exit 1)" "$RC" 1
check_contains "... saying weft reads no network at start" "$ERR" "weft reads no network at start"
finish
