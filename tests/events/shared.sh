#!/usr/bin/env bash
# events: a broker on Redis Streams shared by two `weft up` nodes (src/dist/journal_redis.c,
# the shared triggers of src/events/broker.c). A redis-server of the test's own
# (appendonly, appendfsync always) and two nodes with the same weft.toml:
#  1. load: SHARED_EVENTS events (1,000; shared_load.sh sends 20,000), half POSTed to each
#     node, every one answered 202; each of the two triggers delivers every event at
#     least once, the duplicates counted (none expected while no node dies), and both
#     nodes deliver a share;
#  2. kill -9 of a node while it holds deliveries (a slow target): the other node takes
#     its pending events over after claim_after and delivers them, nothing left pending;
#     and on a broker whose claim_after is a minute, the node started again under the
#     same name (--node) delivers what it left pending at once;
#  2a. stores: a value written through one node is read through the other;
#  2c. dead letters and the TTL guard on a shared broker: an event its target refuses,
#     and one whose knativebrokerttl is 0, go to the dead-letter target and are
#     acknowledged;
#  2b. replies across nodes: a function target's reply goes back into the shared log
#     and a second trigger delivers it, whichever node took either step;
#  3. retention on Redis: events every trigger acknowledged are deleted once older than
#     retention; one trigger that cannot deliver holds its broker's events back;
#  4. Redis restarted during ingest: no 202 for an event Redis did not take (every id
#     answered 202 is in the stream), the node reconnects, and a second pass of what
#     was refused brings every event in.
#  5. a poison event: one whose delivery never finishes, on a broker with
#     max_deliveries = 2, held by a node that is killed, taken over by the other, which
#     is killed too: the node started again (the third time it is handed out) sends it
#     to the dead-letter target and acknowledges it; the members of the nodes that
#     stopped, with nothing pending, are removed from the group. Kills both nodes, so
#     it runs last.
# By hand, SHARED_PARTS="load kill" runs those parts only.
source "$(dirname "$0")/ev.bash"

source "$(dirname "$0")/../store/redis_server.bash"
[ -e "$BUILD_DIR/weft-dist.so" ] || { fail "no weft-dist.so: build first"; finish; exit 1; }
N=${SHARED_EVENTS:-1000}
PARTS=${SHARED_PARTS:-"load stores deadletter replies kill retention restart poison"}
trap 'cleanup_sinks; [ -n "$REDIS" ] && kill -KILL "$REDIS" 2>/dev/null; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/redis"
REDIS_ARGS=(--dir "$WORK/redis" --appendonly yes --appendfsync always)
start_redis
SOCK=$REDIS_SOCK
rcli() { redis-cli -s "$SOCK" "$@"; }

# node NAME: a node's folder with the shared weft.toml (written by write_toml).
write_toml() {
  for n in n1 n2; do
    mkdir -p "$WORK/$n"
    cat >"$WORK/$n/weft.toml" <<EOF
[app]
name = "shared"

[store]
key_value = "redis+unix://$SOCK?prefix=kv"

[[broker]]
name = "orders"
backend = "redis+unix://$SOCK"
claim_after = "2s"

[[broker]]
name = "slow"
backend = "redis+unix://$SOCK?prefix=other"
claim_after = "2s"

[[broker]]
name = "gone"
backend = "redis+unix://$SOCK"
retention = "1s"

[[broker]]
name = "kept"
backend = "redis+unix://$SOCK"
retention = "1s"

[[broker]]
name = "flow"
backend = "redis+unix://$SOCK"

[[function]]
name = "transform"
source = "$GUESTS/ev_transform.wasm"

[[target]]
name = "d"
url = "$SINK_D"

[[trigger]]
name = "flow-in"
broker = "flow"
target = "transform"
filters = [{ exact = { type = "in" } }]
delivery = { parallelism = 4 }

[[trigger]]
name = "flow-out"
broker = "flow"
target = "d"
filters = [{ exact = { type = "in.transformed" } }]

[[target]]
name = "a"
url = "$SINK_A"

[[target]]
name = "c"
url = "$SINK_C"

[[target]]
name = "nowhere"
url = "http://127.0.0.1:9/"

[[broker]]
name = "dl"
backend = "redis+unix://$SOCK"

[[target]]
name = "e"
url = "$SINK_E"

[[trigger]]
name = "dl-t"
broker = "dl"
target = "nowhere"
delivery = { retry = 1, backoff_delay = "10ms", dead_letter = "e" }

[[target]]
name = "b"
url = "$SINK_B"

[[target]]
name = "late"
url = "$SINK_LATE"

[[broker]]
name = "held"
backend = "redis+unix://$SOCK?prefix=other"
claim_after = "60s"

[[target]]
name = "late2"
url = "$SINK_LATE2"

[[trigger]]
name = "to-held"
broker = "held"
target = "late2"
delivery = { parallelism = 4 }

[[trigger]]
name = "to-a"
broker = "orders"
target = "a"
from = "earliest"
delivery = { parallelism = 32 }

[[trigger]]
name = "to-b"
broker = "orders"
target = "b"
from = "earliest"
delivery = { parallelism = 32 }

[[trigger]]
name = "gone-c"
broker = "gone"
target = "c"

[[trigger]]
name = "kept-c"
broker = "kept"
target = "c"

[[trigger]]
name = "kept-nowhere"
broker = "kept"
target = "nowhere"
delivery = { retry = 100, backoff_policy = "linear", backoff_delay = "1s" }

[[trigger]]
name = "to-late"
broker = "slow"
target = "late"
from = "earliest"
delivery = { parallelism = 4 }

[[broker]]
name = "poison"
backend = "redis+unix://$SOCK"
claim_after = "1s"
max_deliveries = 2

[[target]]
name = "stuck"
url = "$SINK_STUCK"

[[target]]
name = "f"
url = "$SINK_F"

[[trigger]]
name = "to-stuck"
broker = "poison"
target = "stuck"
delivery = { dead_letter = "f" }
EOF
  done
}

