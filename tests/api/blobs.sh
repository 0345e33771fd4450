#!/usr/bin/env bash
# /blobs over HTTP: PUT (Content-Type kept, 201 then 200, JSON with size and SHA-256),
# GET and HEAD (Content-Type, ETag, Last-Modified, Accept-Ranges, Content-Length),
# single ranges a-b, a-, -n answered 206 with Content-Range and exactly those bytes,
# unsatisfiable ones 416 with "Content-Range: bytes */SIZE", several ranges the whole
# blob (200), If-Range, If-Match / If-None-Match, DELETE, listing by prefix in pages;
# and a blob larger than 64 MiB in and out, byte-exact by SHA-256, while the server's
# memory grows by far less than the blob as it sends it.
source "$(dirname "$0")/../gateway/gw.bash"

DIR=$WORK/app
mkdir -p "$DIR"
cat >"$DIR/weft.toml" <<TOML
[[function]]
name = "hello"
source = "$GUESTS/gw_hello.wasm"
route = "/hello"
TOML
start_weft "$DIR" --max-body 80MiB || { fail "weft up did not start"; finish; exit; }

head -c 100000 /dev/urandom >"$WORK/small"
get /blobs/pics/cat.png -X PUT -H 'Content-Type: image/png' --data-binary @"$WORK/small"
check "PUT of a new blob: 201" "$STATUS" 201
SHA=$(sha256sum <"$WORK/small" | cut -d' ' -f1)
check_contains "PUT: its SHA-256" "$BODY" "\"sha256\":\"$SHA\""
check_contains "PUT: its size" "$BODY" '"size":100000'
check_contains "PUT: its content type" "$BODY" '"content_type":"image/png"'
ETAG=$(printf '%s' "$HEADERS" | sed -n 's/^etag: //p')

curl -s -D "$WORK/h" -o "$WORK/got" "$URL/blobs/pics/cat.png"
H=$(tr -d '\r' <"$WORK/h" | sed 's/^\([^:]*\):/\L\1:/')
check "GET: the same bytes" "$(cmp -s "$WORK/got" "$WORK/small" && echo same)" same
check_contains "GET: 200" "$H" "HTTP/1.1 200"
check_contains "GET: Content-Type as stored" "$H" "content-type: image/png"
check_contains "GET: ETag" "$H" "etag: $ETAG"
check_contains "GET: Accept-Ranges" "$H" "accept-ranges: bytes"
check_contains "GET: Last-Modified" "$H" "last-modified: "
check_contains "GET: Content-Length" "$H" "content-length: 100000"
get /blobs/pics/cat.png -I
check "HEAD: 200" "$STATUS" 200
check_contains "HEAD: Content-Length of the blob" "$HEADERS" "content-length: 100000"
raw "HEAD /blobs/pics/cat.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" >"$WORK/rh"
check "HEAD: the head alone, no body" "$(python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); print(len(d.split(b"\r\n\r\n", 1)[1]))' "$WORK/rh")" 0

# Ranges: exactly those bytes.
range() { # range SPEC FROM COUNT: the 206 for SPEC holds COUNT bytes from FROM
  get /blobs/pics/cat.png -H "Range: bytes=$1"
  check "Range $1: 206" "$STATUS" 206
  check "Range $1: the bytes" "$(cmp -s "$WORK/body" <(tail -c +$(($2 + 1)) "$WORK/small" | head -c "$3") && echo same)" same
  check_contains "Range $1: Content-Range" "$HEADERS" "content-range: bytes $2-$(($2 + $3 - 1))/100000"
  check_contains "Range $1: Content-Length" "$HEADERS" "content-length: $3"
}
range 0-0 0 1
range 10-19 10 10
range 99990- 99990 10
range -7 99993 7
range 0-999999 0 100000
range -200000 0 100000
range 50000-50000 50000 1
get /blobs/pics/cat.png -H 'Range: bytes=100000-'
check "a range past the end: 416" "$STATUS" 416
check_contains "416: Content-Range bytes */SIZE" "$HEADERS" "content-range: bytes */100000"
get /blobs/pics/cat.png -H 'Range: bytes=-0'
check "an empty suffix range: 416" "$STATUS" 416
get /blobs/pics/cat.png -H 'Range: bytes=0-9,20-29'
check "several ranges: the whole blob, 200" "$STATUS" 200
check "... all of it" "$(wc -c <"$WORK/body")" 100000
get /blobs/pics/cat.png -H 'Range: bytes=9-3'
check "a malformed range is ignored: 200" "$STATUS" 200
get /blobs/pics/cat.png -H 'Range: bytes=0-9' -H "If-Range: $ETAG"
check "If-Range of the current version: 206" "$STATUS" 206
get /blobs/pics/cat.png -H 'Range: bytes=0-9' -H 'If-Range: "999999"'
check "If-Range of another version: the whole blob" "$STATUS" 200
get /blobs/pics/cat.png -H "If-None-Match: $ETAG"
check "If-None-Match of the current version: 304" "$STATUS" 304

# Writes: conditions, replace, delete.
get /blobs/pics/cat.png -X PUT -H 'If-None-Match: *' --data-binary 'x'
check "If-None-Match: * over a blob: 412" "$STATUS" 412
get /blobs/pics/cat.png -X PUT -H 'If-Match: "999999"' --data-binary 'x'
check "If-Match of another version: 412" "$STATUS" 412
get /blobs/pics/cat.png -X PUT -H "If-Match: $ETAG" -H 'Content-Type: text/plain' --data-binary 'meow'
check "If-Match of the current version: 200" "$STATUS" 200
get /blobs/pics/cat.png
check "replaced" "$BODY" "meow"
check_contains "with its new type" "$HEADERS" "content-type: text/plain"
get /blobs/pics/raw -X PUT -H 'Content-Type:' --data-binary 'x'
get /blobs/pics/raw -I
check_contains "no Content-Type given: application/octet-stream" "$HEADERS" \
  "content-type: application/octet-stream"
