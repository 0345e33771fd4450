#!/bin/bash
# What a client may not do to weft up, and what a guest may not do to its log: requests
# whose length is ambiguous (Content-Length twice and different, or with
# Transfer-Encoding) get 400; a header block over the limit gets 431 at any size; a
# head that does not arrive in time gets 408; idle keep-alive connections are closed;
# connections over max_connections wait in the listen backlog; a guest's stderr is
# logged up to a cap and summed up past it; a response over max_response is a 500.
source "$(dirname "$0")/gw.bash"

DIR="$WORK/app"
mkdir -p "$DIR/data"
cp "$GUESTS/gw_cgi.wasm" "$GUESTS/gw_output.wasm" "$DIR/"
cat >"$DIR/weft.toml" <<'TOML'
[server]
header_timeout = "1s"
idle_timeout = "2s"
max_response = "1MiB"

[[function]]
name = "cgi"
source = "gw_cgi.wasm"
route = "/cgi/..."

[[function]]
name = "out"
source = "gw_output.wasm"
route = "/out/..."

[[function]]
name = "out-worker"
source = "gw_output.wasm"
route = "/outw/..."
volumes = { "/data" = "data" }
TOML
start_weft "$DIR" || { fail "server start"; finish; exit 1; }

# conn SCRIPT: runs a python3 snippet with a socket `s` connected to weft, helpers
# recv_all(timeout) (everything until the server closes, or until timeout) and
# response(timeout) (one whole response), and `t0` the time of the connection.
conn() {
  python3 - "$PORT" "$1" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t0 = time.monotonic()
def recv_all(timeout):
    s.settimeout(timeout)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except OSError:
        pass
    return out
def response(timeout):
    s.settimeout(timeout)
    out = b""
    while b"\r\n\r\n" not in out:
        out += s.recv(65536)
    head, _, body = out.partition(b"\r\n\r\n")
    n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
    while len(body) < n:
        body += s.recv(65536)
    return head.decode() + "\n\n" + body.decode()
exec(sys.argv[2])
PY
}

# ---- the length of a request must be unambiguous (RFC 9112 section 6.3) ----------------
resp=$(raw 'POST /cgi/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 11\r\n\r\nhello world' | tr -d '\r')
check "two different Content-Length headers: 400" "$(status_of "$resp")" 400
check_contains "... saying why" "$resp" "conflicting Content-Length headers"
check_contains "... and closing the connection" "$resp" "Connection: close"
resp=$(raw 'POST /cgi/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Type: text/plain\r\ncontent-length: 6\r\n\r\nhello!' | tr -d '\r')
check "different Content-Length headers, apart and in other case: 400" "$(status_of "$resp")" 400
resp=$(raw 'POST /cgi/echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello' | tr -d '\r')
check "the same Content-Length twice is accepted (RFC 9110 section 8.6)" "$(status_of "$resp"):$(tail -1 <<<"$resp")" "200:hello"
resp=$(raw 'POST /cgi/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' | tr -d '\r')
check "Content-Length and Transfer-Encoding: 400" "$(status_of "$resp")" 400
check_contains "... saying why" "$resp" "Content-Length and Transfer-Encoding"
resp=$(raw 'POST /cgi/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n' | tr -d '\r')
check "Transfer-Encoding and Content-Length, in that order: 400" "$(status_of "$resp")" 400
resp=$(raw 'POST /cgi/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' | tr -d '\r')
check "two Transfer-Encoding headers: 400" "$(status_of "$resp")" 400
resp=$(raw 'POST /cgi/echo HTTP/1.1\r\nHost: x\r\nX-A: a\r\n folded\r\nContent-Length: 5\r\n\r\nhello' | tr -d '\r')
check "a folded header line (obs-fold): 400" "$(status_of "$resp")" 400
# The second of two pipelined requests is checked as well, though it arrived with the
# first: the first is answered, the second refused, and nothing after it is read.
resp=$(raw 'GET /cgi/state HTTP/1.1\r\nHost: x\r\n\r\nPOST /cgi/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 45\r\n\r\nhelloGET /cgi/env HTTP/1.1\r\nHost: x\r\n\r\n' | tr -d '\r')
check "pipelined: the first request answered, the ambiguous second refused" \
  "$(grep '^HTTP/1.1' <<<"$resp" | awk '{print $2}' | tr '\n' ' ')" "200 400 "
