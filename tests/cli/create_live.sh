#!/usr/bin/env bash
# weft create against a running weft up: each kind (broker, target, trigger) is picked
# up without a restart. A broker created is taking events at once; a target and a
# trigger created then deliver the broker's next events; weft describe shows them.
source "$(dirname "$0")/../events/ev.bash"

DIR=$WORK/app
mkdir -p "$DIR"
cd "$DIR" || exit 1
cp "$GUESTS/gw_hello.wasm" .
printf '[[function]]\nname = "hello"\nsource = "gw_hello.wasm"\nroute = "/hello"\n' >weft.toml
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }
start_sink display

# reloads N: waits until weft up's log says it reloaded N times.
reloads() {
  for _ in $(seq 1 200); do
    [ "$(grep -c ': reloaded in ' "$DIR/log")" -ge "$1" ] && return 0
    sleep 0.05
  done
  return 1
}

send orders o0 io.shop.order '{}'
check "before: no broker orders" "$STATUS" 404
run "$WEFT" create broker orders
check "create broker: status" "$RC" 0
reloads 1 || fail "the new broker was not picked up: $(tail -3 "$DIR/log")"
send orders o1 io.shop.order '{"n":1}'
check "a broker created is taking events" "$STATUS" 202

run "$WEFT" create target display --url "$SINK_URL"
check "create target: status" "$RC" 0
reloads 2 || fail "the new target was not picked up"
run "$WEFT" create trigger --broker orders --target display --event-types 'io.shop.*' \
  --name to-display
check "create trigger: status" "$RC" 0
reloads 3 || fail "the new trigger was not picked up"
send orders o2 io.shop.order '{"n":2}'
send orders o3 other.type '{"n":3}'
wait_lines "$SINK_LOG" 1 || fail "the new trigger delivered nothing"
sleep 0.5
check "the new trigger delivers what its filter passes, from its start on" \
  "$(field "$SINK_LOG" 'r["headers"].get("ce-id")' | tr '\n' ' ')" "o2 "
run "$WEFT" describe --json
check "describe shows the created trigger and its count" \
  "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print([(t["name"], t["target"], t["delivered"]) for t in d["triggers"]])' <<<"$OUT")" \
  "[('to-display', 'display', 1)]"
get /hello
check "the function is served all along" "$STATUS" 200
stop_weft
check "clean exit" "$STOP_RC" 0
finish
