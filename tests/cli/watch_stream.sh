#!/usr/bin/env bash
# weft watch reads Server-Sent Events as the format defines them, whatever the server's
# framing: LF, CRLF and CR line ends, comments, an event split over data: lines, fields
# it does not use, a message without data, bytes arriving one at a time; a server closing
# the stream ends it with 0 and a note; a 4xx exits 1 with the server's answer; Ctrl-C
# exits 0. Against a stand-in server (sse_server.py), so that the framing is fixed.
source "$(dirname "$0")/../lib.sh"

python3 "$SRC/tests/cli/sse_server.py" "$WORK/port" &
SERVER=$!
trap 'kill -KILL $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do
  [ -s "$WORK/port" ] && break
  sleep 0.05
done
U=http://127.0.0.1:$(cat "$WORK/port")

run "$WEFT" watch --url "$U" b
check "a stream the server closes: 0" "$RC" 0
check "every event, one line each, whatever the framing" "$(cut -d' ' -f2-4 <<<"$OUT")" \
  $'t.lf s 1\nt.crlf s 2\nt.cr s 3\nt.split s 4\nt.b64 s 5\nt.bytes s 6'
check "the event's time and compact JSON data" "$(sed -n 1p <<<"$OUT")" '2026-01-01T00:00:00Z t.lf s 1 {"x":1}'
check "text data as it is" "$(sed -n 2p <<<"$OUT" | cut -d' ' -f5-)" "a b"
check "base64 data" "$(sed -n 5p <<<"$OUT" | cut -d' ' -f5-)" "base64:AAEC"
check "an array" "$(sed -n 6p <<<"$OUT" | cut -d' ' -f5-)" "[1,2]"
check_contains "closed by the server: a note" "$ERR" "the server closed the stream (last event id 6)"

run "$WEFT" watch --url "$U" b --json
check "--json: 0" "$RC" 0
check "--json: each event's JSON on one line, the split one joined" "$(sed -n 4p <<<"$OUT")" \
  '{"specversion":"1.0","id":"4","source":"s","type":"t.split"}'
check "--json: six lines" "$(wc -l <<<"$OUT")" 6

run "$WEFT" watch --url "$U" b --filter "type ="
check "a 400: 1" "$RC" 1
check_contains "a 400: status" "$ERR" "HTTP 400 Bad Request"
check_contains "a 400: the server's message" "$ERR" "filter: column 6: expected an expression"
run "$WEFT" watch --url "$U" nope
check "a 404: 1" "$RC" 1
check_contains "a 404: status and body" "$ERR" $'HTTP 404 Not Found\nno broker here'

# Ctrl-C while the stream is open: 0; what came before it is out, through a pipe too.
mkfifo "$WORK/pipe"
cat "$WORK/pipe" >"$WORK/slow.out" &
CAT=$!
"$WEFT" watch --url "$U" slow >"$WORK/pipe" 2>"$WORK/slow.err" &
WPID=$!
for _ in $(seq 1 100); do
  [ -s "$WORK/slow.out" ] && break
  sleep 0.05
done
check "through a pipe, each line as it comes" "$(cut -d' ' -f2-4 "$WORK/slow.out")" "t.slow s s1"
kill -INT "$WPID"
for _ in $(seq 1 100); do
  kill -0 "$WPID" 2>/dev/null || break
  sleep 0.05
done
kill -0 "$WPID" 2>/dev/null && { fail "Ctrl-C did not end weft watch"; kill -KILL "$WPID"; }
wait "$WPID"
check "Ctrl-C: 0" "$?" 0
wait "$CAT"
run "$WEFT" watch --url "$U" slow --since now
check "--since other than earliest: 2" "$RC" 2
finish