# ids LOG: the distinct ce-ids a sink got, one a line.
ids() { field "$1" 'r["headers"].get("ce-id")' | sort -u; }
# dups LOG: how many requests repeated an id already seen.
dups() { echo $(($(lines "$1") - $(ids "$1" | wc -l))); }
# wait_ids LOG N [SECONDS]: until the sink has N distinct ids.
wait_ids() {
  local secs=${3:-60}
  for _ in $(seq 1 $((secs * 4))); do
    [ "$(ids "$1" | wc -l)" -ge "$2" ] && return 0
    sleep 0.25
  done
  return 1
}
# delivered URL TRIGGER: the node's count of deliveries for the trigger.
delivered() {
  curl -s "$1/_weft/describe" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(next(t["delivered"] for t in d["triggers"] if t["name"] == sys.argv[1]))' "$2"
}

start_sink a
SINK_A=$SINK_URL LOG_A=$SINK_LOG
start_sink b
SINK_B=$SINK_URL LOG_B=$SINK_LOG
start_sink c
SINK_C=$SINK_URL LOG_C=$SINK_LOG
start_sink d
SINK_D=$SINK_URL LOG_D=$SINK_LOG
start_sink e
SINK_E=$SINK_URL LOG_E=$SINK_LOG
start_sink late --delay 2
SINK_LATE=$SINK_URL LOG_LATE=$SINK_LOG
start_sink late2 --delay 2
SINK_LATE2=$SINK_URL LOG_LATE2=$SINK_LOG
start_sink stuck --delay 120
SINK_STUCK=$SINK_URL LOG_STUCK=$SINK_LOG
start_sink f
SINK_F=$SINK_URL LOG_F=$SINK_LOG
write_toml
start_weft "$WORK/n1" --node one || { finish; exit 1; }
URL1=$URL PID1=$PID
start_weft "$WORK/n2" || { finish; exit 1; }
URL2=$URL PID2=$PID

