#!/usr/bin/env bash
# weft watch BROKER: one line per event the broker ingests (time, type, source, id, data:
# compact JSON or text, cut at 200 characters), from now on or --since earliest, only
# those a --filter passes, the raw JSON with --json; a filter that does not parse and an
# unknown broker exit 1 with the server's answer; Ctrl-C ends it with 0, and so does the
# server closing the stream (with a note on stderr).
source "$(dirname "$0")/../events/ev.bash"

DIR=$WORK/app
mkdir -p "$DIR"
printf '[[broker]]\nname = "b"\n\n[[broker]]\nname = "other"\n' >"$DIR/weft.toml"
cd "$DIR" || exit 1
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }
check "weft up wrote its address" "$(cat .weft/address 2>/dev/null)" "$URL"

WATCH_PIDS=()
trap 'for p in "${WATCH_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done; cleanup_sinks' EXIT
# watch NAME ARGS...: `weft watch ARGS` in the background, stdout in $WORK/NAME.out,
# stderr in $WORK/NAME.err; waits until it says it is watching; sets WPID.
watch() {
  local name=$1
  shift
  "$WEFT" watch "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  WPID=$!
  WATCH_PIDS+=("$WPID")
  for _ in $(seq 1 100); do
    grep -q "watching" "$WORK/$name.err" && return 0
    kill -0 "$WPID" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
# ends PID: waits for it to exit (10 s at most); sets WRC.
ends() {
  for _ in $(seq 1 200); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.05
  done
  wait "$1"
  WRC=$?
}

send b 1 t.a '{"n":1}'
check "an event before any watch: 202" "$STATUS" 202

watch now b || fail "weft watch did not start: $(cat "$WORK/now.err")"
watch earliest b --since earliest || fail "weft watch --since earliest did not start"
watch filtered b --filter "type = 't.b'" || fail "weft watch --filter did not start"
watch json b --json || fail "weft watch --json did not start"
if watch default; then fail "weft watch without BROKER (the manifest has two) did start"; fi

send b 2 t.b '{"n":2}' -H 'ce-time: 2026-01-02T03:04:05Z'
send other 9 t.b '{}'
long=$(printf 'x%.0s' $(seq 1 300))
send b 3 t.c "\"$long\""
curl -s -o /dev/null "$URL/brokers/b" -H 'ce-specversion: 1.0' -H 'ce-id: 4' -H 'ce-source: test' \
  -H 'ce-type: t.text' -H 'content-type: text/plain' --data-binary 'two
lines'
wait_lines "$WORK/now.out" 3 10
wait_lines "$WORK/earliest.out" 4 10
wait_lines "$WORK/json.out" 3 10
sleep 0.3

check "from now: the events after it started, in order, one line each" \
  "$(cut -d' ' -f2-4 "$WORK/now.out")" $'t.b test 2\nt.c test 3\nt.text test 4'
check "a line: the event's time, type, source, id, data" "$(sed -n 1p "$WORK/now.out")" \
  '2026-01-02T03:04:05Z t.b test 2 {"n":2}'
line3=$(sed -n 2p "$WORK/now.out")
check "long data cut at 200 characters" "$(cut -d' ' -f5 <<<"$line3")" "$(printf 'x%.0s' $(seq 1 200))..."
[[ $(cut -d' ' -f1 <<<"$line3") =~ ^20[0-9]{2}-[0-9]{2}-[0-9]{2}T ]] && pass || fail "no time: now, got $line3"
check "text data on one line" "$(sed -n 3p "$WORK/now.out" | cut -d' ' -f5-)" 'two\nlines'
check "--since earliest: the event before it too" "$(cut -d' ' -f4 "$WORK/earliest.out" | tr '\n' ' ')" "1 2 3 4 "
check "--filter: only what it passes" "$(cut -d' ' -f2-4 "$WORK/filtered.out")" "t.b test 2"
check "--json: each event's JSON, one a line" \
  "$(python3 -c 'import json,sys; print(" ".join(json.loads(l)["id"] for l in open(sys.argv[1])))' "$WORK/json.out")" \
  "2 3 4"
ends "$WPID"
check "without BROKER when the manifest has two: 2" "$WRC" 2
check_contains "without BROKER: names them" "$(cat "$WORK/default.err")" "b, other"

# Ctrl-C ends a watch with 0.
kill -INT "${WATCH_PIDS[0]}"
ends "${WATCH_PIDS[0]}"
check "Ctrl-C: 0" "$WRC" 0

# Refused by the server: its message shown, status 1.
run "$WEFT" watch b --filter "type ="
check "a filter that does not parse: 1" "$RC" 1
check_contains "a filter that does not parse: HTTP 400" "$ERR" "HTTP 400"
check_contains "a filter that does not parse: the server's message" "$ERR" "column"
run "$WEFT" watch nope
check "an unknown broker: 1" "$RC" 1
check_contains "an unknown broker: HTTP 404" "$ERR" "HTTP 404"
run "$WEFT" watch --url "$URL" b --since yesterday
check "--since other than earliest: 2" "$RC" 2

# The server stopping closes the streams: 0 and a note.
stop_weft
ends "${WATCH_PIDS[1]}"
check "the server closed the stream: 0" "$WRC" 0
check_contains "the server closed the stream: a note" "$(cat "$WORK/earliest.err")" "the server closed the stream"
finish