get /blobs/pics/empty -X PUT --data-binary ''
get /blobs/pics/empty
check "an empty blob: 200" "$STATUS" 200
check_contains "... of length 0" "$HEADERS" "content-length: 0"
get /blobs/pics/empty -H 'Range: bytes=0-'
check "any range of an empty blob: 416" "$STATUS" 416
get /blobs/pics/cat.png -X DELETE
check "DELETE: 204" "$STATUS" 204
get /blobs/pics/cat.png
check "deleted: 404" "$STATUS" 404
get /blobs/Bad_Name/x -X PUT -d x
check "a container name outside [a-z0-9-]: 400" "$STATUS" 400
get '/blobs/pics/dir%2Fa%20b' -X PUT --data-binary 'nested'
get '/blobs/pics/dir/a%20b'
check "a name with / and escapes" "$BODY" "nested"

# Listing.
for n in a1 a2 a3 b1; do curl -s -o /dev/null -X PUT --data-binary "$n" "$URL/blobs/list/$n"; done
get /blobs/list
check "list: every name" "$BODY" '{"names":["a1","a2","a3","b1"],"more":false}'
get '/blobs/list?prefix=a&limit=2'
check "first page" "$BODY" '{"names":["a1","a2"],"more":true,"next":"a2"}'
get '/blobs/list?prefix=a&limit=2&after=a2'
check "second page" "$BODY" '{"names":["a3"],"more":false}'

# A blob larger than 64 MiB, in and out.
BIG=$WORK/big
head -c $((70 << 20)) /dev/urandom >"$BIG"
BIGSHA=$(sha256sum <"$BIG" | cut -d' ' -f1)
get /blobs/big/one -X PUT -H 'Content-Type: application/x-big' --data-binary @"$BIG"
check "a 70 MiB PUT: 201" "$STATUS" 201
check_contains "its SHA-256, as the server computed it" "$BODY" "\"sha256\":\"$BIGSHA\""
# Memory from here on: reset the high-water mark (Linux: clear_refs 5), download,
# and compare.
hwm() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$PID/status"; }
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$PID/status"; }
if echo 5 >"/proc/$PID/clear_refs" 2>/dev/null; then
  BEFORE=$(rss)
  GOT=$(curl -s --limit-rate 50M "$URL/blobs/big/one" | sha256sum | cut -d' ' -f1)
  GROWTH=$(($(hwm) - BEFORE))
  echo "memory: the high-water mark grew by $GROWTH KiB while the 70 MiB blob went out"
  check "the 70 MiB GET: the same bytes" "$GOT" "$BIGSHA"
  check "memory grew by less than 16 MiB while 70 MiB went out (grew $GROWTH KiB)" \
    "$([ "$GROWTH" -lt 16384 ] && echo yes)" yes
else
  GOT=$(curl -s "$URL/blobs/big/one" | sha256sum | cut -d' ' -f1)
  check "the 70 MiB GET: the same bytes" "$GOT" "$BIGSHA"
  echo "note: /proc/PID/clear_refs is not writable here: memory not measured"
fi
get /blobs/big/one -H "Range: bytes=$((66 << 20))-$(((66 << 20) + 99))"
check "a range beyond 64 MiB: 206" "$STATUS" 206
check "... those bytes" "$(cmp -s "$WORK/body" <(tail -c +$(((66 << 20) + 1)) "$BIG" | head -c 100) && echo same)" same
# A client that leaves mid-download: the server goes on serving.
curl -s --max-time 0.2 --limit-rate 1M "$URL/blobs/big/one" -o /dev/null
get /blobs/list
check "after a client left mid-blob, the server still answers" "$STATUS" 200
head -c $((81 << 20)) /dev/zero >"$WORK/toobig"
get /blobs/big/two -X PUT --data-binary @"$WORK/toobig"
check "a body over max_body: 413" "$STATUS" 413
stop_weft
check "weft up stopped cleanly" "$STOP_RC" 0

# Over TLS, HTTP/2 and HTTP/1.1: h2o holds a body's bytes until they are encrypted and
# written, so the last chunk must outlive the call that sent it (a small range is one).
command -v openssl >/dev/null || { finish; exit; }
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$DIR/key.pem" -out "$DIR/cert.pem" \
  -days 1 -subj /CN=localhost >/dev/null 2>&1
start_weft "$DIR" --tls-cert "$DIR/cert.pem" --tls-key "$DIR/key.pem" ||
  { fail "weft up did not start with TLS"; finish; exit; }
URL=https://127.0.0.1:$PORT
head -c 3000000 /dev/urandom >"$WORK/tls"
curl -sk -o /dev/null -X PUT --data-binary @"$WORK/tls" "$URL/blobs/tls/one"
for proto in --http2 --http1.1; do
  bad=0
  for from in 0 100 262143 262144 2999990; do
    curl -sk $proto -r "$from-$((from + 9))" "$URL/blobs/tls/one" -o "$WORK/part"
    cmp -s "$WORK/part" <(tail -c +$((from + 1)) "$WORK/tls" | head -c 10) || bad=$((bad + 1))
  done
  check "TLS $proto: small ranges, byte-exact" "$bad" 0
  check "TLS $proto: the whole blob" "$(curl -sk $proto "$URL/blobs/tls/one" | sha256sum)" \
    "$(sha256sum <"$WORK/tls")"
done
stop_weft
check "weft up stopped cleanly after TLS" "$STOP_RC" 0
finish
