#!/usr/bin/env bash
# A trigger removed from weft.toml while weft up was not running: at the next start its
# position is forgotten (and logged), so it no longer holds its broker's events back
# from retention.
source "$(dirname "$0")/ev.bash"

DIR=$WORK/app
mkdir -p "$DIR"
start_sink keep
manifest() {
  cat <<T
[[broker]]
name = "b"
retention = "1s"

[[target]]
name = "keep"
url = "$SINK_URL"

[[trigger]]
name = "keep"
broker = "b"
target = "keep"
T
  # "stuck" never delivers (nothing listens there) and retries for minutes: it holds
  # every event back.
  [ "${1:-}" = with-stuck ] && cat <<T

[[target]]
name = "nowhere"
url = "http://127.0.0.1:9/"

[[trigger]]
name = "stuck"
broker = "b"
target = "nowhere"
delivery = { retry = 20, backoff_delay = "10s" }
T
  return 0
}
manifest with-stuck >"$DIR/weft.toml"
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }
send b e1 t '{}'
check "an event in" "$STATUS" 202
wait_lines "$SINK_LOG" 1 || fail "the kept trigger delivered nothing"
stop_weft

# Restarted without "stuck": forgotten, and the event goes once its retention is over.
manifest >"$DIR/weft.toml"
start_weft "$DIR" || { fail "weft up did not restart"; finish; exit; }
check_contains "the removed trigger's position is forgotten, and said so" \
  "$(cat "$DIR/log")" "broker b: trigger stuck is no longer in the manifest"
stored=1
for _ in $(seq 1 60); do
  stored=$(curl -s "$URL/_weft/describe" | python3 -c 'import json,sys; print(json.load(sys.stdin)["brokers"][0]["stored"])')
  [ "$stored" = 0 ] && break
  sleep 0.1
done
check "the event is deleted once its retention is over" "$stored" 0
stop_weft
check "clean exit" "$STOP_RC" 0
finish
