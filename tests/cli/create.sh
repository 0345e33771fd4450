#!/usr/bin/env bash
# weft create broker|target|trigger: each appends its block to weft.toml after a blank
# line, keeping every byte already there (a last line without a newline gets one), the
# file's mode kept, and the result loads (weft up serves it); --event-types and
# --filter become the filters of weft.toml's schema, an unnamed trigger is named
# <broker>-trigger-<hash> as tmctl names it; a block that would make the manifest
# invalid (an unknown broker, a name taken, a filter that does not parse) leaves the file
# byte-identical and exits non-zero; usage mistakes exit 2 with one line.
source "$(dirname "$0")/../events/ev.bash"

DIR=$WORK/app
mkdir -p "$DIR"
cd "$DIR" || exit 1

# ---- a broker in a folder without a manifest starts weft.toml -------------------------
run "$WEFT" create broker orders
check "broker in an empty folder: status" "$RC" 0
check "broker in an empty folder: the file" "$(cat weft.toml)" $'[[broker]]\nname = "orders"'
check_contains "broker: what it appended is printed" "$OUT" $'[[broker]]\nname = "orders"'

# A hand-written manifest whose last line has no newline, and a comment to keep.
printf '# the shop\n[[broker]]\nname = "orders"   # kept as written\nretention = "1h"' >weft.toml
chmod 640 weft.toml
cp weft.toml "$WORK/before"
size() { stat -c %s "$1"; }

start_sink display
run "$WEFT" create target display --url "$SINK_URL" --structured
check "target: status" "$RC" 0
check "target: the bytes before it kept" "$(head -c "$(size "$WORK/before")" weft.toml | cmp - "$WORK/before" && echo same)" same
check "target: a newline ends the old last line, then a blank line, then the block" \
  "$(tail -c +"$(size "$WORK/before")" weft.toml)" \
  $'"\n\n[[target]]\nname = "display"\nurl = "'"$SINK_URL"$'"\nmode = "structured"'
check "target: the file's mode kept" "$(stat -c %a weft.toml)" 640

cp weft.toml "$WORK/before"
run "$WEFT" create trigger --broker orders --target display --event-types 'io.shop.*, *.done,ping' \
  --filter "subject = 'x'" --from earliest
