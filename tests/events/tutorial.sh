#!/usr/bin/env bash
# TriggerMesh's WebAssembly tutorial, end to end: an event POSTed to the broker goes
# through a trigger to the transform function (a wasm guest called in process), whose
# reply (type <type>.transformed, no id) goes back into the broker; a trigger with no
# filter delivers both the original and the transformed event to a display sink.
source "$(dirname "$0")/ev.bash"

DIR=$WORK/app
mkdir -p "$DIR"
cp "$GUESTS/ev_transform.wasm" "$DIR/transform.wasm"
start_sink display
cat >"$DIR/weft.toml" <<T
[[broker]]
name = "wasm"

[[function]]
name = "transform"
source = "transform.wasm"

[[target]]
name = "display"
url = "$SINK_URL"

[[trigger]]
name = "to-transform"
broker = "wasm"
target = "transform"
filters = [{ exact = { type = "io.wasm.event" } }]

[[trigger]]
name = "to-display"
broker = "wasm"
target = "display"
T
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }

curl -s -i -o "$WORK/resp" --max-time 30 "$URL/brokers/wasm" -H 'ce-specversion: 1.0' \
  -H 'ce-id: 1' -H 'ce-source: me' -H 'ce-type: io.wasm.event' \
  -H 'content-type: application/json' -d '{"hi":"world"}'
check "ingest answers 202" "$(head -1 "$WORK/resp" | tr -d '\r')" "HTTP/1.1 202 Accepted"

wait_lines "$SINK_LOG" 2 || fail "the display got $(lines "$SINK_LOG") events, expected 2"
check "the display got two events" "$(lines "$SINK_LOG")" 2
types=$(field "$SINK_LOG" 'r["headers"].get("ce-type")' | sort | tr '\n' ' ')
check "the original and the transformed" "$types" "io.wasm.event io.wasm.event.transformed "
orig=$(grep '"io.wasm.event"' "$SINK_LOG")
tr=$(grep 'io.wasm.event.transformed' "$SINK_LOG")
check "original: its data" "$(field <(echo "$orig") 'r["body"]')" '{"hi":"world"}'
check "original: its id" "$(field <(echo "$orig") 'r["headers"].get("ce-id")')" 1
check "transformed: hello wasm added" "$(field <(echo "$tr") 'r["body"]')" '{"hi":"world","hello":"wasm"}'
check "transformed: its source" "$(field <(echo "$tr") 'r["headers"].get("ce-source")')" transform
newid=$(field <(echo "$tr") 'r["headers"].get("ce-id") or ""')
[ -n "$newid" ] && [ "$newid" != 1 ] && pass || fail "the reply got no fresh id: [$newid]"
check "transformed: TTL counted down" \
  "$(field <(echo "$tr") 'r["headers"].get("ce-knativebrokerttl")')" 254
check "delivered as binary mode" "$(field <(echo "$tr") 'r["headers"].get("content-type")')" \
  application/json
check "with Prefer: reply" "$(field <(echo "$tr") 'r["headers"].get("prefer")')" reply

# Not a CloudEvent: 400 naming the problem; the sink gets nothing more.
send wasm 2 io.wasm.event '{}' -H 'ce-specversion: 0.3'
check "a wrong specversion: 400" "$STATUS" 400
check_contains "and says why" "$BODY" "specversion"
sleep 0.5
check "nothing more delivered" "$(lines "$SINK_LOG")" 2
stop_weft
check "clean exit" "$STOP_RC" 0
finish
