#!/usr/bin/env bash
# store: the key-value store on Redis (src/dist/kv_redis.c, in weft-dist.so). A
# redis-server of the test's own, on a Unix socket and a TCP port in $WORK, no
# persistence; then: the conformance suite's key-value tests with the location
# redis+unix://SOCKET?prefix=%s (each test its own prefix); the layout a Redis user
# sees (redis-cli reads a key weft wrote over TCP, in the database the URL names); two
# prefixes on one database do not meet; a Redis restarted between two writes: the write
# during the outage fails naming the server, the next one after the restart succeeds
# (reconnected), and both are logged.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/redis_server.bash"

CONF=$BUILD_DIR/tests/test_store_conformance
DRIVER=$BUILD_DIR/tests/driver_store_dist
for f in "$CONF" "$DRIVER" "$BUILD_DIR/weft-dist.so"; do
  [ -e "$f" ] || { fail "no $f: build first"; finish; exit 1; }
done
trap 'stop_redis; rm -rf "$WORK"' EXIT
start_redis
SOCK=$REDIS_SOCK PORT=$REDIS_PORT

# ---- conformance ------------------------------------------------------------------------
run "$CONF" "redis+unix://$SOCK?prefix=%s" kv_
check "conformance (key-value): status ($(grep -m3 -E 'FAIL|fail' <<<"$OUT$ERR"))" "$RC" 0
check_contains "conformance ran the key-value tests" "$OUT" "-- kv_threads"
echo "$OUT" | tail -3

# ---- what a Redis user sees -------------------------------------------------------------
run_in $'kv-set hello world\n' "$DRIVER" "redis://127.0.0.1:$PORT/2?prefix=tcp" -
check_contains "set over TCP, database 2" "$OUT" "ok "
check "redis-cli reads it" "$(redis-cli -p "$PORT" -n 2 HGET tcp:kv:7:default:k:hello v)" world
check "database 0 holds none of it" "$(redis-cli -p "$PORT" -n 0 EXISTS tcp:kv:7:default:k:hello)" 0
run_in $'kv-get hello\n' "$DRIVER" "redis+unix://$SOCK?db=2&prefix=other" -
check_contains "another prefix does not see it" "$OUT" "error ENOTFOUND"
run_in $'kv-get hello\n' "$DRIVER" "redis+unix://$SOCK?db=2&prefix=tcp" -
check_contains "the same prefix over the socket does" "$OUT" "ok world"
run "$DRIVER" "redis://127.0.0.1:1/0?retry=0" -
check "nothing listening: status" "$RC" 1
check_contains "nothing listening: names the server" "$OUT" "redis 127.0.0.1:1: cannot connect"
run "$DRIVER" "redis://127.0.0.1:$PORT/0?colour=red" -
check_contains "an unknown parameter" "$OUT" "error EINVAL: redis://127.0.0.1:$PORT/0?colour=red: an unknown parameter \"colour\""

run "$DRIVER" "redis://weft:hunter2@127.0.0.1:$PORT/0?colour=red" -
check_contains "a password is not repeated in messages" "$OUT" "redis://weft:***@127.0.0.1:$PORT/0?colour=red"
case "$OUT" in *hunter2*) fail "the password in a message: $OUT" ;; *) pass ;; esac
run "$DRIVER" "redis://127.0.0.1:$PORT/0" "redis://127.0.0.1:$PORT/0"
check_contains "blobs on Redis: refused, naming the kind" "$OUT" "weft-dist.so has no blobs backend \"redis\""

# ---- weft up with [store] key_value on Redis --------------------------------------------
# A guest's set through weft up lands in Redis: redis-cli reads it; the other kinds stay
# embedded.
mkdir -p "$WORK/app"
cat >"$WORK/app/weft.toml" <<TOML
[store]
key_value = "redis+unix://$SOCK?prefix=app"

[[function]]
name = "svc"
source = "$GUESTS/svc.wasm"
route = "/svc/..."
key_value_stores = ["default"]
document_collections = ["d"]
blob_containers = ["c"]
TOML
if weft_up "$WORK/app"; then
  body=$(curl -s "$URL/svc/write_one?5")
  check_contains "the guest's set" "$body" "set=0"
  check "redis-cli reads the guest's value" "$(redis-cli -s "$SOCK" HGET app:kv:7:default:k:big v)" vvvvv
  check_contains "the documents stay embedded" "$body" "doc=0"
  [ -e "$WORK/app/.weft/stores/docs.db" ] && pass || fail "no embedded docs.db"
  [ -e "$WORK/app/.weft/stores/kv.db" ] && fail "an embedded kv.db beside Redis" || pass
else
  fail "weft up did not start: $(cat "$WORK/app/log")"
fi
kill "$UP" 2>/dev/null
wait "$UP" 2>/dev/null

# ---- a restart between two writes -------------------------------------------------------
coproc DRV { "$DRIVER" "redis+unix://$SOCK?prefix=restart&retry=1000" - 2>"$WORK/driver.err"; }
# Bash forgets DRV_PID (and DRV) once the coprocess ends, which may be before the wait.
drv_pid=$DRV_PID
drv_in=${DRV[1]}
ask() {
  echo "$1" >&"${DRV[1]}"
  ANSWER=
  read -r -t 20 ANSWER <&"${DRV[0]}"
}
read -r -t 20 ANSWER <&"${DRV[0]}"
check "driver ready" "$ANSWER" ready
[ "$ANSWER" == ready ] || { finish; exit 1; }
ask "kv-set a 1"
check_contains "before the restart" "$ANSWER" "ok "
stop_redis
start=$(date +%s%N)
ask "kv-set b 2"
ms=$((($(date +%s%N) - start) / 1000000))
check_contains "during the outage: fails" "$ANSWER" "error EIO: "
check_contains "during the outage: names the server" "$ANSWER" "redis $SOCK: cannot connect"
check "during the outage: gives up after the retry window (${ms} ms)" \
  "$([ "$ms" -ge 500 ] && [ "$ms" -lt 5000 ] && echo yes)" yes
start_redis
ask "kv-set c 3"
check_contains "after the restart: the write succeeds" "$ANSWER" "ok "
ask "kv-get c"
check "after the restart: read back" "$ANSWER" "ok 3"
exec {drv_in}>&-
wait "$drv_pid" 2>/dev/null
log=$(cat "$WORK/driver.err")
check_contains "the loss is logged" "$log" "redis $SOCK: connection lost"
check_contains "the reconnection is logged" "$log" "redis $SOCK: reconnected"
stop_redis
finish