check "... and the third never run" "$(grep -c '^REQUEST_METHOD=' <<<"$resp")" 0
# Behind a request with a body (a length, or chunked and decoded in place by h2o) the
# guard still finds where the next head starts: the bodies hold a space, so that a head
# looked for inside one would not parse, and the guard would step aside.
resp=$(raw 'POST /cgi/echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\na bPOST /cgi/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nfg' | tr -d '\r')
check "pipelined behind a body of known length: 200, then 400 for the ambiguous one" \
  "$(grep -o 'HTTP/1.1 [0-9]*' <<<"$resp" | awk '{print $2}' | tr '\n' ' ')$(grep -c '^a bHTTP/1.1 400' <<<"$resp")" "200 400 1"
resp=$(raw 'POST /cgi/echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nd e\r\n0\r\n\r\nPOST /cgi/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nfg' | tr -d '\r')
check "pipelined behind a chunked body: 200, then 400 for the ambiguous one" \
  "$(grep -o 'HTTP/1.1 [0-9]*' <<<"$resp" | awk '{print $2}' | tr '\n' ' ')$(grep -c '^d eHTTP/1.1 400' <<<"$resp")" "200 400 1"

# ---- header blocks over the limit (64 KiB by default) get 431, whatever their size ------
for kib in 100 500 1024; do
  big=$(head -c $((kib * 1024)) /dev/zero | tr '\0' 'h')
  resp=$(raw "GET /cgi/env HTTP/1.1\r\nHost: x\r\nX-Big: $big\r\n\r\n" | tr -d '\r')
  check "a ${kib} KiB header: 431" "$(status_of "$resp")" 431
