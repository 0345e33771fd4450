#!/usr/bin/env bash
# Ingest over HTTP: binary, structured and batched events accepted (202) and delivered;
# invalid ones answered 400 naming the problem, oversized 413, an unknown broker 404, a
# PUT 405; the same source and id twice stored once; a trigger added later starts at
# new events ("latest") or at every retained one ("earliest").
source "$(dirname "$0")/ev.bash"

DIR=$WORK/app
mkdir -p "$DIR"
start_sink all
ALL=$SINK_URL
start_sink st
ST=$SINK_URL
manifest() {
  printf '[[broker]]\nname = "b"\nmax_event_size = "64KiB"\n\n'
  printf '[[target]]\nname = "all"\nurl = "%s"\n\n[[trigger]]\nname = "all"\nbroker = "b"\ntarget = "all"\n\n' "$ALL"
  printf '[[target]]\nname = "st"\nurl = "%s"\nmode = "structured"\n\n' "$ST"
  printf '[[trigger]]\nname = "st"\nbroker = "b"\ntarget = "st"\nfilters = [{ exact = { type = "t.binary" } }]\n\n'
}
manifest >"$DIR/weft.toml"
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }

send b 1 t.binary '{"n":1}'
check "binary: 202" "$STATUS" 202
check "binary: empty body" "$BODY" ""
post() { # post CONTENT-TYPE DATA
  curl -s -o "$WORK/body" -w '%{http_code}' --max-time 30 "$URL/brokers/b" \
    -H "content-type: $1" --data-binary "$2" >"$WORK/status"
  STATUS=$(cat "$WORK/status")
  BODY=$(cat "$WORK/body")
}
post application/cloudevents+json '{"specversion":"1.0","id":"2","source":"s","type":"t.structured","data":{"n":2}}'
check "structured: 202" "$STATUS" 202
post 'application/cloudevents-batch+json' '[{"specversion":"1.0","id":"3","source":"s","type":"t.batch"},{"specversion":"1.0","id":"4","source":"s","type":"t.batch","data_base64":"AAEC"}]'
check "batch: 202" "$STATUS" 202
post 'application/cloudevents-batch+json' '[]'
check "empty batch: 202" "$STATUS" 202
post 'application/cloudevents-batch+json' '[{"specversion":"1.0","id":"5","source":"s","type":"t.batch"},{"specversion":"1.0","id":"6","source":"s"}]'
check "batch with an invalid event: 400" "$STATUS" 400
check_contains "naming it" "$BODY" "type"

send b 1 t.binary '{"n":1}'
check "the same source and id again: 202" "$STATUS" 202
wait_lines "$WORK/all.log" 4 10
sleep 0.5
check "delivered: each once (batch all-or-nothing, duplicate stored once)" \
  "$(field "$WORK/all.log" 'r["headers"]["ce-id"]' | sort | tr '\n' ' ')" "1 2 3 4 "

# A target with mode = "structured" gets the event as application/cloudevents+json.
wait_lines "$WORK/st.log" 1 10
st=$(head -1 "$WORK/st.log")
check_contains "structured target: its content type" \
  "$(field <(echo "$st") 'r["headers"].get("content-type")')" "application/cloudevents+json"
check "structured target: the event in the body" \
  "$(field <(echo "$st") 'json.loads(r["body"])["id"] + " " + json.loads(r["body"])["type"] + " " + json.dumps(json.loads(r["body"])["data"])')" \
  '1 t.binary {"n": 1}'
check "structured target: no ce- headers" \
  "$(field <(echo "$st") 'sum(k.startswith("ce-") for k in r["headers"])')" 0

send b 7 t '{}' -H 'ce-time: yesterday'
check "bad time: 400" "$STATUS" 400
check_contains "names the attribute" "$BODY" "time"
send b 8 t '{}' -H 'ce-Bad_Name: x'
check "bad extension name: 400" "$STATUS" 400
curl -s -o /dev/null -w '%{http_code}' "$URL/brokers/b" -H 'content-type: text/plain' -d hi >"$WORK/status"
check "not a CloudEvent: 400 or 415" "$(grep -cE '^(400|415)$' "$WORK/status")" 1
big=$(head -c 70000 /dev/zero | tr '\0' a)
send b 9 t "\"$big\""
check "over max_event_size: 413" "$STATUS" 413
send nosuch 10 t
check "no such broker: 404" "$STATUS" 404
check "PUT: 405" "$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$URL/brokers/b")" 405
stop_weft

# New triggers: "earliest" gets the four retained events, "latest" none of them.
start_sink early
EARLY=$SINK_URL
start_sink late
LATE=$SINK_URL
{
  manifest
  printf '[[target]]\nname = "early"\nurl = "%s"\n\n[[trigger]]\nname = "early"\nbroker = "b"\ntarget = "early"\nfrom = "earliest"\n\n' "$EARLY"
  printf '[[target]]\nname = "late"\nurl = "%s"\n\n[[trigger]]\nname = "late"\nbroker = "b"\ntarget = "late"\n\n' "$LATE"
} >"$DIR/weft.toml"
start_weft "$DIR" || { fail "weft up did not restart"; finish; exit; }
send b 11 t.new
wait_lines "$WORK/early.log" 5 10
wait_lines "$WORK/late.log" 1 10
sleep 0.5
check "from earliest: every retained event" \
  "$(field "$WORK/early.log" 'r["headers"]["ce-id"]' | sort -n | tr '\n' ' ')" "1 2 3 4 11 "
check "from latest: only new events" "$(field "$WORK/late.log" 'r["headers"]["ce-id"]' | tr '\n' ' ')" "11 "
check "the old trigger resumes at its position: only the new event" \
  "$(field "$WORK/all.log" 'r["headers"]["ce-id"]' | sort -n | tr '\n' ' ')" "1 2 3 4 11 "
stop_weft
finish