# ---- 1. load ------------------------------------------------------------------------------
if [[ " $PARTS " == *" load "* ]]; then
  half=$((N / 2))
  python3 "$SRC/tests/events/load.py" "$URL1/brokers/orders" 1 "$half" "$WORK/ans1" --threads 4 &
  l1=$!
  python3 "$SRC/tests/events/load.py" "$URL2/brokers/orders" $((half + 1)) "$N" "$WORK/ans2" \
    --threads 4 &
  l2=$!
  t0=$(date +%s.%N)
  wait "$l1" "$l2"
  check "load: every event answered 202" "$(cat "$WORK/ans1" "$WORK/ans2" | grep -c ' 202$')" "$N"
  wait_ids "$LOG_A" "$N" 120
  wait_ids "$LOG_B" "$N" 120
  t1=$(date +%s.%N)
  check "load: trigger to-a delivered every event" "$(ids "$LOG_A" | wc -l)" "$N"
  check "load: trigger to-b delivered every event" "$(ids "$LOG_B" | wc -l)" "$N"
  da=$(dups "$LOG_A") db=$(dups "$LOG_B")
  echo "load: $N events through two nodes in $(python3 -c "print(round($t1 - $t0, 1))") s; duplicates: to-a $da, to-b $db"
  check "load: no duplicates while no node died (to-a)" "$da" 0
  check "load: no duplicates while no node died (to-b)" "$db" 0
  a1=$(delivered "$URL1" to-a) a2=$(delivered "$URL2" to-a)
  echo "load: to-a delivered by node 1: $a1, by node 2: $a2"
  check "load: node 1 and node 2 together delivered each event of to-a once" "$((a1 + a2))" "$N"
  [ "$a1" -gt 0 ] && [ "$a2" -gt 0 ] && pass || fail "load: one node delivered nothing ($a1, $a2)"
  check "load: nothing pending in the group to-a" \
    "$(rcli XPENDING weft:ev:6:orders:s to-a | head -1)" 0
  # Idempotent ingest across nodes: event 1 (source "load") again, to the other node.
  len=$(rcli XLEN weft:ev:6:orders:s)
  code=$(curl -s -o /dev/null -w '%{http_code}' "$URL2/brokers/orders" -H 'ce-specversion: 1.0' \
    -H 'ce-id: 1' -H 'ce-source: load' -H 'ce-type: load' -d '{"n":1}')
  check "load: a duplicate sent to the other node is answered 202" "$code" 202
  check "load: ... and stored once" "$(rcli XLEN weft:ev:6:orders:s)" "$len"
fi

# ---- 2a. stores -------------------------------------------------------------------------------
if [[ " $PARTS " == *" stores "* ]]; then
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary 'from node 1' \
    "$URL1/kv/default/greeting")
  check "stores: a value PUT through node 1" "$code" 201
  check "stores: ... is read through node 2" "$(curl -s "$URL2/kv/default/greeting")" "from node 1"
  check "stores: ... and is in Redis" "$(rcli HGET kv:kv:7:default:k:greeting v)" "from node 1"
fi

# ---- 2c. dead letters and the TTL guard ------------------------------------------------------
if [[ " $PARTS " == *" deadletter "* ]]; then
  curl -s -o /dev/null "$URL1/brokers/dl" -H 'ce-specversion: 1.0' -H 'ce-id: x1' \
    -H 'ce-source: test' -H 'ce-type: d' -d '{}'
  curl -s -o /dev/null "$URL2/brokers/dl" -H 'ce-specversion: 1.0' -H 'ce-id: x2' \
    -H 'ce-source: test' -H 'ce-type: d' -H 'ce-knativebrokerttl: 0' -d '{}'
  wait_lines "$LOG_E" 2 20
  check "dead letters: both events reached the dead-letter target" "$(ids "$LOG_E" | tr '\n' ' ')" "x1 x2 "
  check "dead letters: each names the target that failed" \
    "$(field "$LOG_E" 'r["headers"].get("ce-knativeerrordest")' | sort -u)" "http://127.0.0.1:9/"
  for _ in $(seq 1 20); do
    [ "$(rcli XPENDING weft:ev:2:dl:s dl-t | head -1)" == 0 ] && break
    sleep 0.1
  done
  check "dead letters: acknowledged, nothing pending" "$(rcli XPENDING weft:ev:2:dl:s dl-t | head -1)" 0
  check_contains "dead letters: x2 was not delivered for its TTL" "$(cat "$WORK/n1/log" "$WORK/n2/log")" \
    "event id 'x2' to the dead-letter target 'e': not delivered: its knativebrokerttl is 0"
fi

# ---- 2b. replies across nodes ------------------------------------------------------------------
if [[ " $PARTS " == *" replies "* ]]; then
  for i in $(seq 1 20); do
    u=$URL1
    [ $((i % 2)) == 0 ] && u=$URL2
    curl -s -o /dev/null "$u/brokers/flow" -H 'ce-specversion: 1.0' -H "ce-id: f$i" \
      -H 'ce-source: test' -H 'ce-type: in' -H 'content-type: application/json' -d "{\"i\":$i}"
  done
  wait_lines "$LOG_D" 20 30
  check "replies: every reply reached the second trigger's target" "$(lines "$LOG_D")" 20
  check "replies: each one transformed" "$(field "$LOG_D" 'r["body"]' | grep -c '"hello":"wasm"')" 20
  check "replies: ... of the reply type" "$(field "$LOG_D" 'r["headers"]["ce-type"]' | sort -u)" \
    in.transformed
  f1=$(delivered "$URL1" flow-in) f2=$(delivered "$URL2" flow-in)
  echo "replies: transform called by node 1: $f1, by node 2: $f2"
  check "replies: the two nodes called the function 20 times in all" "$((f1 + f2))" 20
fi

