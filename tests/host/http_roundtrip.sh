#!/bin/bash
# Outbound HTTP that is allowed: requests reach a real server on 127.0.0.1 and the
# guest reads status, headers and body back through wasi_experimental_http.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/serve.bash"
G="$GUESTS/http_out.wasm"
ALLOW=(--allow-host "$BASE")
out() { run "$WEFT" run "${ALLOW[@]}" --env HEADERS --env GET_HEADERS "$G" "$@"; }

# GET: status, one header by name (any case), repeated headers, the body.
export GET_HEADERS="X-Test,content-type,set-cookie" HEADERS=""
out req GET "$BASE/hello"
check "GET: exit" "$RC" 0
check_contains "GET: success" "$OUT" "req: 0 success"
check_contains "GET: status" "$OUT" "status: 200"
check_contains "GET: header by name, any case" "$OUT" "header X-Test: abc"
check_contains "GET: content type" "$OUT" "header content-type: text/plain"
check_contains "GET: first of repeated headers" "$OUT" "header set-cookie: a=1"
check_contains "GET: all headers, lower-case names, repeats kept" "$OUT" \
  "$(printf 'x-test:abc\nset-cookie:a=1\nset-cookie:b=2\ncontent-length:26')"
check_contains "GET: body" "$OUT" "body (26 bytes): hello from the test server"
check_contains "GET: close" "$OUT" "close: 0 success"
check "GET: nothing logged" "$ERR" ""

# POST: the body and the request headers arrive as sent: a value trimmed, an empty
# value sent (the server echoes each request header as X-Req-<Name>). The whole output
# is compared, so that a failure line ("header x-req-x-empty: error 5 ...") cannot pass
# for a value; only the server's Date and version are left out.
export HEADERS=$'Content-Type: text/plain\nX-One: 1\nx-two:two words \n\nX-Empty:\n'
export GET_HEADERS="x-method,x-body-length,x-req-x-one,x-req-x-two,x-req-content-type,x-req-x-empty"
out req POST "$BASE/echo" "the body, with, commas"
check "POST: exit" "$RC" 0
check "POST: method, length, headers as sent, body back" \
  "$(printf '%s\n' "$OUT" | grep -v -e '^date:' -e '^server:')" "$(printf '%s\n' \
    'req: 0 success' \
    'status: 200' \
    'header x-method: POST' \
    'header x-body-length: 22' \
    'header x-req-x-one: 1' \
    'header x-req-x-two: two words' \
    'header x-req-content-type: text/plain' \
    'header x-req-x-empty: ' \
    'headers:' \
    'content-type:application/octet-stream' \
    'x-method:POST' \
    'x-body-length:22' \
    "x-req-host:127.0.0.1:$PORT" \
    'x-req-accept:*/*' \
    'x-req-content-type:text/plain' \
    'x-req-x-one:1' \
    'x-req-x-two:two words' \
    'x-req-x-empty:' \
    'x-req-content-length:22' \
    'content-length:22' \
    'body (22 bytes): the body, with, commas' \
    'close: 0 success')"

# Without a Content-Type the guest gets none (libcurl would add a form type); a
# Content-Length the guest makes up is not sent, the real one is.
export HEADERS=$'Content-Length: 99\nTransfer-Encoding: chunked\n'
export GET_HEADERS="x-req-content-type,x-req-content-length,x-req-transfer-encoding,x-req-expect"
out req PUT "$BASE/echo" "12345"
check_contains "PUT: method" "$OUT" "x-method:PUT"
check_contains "PUT: no content type added" "$OUT" "header x-req-content-type: error 5 header not found"
check_contains "PUT: the real length" "$OUT" "header x-req-content-length: 5"
check_contains "PUT: no transfer encoding" "$OUT" "header x-req-transfer-encoding: error 5"
check_contains "PUT: no Expect" "$OUT" "header x-req-expect: error 5"
check_contains "PUT: body" "$OUT" "body (5 bytes): 12345"

# A large body goes out whole, without an Expect round trip.
export HEADERS="" GET_HEADERS="x-body-length"
big=$(head -c 300000 /dev/zero | tr '\0' 'b')
run_in "$big" "$WEFT" run "${ALLOW[@]}" --env GET_HEADERS "$G" req POST "$BASE/echo" -
check_contains "POST 300 kB: length" "$OUT" "header x-body-length: 300000"
check_contains "POST 300 kB: back" "$OUT" "body (300000 bytes): (long)"

# Other methods, and a method name the server does not know.
export HEADERS="" GET_HEADERS="x-method"
out req DELETE "$BASE/echo"
check_contains "DELETE" "$OUT" "header x-method: DELETE"
out req PATCH "$BASE/echo" "p"
check_contains "PATCH with body" "$OUT" "$(printf 'header x-method: PATCH')"
out req HEAD "$BASE/hello"
check_contains "HEAD: status" "$OUT" "status: 200"
check_contains "HEAD: no body" "$OUT" "body (0 bytes): "
out req GET "$BASE/status?code=404"
check_contains "a 404 is a response, not an error" "$OUT" "status: 404"
out req GET "$BASE/status?code=503"
check_contains "503" "$OUT" "body (10 bytes): status 503"

# Redirects: followed when allowed; 307 keeps method and body, 302/303 become GET.
export GET_HEADERS="x-method,x-body-length"
out req POST "$BASE/redirect?code=307&to=/echo" "keep me"
check_contains "307: method kept" "$OUT" "header x-method: POST"
check_contains "307: body kept" "$OUT" "body (7 bytes): keep me"
out req POST "$BASE/redirect?code=303&to=/echo" "drop me"
check_contains "303: GET" "$OUT" "header x-method: GET"
check_contains "303: no body" "$OUT" "header x-body-length: 0"
out req GET "$BASE/redirect?code=302&to=$BASE/redirect%3Fcode%3D301%26to%3D/hello"
check_contains "two redirects" "$OUT" "body (26 bytes): hello from the test server"
out req GET "$BASE/loop"
check_contains "a redirect loop ends" "$OUT" "req: 11 request error"
check_contains "a redirect loop is logged" "$ERR" "more than 10 redirects"

# Bounds: a body over 16 MiB, headers over 64 KiB.
export GET_HEADERS=""
out req GET "$BASE/bytes?n=16777216"
check_contains "16 MiB body: kept" "$OUT" "body (16777216 bytes)"
out req GET "$BASE/bytes?n=16777217"
check_contains "16 MiB + 1: request error" "$OUT" "req: 11 request error"
check_contains "16 MiB + 1: logged with the bound" "$ERR" "response body larger than weft keeps (16777216 bytes)"
out req GET "$BASE/bigheader?n=70000"
check_contains "70 kB header: request error" "$OUT" "req: 11 request error"
check_contains "70 kB header: logged" "$ERR" "response headers larger than weft keeps (65536 bytes)"

# The invocation's deadline cuts a slow request short.
ms() { echo $(($(date +%s%N) / 1000000)); }
t0=$(ms)
run "$WEFT" run "${ALLOW[@]}" --timeout 1s "$G" req GET "$BASE/slow?s=20"
took=$(($(ms) - t0))
check "slow server past the deadline: trap" "$RC" 134
check_contains "slow server past the deadline: logged" "$ERR" "deadline"
[ "$took" -lt 5000 ] && pass || fail "slow server: weft took $took ms with a 1 s deadline"

# Requests within a deadline complete.
run "$WEFT" run "${ALLOW[@]}" --timeout 10s "$G" req GET "$BASE/slow?s=0.2"
check_contains "slow server within the deadline" "$OUT" "body (4 bytes): slow"

finish
