# Helpers for the gateway's test scripts (sourced; not a test itself: no .sh suffix).
# Each script writes a manifest into a folder under $WORK, starts `weft up` there on a
# free port (port 0: weft picks one and prints it in its Ready line), talks HTTP to it
# with curl or raw bytes through bash's /dev/tcp, and stops it. Every server started
# is killed when the script exits, whatever happened.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

WEFT_PIDS=()
cleanup_servers() {
  for p in "${WEFT_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup_servers EXIT

# start_weft DIR [ARGS...]: runs `weft up ARGS` in DIR (lib.sh's weft_up: stdout in
# DIR/out, log in DIR/log), waits for "Ready: serving on URL"; sets PID, URL, HOSTPORT,
# PORT. Killed when the script exits.
start_weft() {
  weft_up "$@"
  local rc=$?
  PID=$UP
  WEFT_PIDS+=("$PID")
  [ "$rc" -eq 0 ] || return 1
  HOSTPORT=${URL#*://}
  PORT=${HOSTPORT##*:}
}

# stop_weft: SIGTERM and wait; sets STOP_RC.
stop_weft() {
  kill -TERM "$PID" 2>/dev/null
  wait "$PID"
  STOP_RC=$?
  # A sanitizer's report, or whatever else made the exit unclean, goes with the test.
  ((STOP_RC == 0)) || { echo "weft up exited $STOP_RC; the end of its log:" >&2; tail -n 40 "$DIR/log" >&2; }
}

# get PATH [CURL ARGS...]: $BODY, $STATUS, $HEADERS (lower-cased names) of one request.
get() {
  local path=$1
  shift
  curl -s -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' --max-time 30 "$@" \
    "$URL$path" >"$WORK/status" 2>/dev/null
  STATUS=$(cat "$WORK/status")
  BODY=$(cat "$WORK/body" 2>/dev/null)
  HEADERS=$(tr -d '\r' <"$WORK/headers" 2>/dev/null | sed 's/^\([^:]*\):/\L\1:/')
}

# raw BYTES: sends BYTES (a printf format) on a fresh connection and prints what comes
# back until the server closes or 5 s pass. Python's sockets rather than bash's
# /dev/tcp: the request is sent whole even when the server answers early.
raw() {
  # shellcheck disable=SC2059
  printf "$1" >"$WORK/raw.req"
  python3 - "$PORT" "$WORK/raw.req" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(5)
try:
    s.sendall(open(sys.argv[2], "rb").read())
except OSError:
    pass  # the server may close early on a bad request; read what it said
out = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
except OSError:
    pass
sys.stdout.buffer.write(out)
PY
}

# status_of RESPONSE: the status code of a raw HTTP response.
status_of() {
  printf '%s' "$1" | head -n 1 | awk '{print $2}'
}

# log_has TEXT: does the server's log (in $DIR/log) contain TEXT? Waits a little, as
# a line may be written just after the response.
log_has() {
  for _ in $(seq 1 50); do
    grep -qF -- "$1" "$DIR/log" && return 0
    sleep 0.1
  done
  return 1
}

# log_count ERE: how many lines of the server's log match ERE (an extended regular
# expression: a whole line can be checked, route and request id included), once one
# does or after waiting as long as log_has.
log_count() {
  for _ in $(seq 1 50); do
    grep -qE -- "$1" "$DIR/log" && break
    sleep 0.1
  done
  grep -cE -- "$1" "$DIR/log"
}