# ---- 2. kill -9 of a node mid-delivery ------------------------------------------------------
if [[ " $PARTS " == *" kill "* ]]; then
  for i in $(seq 1 8); do
    for b in slow held; do
      curl -s -o /dev/null "$URL1/brokers/$b" -H 'ce-specversion: 1.0' -H "ce-id: s$i" \
        -H 'ce-source: test' -H 'ce-type: slow' -d '{}'
    done
  done
  held=0 held2=0
  for _ in $(seq 1 100); do
    held=$(rcli XPENDING other:ev:4:slow:s to-late - + 100 one | grep -c -- '-0$')
    held2=$(rcli XPENDING other:ev:4:held:s to-held - + 100 one | grep -c -- '-0$')
    [ "$held" -gt 0 ] && [ "$held2" -gt 0 ] && break
    sleep 0.05
  done
  [ "$held" -gt 0 ] && pass || fail "kill: node 1 never held an event of the slow broker"
  [ "$held2" -gt 0 ] && pass || fail "kill: node 1 never held an event of the broker held"
  kill -KILL "$PID1"
  wait "$PID1" 2>/dev/null
  echo "kill: node 1 killed holding $held events"
  wait_ids "$LOG_LATE" 8 30
  for _ in $(seq 1 80); do
    [ "$(rcli XPENDING other:ev:4:slow:s to-late | head -1)" == 0 ] && break
    sleep 0.25
  done
  check "kill: every event of the slow broker delivered" "$(ids "$LOG_LATE" | wc -l)" 8
  check "kill: nothing left pending" "$(rcli XPENDING other:ev:4:slow:s to-late | head -1)" 0
  check_contains "kill: node 2 took the held events over" "$(cat "$WORK/n2/log")" \
    "broker slow, trigger to-late: took over"
  echo "kill: the target got $(lines "$LOG_LATE") requests for 8 events"
  # Node 1 again, under its name: what it left pending of the broker held (claim_after
  # 60 s, so no other node has claimed it) it delivers at once.
  start_weft "$WORK/n1" --node one || { finish; exit 1; }
  URL1=$URL PID1=$PID
  for _ in $(seq 1 60); do
    [ "$(rcli XPENDING other:ev:4:held:s to-held | head -1)" == 0 ] && break
    sleep 0.25
  done
  check "kill: node 1 back under its name delivered what it left pending" \
    "$(rcli XPENDING other:ev:4:held:s to-held | head -1)" 0
  check "kill: every event of the broker held delivered" "$(ids "$LOG_LATE2" | wc -l)" 8
fi

# ---- 3. retention ---------------------------------------------------------------------------
if [[ " $PARTS " == *" retention "* ]]; then
  for i in 1 2 3; do
    for b in gone kept; do
      curl -s -o /dev/null "$URL2/brokers/$b" -H 'ce-specversion: 1.0' -H "ce-id: $b$i" \
        -H 'ce-source: test' -H 'ce-type: r' -d '{}'
    done
  done
  wait_ids "$LOG_C" 6 20
  check "retention: every event reached the target that answers" "$(ids "$LOG_C" | wc -l)" 6
  for _ in $(seq 1 40); do
    [ "$(rcli XLEN weft:ev:4:gone:s)" == 0 ] && break
    sleep 0.25
  done
  check "retention: events every trigger acknowledged are deleted after 1s" \
    "$(rcli XLEN weft:ev:4:gone:s)" 0
  check "retention: their dedupe keys too" "$(rcli HLEN weft:ev:4:gone:keys)" 0
  check "retention: events a trigger has not finished stay" "$(rcli XLEN weft:ev:4:kept:s)" 3
  check "retention: the seq counter stays" "$(rcli GET weft:ev:4:gone:seq)" 3
fi