check "trigger: status" "$RC" 0
check "trigger: the bytes before it kept" "$(head -c "$(size "$WORK/before")" weft.toml | cmp - "$WORK/before" && echo same)" same
block=$(tail -n 6 weft.toml)
check_contains "trigger: named <broker>-trigger-<8 hex digits>" "$(sed -n 2p <<<"$block")" 'name = "orders-trigger-'
[[ $(sed -n 2p <<<"$block") =~ ^name\ =\ \"orders-trigger-[0-9a-f]{8}\"$ ]] && pass || fail "trigger name: $(sed -n 2p <<<"$block")"
check "trigger: broker, target" "$(sed -n 3,4p <<<"$block")" $'broker = "orders"\ntarget = "display"'
check "trigger: the event types as any of prefix, suffix, exact; the filter beside them" \
  "$(sed -n 5p <<<"$block")" \
  'filters = [{ any = [{ prefix = { type = "io.shop." } }, { suffix = { type = ".done" } }, { exact = { type = "ping" } }] }, { cesql = "subject = '"'x'"'" }]'
check "trigger: from" "$(sed -n 6p <<<"$block")" 'from = "earliest"'
run "$WEFT" create trigger --broker orders --target display --name one --event-types io.one
check "trigger with one type: status" "$RC" 0
check "trigger with one type: an exact filter" "$(tail -n 4 weft.toml)" \
  $'name = "one"\nbroker = "orders"\ntarget = "display"\nfilters = [{ exact = { type = "io.one" } }]'
run "$WEFT" create broker audit
check "a second broker: status" "$RC" 0

# The result is what weft up serves: each trigger delivers what passes its filters.
start_weft "$DIR" || { fail "weft up did not start on the created manifest"; finish; exit; }
check_contains "weft up serves both brokers" "$(cat "$DIR/out")" "2 brokers, 2 triggers"
send orders 1 io.shop.order '{}' -H 'ce-subject: x'
check "an event to the created broker: 202" "$STATUS" 202
send orders 2 io.one '{}'
check "another: 202" "$STATUS" 202
wait_lines "$SINK_LOG" 2 10
sleep 0.3
check "the created triggers delivered each event once, to the created target" \
  "$(field "$SINK_LOG" 'json.loads(r["body"])["id"]' | sort | tr '\n' ' ')" "1 2 "
check_contains "in structured mode" "$(field "$SINK_LOG" 'r["headers"]["content-type"]' | sort -u)" \
  "application/cloudevents+json"
stop_weft

# ---- refused: the manifest left byte-identical -------------------------------------------
cp weft.toml "$WORK/before"
refused() { # refused NAME EXPECTED-IN-STDERR ARGS...
  local name=$1 msg=$2
  shift 2
  run "$WEFT" create "$@"
  [ "$RC" -ne 0 ] && pass || fail "$name: status 0"
  check_contains "$name: says why" "$ERR" "$msg"
  cmp -s weft.toml "$WORK/before" && pass || fail "$name: weft.toml changed"
}
refused "a trigger naming an unknown broker" "weft.toml:" trigger --broker nope --target display
check_contains "its message names the broker" "$ERR" "no [[broker]] is named 'nope'"
check_contains "and says the file is unchanged" "$ERR" "weft.toml left unchanged"
refused "a trigger naming an unknown target" "'ghost'" trigger --broker orders --target ghost
refused "a broker name taken" "orders" broker orders
refused "a broker name weft.toml refuses" "Bad_Name" broker Bad_Name
refused "a target URL that is not one" "url" target t2 --url 'ftp://x'
refused "a trigger name taken" "one" trigger --broker orders --target display --name one
refused "a filter that does not parse" "--filter: column" trigger --broker orders --target display --filter "type ="
check "a filter that does not parse: a usage error" "$RC" 2
refused "'*' alone" "'*' alone" trigger --broker orders --target display --event-types '*'
refused "a target with both --url and --function" "one of --url" target t3 --url http://x/ --function f
check "usage: 2" "$RC" 2
refused "a trigger without --target" "--target" trigger --broker orders
refused "an unknown kind" "expected broker, target or trigger" source s
check "an unknown kind: one line" "$(wc -l <<<"$ERR")" 1

# A manifest that does not load as it is gets nothing added.
printf '[[broker]]\nname = "b"\ntypo = 1\n' >"$WORK/bad.toml"
cp "$WORK/bad.toml" "$WORK/bad.before"
run "$WEFT" create -c "$WORK/bad.toml" broker c
[ "$RC" -eq 1 ] && pass || fail "a broken manifest: status $RC"
check_contains "a broken manifest: says so" "$ERR" "does not load as it is"
cmp -s "$WORK/bad.toml" "$WORK/bad.before" && pass || fail "a broken manifest was changed"

# A manifest that declares nothing to serve yet loads once it has its first broker.
printf '[app]\nname = "new"\n' >"$WORK/empty.toml"
run "$WEFT" create -c "$WORK/empty.toml" broker first
check "a manifest with nothing to serve yet: status" "$RC" 0
check "a manifest with nothing to serve yet: its broker added" "$(cat "$WORK/empty.toml")" \
  $'[app]\nname = "new"\n\n[[broker]]\nname = "first"'

# A WAGI file has no events half.
printf '[[module]]\nroute = "/"\nmodule = "%s"\n' "$GUESTS/hello.wasm" >"$WORK/wagi.toml"
run "$WEFT" create -c "$WORK/wagi.toml" broker b
[ "$RC" -eq 1 ] && pass || fail "a WAGI file: status $RC"
check_contains "a WAGI file: says so" "$ERR" "WAGI file"

run "$WEFT" create --help
check "--help: status" "$RC" 0
check_contains "--help" "$OUT" "usage: weft create broker NAME"
run "$WEFT" --help
check_contains "weft --help lists create" "$OUT" "create"
finish
