# Helpers for the events tests (sourced; not a test itself): weft up with a weft.toml
# declaring brokers, targets and triggers (gw.bash), event sinks (sink.py) that record
# what they get, and events sent with curl.
source "$(dirname "${BASH_SOURCE[0]}")/../gateway/gw.bash"

SINK_PIDS=()
cleanup_sinks() {
  for p in "${SINK_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  cleanup_servers
}
trap cleanup_sinks EXIT

# start_sink NAME [sink.py ARGS...]: a sink recording into $WORK/NAME.log; sets
# SINK_URL and SINK_LOG.
start_sink() {
  local name=$1
  shift
  rm -f "$WORK/$name.port"
  python3 "$SRC/tests/events/sink.py" "$WORK/$name.port" "$WORK/$name.log" "$@" &
  SINK_PIDS+=($!)
  touch "$WORK/$name.log"
  for _ in $(seq 1 100); do
    [ -s "$WORK/$name.port" ] && break
    sleep 0.05
  done
  SINK_URL="http://127.0.0.1:$(cat "$WORK/$name.port")/"
  SINK_LOG=$WORK/$name.log
}

# send BROKER ID TYPE [DATA [CURL ARGS...]]: one binary-mode event; sets STATUS, BODY.
send() {
  local broker=$1 id=$2 type=$3 data=${4:-'{}'}
  shift 4 2>/dev/null || shift $#
  curl -s -o "$WORK/body" -w '%{http_code}' --max-time 30 "$URL/brokers/$broker" \
    -H 'ce-specversion: 1.0' -H "ce-id: $id" -H 'ce-source: test' -H "ce-type: $type" \
    -H 'content-type: application/json' --data-binary "$data" "$@" >"$WORK/status"
  STATUS=$(cat "$WORK/status")
  BODY=$(cat "$WORK/body")
}

# lines FILE: its line count (0 when missing).
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# wait_lines FILE N [SECONDS]: waits until FILE has at least N lines.
wait_lines() {
  local file=$1 n=$2 secs=${3:-20}
  for _ in $(seq 1 $((secs * 20))); do
    [ "$(lines "$file")" -ge "$n" ] && return 0
    sleep 0.05
  done
  return 1
}

# field FILE EXPR: a Python expression over each JSON line r, one result a line
# (e.g. 'r["headers"]["ce-type"]').
field() {
  python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(eval(sys.argv[2]))' "$1" "$2"
}
