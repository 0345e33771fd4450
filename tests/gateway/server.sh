#!/bin/bash
# The HTTP server itself: malformed requests answered with 4xx (by h2o, or by weft for
# what h2o leaves to it: Host, sizes), and
# the server still serving after them), keep-alive, and a graceful shutdown in which a
# request in flight finishes.
source "$(dirname "$0")/gw.bash"

DIR="$WORK/app"
mkdir -p "$DIR"
cp "$GUESTS/gw_cgi.wasm" "$DIR/"
cat >"$DIR/weft.toml" <<'TOML'
[[function]]
name = "cgi"
source = "gw_cgi.wasm"
route = "/cgi/..."
TOML
start_weft "$DIR" || { fail "server start"; finish; exit 1; }

# ---- malformed requests --------------------------------------------------------------
# Each is answered with a 4xx and the connection is closed or kept as HTTP says.
is_4xx() { case "$1" in 4??) echo 4xx ;; *) echo "[$1]" ;; esac; }
malformed() {
  local name=$1 fmt=$2
  local resp
  resp=$(raw "$fmt" | tr -d '\r')
  check "malformed: $name -> 4xx" "$(is_4xx "$(status_of "$resp")")" 4xx
}
big=$(head -c 100000 /dev/zero | tr '\0' 'h')
many=$(for i in $(seq 1 3000); do printf 'X-H%d: v\\r\\n' "$i"; done)
malformed "garbage request line" 'GARBAGE\r\n\r\n'
malformed "no target" 'GET\r\n\r\n'
malformed "space in the target" 'GET /cgi/a b/env HTTP/1.1\r\nHost: x\r\n\r\n'
malformed "binary request line" '\x01\x02\xff\xfe\r\n\r\n'
malformed "HTTP/7.0" 'GET /cgi/env HTTP/7.0\r\nHost: x\r\n\r\n'
malformed "a header with a space before the colon" 'GET /cgi/env HTTP/1.1\r\nHost: x\r\nX-A : v\r\n\r\n'
malformed "HTTP/1.1 without Host" 'GET /cgi/env HTTP/1.1\r\n\r\n'
malformed "a header line without a colon" 'GET /cgi/env HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n'
malformed "a 100 KB header" "GET /cgi/env HTTP/1.1\r\nHost: x\r\nX-Big: $big\r\n\r\n"
malformed "3000 headers" "GET /cgi/env HTTP/1.1\r\nHost: x\r\n$many\r\n"
malformed "a 100 KB target" "GET /cgi/$big HTTP/1.1\r\nHost: x\r\n\r\n"
malformed "invalid chunk size" 'POST /cgi/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n'
malformed "chunk longer than its size" 'POST /cgi/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcdef\r\n0\r\n\r\n'
malformed "invalid Content-Length" 'POST /cgi/echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'
malformed "a negative Content-Length" 'POST /cgi/echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n'
resp=$(raw "GET /cgi/$big HTTP/1.1\r\nHost: x\r\n\r\n" | tr -d '\r')
check "a 100 KB target: 414" "$(status_of "$resp")" 414
resp=$(raw "GET /cgi/env HTTP/1.1\r\nHost: x\r\nX-Big: $big\r\n\r\n" | tr -d '\r')
check "a 100 KB header: 431" "$(status_of "$resp")" 431
resp=$(raw 'GET /cgi/env HTTP/1.1\r\n\r\n' | tr -d '\r')
check "HTTP/1.1 without Host: 400, saying why" "$(status_of "$resp"):$(tail -1 <<<"$resp")" \
  "400:an HTTP/1.1 request needs a Host header"
# A client that sends half a request and goes away must not hurt anyone.
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf 'POST /cgi/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a little' >&3
exec 3<&-
get /cgi/state
check "still serving after the battery" "$STATUS:$BODY" "200:counter=1"
check "weft up is still running" "$(kill -0 "$PID" && echo alive)" alive

# ---- listening mistakes ----------------------------------------------------------------
pushd "$DIR" >/dev/null
run "$WEFT" up -q --listen "127.0.0.1:$PORT"
check "a port in use: exit 1" "$RC" 1
check_contains "says so" "$ERR" "cannot listen on 127.0.0.1:$PORT: Address already in use"
run "$WEFT" up -q --listen nonsense
check "a --listen without a port is a usage error" "$RC:$ERR" "2:weft: --listen nonsense: expected ADDR:PORT"
popd >/dev/null

# ---- keep-alive ----------------------------------------------------------------------
curl -sv --max-time 10 "$URL/cgi/state" "$URL/cgi/state" "$URL/healthz" -o /dev/null -o /dev/null \
  -o /dev/null 2>"$WORK/keepalive"
check "keep-alive: curl reuses the connection" "$(grep -c 'Re-using existing connection' "$WORK/keepalive")" 2
check "keep-alive: one connection for three requests" "$(grep -c 'Connected to' "$WORK/keepalive")" 1
# Two requests pipelined on one raw connection: two answers.
resp=$(raw 'GET /cgi/state HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' | tr -d '\r')
check "pipelined requests on one connection: two responses" "$(grep -c '^HTTP/1.1 200' <<<"$resp")" 2
check "... the guest's, then /healthz" "$(grep -E '^(counter=1|OK)$' <<<"$resp" | tr '\n' ' ')" "counter=1 OK "
# HTTP/1.0: the connection closes after the response unless asked otherwise.
resp=$(raw 'GET /cgi/state HTTP/1.0\r\n\r\n' | tr -d '\r')
check "HTTP/1.0 request" "$(status_of "$resp")" 200
check "SERVER_PROTOCOL follows the request" "$(raw 'GET /cgi/env HTTP/1.0\r\n\r\n' | tr -d '\r' | grep '^SERVER_PROTOCOL=')" \
  "SERVER_PROTOCOL=HTTP/1.0"

# ---- graceful shutdown ---------------------------------------------------------------
cat >"$DIR/weft.toml" <<'TOML'
[[function]]
name = "cgi"
source = "gw_cgi.wasm"
route = "/cgi/..."
TOML
# A client that stopped sending half-way through its body (above) is not a request in
# flight: it does not hold up the shutdown for the grace period.
t0=$(date +%s%N)
stop_weft
ms=$((($(date +%s%N) - t0) / 1000000))
check "a half-sent request does not delay shutdown (${ms} ms)" "$([ "$ms" -lt 3000 ] && echo yes)" yes
check "exit 0" "$STOP_RC" 0
start_weft "$DIR" || { fail "server restart"; finish; exit 1; }
curl -s --max-time 10 -w ' %{http_code}' "$URL/cgi/sleep" -o "$WORK/inflight" >"$WORK/inflight.code" &
inflight=$!
sleep 0.4
kill -TERM "$PID"
sleep 0.3
curl -s --max-time 2 "$URL/healthz" -o /dev/null
check "after SIGTERM new connections are refused" "$?" 7
wait "$inflight"
check "the request in flight finished" "$(cat "$WORK/inflight")$(cat "$WORK/inflight.code")" "slept 200"
wait "$PID"
check "weft up exited 0 after the request finished" "$?" 0
check_contains "shutdown is logged" "$(cat "$DIR/log")" "finishing the requests in flight"
finish
