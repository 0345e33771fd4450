#!/usr/bin/env bash
# No event lost on a crash: weft is killed with SIGKILL while 100,000 events are being
# sent and delivered, restarted, and the rest sent; every event that was answered 202
# must reach the sink at least once. Prints the counts.
source "$(dirname "$0")/ev.bash"

N=${CRASH_EVENTS:-100000}
DIR=$WORK/app
mkdir -p "$DIR"
start_sink sink
cat >"$DIR/weft.toml" <<T
[[broker]]
name = "b"

[[target]]
name = "sink"
url = "$SINK_URL"

[[trigger]]
name = "all"
broker = "b"
target = "sink"
T
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }
python3 "$SRC/tests/events/load.py" "$URL/brokers/b" 1 "$N" "$WORK/answers" &
LOAD=$!
# Kill it mid-stream: once a fifth of the events were answered.
for _ in $(seq 1 1200); do
  [ "$(lines "$WORK/answers")" -ge $((N / 5)) ] && break
  sleep 0.1
done
kill -KILL "$PID"
wait "$PID" 2>/dev/null
wait "$LOAD"
acked1=$(grep -c ' 202$' "$WORK/answers")
echo "before the crash: $(lines "$WORK/answers") sent, $acked1 answered 202, $(lines "$SINK_LOG") delivered"

start_weft "$DIR" || { fail "weft up did not restart"; finish; exit; }
python3 "$SRC/tests/events/load.py" "$URL/brokers/b" 1 "$N" "$WORK/answers" --skip "$WORK/answers"
acked=$(grep ' 202$' "$WORK/answers" | cut -d' ' -f1 | sort -u | wc -l)
check "every event was answered 202 in the end" "$acked" "$N"
# Until every acknowledged event arrived, or nothing more came for 15 s.
last=-1 still=0
while [ "$still" -lt 15 ]; do
  n=$(lines "$SINK_LOG")
  if [ "$n" -ge "$acked" ] &&
    [ "$(field "$SINK_LOG" 'r["headers"]["ce-id"]' | sort -u | wc -l)" -ge "$acked" ]; then
    break
  fi
  if [ "$n" == "$last" ]; then still=$((still + 1)); else still=0 last=$n; fi
  sleep 1
done
grep ' 202$' "$WORK/answers" | cut -d' ' -f1 | sort -u >"$WORK/acked"
field "$SINK_LOG" 'r["headers"]["ce-id"]' | sort >"$WORK/delivered.all"
sort -u "$WORK/delivered.all" >"$WORK/delivered"
lost=$(comm -23 "$WORK/acked" "$WORK/delivered" | wc -l)
echo "after the restart: $acked events answered 202, $(wc -l <"$WORK/delivered") delivered," \
  "$(($(wc -l <"$WORK/delivered.all") - $(wc -l <"$WORK/delivered"))) delivered twice or more, $lost lost"
check "no event that got a 202 is lost" "$lost" 0
stop_weft
finish
