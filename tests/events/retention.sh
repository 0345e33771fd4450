#!/usr/bin/env bash
# Retention: events every trigger has finished are deleted once older than the broker's
# retention (their source and id may then be sent again); an event a trigger has not
# finished is never deleted, however old.
source "$(dirname "$0")/ev.bash"

DIR=$WORK/app
mkdir -p "$DIR"
start_sink ok
OK=$SINK_URL
start_sink stuck --status 503
STUCK=$SINK_URL
start_sink late
LATE=$SINK_URL
manifest() {
  printf '[[broker]]\nname = "b"\nretention = "1s"\n\n'
  printf '[[target]]\nname = "ok"\nurl = "%s"\n\n[[trigger]]\nname = "ok"\nbroker = "b"\ntarget = "ok"\n\n' "$OK"
  printf '[[target]]\nname = "stuck"\nurl = "%s"\n\n[[trigger]]\nname = "stuck"\nbroker = "b"\ntarget = "stuck"\n' "$STUCK"
  printf 'filters = [{ exact = { type = "stuck" } }]\ndelivery = { retry = 100, backoff_policy = "linear", backoff_delay = "1s" }\n\n'
}
manifest >"$DIR/weft.toml"
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }
for i in 1 2 3; do send b "$i" t; done
send b 4 stuck
check "accepted" "$STATUS" 202
wait_lines "$WORK/ok.log" 4 10
sleep 3 # retention 1 s; the broker trims every half of it
stop_weft

{
  manifest
  printf '[[target]]\nname = "late"\nurl = "%s"\n\n[[trigger]]\nname = "late"\nbroker = "b"\ntarget = "late"\nfrom = "earliest"\n\n' "$LATE"
} >"$DIR/weft.toml"
start_weft "$DIR" || { fail "weft up did not restart"; finish; exit; }
wait_lines "$WORK/late.log" 1 10
sleep 1
check "only the unfinished event is retained" \
  "$(field "$WORK/late.log" 'r["headers"]["ce-id"]' | tr '\n' ' ')" "4 "
send b 1 t
check "a deleted event's source and id may come again" "$STATUS" 202
wait_lines "$WORK/ok.log" 5 10
check "and it is delivered again" "$(field "$WORK/ok.log" 'r["headers"]["ce-id"]' | tr '\n' ' ')" "1 2 3 4 1 "
stop_weft
finish
