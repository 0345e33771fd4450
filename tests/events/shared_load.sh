#!/usr/bin/env bash
# events: 20,000 events through two `weft up` nodes sharing a broker on Redis Streams
# (src/dist/journal_redis.c), half of the connections to each node: every event is
# answered 202, and each of the two triggers delivers every event at least once, the
# duplicates counted (none expected: no node dies here; shared.sh kills one). The load
# generator and the sinks are the events benchmark's C tools (bench/events), which
# number the events and count the ones they get again. In the optimized build only
# (WEFT_ONCE_TESTS): the sanitized build runs shared.sh.
source "$(dirname "$0")/ev.bash"

source "$(dirname "$0")/../store/redis_server.bash"
LOAD=$BUILD_DIR/bench/bench_events_load
SINK=$BUILD_DIR/bench/bench_events_sink
for f in "$LOAD" "$SINK" "$BUILD_DIR/weft-dist.so"; do
  [ -e "$f" ] || { fail "no $f: build first"; finish; exit 1; }
done
N=20000
SINKS=()
trap 'cleanup_sinks; kill -KILL $REDIS "${SINKS[@]}" 2>/dev/null; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/redis"
REDIS_ARGS=(--dir "$WORK/redis" --appendonly yes --appendfsync always)
start_redis
SOCK=$REDIS_SOCK

# A C sink per trigger; its port in NAME.port.
for s in a b; do
  "$SINK" --listen 127.0.0.1:0 --port-file "$WORK/$s.port" &
  SINKS+=($!)
done
for s in a b; do
  for _ in $(seq 100); do
    [ -s "$WORK/$s.port" ] && break
    sleep 0.05
  done
done
sink_stats() { curl -s "http://127.0.0.1:$(cat "$WORK/$1.port")/stats"; }
stat_field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' <<<"$2"; }

for n in n1 n2; do
  mkdir -p "$WORK/$n"
  cat >"$WORK/$n/weft.toml" <<EOF
[[broker]]
name = "orders"
backend = "redis+unix://$SOCK"

[[target]]
name = "a"
url = "http://127.0.0.1:$(cat "$WORK/a.port")/"

[[target]]
name = "b"
url = "http://127.0.0.1:$(cat "$WORK/b.port")/"

[[trigger]]
name = "to-a"
broker = "orders"
target = "a"
delivery = { parallelism = 64 }

[[trigger]]
name = "to-b"
broker = "orders"
target = "b"
delivery = { parallelism = 64 }
EOF
done
start_weft "$WORK/n1" || { finish; exit 1; }
URL1=$URL
start_weft "$WORK/n2" || { finish; exit 1; }
URL2=$URL

t0=$(date +%s.%N)
LINE=$("$LOAD" -c 16 -n "$N" --id-prefix ev "$URL1/brokers/orders" "$URL2/brokers/orders" \
  2>"$WORK/load.err")
check "every event answered 202" "$(stat_field ok_events "$LINE")" "$N"
for s in a b; do
  for _ in $(seq 1 240); do
    st=$(sink_stats "$s")
    [ "$(($(stat_field events "$st") - $(stat_field again "$st")))" -ge "$N" ] && break
    sleep 0.25
  done
done
t1=$(date +%s.%N)
for s in a b; do
  st=$(sink_stats "$s")
  got=$(stat_field events "$st") again=$(stat_field again "$st")
  check "trigger to-$s delivered every event" "$((got - again))" "$N"
  check "trigger to-$s: no duplicates while no node died" "$again" 0
  echo "to-$s: $got requests for $N events ($again again)"
done
echo "$N events into two nodes and out to two triggers in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
d1=$(curl -s "$URL1/_weft/describe" | python3 -c 'import json,sys; print(sum(t["delivered"] for t in json.load(sys.stdin)["triggers"]))')
d2=$(curl -s "$URL2/_weft/describe" | python3 -c 'import json,sys; print(sum(t["delivered"] for t in json.load(sys.stdin)["triggers"]))')
echo "deliveries by node 1: $d1, by node 2: $d2"
check "the two nodes' deliveries add up" "$((d1 + d2))" "$((2 * N))"
[ "$d1" -gt 0 ] && [ "$d2" -gt 0 ] && pass || fail "one node delivered nothing ($d1, $d2)"
check "nothing pending" "$(redis-cli -s "$SOCK" XPENDING weft:ev:6:orders:s to-a | head -1)" 0
finish
