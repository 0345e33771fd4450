#!/bin/bash
# The error codes of wasi_experimental_http, each from the situation that causes it,
# and guest pointers that lie: never a crash, always an answer.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/serve.bash"
G="$GUESTS/http_out.wasm"
A=(--allow-host "$BASE")
g() { run "$WEFT" run "${A[@]}" "$G" "$@"; }

# 13 TooManySessions: open responses are capped, and a close makes room.
run "$WEFT" run "${A[@]}" --http-max-concurrency 2 "$G" many "$BASE/hello" 3
check "max concurrency 2" "$OUT" "$(printf '%s\n' 'req 1: 0 success' 'req 2: 0 success' \
  'req 3: 13 too many sessions' 'close first: 0 success' 'req after close: 0 success')"
g many "$BASE/hello" 17
check_contains "default cap: 16 open" "$OUT" "req 16: 0 success"
check_contains "default cap: the 17th" "$OUT" "req 17: 13 too many sessions"
check_contains "default cap: room after a close" "$OUT" "req after close: 0 success"

# 1 InvalidHandle: a handle never given out, or already closed.
g bad-handle
check "invalid handle" "$OUT" "$(printf '%s\n' 'body_read: 1 invalid handle' \
  'header_get: 1 invalid handle' 'headers_get_all: 1 invalid handle' 'close: 1 invalid handle')"
g close-twice "$BASE/hello"
check "closed handle" "$OUT" "$(printf '%s\n' 'close: 0 success' 'close again: 1 invalid handle' \
  'body_read after close: 1 invalid handle' 'handles differ: 1')"

# 4 BufferTooSmall: nothing is written; a body is read in pieces instead.
g small "$BASE/hello"
check "buffer too small" "$OUT" "$(printf '%s\n' 'header_get into 1 byte: 4 buffer too small' \
  'untouched: abc 99' 'headers_get_all into 1 byte: 4 buffer too small' 'untouched: abc 99' \
  'body in 9 pieces: hello from the test server')"

# 5 HeaderNotFound.
g missing "$BASE/hello"
check "header not found" "$OUT" "$(printf '%s\n' 'header_get x-not-there: 5 header not found' \
  'header_get X-TEST: 0 success' 'value: abc')"

# 10 InvalidURL, for the URL the guest gives; allowed or not, nothing is sent.
for url in "not a url" "ftp://127.0.0.1:$PORT/" "file:///etc/passwd" "$BASE/a b" \
  "127.0.0.1:$PORT/hello" ""; do
  run "$WEFT" run --allow-host insecure:allow-all "$G" req GET "$url"
  check "invalid URL [$url]" "$OUT" "req: 10 invalid URL"
done

# 11 RequestError: nobody listens on the port.
DEAD=$(free_port)
run "$WEFT" run --allow-host "http://127.0.0.1:$DEAD" "$G" req GET "http://127.0.0.1:$DEAD/"
check "unreachable: code 11" "$OUT" "req: 11 request error"
check_contains "unreachable: logged" "$ERR" "outbound HTTP GET http://127.0.0.1:$DEAD/ failed:"

# 6 Utf8Error, 8 InvalidMethod, 9 InvalidEncoding.
g bad-utf8 "$BASE/hello"
check "not UTF-8" "$OUT" "$(printf '%s\n' 'req: 6 UTF-8 error' 'req bad header block: 6 UTF-8 error' \
  'req bad method: 6 UTF-8 error')"
for m in "GE T" "" "GET/1" "G:T"; do
  g req "$m" "$BASE/echo"
  check "invalid method [$m]" "$OUT" "req: 8 invalid method"
done
g req FROB "$BASE/echo"
check_contains "an unknown but valid method is sent" "$OUT" "x-method:FROB"
for h in "no colon" "bad name: x" ":novalue" $'x-ok: 1\nx-bad: a\x01b'; do
  run "$WEFT" run "${A[@]}" --env HEADERS="$h" "$G" req GET "$BASE/echo"
  check "invalid header block [$h]" "$OUT" "req: 9 invalid encoding"
done

# 3 MemoryAccessError: every pointer and length past the end of memory, to every
# function. weft answers 3 and stays up; the request with an unusable status pointer is
# never sent; the response is intact afterwards.
before=$(hits /hello)
g oob "$BASE/hello"
check "oob: exit" "$RC" 0
check "oob" "$OUT" "$(printf '%s\n' \
  'req url past the end: 3 memory access error' \
  'req url length wraps: 3 memory access error' \
  'req method past the end: 3 memory access error' \
  'req headers past the end: 3 memory access error' \
  'req body past the end: 3 memory access error' \
  'req status past the end: 3 memory access error' \
  'req handle past the end: 3 memory access error' \
  'body_read buffer past the end: 3 memory access error' \
  'body_read written past the end: 3 memory access error' \
  'header_get name past the end: 3 memory access error' \
  'header_get buffer past the end: 3 memory access error' \
  'header_get written past the end: 3 memory access error' \
  'headers_get_all buffer past the end: 3 memory access error' \
  'headers_get_all written past the end: 3 memory access error' \
  'body_read_all: 0 success' \
  'body: hello from the test server' \
  'close: 0 success')"
check "oob: only the good request reached the server" "$(hits /hello)" "$((before + 1))"

# Responses a guest never closes are freed when the invocation ends (the sanitizer
# build's leak check sees it), and the next invocation starts with none.
g leak "$BASE/hello" 5
check "leak: exit" "$RC" 0
check "leak" "$OUT" "left 5 open"
run "$WEFT" run "${A[@]}" --http-max-concurrency 1 "$G" many "$BASE/hello" 1
check_contains "a fresh invocation has no handles" "$OUT" "req 1: 0 success"

finish