# ---- 4. Redis restarted during ingest ------------------------------------------------------
if [[ " $PARTS " == *" restart "* ]]; then
  M=800
  before=$(rcli XLEN weft:ev:6:orders:s)
  python3 "$SRC/tests/events/load.py" "$URL2/brokers/orders" 100001 $((100000 + M)) \
    "$WORK/ans3" --threads 4 &
  l3=$!
  for _ in $(seq 1 200); do
    [ "$(lines "$WORK/ans3")" -ge 150 ] && break
    sleep 0.02
  done
  rcli shutdown >/dev/null 2>&1
  wait "$REDIS" 2>/dev/null
  sleep 3 # longer than the location's retry (2 s): appends meanwhile fail
  start_redis
  wait "$l3"
  ok=$(grep -c ' 202$' "$WORK/ans3")
  refused=$((M - ok))
  echo "restart: $ok answered 202, $refused refused or unanswered while Redis restarted"
  [ "$refused" -gt 0 ] && pass || fail "restart: Redis restarted but no ingest was refused"
  # Every id answered 202 is in the stream.
  rcli --raw XRANGE weft:ev:6:orders:s - + | grep -ao '"n":[0-9]*' | grep -o '[0-9]*' |
    sort -u >"$WORK/stored"
  grep ' 202$' "$WORK/ans3" | cut -d' ' -f1 | sort -u >"$WORK/accepted"
  check "restart: every event answered 202 is stored" \
    "$(comm -23 "$WORK/accepted" "$WORK/stored" | wc -l)" 0
  # The refused ones again: the node has reconnected.
  python3 "$SRC/tests/events/load.py" "$URL2/brokers/orders" 100001 $((100000 + M)) \
    "$WORK/ans3" --threads 4 --skip "$WORK/ans3"
  check "restart: after the restart every event is taken" \
    "$(grep ' 202$' "$WORK/ans3" | cut -d' ' -f1 | sort -u | wc -l)" "$M"
  check_contains "restart: the node logged the lost connection" "$(cat "$WORK/n2/log")" \
    "connection lost"
  total=$((before + M))
  [[ " $PARTS " == *" load "* ]] && expect_a=$((N + M)) || expect_a=$M
  wait_ids "$LOG_A" "$expect_a" 60
  check "restart: trigger to-a delivered every event" "$(ids "$LOG_A" | wc -l)" "$expect_a"
  echo "restart: stream holds $(rcli XLEN weft:ev:6:orders:s) of $total"
fi
# ---- 5. a poison event ------------------------------------------------------------------
if [[ " $PARTS " == *" poison "* ]]; then
  PK=weft:ev:6:poison:s
  # holder: "CONSUMER DELIVERIES" of the poison event, once one holds it.
  holder() { rcli XPENDING "$PK" to-stuck - + 10 | paste -sd' ' | awk 'NF >= 4 {print $2, $4}'; }
  # kill_holder N: waits until a node holds the event, handed out the Nth time; kills it.
  kill_holder() {
    local h=""
    for _ in $(seq 1 100); do
      h=$(holder)
      [ "${h##* }" == "$1" ] && break
      sleep 0.1
    done
    check "poison: handed to a node (time $1)" "${h##* }" "$1"
    local pid=$PID2
    [ "${h% *}" == one ] && pid=$PID1
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    echo "poison: killed node ${h% *}, which held it (time $1)"
  }
  curl -s -o /dev/null "$URL1/brokers/poison" -H 'ce-specversion: 1.0' -H 'ce-id: p1' \
    -H 'ce-source: test' -H 'ce-type: poison' -d '{}'
  kill_holder 1
  kill_holder 2 # taken over by the other node after claim_after (1 s)
  # Both nodes are gone: node 1 again, under its name, gets it a third time.
  start_weft "$WORK/n1" --node one || { finish; exit 1; }
  URL1=$URL PID1=$PID
  wait_lines "$LOG_F" 1 20
  check "poison: the dead-letter target got it" "$(ids "$LOG_F")" p1
  check "poison: ... naming the target it never reached" \
    "$(field "$LOG_F" 'r["headers"].get("ce-knativeerrordest")')" "$SINK_STUCK"
  check "poison: the target got it twice, never a third time" "$(ids "$LOG_STUCK" | grep -c p1)/$(lines "$LOG_STUCK")" 1/2
  check_contains "poison: the log says why" "$(cat "$WORK/n1/log")" \
    "event id 'p1' to the dead-letter target 'f': not delivered: handed to a node 3 times without being finished (max_deliveries is 2)"
  for _ in $(seq 1 40); do
    [ "$(rcli XPENDING "$PK" to-stuck | head -1)" == 0 ] && break
    sleep 0.1
  done
  check "poison: acknowledged, nothing pending" "$(rcli XPENDING "$PK" to-stuck | head -1)" 0
  # The second node's member (a name it will not have again: a new port) has nothing
  # pending: removed once idle for twice claim_after.
  members() { rcli XINFO CONSUMERS "$PK" to-stuck | awk 'p {print; p = 0} /^name$/ {p = 1}' | paste -sd' '; }
  for _ in $(seq 1 80); do
    [ "$(members)" == one ] && break
    sleep 0.1
  done
  check "poison: the stopped node's member is removed from the group" "$(members)" one
  check_contains "poison: ... and the log says so" "$(cat "$WORK/n1/log")" \
    "broker poison, trigger to-stuck: removed 1 member of its group with nothing pending and idle for 2000 ms"
fi

finish
