#!/usr/bin/env bash
# weft's own endpoints protected, as Redis's protected mode does it: /kv, /blobs, /docs,
# /brokers/... (ingest, events stream, live page) and /_weft/... need the bearer token
# when one is set (401 with WWW-Authenticate: Bearer without it or with a wrong one,
# loopback clients too), and answer only loopback clients when none is (403 to others,
# with a body saying how to set a token; 127.0.0.1, ::1 and ::ffff:127.0.0.1 are
# loopback). A function's routes and /healthz never need it. The token: --token over
# WEFT_TOKEN over [server] token.
#
# The non-loopback client: the test runs in a network namespace of its own (unshare -n,
# as root), with a veth pair whose end holds 198.18.0.1; weft up listens on 0.0.0.0 and
# curl connects to 198.18.0.1, so the server sees a client that is not on loopback.
# Nothing leaves the namespace.
if [ -z "${WEFT_AUTH_NETNS:-}" ]; then
  if ! command -v ip >/dev/null || ! unshare -n true 2>/dev/null; then
    echo "skipped: no network namespace here (unshare -n needs root, and ip)"
    exit 77
  fi
  WEFT_AUTH_NETNS=1 exec unshare -n bash "$0" "$@"
fi
source "$(dirname "$0")/../gateway/gw.bash"

ip link set lo up
ip link add weft-a type veth peer name weft-b &&
  ip addr add 198.18.0.1/24 dev weft-a && ip addr add 198.18.0.2/24 dev weft-b &&
  ip link set weft-a up && ip link set weft-b up ||
  skip "cannot make a veth pair in the test's network namespace"
OTHER=198.18.0.1

# at HOST PATH [CURL ARGS...]: one request to HOST:$PORT; $STATUS, $BODY, $HEADERS.
at() {
  local host=$1 path=$2
  shift 2
  URL=http://$host:$PORT get "$path" "$@"
}

DIR=$WORK/app
mkdir -p "$DIR"
manifest() { # manifest [TOKEN]
  cat >"$DIR/weft.toml" <<TOML
${1:+[server]
token = \"$1\"
}
[[broker]]
name = "orders"

[[function]]
name = "hello"
source = "$GUESTS/gw_hello.wasm"
route = "/hello"
TOML
}

# ---- No token: loopback only -------------------------------------------------------
manifest
start_weft "$DIR" --listen 0.0.0.0:0 || { fail "weft up did not start"; finish; exit; }
check_contains "the log says the endpoints answer loopback clients only" \
  "$(cat "$DIR/log")" "answer loopback clients only"
at 127.0.0.1 /kv/s/k -X PUT -d v
check "no token, loopback: PUT /kv works" "$STATUS" 201
at 127.0.0.1 /_weft/describe
check "no token, loopback: /_weft/describe" "$STATUS" 200
at 127.0.0.1 /brokers/orders
check "no token, loopback: the live page" "$STATUS" 200
at $OTHER /hello
check "no token, another address: a function's route answers" "$STATUS" 200
at $OTHER /healthz
check "no token, another address: /healthz" "$BODY" "OK"
for req in "/kv/s/k" "/kv/s" "/blobs/c/n" "/docs/c/1" "/docs/c" "/_weft/describe" \
  "/_weft/nothing" "/brokers/orders" "/brokers/orders/events" "/brokers/unknown" "/kv"; do
  at $OTHER "$req"
  check "no token, another address: GET $req: 403" "$STATUS" 403
done
check_contains "403 says how to set a token" "$BODY" "[server] token in weft.toml, weft up --token TOKEN"
check_contains "... and how to send it" "$BODY" 'Authorization: Bearer TOKEN'
at $OTHER /brokers/orders -X POST -H 'ce-specversion: 1.0' -H 'ce-id: 1' -H 'ce-source: me' \
  -H 'ce-type: t' -d x
check "no token, another address: ingest 403" "$STATUS" 403
at $OTHER /kv/s/k -X PUT -d stolen
check "no token, another address: PUT /kv 403" "$STATUS" 403
at 127.0.0.1 /kv/s/k
check "... and nothing was written" "$BODY" "v"
at $OTHER /notthere
check "no token, another address: an unknown path is a plain 404" "$STATUS" 404
at $OTHER /kvx
check "/kvx is not /kv: 404" "$STATUS" 404
stop_weft

