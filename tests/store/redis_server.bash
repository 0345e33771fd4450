# A redis-server of the test's own (sourced; not a test itself): TCP on a random port of
# 127.0.0.1 below Linux's ephemeral range (32768 up: the ports weft up and curl get
# from the kernel) and a Unix socket in $WORK, no persistence, and the further arguments of
# REDIS_ARGS (an array: --requirepass ...). start_redis sets REDIS (its pid), REDIS_PORT
# and REDIS_SOCK; stop_redis ends it (the test's trap calls it).
command -v redis-server >/dev/null || skip "no redis-server (apt-get install redis-server)"
REDIS=
REDIS_ARGS=()
REDIS_PORT=$((10000 + RANDOM % 22000))
REDIS_SOCK=$WORK/redis.sock
export WEFT_PLUGIN_DIR=$BUILD_DIR

# A port another program holds makes redis-server exit at once: the first start tries
# other ports (a restart keeps the port, which weft is connected to).
start_redis() {
  local tries=1
  [ -n "${REDIS_STARTED:-}" ] || tries=5
  for _ in $(seq "$tries"); do
    rm -f "$WORK/redis.log"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --unixsocket "$REDIS_SOCK" \
      --unixsocketperm 700 --save '' --appendonly no --logfile "$WORK/redis.log" "${REDIS_ARGS[@]}" &
    REDIS=$!
    for _ in $(seq 100); do
      if redis-cli -s "$REDIS_SOCK" ping 2>/dev/null | grep -qE 'PONG|NOAUTH'; then
        REDIS_STARTED=1
        return 0
      fi
      kill -0 "$REDIS" 2>/dev/null || break
      sleep 0.05
    done
    wait "$REDIS" 2>/dev/null
    REDIS_PORT=$((10000 + RANDOM % 22000))
  done
  fail "redis-server did not start: $(tail -3 "$WORK/redis.log")"
  finish
  exit 1
}
stop_redis() {
  [ -n "$REDIS" ] || return 0
  kill "$REDIS" 2>/dev/null
  wait "$REDIS" 2>/dev/null
  REDIS=
}

# wait_log FILE TEXT [SECONDS]: waits until FILE holds TEXT (a fixed string); 1 when it
# did not within SECONDS (5).
wait_log() {
  local file=$1 text=$2 secs=${3:-5}
  for _ in $(seq 1 $((secs * 20))); do
    grep -qF -- "$text" "$file" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# log_check NAME FILE TEXT [SECONDS]: a check that FILE comes to hold TEXT (gw.bash's
# log_has asks the same of the server's log without counting a check).
log_check() {
  if wait_log "$2" "$3" "${4:-5}"; then pass; else fail "$1: no [$3] in $2: $(tail -5 "$2")"; fi
}
