#!/usr/bin/env bash
# weft kv, weft blob and weft doc against a running weft up with a token, found through
# the address file (and by --url): every subcommand, values from arguments and stdin,
# blobs from files and stdin and back byte-exact, errors with the server's status and
# message (exit 1), usage mistakes (exit 2); and the token from --token or WEFT_TOKEN,
# for send, describe and watch too.
source "$(dirname "$0")/../gateway/gw.bash"

DIR=$WORK/app
mkdir -p "$DIR"
cat >"$DIR/weft.toml" <<TOML
[server]
token = "cli-token"

[[broker]]
name = "orders"

[[function]]
name = "hello"
source = "$GUESTS/gw_hello.wasm"
route = "/hello"
TOML
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }
cd "$DIR" || exit 1
export WEFT_TOKEN=cli-token

# kv
run "$WEFT" kv set shop 'a/b c' 'three apples'
check "kv set: 0" "$RC" 0
check_contains "kv set: the version, created" "$OUT" "(created)"
V=$(sed -n 's/^version \([0-9]*\).*/\1/p' <<<"$OUT")
run "$WEFT" kv get shop 'a/b c'
check "kv get: the value as stored" "$OUT" "three apples"
run_in 'from stdin' "$WEFT" kv set shop piped
check "kv set from stdin: 0" "$RC" 0
run "$WEFT" kv get shop piped
check "kv get of a value from stdin" "$OUT" "from stdin"
run "$WEFT" kv set shop 'a/b c' 'stale' --if-match $((V + 1000))
check "kv set --if-match of another version: 1" "$RC" 1
check_contains "... with the status and the server's message" "$ERR" "HTTP 412 Precondition Failed: "
run "$WEFT" kv set shop 'a/b c' 'four apples' --if-match "$V"
check "kv set --if-match of the current version: 0" "$RC" 0
run "$WEFT" kv set shop piped again --if-absent
check "kv set --if-absent over a key: 1" "$RC" 1
run "$WEFT" kv set shop brief soon --ttl 200
check "kv set --ttl: 0" "$RC" 0
sleep 0.4
run "$WEFT" kv get shop brief
check "past its ttl: 1" "$RC" 1
check_contains "... 404 and the server's message" "$ERR" "HTTP 404 Not Found: not found"
for i in 1 2 3; do "$WEFT" kv set shop "p$i" "$i" >/dev/null; done
run "$WEFT" kv list shop
check "kv list: every key, one a line" "$OUT" $'a/b c\np1\np2\np3\npiped'
run "$WEFT" kv list shop --prefix p
check "kv list --prefix" "$OUT" $'p1\np2\np3\npiped'
run "$WEFT" kv delete shop p2
check "kv delete: 0" "$RC" 0
run "$WEFT" kv list shop --prefix p
check "... gone" "$OUT" $'p1\np3\npiped'
run "$WEFT" kv get shop p2
check "kv get of a deleted key: 1" "$RC" 1
# Paging: more keys than a page holds (the server's default page is 100).
for i in $(seq 1 130); do printf 'PUT /kv/many/k%03d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer cli-token\r\nContent-Length: 1\r\n\r\nx' "$i"; done >"$WORK/many.req"
python3 - "$PORT" "$WORK/many.req" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(open(sys.argv[2], "rb").read())
s.settimeout(10)
got = b""
while got.count(b"HTTP/1.1 201") < 130:
    d = s.recv(65536)
    if not d:
        break
    got += d
PY
run "$WEFT" kv list many
check "kv list follows every page" "$(wc -l <<<"$OUT") $(tail -n 1 <<<"$OUT")" "130 k130"

# blob
head -c 3000000 /dev/urandom >"$WORK/blob"
run "$WEFT" blob put pics one.bin "$WORK/blob" --content-type image/png
check "blob put FILE: 0" "$RC" 0
check_contains "blob put: size and SHA-256" "$OUT" \
  "one.bin: 3000000 bytes, image/png, sha256 $(sha256sum <"$WORK/blob" | cut -d' ' -f1)"
