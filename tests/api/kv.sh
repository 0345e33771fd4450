#!/usr/bin/env bash
# /kv over HTTP: PUT (201 created, 200 replaced, the new ETag), GET (the bytes, ETag
# "<version>", 304 for If-None-Match), DELETE (204, then 404), If-Match (412 on a
# mismatch and on an absent key, * needs the key), If-None-Match: * (create only),
# ?ttl=MS, keys percent-decoded and holding '/', listing by prefix in pages, 405 with
# Allow, 400 for a bad escape; a function routed under /kv shadows the API (and the log
# says so).
source "$(dirname "$0")/../gateway/gw.bash"

DIR=$WORK/app
mkdir -p "$DIR"
cat >"$DIR/weft.toml" <<TOML
[[function]]
name = "hello"
source = "$GUESTS/gw_hello.wasm"
route = "/hello"
TOML
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }

get /kv/shop/cart -X PUT --data-binary 'three apples'
check "PUT of a new key: 201" "$STATUS" 201
check_contains "PUT: its ETag" "$HEADERS" 'etag: "'
V1=$(printf '%s' "$HEADERS" | sed -n 's/^etag: "\([0-9]*\)"$/\1/p')
check "PUT's body names the version" "$BODY" "{\"version\":$V1}"
get /kv/shop/cart
check "GET: 200" "$STATUS" 200
check "GET: the value" "$BODY" "three apples"
check_contains "GET: the same ETag" "$HEADERS" "etag: \"$V1\""
check_contains "GET: octet-stream" "$HEADERS" "content-type: application/octet-stream"
get /kv/shop/cart -I
check "HEAD: 200" "$STATUS" 200
check_contains "HEAD: the value's length" "$HEADERS" "content-length: 12"
get /kv/shop/cart -H "If-None-Match: \"$V1\""
check "If-None-Match of the current version: 304" "$STATUS" 304

get /kv/shop/cart -X PUT --data-binary 'four apples'
check "PUT over a key: 200" "$STATUS" 200
V2=$(printf '%s' "$HEADERS" | sed -n 's/^etag: "\([0-9]*\)"$/\1/p')
check "a new version" "$([ "$V2" -gt "$V1" ] && echo yes)" yes

# Conditions.
get /kv/shop/cart -X PUT -H "If-Match: \"$V1\"" --data-binary 'stale'
check "If-Match of an old version: 412" "$STATUS" 412
get /kv/shop/cart
check "... and the value is unchanged" "$BODY" "four apples"
get /kv/shop/cart -X PUT -H "If-Match: \"$V2\"" --data-binary 'five apples'
check "If-Match of the current version: 200" "$STATUS" 200
V3=$(printf '%s' "$HEADERS" | sed -n 's/^etag: "\([0-9]*\)"$/\1/p')
get /kv/shop/cart -X PUT -H 'If-None-Match: *' --data-binary 'again'
check "If-None-Match: * over an existing key: 412" "$STATUS" 412
get /kv/shop/new -X PUT -H 'If-None-Match: *' --data-binary 'fresh'
check "If-None-Match: * of a new key: 201" "$STATUS" 201
get /kv/shop/absent -X PUT -H 'If-Match: "1"' --data-binary 'x'
check "If-Match on an absent key: 412" "$STATUS" 412
get /kv/shop/absent -X PUT -H 'If-Match: *' --data-binary 'x'
check "If-Match: * on an absent key: 412" "$STATUS" 412
get /kv/shop/absent
check "... which stays absent: 404" "$STATUS" 404
check "404's text" "$BODY" "not found"
get /kv/shop/cart -X DELETE -H "If-Match: \"$V2\""
check "DELETE with an old If-Match: 412" "$STATUS" 412
get /kv/shop/cart -X DELETE -H "If-Match: \"$V3\""
check "DELETE with the current If-Match: 204" "$STATUS" 204
get /kv/shop/cart
check "deleted: 404" "$STATUS" 404
get /kv/shop/cart -X DELETE
check "DELETE of an absent key: 404" "$STATUS" 404
get /kv/shop/cart -X DELETE -H 'If-Match: *'
check "DELETE If-Match: * of an absent key: 412" "$STATUS" 412

