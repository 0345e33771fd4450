#!/usr/bin/env bash
# weft send: to a broker of the running weft up found through <state_dir>/address, in
# binary mode (the default), structured mode (--structured) and batched mode (-f FILE
# with an array), with the defaults it says (a UUID id, source weft-cli, type
# weft.cli.event, the time, JSON or text data); to any sink with --url; exits 1 with the
# status and body on stderr on a 4xx, 2 on a usage mistake, and says what is wrong when
# no weft up runs.
source "$(dirname "$0")/../events/ev.bash"

DIR=$WORK/app
mkdir -p "$DIR"
start_sink all
cat >"$DIR/weft.toml" <<TOML
[[broker]]
name = "b"

[[target]]
name = "all"
url = "$SINK_URL"

[[trigger]]
name = "all"
broker = "b"
target = "all"
TOML
cd "$DIR" || exit 1

run "$WEFT" send hello
check "no weft up: status" "$RC" 1
check "no weft up: says so" "$ERR" \
  'weft send: no running weft up found: .weft/address does not exist (start `weft up` here, or pass --url)'

start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }
# weft up writes its address itself; until it does, the test writes it.
check "weft up wrote its address" "$(cat .weft/address 2>/dev/null)" "$URL"

# ---- binary mode, the defaults ---------------------------------------------------------------
run "$WEFT" send '{"n": 1}'
check "binary: status" "$RC" 0
check_contains "binary: where" "$OUT" "Destination: $URL/brokers/b (binary mode)"
check_contains "binary: the answer" "$OUT" "Response: HTTP 202 Accepted"
check_contains "binary: the event, pretty" "$OUT" $'{\n  "specversion": "1.0",'
wait_lines "$SINK_LOG" 1 10
# attrs N NAME...: the headers NAME... of the sink's Nth request, then its body, one a
# line (one python3 run: it starts slowly).
attrs() {
  local n=$1
  shift
  sed -n "${n}p" "$SINK_LOG" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
for k in sys.argv[1:]:
    print(r["headers"].get(k, ""))
print(r["body"])' "$@"
}
mapfile -t a < <(attrs 1 ce-type ce-source ce-id ce-time content-type)
check "binary: delivered with the default type" "${a[0]}" "weft.cli.event"
check "binary: the default source" "${a[1]}" "weft-cli"
[[ ${a[2]} =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]] && pass ||
  fail "binary: the id is not a UUIDv4: ${a[2]}"
[[ ${a[3]} =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$ ]] && pass || fail "binary: time ${a[3]}"
check "binary: JSON data is application/json" "${a[4]}" "application/json"
check "binary: the data as given" "${a[5]}" '{"n": 1}'

# ---- structured mode, options, text data ----------------------------------------------------
run "$WEFT" send --structured --type io.t --source /me --id s1 --ext subject=sub --ext region=eu plain words
check "structured: status" "$RC" 0
check_contains "structured: where" "$OUT" "(structured mode)"
wait_lines "$SINK_LOG" 2 10
mapfile -t a < <(attrs 2 ce-id ce-type ce-source ce-subject ce-region content-type)
check "structured: the attributes" "${a[*]:0:5}" "s1 io.t /me sub eu"
check "structured: text data is text/plain" "${a[5]}" "text/plain"
check "structured: the arguments joined" "${a[6]}" "plain words"

# stdin when it is not a terminal.
run_in 'from stdin' "$WEFT" send --id in1
check "stdin: status" "$RC" 0
wait_lines "$SINK_LOG" 3 10
check "stdin: the data" "$(attrs 3 ce-id | tr '\n' ' ')" "in1 from stdin "

# ---- batched mode: -f with an array; defaults for what each lacks --------------------------------
printf '[{"type":"t.a","id":"b1","data":{"k":1}},{"type":"t.b","source":"/other","id":"b2"}]' >"$WORK/batch.json"
run "$WEFT" send -f "$WORK/batch.json"
check "batch: status" "$RC" 0
check_contains "batch: where" "$OUT" "(batched mode)"
wait_lines "$SINK_LOG" 5 10
check "batch: both delivered, each with its source (the default where it had none)" \
  "$(tail -n 2 "$SINK_LOG" | field /dev/stdin 'r["headers"]["ce-id"] + " " + r["headers"]["ce-source"] + " " + r["headers"]["ce-specversion"]' | sort | tr '\n' ' ')" \
  "b1 weft-cli 1.0 b2 /other 1.0 "
# One object in a file is sent structured.
run_in '{"type":"t.one","id":"o1"}' "$WEFT" send -f -
check "-f - with one object: status" "$RC" 0
check_contains "-f - with one object: structured" "$OUT" "(structured mode)"
wait_lines "$SINK_LOG" 6 10
check "-f - with one object: delivered" "$(attrs 6 ce-id | head -1)" "o1"
printf '[{"id":"x"}]' >"$WORK/notype.json"
run "$WEFT" send -f "$WORK/notype.json"
check "a batch event without type: status" "$RC" 1
check_contains "a batch event without type: names it" "$ERR" "type"

# ---- answers other than 2xx ------------------------------------------------------------------
run "$WEFT" send --broker nope x
check "an unknown broker: status" "$RC" 1
check_contains "an unknown broker: the status on stderr" "$ERR" "weft send: HTTP 404 Not Found"
start_sink no --status 400
run "$WEFT" send --url "$SINK_URL" --type t.no x
check "a sink answering 400: status" "$RC" 1
check_contains "a sink answering 400: status and body on stderr" "$ERR" $'HTTP 400 Bad Request\nsink says no'
check "a sink answering 400: it got the event at its URL" "$(attrs 1 ce-type | head -1)" "t.no"
start_sink yes
run "$WEFT" send --url "$SINK_URL" '[1,2]'
check "--url to a sink answering 200: status" "$RC" 0
check_contains "--url: the answer" "$OUT" "Response: HTTP 200 OK"

# ---- usage ------------------------------------------------------------------------------------
run "$WEFT" send --ext Bad=1 x
check "--ext with an invalid name: 2" "$RC" 2
check "--ext with an invalid name: one line" "$(wc -l <<<"$ERR")" 1
run "$WEFT" send --ext id=1 x
check "--ext id: 2" "$RC" 2
check_contains "--ext id: says to use --id" "$ERR" "use --id"
run "$WEFT" send --ext time=yesterday x
check "--ext time that is no timestamp: 2" "$RC" 2
check_contains "--ext time: names it" "$ERR" "time: 'yesterday'"
run "$WEFT" send --broker b --url http://x/ x
check "--broker and --url: 2" "$RC" 2
run "$WEFT" send -f "$WORK/batch.json" --id x
check "-f with --id: 2" "$RC" 2
run "$WEFT" send --help
check_contains "--help" "$OUT" "usage: weft send"

# ---- the server gone: the address left behind names a closed port ---------------------------
stop_weft
check "a clean stop removes the address" "$(cat .weft/address 2>/dev/null)" ""
echo "$URL" >.weft/address # what a weft up killed with -9 leaves behind
run "$WEFT" send x
check "weft up gone: status" "$RC" 1
check_contains "weft up gone: connection refused" "$ERR" "Connection refused"
finish
