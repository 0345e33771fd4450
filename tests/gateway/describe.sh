#!/usr/bin/env bash
# GET /_weft/describe: the app's state as JSON (application/json): without brokers,
# empty lists of brokers, triggers and targets; with them, the events layer's counts
# after known traffic; always the functions (module, optimized) and the routes, most
# specific first, without weft's own. Other methods 405; a route an app declares on
# /_weft/describe is ignored.
source "$(dirname "$0")/../events/ev.bash"

# q EXPR: a Python expression over the description d, from $BODY.
q() { printf '%s' "$BODY" | python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

DIR=$WORK/plain
mkdir -p "$DIR"
cat >"$DIR/weft.toml" <<TOML
[[function]]
name = "hello"
source = "$GUESTS/gw_hello.wasm"
route = "/hello"

[[function]]
name = "cgi"
source = "$GUESTS/gw_cgi.wasm"
route = "/cgi/..."

[[route]]
path = "/_weft/describe"
function = "cgi"
TOML
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }
check "a route declared on /_weft/describe is ignored, and said so" \
  "$(log_count 'route /_weft/describe is served by weft itself')" 1
get /_weft/describe
check "200" "$STATUS" 200
check_contains "application/json" "$HEADERS" "content-type: application/json"
check "no brokers: empty lists" "$(q '(d["brokers"], d["triggers"], d["targets"])')" "([], [], [])"
check "the functions, with their modules" \
  "$(q '[(f["name"], f["module"].split("/")[-1], type(f["optimized"]).__name__) for f in d["functions"]]')" \
  "[('hello', 'gw_hello.wasm', 'bool'), ('cgi', 'gw_cgi.wasm', 'bool')]"
check "the routes, most specific first, without weft's own" \
  "$(q '[(r["route"], r["function"], r["entrypoint"]) for r in d["routes"]]')" \
  "[('/hello', 'hello', '_start'), ('/cgi/...', 'cgi', '_start')]"
get /_weft/describe -X POST -d x
check "POST: 405" "$STATUS" 405
check_contains "Allow: GET" "$HEADERS" "allow: GET"
get /_weft/describe -I
check "HEAD: 405" "$STATUS" 405
stop_weft

DIR=$WORK/events
mkdir -p "$DIR"
start_sink sink
cat >"$DIR/weft.toml" <<TOML
[[broker]]
name = "orders"

[[target]]
name = "sink"
url = "$SINK_URL"

[[trigger]]
name = "paid"
broker = "orders"
target = "sink"
filters = [{ exact = { type = "paid" } }]

[[function]]
name = "hello"
source = "$GUESTS/gw_hello.wasm"
route = "/hello"
TOML
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }
send orders 1 paid
send orders 2 paid
send orders 3 placed
send orders 4 '' # no type: refused
check "an event without a type is refused" "$STATUS" 400
wait_lines "$SINK_LOG" 2 10
sleep 0.5
get /_weft/describe
check "with brokers: 200" "$STATUS" 200
check "the broker's counts" \
  "$(q '[(b["name"], b["stored"], b["latest"], b["ingested"], b["rejected"]) for b in d["brokers"]]')" \
  "[('orders', 3, 3, 3, 1)]"
check "the trigger's position and counts" \
  "$(q '[(t["name"], t["broker"], t["target"], t["position"], t["lag"], t["delivered"], t["filtered_out"]) for t in d["triggers"]]')" \
  "[('paid', 'orders', 'sink', 3, 0, 2, 1)]"
check "the target" "$(q '[(t["name"], t["url"] == "'"$SINK_URL"'") for t in d["targets"]]')" \
  "[('sink', True)]"
check "the broker's routes beside the function's" \
  "$(q '[(r["route"], r.get("broker"), r.get("function")) for r in d["routes"]]')" \
  "[('/brokers/orders', 'orders', None), ('/brokers/orders/events', 'orders', None), ('/hello', None, 'hello')]"
stop_weft
check "weft up stops cleanly" "$STOP_RC" 0
finish