done
check_contains "... saying why" "$resp" "the request headers are too large"
check_contains "... and closing the connection" "$resp" "Connection: close"
# The rest of what such a client sends is read and dropped (a lingering close): it gets
# the whole answer and then the end of the stream, not a reset that could lose it.
out=$(conn '
try:
    s.sendall(b"GET /cgi/env HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * (2 << 20) + b"\r\n\r\n")
except OSError as e:
    print("send failed:", e)
s.settimeout(5)
out, end = b"", "end of stream"
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
except OSError as e:
    end = type(e).__name__
print(out.split(b"\r\n")[0].decode(), "then", end)')
check "a 2 MiB header: the 431, then the end of the stream" "$out" \
  "HTTP/1.1 431 Request Header Fields Too Large then end of stream"
resp=$(raw "GET /cgi/$big HTTP/1.1\r\nHost: x\r\n\r\n" | tr -d '\r')
check "a 1 MiB target: 414" "$(status_of "$resp")" 414
many=$(for i in $(seq 1 150); do printf 'X-H%d: v\\r\\n' "$i"; done)
resp=$(raw "GET /cgi/env HTTP/1.1\r\nHost: x\r\n$many\r\n" | tr -d '\r')
check "150 small headers (h2o reads 100 at most): 431" "$(status_of "$resp")" 431
many=$(for i in $(seq 1 98); do printf 'X-H%d: v\\r\\n' "$i"; done)
resp=$(raw "GET /cgi/env HTTP/1.1\r\nHost: x\r\n${many}Connection: close\r\n\r\n" | tr -d '\r')
check "100 headers pass" "$(status_of "$resp"):$(grep -c '^HTTP_X_H' <<<"$resp")" "200:98"
fits=$(head -c 60000 /dev/zero | tr '\0' 'h')
resp=$(raw "GET /cgi/env HTTP/1.1\r\nHost: x\r\nX-Fits: $fits\r\nConnection: close\r\n\r\n" | tr -d '\r')
check "a 60 KB header passes" "$(status_of "$resp")" 200

# ---- timeouts: header_timeout = 1s, idle_timeout = 2s ------------------------------------
out=$(conn '
s.sendall(b"GET /cgi/state HTTP/1.1\r\nHost: x\r\n")
r = recv_all(10)
print("%s %.1f" % (r.split(b" ")[1].decode() if r else "nothing", time.monotonic() - t0))
print(r.decode())')
read -r code secs <<<"$(head -1 <<<"$out")"
check "half a head, then nothing: 408" "$code" 408
check "... after the header timeout of 1 s (${secs} s)" "$(awk -v s="$secs" 'BEGIN{print (s >= 0.9 && s < 3) ? "yes" : "no"}')" yes
check_contains "... closing the connection" "$out" "Connection: close"
out=$(conn '
r = recv_all(10)
print("%d %.1f" % (len(r), time.monotonic() - t0))')
read -r n secs <<<"$out"
check "a connection that sends nothing is closed without an answer" "$n" 0
check "... after the header timeout (${secs} s)" "$(awk -v s="$secs" 'BEGIN{print (s >= 0.9 && s < 3) ? "yes" : "no"}')" yes
out=$(conn '
for part in (b"GET /cgi/state HT", b"TP/1.1\r\nHost: x\r\n", b"Connection: close\r\n\r\n"):
    s.sendall(part)
    time.sleep(0.3)
print(recv_all(10).split(b"\r\n")[0].decode())')
check "a head sent in pieces within the header timeout is served" "$out" "HTTP/1.1 200 OK"
out=$(conn '
s.sendall(b"GET /cgi/state HTTP/1.1\r\nHost: x\r\n\r\n")
first = response(5)
t1 = time.monotonic()
s.sendall(b"GET /cgi/state HTTP/1.1\r\nHost: x\r\n\r\n")
second = response(5)
t1 = time.monotonic()
r = recv_all(10)
print("%s %s %d %.1f" % (first.split()[1], second.split()[1], len(r), time.monotonic() - t1))')
read -r c1 c2 n secs <<<"$out"
check "keep-alive: two requests on one connection" "$c1 $c2" "200 200"
check "an idle keep-alive connection is closed without an answer" "$n" 0
check "... after the idle timeout of 2 s, not the header timeout (${secs} s)" \
  "$(awk -v s="$secs" 'BEGIN{print (s >= 1.8 && s < 4) ? "yes" : "no"}')" yes
# h2o's HTTP/2 on clear text (prior knowledge) is left to h2o.
get /cgi/env --http2-prior-knowledge
check "HTTP/2 with prior knowledge still works" "$STATUS:$(grep '^SERVER_PROTOCOL=' <<<"$BODY")" "200:SERVER_PROTOCOL=HTTP/2"

# ---- guest output: stderr capped per request, stdout by max_response ----------------------
# 5000 lines: the first 1000 are logged (the default cap), the rest summed up in one line,
# on the I/O thread's trial run (held back, then logged) as on a worker.
expected_bytes=$(awk 'BEGIN { for (i = 1001; i <= 5000; i++) n += length("stderr line " i " of 5000") + 1; print n }')
for route in out outw; do
  get "/$route/x?lines=5000"
  check "/$route: a guest printing 5000 stderr lines is answered" "$STATUS:$BODY" "200:done"
  log_has "/$route/... #"
  log_has "4000 more stderr lines"
  check "/$route: 1000 lines logged" "$(grep -c "^weft: /$route/\.\.\. #[0-9]*: stderr line " "$DIR/log")" 1000
  check "/$route: the last one logged is line 1000" \
    "$(grep "^weft: /$route/\.\.\. #[0-9]*: stderr line " "$DIR/log" | tail -1 | sed 's/.*: //')" "stderr line 1000 of 5000"
  check "/$route: the rest summed up in one line" \
    "$(grep -c "^weft: /$route/\.\.\. #[0-9]*: \.\.\. 4000 more stderr lines ($expected_bytes bytes) not logged$" "$DIR/log")" 1
done
get /out/x?lines=3
check "a guest under the cap: answered" "$STATUS:$BODY" "200:done"
log_has "stderr line 3 of 3"
check "... every line logged, no summary" "$(grep -c 'stderr line [0-9]* of 3$' "$DIR/log"):$(grep -c 'more stderr lines' "$DIR/log")" "3:2"

# max_response = 1MiB counts all of stdout, the CGI header lines too (26 bytes here).
get /out/x?bytes=1048550
check "a response of exactly max_response: 200" "$STATUS:${#BODY}" "200:1048550"
get /out/x?bytes=1048551
check "one byte more: 500" "$STATUS" 500
log_has "500: response larger than 1048576 bytes"
check "... logged once with the route" "$(grep -c '^weft: /out/\.\.\. #[0-9]*: 500: response larger than 1048576 bytes$' "$DIR/log")" 1
get /out/x?bytes=3000000
check "three times more: 500" "$STATUS" 500
get /cgi/state
check "still serving after all of it" "$STATUS:$BODY" "200:counter=1"
stop_weft
check "clean exit" "$STOP_RC" 0

# ---- max_connections: the ones past it wait in the listen backlog ------------------------
cat >"$DIR/weft.toml" <<'TOML'
[server]
max_connections = 2
max_stderr_bytes = "2KiB"

[[function]]
name = "cgi"
source = "gw_cgi.wasm"
route = "/cgi/..."

[[function]]
name = "out"
source = "gw_output.wasm"
route = "/out/..."
TOML
start_weft "$DIR" || { fail "server restart"; finish; exit 1; }
out=$(conn '
req = b"GET /cgi/state HTTP/1.1\r\nHost: x\r\n\r\n"
s.sendall(req)
a = response(5).split()[1]
b = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
b.sendall(req)
s2 = s; s = b
bb = response(5).split()[1]
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(req)
s = c
t1 = time.monotonic()
try:
    cc = response(1.5).split()[1]
    waited = "answered_at_once"
except OSError:
    waited = "waited"
    t1 = time.monotonic()
    s2.close()
    cc = response(5).split()[1]
print(a, bb, waited, cc, "%.1f" % (time.monotonic() - t1))')
read -r a b waited c secs <<<"$out"
check "two connections are served" "$a $b" "200 200"
check "a third waits while both stay open" "$waited" "waited"
check "... and is served once one closes" "$c" 200
check "... at once (${secs} s)" "$(awk -v s="$secs" 'BEGIN{print (s < 1.5) ? "yes" : "no"}')" yes
# max_stderr_bytes = 2KiB: lines of 22 to 25 bytes, so the 2 KiB cap comes first.
get /out/x?lines=5000
check "a guest past max_stderr_bytes is answered" "$STATUS:$BODY" "200:done"
log_has "more stderr lines"
logged=$(grep -c '^weft: /out/\.\.\. #[0-9]*: stderr line ' "$DIR/log")
check "fewer than 2 KiB of its lines logged ($logged)" "$(((logged * 22 <= 2048) && (logged * 25 > 2048 - 25) ? 1 : 0))" 1
check "the rest summed up" "$(grep -c "\.\.\. $((5000 - logged)) more stderr lines" "$DIR/log")" 1
stop_weft
check "clean exit" "$STOP_RC" 0

# A lower open-file limit than max_connections needs: fewer connections, and a line
# saying so. (The soft limit is raised up to the hard one first.)
printf '#!/bin/sh\nulimit -n 300 && exec "%s" "$@"\n' "$WEFT" >"$WORK/weft-300"
chmod +x "$WORK/weft-300"
sed -i 's/^max_connections = .*/max_connections = 1000/' "$DIR/weft.toml"
WEFT="$WORK/weft-300" start_weft "$DIR" || { fail "server start with 300 descriptors"; finish; exit 1; }
check_contains "max_connections past the open-file limit is lowered, and logged" "$(cat "$DIR/log")" \
  "max_connections 1000: the open-file limit (300) leaves room for 44"
get /cgi/state
check "... and serves" "$STATUS" 200
stop_weft
check "clean exit" "$STOP_RC" 0

# ---- settings weft refuses --------------------------------------------------------------
printf '[server]\nmax_header_bytes = "1MiB"\n\n[[function]]\nname = "cgi"\nsource = "gw_cgi.wasm"\nroute = "/cgi/..."\n' >"$DIR/weft.toml"
run_up() { (cd "$DIR" && timeout 20 "$WEFT" up -q --listen 127.0.0.1:0 >"$WORK/out" 2>"$WORK/err" </dev/null); RC=$?; ERR=$(cat "$WORK/err"); }
run_up
check "a header limit past what h2o reads: weft up refuses to start" "$RC" 1
check_contains "... saying the bound" "$ERR" "max_header_bytes"
sed -i 's/^max_header_bytes = .*/idle_timeout = "0s"/' "$DIR/weft.toml"
run_up
check "a zero timeout is refused" "$RC" 1
check_contains "... naming the key" "$ERR" "idle_timeout"
finish