# Over IPv6: ::1 and an IPv4-mapped loopback address are loopback.
start_weft "$DIR" --listen '[::]:0' || { fail "weft up did not start"; finish; exit; }
at '[::1]' /kv/s/k
check "no token: ::1 is loopback" "$STATUS" 200
at 127.0.0.1 /kv/s/k
check "no token: ::ffff:127.0.0.1 is loopback" "$STATUS" 200
at $OTHER /kv/s/k
check "no token: ::ffff:198.18.0.1 is not" "$STATUS" 403
stop_weft

# ---- A token in weft.toml -------------------------------------------------------------
manifest 's3cret-token'
start_weft "$DIR" --listen 0.0.0.0:0 || { fail "weft up did not start"; finish; exit; }
check_contains "the log says a token is required" "$(cat "$DIR/log")" \
  "require the bearer token of [server] token"
for host in 127.0.0.1 $OTHER; do
  at $host /kv/s/k
  check "token set, $host, none sent: 401" "$STATUS" 401
  check_contains "401: WWW-Authenticate: Bearer" "$HEADERS" "www-authenticate: Bearer"
  for wrong in 's3cret-toke' 's3cret-tokenX' 'S3CRET-TOKEN' 'x' "$(head -c 5000 /dev/zero | tr '\0' a)"; do
    at $host /kv/s/k -H "Authorization: Bearer $wrong"
    check "token set, $host, a wrong token (${wrong:0:16}): 401" "$STATUS" 401
  done
  at $host /kv/s/k -H "Authorization: Basic czNjcmV0LXRva2Vu"
  check "token set, $host, another scheme: 401" "$STATUS" 401
  at $host /kv/s/k -H "Authorization: Bearer s3cret-token"
  check "token set, $host, the token: 200" "$STATUS" 200
  at $host /kv/s/k -H "Authorization: bearer s3cret-token"
  check "token set, $host, the scheme in any case: 200" "$STATUS" 200
  at $host /_weft/describe -H "Authorization: Bearer s3cret-token"
  check "token set, $host, describe with the token: 200" "$STATUS" 200
  at $host /_weft/describe
  check "token set, $host, describe without: 401" "$STATUS" 401
  at $host /brokers/orders -X POST -H 'ce-specversion: 1.0' -H 'ce-id: 1' -H 'ce-source: me' \
    -H 'ce-type: t' -d x
  check "token set, $host, ingest without: 401" "$STATUS" 401
  at $host /brokers/orders -X POST -H 'ce-specversion: 1.0' -H "ce-id: $host" -H 'ce-source: me' \
    -H 'ce-type: t' -H "Authorization: Bearer s3cret-token" -d x
  check "token set, $host, ingest with it: 202" "$STATUS" 202
  at $host /hello
  check "token set, $host, a function's route needs none" "$STATUS" 200
  at $host /healthz
  check "token set, $host, /healthz needs none" "$BODY" "OK"
done
# The events stream with the token: it opens (its first line is a keep-alive comment).
STREAM=$(curl -s --max-time 1 -H "Authorization: Bearer s3cret-token" \
  "http://$OTHER:$PORT/brokers/orders/events" | head -n 1)
check "the events stream with the token" "$STREAM" ": keep-alive"
at $OTHER /brokers/orders/events --max-time 1
check "the events stream without: 401" "$STATUS" 401
stop_weft

# ---- WEFT_TOKEN over the file, --token over both ------------------------------------
WEFT_TOKEN=from-env start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }
at 127.0.0.1 /kv/s/k -H "Authorization: Bearer from-env"
check "WEFT_TOKEN over [server] token: its token works" "$STATUS" 200
at 127.0.0.1 /kv/s/k -H "Authorization: Bearer s3cret-token"
check "... and the file's does not" "$STATUS" 401
stop_weft
WEFT_TOKEN=from-env start_weft "$DIR" --token from-flag || { fail "weft up did not start"; finish; exit; }
at 127.0.0.1 /kv/s/k -H "Authorization: Bearer from-flag"
check "--token over WEFT_TOKEN: its token works" "$STATUS" 200
at 127.0.0.1 /kv/s/k -H "Authorization: Bearer from-env"
check "... and WEFT_TOKEN's does not" "$STATUS" 401
stop_weft
run "$WEFT" up -c "$DIR/weft.toml" --token 'two words'
check "--token with a space: a usage error" "$RC" 2
check_contains "... saying what a token is" "$ERR" "visible ASCII"
finish
