#!/bin/bash
# HTTPS with --tls-cert/--tls-key: a self-signed certificate made here, verified by
# curl against that certificate (not -k), and the CGI variables say https.
source "$(dirname "$0")/gw.bash"

DIR="$WORK/app"
mkdir -p "$DIR"
cp "$GUESTS/gw_cgi.wasm" "$DIR/"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$DIR/key.pem" -out "$DIR/cert.pem" \
  -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
check "a test certificate was made" "$([ -s "$DIR/cert.pem" ] && echo yes)" yes
cat >"$DIR/weft.toml" <<'TOML'
[[function]]
name = "cgi"
source = "gw_cgi.wasm"
route = "/cgi/..."
TOML
start_weft "$DIR" --tls-cert cert.pem --tls-key key.pem --header-timeout 1s || { fail "server start"; finish; exit 1; }
check_contains "the Ready line says https" "$URL" "https://127.0.0.1:"

get /cgi/env --cacert "$DIR/cert.pem"
check "HTTPS request, certificate verified" "$STATUS" 200
check "X_FULL_URL is https" "$(printf '%s\n' "$BODY" | grep '^X_FULL_URL=')" "X_FULL_URL=https://127.0.0.1:$PORT/cgi/env"
get /cgi/echo --cacert "$DIR/cert.pem" --data-binary 'over tls'
check "a body over TLS" "$BODY" "over tls"
# ALPN offers HTTP/2 as well as HTTP/1.1; the guest sees which one the client chose.
get /cgi/env --cacert "$DIR/cert.pem" --http2
check "HTTP/2 over TLS" "$(printf '%s\n' "$BODY" | grep '^SERVER_PROTOCOL=')" "SERVER_PROTOCOL=HTTP/2"
check "HTTP/2 keeps the host" "$(printf '%s\n' "$BODY" | grep '^HTTP_HOST=')" "HTTP_HOST=127.0.0.1:$PORT"
get /cgi/echo --cacert "$DIR/cert.pem" --http2 --data-binary 'over h2'
check "a body over HTTP/2" "$BODY" "over h2"
# An HTTP/2 client that goes away while its guest runs on a worker: h2o frees the
# request at once (it reads the connection's end), the answer is dropped when the
# worker is done, and nothing else notices (under ASan: no use after free).
curl -s --http2 --cacert "$DIR/cert.pem" --max-time 0.3 "$URL/cgi/sleep?ms=800" -o /dev/null
sleep 1
get /cgi/state --cacert "$DIR/cert.pem" --http2
check "an HTTP/2 client left while its guest ran: the next request succeeds" "$STATUS:$BODY" "200:counter=1"
get /cgi/env --cacert "$DIR/cert.pem" --http1.1
check "HTTP/1.1 over TLS" "$(printf '%s\n' "$BODY" | grep '^SERVER_PROTOCOL=')" "SERVER_PROTOCOL=HTTP/1.1"
curl -s --max-time 10 --cacert "$DIR/cert.pem" "$URL/cgi/state" "$URL/cgi/state" -v -o /dev/null -o /dev/null 2>"$WORK/ka"
check "keep-alive over TLS" "$(grep -c 'Re-using existing connection' "$WORK/ka")" 1
code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://$HOSTPORT/cgi/state")
check "plain HTTP to the TLS port gets no HTTP answer" "$code" 000
get /healthz --cacert "$DIR/cert.pem"
check "still serving after a plain-HTTP client" "$STATUS" 200
# The head guard stands in front over TLS too. tls_raw BYTES: sends BYTES (Python
# escapes) over TLS; prints the status codes received and when the first came.
tls_raw() {
  python3 - "$PORT" "$DIR/cert.pem" "$1" <<'PY'
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="127.0.0.1")
t0, first = time.monotonic(), None
s.sendall(sys.argv[3].encode().decode("unicode_escape").encode("latin-1"))
s.settimeout(10)
out = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        first = first or time.monotonic() - t0
        out += d
except (OSError, ssl.SSLError):
    pass
codes = [l.split(b" ")[1].decode() for l in out.split(b"\r\n") if b"HTTP/1.1 " in l]
print(" ".join(codes), "%.1f" % (first or 0))
PY
}
read -r code _ <<<"$(tls_raw 'POST /cgi/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!')"
check "over TLS: two different Content-Length headers get 400" "$code" 400
read -r c1 c2 _ <<<"$(tls_raw 'GET /cgi/state HTTP/1.1\r\nHost: x\r\n\r\nPOST /cgi/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n')"
check "over TLS: pipelined, a good request then Content-Length with Transfer-Encoding" "$c1 $c2" "200 400"
read -r code secs <<<"$(tls_raw 'GET /cgi/state HTTP/1.1\r\nHost: x\r\n')"
check "over TLS: half a head gets 408" "$code" 408
check "... after --header-timeout 1s (${secs} s)" "$(awk -v s="$secs" 'BEGIN{print (s >= 0.9 && s < 3) ? "yes" : "no"}')" yes
get /healthz --cacert "$DIR/cert.pem"
check "still serving over TLS after them" "$STATUS" 200
stop_weft
check "clean exit" "$STOP_RC" 0

# Half a TLS configuration is a usage error.
pushd "$DIR" >/dev/null
run "$WEFT" up --tls-cert cert.pem
popd >/dev/null
check "--tls-cert without --tls-key" "$RC" 2
check_contains "says why" "$ERR" "--tls-cert and --tls-key go together"
# A key that does not belong to the certificate, or a file that is not one.
pushd "$DIR" >/dev/null
openssl genrsa -out other.pem 2048 2>/dev/null
run "$WEFT" up -q --listen 127.0.0.1:0 --tls-cert cert.pem --tls-key other.pem
check "a key of another certificate: exit 1" "$RC" 1
check_contains "says which files" "$ERR" "--tls-key other.pem (for --tls-cert cert.pem): "
check_contains "and why" "$ERR" "key values mismatch"
run "$WEFT" up -q --listen 127.0.0.1:0 --tls-cert weft.toml --tls-key key.pem
check "a certificate file that is not one: exit 1" "$RC" 1
check_contains "names it" "$ERR" "--tls-cert weft.toml:"
popd >/dev/null
finish
