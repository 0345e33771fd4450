#!/usr/bin/env bash
# GET /readyz: weft up listens while it compiles; /readyz answers 503 until every
# function is compiled and every broker open, then 200 "ready". Meanwhile /healthz is
# WAGI's 200 "OK" and a function's path 503 with Retry-After. The compile is made slow
# enough to watch by an empty artifact cache. A route an app declares on /readyz is
# ignored, as one on /healthz is, and the log says so. /readyz needs no token.
source "$(dirname "$0")/ops.bash"

DIR=$WORK/app
mkdir -p "$DIR"
cat >"$DIR/weft.toml" <<TOML
[server]
token = "secret"

[[function]]
name = "hello"
source = "$GUESTS/gw_hello.wasm"
route = "/hello"

[[route]]
path = "/readyz"
function = "hello"

[[broker]]
name = "orders"
TOML
(cd "$DIR" && exec "$WEFT" up --listen 127.0.0.1:0 -q --cache-dir "$WORK/fresh-cache" \
  >"$DIR/out" 2>"$DIR/log") &
PID=$!
WEFT_PIDS+=("$PID")
URL=
for _ in $(seq 1 400); do
  URL=$(sed -n 's/^weft: listening on \([^;]*\);.*/\1/p' "$DIR/log" 2>/dev/null)
  [ -n "$URL" ] && break
  sleep 0.01
done
check_contains "it says where it listens before it is ready" "$URL" "http://127.0.0.1:"
seen=""
health=""
early=""
for _ in $(seq 1 3000); do
  s=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/readyz")
  if [ "$s" == 503 ] && [ -z "$health" ]; then
    # While it compiles: /healthz answers, a function's path does not yet.
    health=$(curl -s --max-time 5 "$URL/healthz")
    early=$(curl -s -D - -o /dev/null --max-time 5 "$URL/hello" | tr -d '\r' | tr 'A-Z' 'a-z' |
      grep -E '^(http/1.1|retry-after)' | tr '\n' ' ')
  fi
  [ "${seen##* }" == "$s" ] || seen="$seen $s"
  [ "$s" == 200 ] && break
  sleep 0.01
done
check "/readyz: 503 while compiling, then 200" "$seen" " 503 200"
check "/healthz answers while compiling" "$health" "OK"
check "a function's path: 503 and Retry-After while compiling" "$early" \
  "http/1.1 503 service unavailable retry-after: 1 "
get /readyz
check "ready" "$STATUS $BODY" "200 ready"
check_contains "never cached" "$HEADERS" "cache-control: no-cache"
for _ in $(seq 1 100); do grep -q '^Ready: serving on ' "$DIR/out" && break; sleep 0.05; done
check_contains "the Ready line follows" "$(cat "$DIR/out")" "Ready: serving on $URL"
get /hello
check "the function answers once ready" "$STATUS" 200
check "a route declared on /readyz is ignored, and said so" \
  "$(log_count 'route /readyz is served by weft itself')" 1
stop_weft
check "weft up stopped cleanly" "$STOP_RC" 0
finish
