#!/usr/bin/env bash
# /docs over HTTP: PUT of a JSON object (201, then 200; anything else 400 with a
# message), GET (application/json, ETag), If-Match / If-None-Match, DELETE, and queries
# by equality of top-level fields: a value that is a JSON scalar compared as that
# (3 matches 3 and 3.0, not "3"; "3" quoted matches the string), anything else as a
# string; several fields all match; paging with after and limit.
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

put() { get "/docs/$1" -X PUT -H 'Content-Type: application/json' --data-binary "$2"; }

put people/ann '{"name":"ann","age":31,"city":"Oslo","admin":true}'
check "PUT of a new document: 201" "$STATUS" 201
V1=$(printf '%s' "$HEADERS" | sed -n 's/^etag: "\([0-9]*\)"$/\1/p')
check "... its id and version" "$BODY" "{\"id\":\"ann\",\"version\":$V1}"
get /docs/people/ann
check "GET: 200" "$STATUS" 200
check "GET: the text as stored" "$BODY" '{"name":"ann","age":31,"city":"Oslo","admin":true}'
check_contains "GET: JSON" "$HEADERS" "content-type: application/json"
check_contains "GET: ETag" "$HEADERS" "etag: \"$V1\""
put people/bob '{"name":"bob","age":"31","city":"Oslo","admin":false}'
put people/cy '{"name":"cy","age":31.0,"city":"Rome","admin":null}'
put people/dee '{"name":"dee","age":40,"city":"Oslo"}'
put 'people/e%2Ff' '{"name":"e/f","age":7}'
check "an id with /: 201" "$STATUS" 201

put people/bad '[1,2]'
check "an array: 400" "$STATUS" 400
check_contains "... saying it must be an object" "$BODY" "must be a JSON object"
put people/bad '{"a":'
check "broken JSON: 400" "$STATUS" 400
check_contains "... saying where" "$BODY" "line 1"
put people/bad '{"a":1,"a":2}'
check "duplicate members: 400" "$STATUS" 400
get /docs/people/bad
check "nothing stored: 404" "$STATUS" 404

# Conditions.
put people/ann '{"name":"ann","age":32,"city":"Oslo","admin":true}'
check "PUT over a document: 200" "$STATUS" 200
V2=$(printf '%s' "$HEADERS" | sed -n 's/^etag: "\([0-9]*\)"$/\1/p')
get /docs/people/ann -X PUT -H "If-Match: \"$V1\"" --data-binary '{"stale":true}'
check "If-Match of an old version: 412" "$STATUS" 412
get /docs/people/ann -X PUT -H 'If-None-Match: *' --data-binary '{"again":true}'
check "If-None-Match: * over a document: 412" "$STATUS" 412
get /docs/people/zed -X PUT -H 'If-Match: *' --data-binary '{}'
check "If-Match: * of an absent document: 412" "$STATUS" 412
get /docs/people/ann -H "If-None-Match: \"$V2\""
check "If-None-Match of the current version: 304" "$STATUS" 304

# Queries.
ids() { printf '%s' "$BODY" | python3 -c 'import json, sys; print(" ".join(i["id"] for i in json.load(sys.stdin)["items"]))'; }
get '/docs/people?age=31'
check "age=31: the number, as a number (31.0 too, not \"31\")" "$(ids)" "cy"
get '/docs/people?age=32'
check "age=32" "$(ids)" "ann"
get '/docs/people?age=%2231%22'
check "age=\"31\": the string" "$(ids)" "bob"
get '/docs/people?city=Oslo'
check "city=Oslo: not JSON, so a string" "$(ids)" "ann bob dee"
get '/docs/people?city=Oslo&admin=false'
check "two fields: both must match" "$(ids)" "bob"
get '/docs/people?admin=null'
check "admin=null matches null, not a missing field" "$(ids)" "cy"
get '/docs/people?admin=true'
check "admin=true: the boolean" "$(ids)" "ann"
get '/docs/people?name=e%2Ff'
check "a value with an escape" "$(ids)" "e/f"
get '/docs/people?city=%5B1%5D'
check "a value that is a JSON array is a string: none match" "$(ids)" ""
get '/docs/people'
check "no condition: every document, in id order" "$(ids)" "ann bob cy dee e/f"
check "the shape of an item" \
  "$(printf '%s' "$BODY" | python3 -c 'import json, sys; i = json.load(sys.stdin)["items"][0]; print(sorted(i), i["doc"]["age"], type(i["version"]).__name__)')" \
  "['doc', 'id', 'version'] 32 int"
get '/docs/people?city=Oslo&limit=2'
check "first page" "$(ids) $(printf '%s' "$BODY" | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["more"], d.get("next"))')" "ann bob True bob"
get '/docs/people?city=Oslo&limit=2&after=bob'
check "second page" "$(ids) $(printf '%s' "$BODY" | python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["more"], d.get("next"))')" "dee False None"

# Delete, methods.
get /docs/people/dee -X DELETE -H 'If-Match: "999999"'
check "DELETE with another version: 412" "$STATUS" 412
get /docs/people/dee -X DELETE
check "DELETE: 204" "$STATUS" 204
get /docs/people/dee
check "deleted: 404" "$STATUS" 404
get /docs/people -X PUT -d '{}'
check "PUT on a collection: 405" "$STATUS" 405
check_contains "... with Allow" "$HEADERS" "allow: GET, HEAD"
stop_weft
check "weft up stopped cleanly" "$STOP_RC" 0
finish