run "$WEFT" blob get pics one.bin -o "$WORK/back"
check "blob get -o: 0" "$RC" 0
check "blob get -o: the same bytes" "$(cmp -s "$WORK/blob" "$WORK/back" && echo same)" same
"$WEFT" blob get pics one.bin >"$WORK/back2"
check "blob get to stdout: the same bytes" "$(cmp -s "$WORK/blob" "$WORK/back2" && echo same)" same
printf 'streamed in' | "$WEFT" blob put pics two.txt - --content-type text/plain >/dev/null
run "$WEFT" blob get pics two.txt
check "blob put - (stdin)" "$OUT" "streamed in"
run "$WEFT" blob list pics
check "blob list" "$OUT" $'one.bin\ntwo.txt'
run "$WEFT" blob list pics --prefix tw
check "blob list --prefix" "$OUT" "two.txt"
run "$WEFT" blob get pics nope -o "$WORK/nope"
check "blob get of a missing blob: 1" "$RC" 1
check "... and no file is left" "$(ls "$WORK" | grep -c '^nope')" 0
run "$WEFT" blob put pics x "$WORK/does-not-exist"
check "blob put of a missing file: 1" "$RC" 1
check_contains "... naming it" "$ERR" "does-not-exist"
run "$WEFT" blob delete pics two.txt
check "blob delete: 0" "$RC" 0
run "$WEFT" blob list pics
check "... gone" "$OUT" "one.bin"

# doc
run "$WEFT" doc put people ann '{"name":"ann","age":31}'
check "doc put: 0" "$RC" 0
run_in '{"name":"bob","age":"31"}' "$WEFT" doc put people bob -
check "doc put - (stdin): 0" "$RC" 0
run "$WEFT" doc get people ann
check "doc get" "$OUT" '{"name":"ann","age":31}'
run "$WEFT" doc query people age=31
check "doc query age=31: the number, one JSON line per document" "$OUT" \
  '{"id":"ann","version":'"$(curl -s -H 'Authorization: Bearer cli-token' -o /dev/null -w '%header{etag}' "$URL/docs/people/ann" | tr -d '"')"',"doc":{"name":"ann","age":31}}'
run "$WEFT" doc query people 'age="31"'
check_contains "doc query age=\"31\": the string" "$OUT" '"id":"bob"'
run "$WEFT" doc query people
check "doc query without conditions: every document" "$(wc -l <<<"$OUT")" 2
run "$WEFT" doc put people bad '[1]'
check "doc put of an array: 1" "$RC" 1
check_contains "... with the server's message" "$ERR" "HTTP 400 Bad Request: the body must be a JSON object"
run "$WEFT" doc delete people bob
check "doc delete: 0" "$RC" 0
run "$WEFT" doc query people
check "... gone" "$(wc -l <<<"$OUT")" 1

# --url
run "$WEFT" kv get shop p1 --url "$URL"
check "--url" "$OUT" "1"

# The token.
unset WEFT_TOKEN
run "$WEFT" kv get shop p1
check "no token: 1" "$RC" 1
check_contains "... with 401" "$ERR" "HTTP 401 Unauthorized"
run "$WEFT" kv get shop p1 --token wrong
check "a wrong --token: 1" "$RC" 1
run "$WEFT" kv get shop p1 --token cli-token
check "--token" "$OUT" "1"
run "$WEFT" describe
check "describe without a token: 1" "$RC" 1
check_contains "... 401" "$ERR" "401"
run "$WEFT" describe --token cli-token
check "describe --token: 0" "$RC" 0
WEFT_TOKEN=cli-token run "$WEFT" describe --json
check "describe with WEFT_TOKEN: 0" "$RC" 0
run "$WEFT" send '{"a":1}'
check "send without a token: 1" "$RC" 1
run "$WEFT" send --token cli-token '{"a":1}'
check "send --token: 0" "$RC" 0
WEFT_TOKEN=cli-token run "$WEFT" send '{"a":2}'
check "send with WEFT_TOKEN: 0" "$RC" 0
WEFT_TOKEN=cli-token timeout 2 "$WEFT" watch --since earliest >"$WORK/watch" 2>&1
check "watch with WEFT_TOKEN: the events" "$(grep -c weft.cli.event "$WORK/watch")" 2
run "$WEFT" watch --since earliest
check "watch without a token: 1" "$RC" 1

# Usage.
run "$WEFT" kv
check "weft kv alone: 2" "$RC" 2
run "$WEFT" kv fly shop
check "an unknown subcommand: 2" "$RC" 2
run "$WEFT" kv get shop
check "a missing argument: 2" "$RC" 2
run "$WEFT" doc query people age
check "a condition without '=': 2" "$RC" 2
run "$WEFT" kv --help
check_contains "weft kv --help" "$OUT" "usage: weft kv get STORE KEY"
run "$WEFT" --help
check_contains "weft --help lists kv, blob and doc" "$OUT" "  kv "
cd / || exit 1
stop_weft
finish
