#!/usr/bin/env bash
# A broker's events as Server-Sent Events (GET /brokers/NAME/events): the head
# (text/event-stream, no-cache), "id: SEQ" and "data: JSON" per event, from the next
# event on, or since=earliest, or after Last-Event-ID; a CESQL filter (400 naming the
# error when it does not parse); bad queries 400, other methods 405; a keep-alive comment
# on a quiet stream; HTTP/2 as HTTP/1.1; a client that leaves is let go at once (no
# socket left behind); and the streams end, cleanly, when weft stops, without holding
# the stop back.
source "$(dirname "$0")/ev.bash"

DIR=$WORK/app
mkdir -p "$DIR"
# The function's long timeout would make a stop that waited for the streams wait 31 s.
cat >"$DIR/weft.toml" <<TOML
[[broker]]
name = "b"

[[function]]
name = "hello"
source = "$GUESTS/gw_hello.wasm"
route = "/hello"
timeout = "30s"
TOML
export WEFT_SSE_KEEPALIVE_MS=2000
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }

STREAM_PIDS=()
# stream NAME [CURL ARGS...]: reads the stream into $WORK/NAME (head in NAME.head) in the
# background; its exit status goes to NAME.rc when it ends.
stream() {
  local name=$1
  shift
  (curl -sN --max-time 60 -D "$WORK/$name.head" "$@" >"$WORK/$name" 2>/dev/null
   echo $? >"$WORK/$name.rc") &
  STREAM_PIDS+=($!)
}
# wait_for FILE TEXT [SECONDS]: waits until FILE contains TEXT.
wait_for() {
  for _ in $(seq 1 $((${3:-10} * 20))); do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
# ids FILE: the seqs a stream got, space-separated.
ids() { sed -n 's/^id: //p' "$1" | tr '\n' ' '; }
# ces FILE: the CloudEvents ids in its data lines.
ces() { sed -n 's/^data: //p' "$1" | python3 -c '
import json, sys
print(" ".join(json.loads(l)["id"] for l in sys.stdin))'; }

send b e1 t.a '{"n":1}'
send b e2 t.b '{"n":2}'
check "two events in: 202" "$STATUS" 202

stream now "$URL/brokers/b/events"
stream all "$URL/brokers/b/events?since=earliest"
stream typeb -G "$URL/brokers/b/events" --data-urlencode "filter=type = 't.b' AND source = 'test'"
stream after "$URL/brokers/b/events" -H 'Last-Event-ID: 1'
stream h2 --http2-prior-knowledge "$URL/brokers/b/events?since=earliest"
wait_for "$WORK/now" ": keep-alive" || fail "a stream from now opens with a comment"
wait_for "$WORK/all" "e2" || fail "since=earliest gets what is stored"
sleep 0.3
send b e3 t.b '{"n":3}'
send b e4 t.a '{"n":4}'
for s in now all typeb after h2; do wait_for "$WORK/$s" '"e4"' 5; done
wait_for "$WORK/typeb" '"e3"' 5

check "the head: 200, text/event-stream, no-cache" \
  "$(tr -d '\r' <"$WORK/now.head" | grep -iE '^(HTTP|content-type|cache-control)' | tr 'A-Z' 'a-z' | sort | tr '\n' ' ')" \
  "cache-control: no-cache content-type: text/event-stream http/1.1 200 ok "
check "from now: the events after it opened" "$(ces "$WORK/now")" "e3 e4"
check "since=earliest: every event, in order" "$(ces "$WORK/all")" "e1 e2 e3 e4"
check "each event's seq is its id" "$(ids "$WORK/all")" "1 2 3 4 "
check "filter: only the events it keeps" "$(ces "$WORK/typeb")" "e3"
check "Last-Event-ID: the events after it" "$(ces "$WORK/after")" "e2 e3 e4"
check "over HTTP/2 as well" "$(head -1 "$WORK/h2.head" | tr -d '\r')$(ces "$WORK/h2")" "HTTP/2 200 e1 e2 e3 e4"
check "an event is id, data, blank line" "$(grep -A2 '^id: 3$' "$WORK/all" | tr '\n' '|')" \
  "id: 3|data: $(sed -n 's/^data: \(.*"e3".*\)/\1/p' "$WORK/all" | head -1)||"
check_contains "the data is the event in structured mode" "$(grep '"e3"' "$WORK/all")" \
  '"specversion":"1.0","id":"e3","source":"test","type":"t.b"'

get "/brokers/b/events?filter=type%20%3D%3D%20'x'"
check "a filter that does not parse: 400" "$STATUS" 400
check_contains "saying why" "$BODY" "filter"
get "/brokers/b/events?since=yesterday"
check "since other than earliest: 400" "$STATUS" 400
get "/brokers/b/events?filter=%zz"
check "a broken percent-encoding: 400" "$STATUS" 400
get "/brokers/b/events" -H 'Last-Event-ID: seven'
check "a Last-Event-ID that is no seq: 400" "$STATUS" 400
get "/brokers/b/events" -X POST -d x
check "POST: 405" "$STATUS" 405
check_contains "Allow: GET" "$HEADERS" "allow: GET"
get "/brokers/nosuch/events"
check "no such broker: 404" "$STATUS" 404

# A backlog longer than a read (batches of 32, four reads a turn): all of it, in order;
# and a filter that passes only the last of it, read past many batches with nothing to
# send.
python3 -c '
import json
print(json.dumps([{"specversion": "1.0", "id": "m%d" % i, "source": "test", "type": "t.m"}
                  for i in range(300)]))' >"$WORK/batch.json"
check "300 events in one batch: 202" "$(curl -s -o /dev/null -w '%{http_code}' "$URL/brokers/b" \
  -H 'content-type: application/cloudevents-batch+json' --data-binary @"$WORK/batch.json")" 202
stream many "$URL/brokers/b/events?since=earliest"
stream last -G "$URL/brokers/b/events" --data-urlencode "since=earliest" \
  --data-urlencode "filter=id = 'm299'"
wait_for "$WORK/many" '"m299"' 10 || fail "the backlog arrives"
wait_for "$WORK/last" '"m299"' 10 || fail "the filtered backlog arrives"
check "a backlog: every event, in order" "$(ces "$WORK/many" | tr ' ' '\n' | grep -c '^m')" 300
check "in order" "$(ces "$WORK/many" | tr ' ' '\n' | grep '^m' | sed 's/m//' | sort -n -c && echo sorted)" sorted
check "a filter over a backlog: the one event it passes" "$(ces "$WORK/last")" "m299"

# A quiet stream gets a comment every 15 s, here every 2 s (WEFT_SSE_KEEPALIVE_MS; the
# first one opened it). Counted across a wait a little longer than that: how long the
# stream was quiet before depends on how fast the steps above ran.
before=$(grep -c '^: keep-alive$' "$WORK/typeb")
sleep 2.5
after=$(grep -c '^: keep-alive$' "$WORK/typeb")
check "keep-alive comments on a quiet stream" "$((after > before && after <= before + 2))" 1

# A client that leaves: its connection is closed at once, not left half-open
# (CLOSE_WAIT) until the next write fails.
close_wait() { ss -Htn state close-wait "( sport = :$PORT )" | wc -l; }
curl -sN --max-time 60 "$URL/brokers/b/events" >"$WORK/gone" 2>/dev/null &
gone=$!
wait_for "$WORK/gone" ": keep-alive" || fail "the stream that will leave opened"
kill "$gone"
wait "$gone" 2>/dev/null
sleep 1
check "a client that left: no connection left half-open" "$(close_wait)" 0
send b e5 t.a '{}'
check "events still flow after it" "$STATUS" 202
wait_for "$WORK/all" '"e5"' 5 || fail "the other streams get e5"

# Stopping: every stream ends, cleanly (curl saw the end of the response), and the stop
# does not wait for them.
t0=$(date +%s%N)
stop_weft
t1=$(date +%s%N)
check "weft up stops cleanly" "$STOP_RC" 0
check "the stop did not wait for the streams" "$(((t1 - t0) / 1000000000 < 5))" 1
for s in now all typeb after h2 many last; do
  for _ in $(seq 1 50); do [ -s "$WORK/$s.rc" ] && break; sleep 0.1; done
  check "stream $s ended with the server, cleanly" "$(cat "$WORK/$s.rc" 2>/dev/null)" 0
done
finish