# Keys: percent-decoded, '/' kept, an empty value.
get '/kv/shop/a/b%20c%2Fd' -X PUT --data-binary 'deep'
check "a key with / and escapes: 201" "$STATUS" 201
get '/kv/shop/a%2Fb%20c/d'
check "the same key, spelled otherwise" "$BODY" "deep"
get '/kv/shop/%E2%82%AC' -X PUT --data-binary 'euro'
get '/kv/shop/€'
check "a UTF-8 key" "$BODY" "euro"
get '/kv/shop/bad%zz' -X PUT --data-binary 'x'
check "a bad escape: 400" "$STATUS" 400
get '/kv/shop/nul%00' -X PUT --data-binary 'x'
check "a NUL in a key: 400" "$STATUS" 400
get /kv/shop/empty -X PUT --data-binary ''
get /kv/shop/empty
check "an empty value: 200" "$STATUS" 200
check "... and empty" "$BODY" ""

# TTL.
get '/kv/shop/brief?ttl=300' -X PUT --data-binary 'soon gone'
check "PUT with ttl: 201" "$STATUS" 201
get /kv/shop/brief
check "before the TTL: there" "$BODY" "soon gone"
sleep 0.6
get /kv/shop/brief
check "after the TTL: 404" "$STATUS" 404
get '/kv/shop/brief?ttl=soon' -X PUT --data-binary 'x'
check "a ttl that is no number: 400" "$STATUS" 400

# Listing, by prefix, in pages.
for k in p1 p2 p3 p4 p5 q1; do curl -s -o /dev/null -X PUT --data-binary "$k" "$URL/kv/list/$k"; done
get /kv/list
check "list: every key" "$BODY" '{"keys":["p1","p2","p3","p4","p5","q1"],"more":false}'
check_contains "list: JSON" "$HEADERS" "content-type: application/json"
get '/kv/list?prefix=p&limit=2'
check "first page" "$BODY" '{"keys":["p1","p2"],"more":true,"next":"p2"}'
get '/kv/list?prefix=p&limit=2&after=p2'
check "second page" "$BODY" '{"keys":["p3","p4"],"more":true,"next":"p4"}'
get '/kv/list?prefix=p&limit=2&after=p4'
check "last page" "$BODY" '{"keys":["p5"],"more":false}'
get '/kv/list?limit=0'
check "limit 0: 400" "$STATUS" 400
get '/kv/list?limit=1001'
check "limit over 1000: 400" "$STATUS" 400
get /kv/empty-store
check "a store without keys" "$BODY" '{"keys":[],"more":false}'

# Methods and names.
get /kv/list -X POST -d x
check "POST on a store: 405" "$STATUS" 405
check_contains "... with Allow" "$HEADERS" "allow: GET, HEAD"
get /kv/list/p1 -X POST -d x
check "POST on a key: 405" "$STATUS" 405
check_contains "... with Allow" "$HEADERS" "allow: GET, HEAD, PUT, DELETE"
get /kv
check "no store named: 404" "$STATUS" 404
get "/kv/$(head -c 200 /dev/zero | tr '\0' s)/k" -X PUT -d x
check "a store name over 128 bytes: 400" "$STATUS" 400
get /hello
check "the function still answers" "$BODY" "hello from weft"
stop_weft
check "weft up stopped cleanly" "$STOP_RC" 0

# A function routed under /kv shadows the API there, and the log says so.
cat >"$DIR/weft.toml" <<TOML
[[function]]
name = "mine"
source = "$GUESTS/gw_hello.wasm"
route = "/kv/..."
TOML
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }
get /kv/shop/x -X PUT -d x
check "a function's /kv/... answers, not the API" "$BODY" "hello from weft"
check "the log says it shadows the API" \
  "$(log_count "route /kv/... \(function 'mine'\) shadows weft's HTTP API under /kv")" 1
get /docs/c/1 -X PUT -d '{}'
check "the other APIs are still served" "$STATUS" 201
stop_weft
finish
