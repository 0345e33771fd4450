#!/usr/bin/env bash
# weft describe: the running weft up's brokers, triggers, targets, functions and routes
# as aligned tables (a trigger's filter as written, '*' for none; its counts and lag),
# --json the server's JSON as it is; found through .weft/address or --url.
source "$(dirname "$0")/../events/ev.bash"

DIR=$WORK/app
mkdir -p "$DIR"
start_sink all
cat >"$DIR/weft.toml" <<TOML
[[function]]
name = "hello"
source = "$GUESTS/hello.wasm"
route = "/hello"

[[broker]]
name = "b"

[[target]]
name = "all"
url = "$SINK_URL"

[[trigger]]
name = "every"
broker = "b"
target = "all"

[[trigger]]
name = "typed"
broker = "b"
target = "hello"
filters = [{ exact = { type = "t.x" } }]
TOML
cd "$DIR" || exit 1
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }
check "weft up wrote its address" "$(cat .weft/address 2>/dev/null)" "$URL"

send b 1 t.a '{}'
send b 2 t.a '{}'
curl -s -o /dev/null "$URL/brokers/b" -H 'content-type: application/cloudevents+json' -d '{"id":"x"}'
wait_lines "$SINK_LOG" 2 10
sleep 0.5

run "$WEFT" describe
check "describe: status" "$RC" 0
row() { grep -E "^$1 " <<<"$OUT" | tr -s ' '; }
check "the broker: stored, ingested, rejected" "$(row b)" "b 2 2 1"
check "the trigger without filters: '*', 2 delivered, lag 0" "$(row every)" "every b all * 2 0 0 0 0"
check_contains "the trigger with a filter: as written" "$(row typed)" '{ exact = { type = "t.x" } }'
check "the URL target" "$(row all)" "all url $SINK_URL binary"
check_contains "the function and its module" "$(row hello)" "hello $GUESTS/hello.wasm"
check_contains "the routes" "$(row /hello)" "/hello function hello"
check_contains "the broker's route" "$(row /brokers/b)" "/brokers/b broker b"
# Aligned: every row of the trigger table has its Filter column where the heading has it.
heading=$(grep -E '^Trigger ' <<<"$OUT")
col=${heading%%Filter*}
check "columns aligned" "$(grep -E '^every ' <<<"$OUT" | cut -c$((${#col} + 1)))" "*"

run "$WEFT" describe --json
check "--json: status" "$RC" 0
check "--json: the server's JSON" \
  "$(python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(sorted(d), [t["name"] for t in d["triggers"]])' <<<"$OUT")" \
  "['brokers', 'functions', 'redis_triggers', 'routes', 'sources', 'targets', 'triggers'] ['every', 'typed']"

cd "$WORK" || exit 1
run "$WEFT" describe --url "$URL/"
check "--url without a manifest: status" "$RC" 0
check_contains "--url: the tables" "$OUT" "Broker"
run "$WEFT" describe
check "no manifest, no --url: 1" "$RC" 1
check_contains "no manifest, no --url: says so" "$ERR" "pass --url"
run "$WEFT" describe extra
check "an argument: 2" "$RC" 2
stop_weft

# A WAGI file has no state folder: weft up writes .weft/address beside it, and describe
# finds it there.
WAGI=$WORK/wagi
mkdir -p "$WAGI"
cp "$GUESTS/hello.wasm" "$WAGI/"
printf '[[module]]\nroute = "/hi"\nmodule = "hello.wasm"\n' >"$WAGI/modules.toml"
DIR=$WAGI
cd "$WAGI" || exit 1
start_weft "$WAGI" || { fail "weft up did not start on a WAGI file"; finish; exit; }
run "$WEFT" describe
check "a WAGI app: status" "$RC" 0
check_contains "a WAGI app: its route" "$OUT" "/hi"
stop_weft
finish
