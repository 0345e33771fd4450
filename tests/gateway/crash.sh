#!/bin/bash
# A fatal signal in weft itself is reported before the process dies: one line naming
# the signal, the role of the thread that took it and the request it was running; and
# the process still dies of that signal (so that a core dump stays possible), rather
# than exiting as if nothing happened.
source "$(dirname "$0")/gw.bash"

DIR="$WORK/app"
mkdir -p "$DIR"
cp "$GUESTS/gw_cgi.wasm" "$DIR/"
cat >"$DIR/weft.toml" <<'TOML'
[[function]]
name = "cgi"
source = "gw_cgi.wasm"
route = "/cgi/..."
timeout = "30s"
TOML

# Under the sanitizers the signal goes on to their own handler, which prints its report
# and exits 1: weft's line must come first all the same.
if ldd "$WEFT" 2>/dev/null | grep -q libasan; then SANITIZED=1; else SANITIZED=0; fi
# died_of SIGNUM STATUS: the exit status of a process killed by SIGNUM (or the
# sanitizer's exit).
died_of() {
  if ((SANITIZED)); then
    [ "$2" -ne 0 ] && echo died
  else
    [ "$2" -eq $((128 + $1)) ] && echo died
  fi
}

# tgkill: a signal for one thread, as a fault in that thread would be.
tgkill() {
  python3 -c 'import ctypes, sys; sys.exit(ctypes.CDLL(None, use_errno=True).syscall(234, int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))' "$@"
}
# thread_named NAME: the tid of weft's thread with that name using the most CPU.
thread_named() {
  local best="" most=-1 t cpu
  for t in /proc/"$PID"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = "$1" ] || continue
    cpu=$(awk '{print $14+$15}' "$t/stat")
    if [ "$cpu" -gt "$most" ]; then most=$cpu; best=${t##*/}; fi
  done
  echo "$best"
}

# A worker running a request: the line names it.
start_weft "$DIR" || { fail "server start"; finish; exit 1; }
curl -s -o /dev/null --max-time 20 "$URL/cgi/spin" &
client=$!
for _ in $(seq 1 50); do tid=$(thread_named "weft worker"); [ -n "$tid" ] && break; sleep 0.1; done
sleep 0.5 # the spinning guest is on a worker by now (it left the I/O thread after 1 ms)
tid=$(thread_named "weft worker")
check "the worker threads are named" "$([ -n "$tid" ] && echo named)" named
tgkill "$PID" "$tid" 11
wait "$PID"
rc=$?
check "weft dies of the SIGSEGV (status $rc)" "$(died_of 11 "$rc")" died
line=$(grep "fatal signal" "$DIR/log")
check_contains "the log names the signal" "$line" "weft: fatal signal SIGSEGV"
check_contains "and the thread's role" "$line" "in worker thread (tid $tid)"
check_contains "and the request it ran" "$line" "running /cgi/... #"
check "one line only" "$(grep -c "fatal signal" "$DIR/log")" 1
kill "$client" 2>/dev/null
wait "$client" 2>/dev/null

# An I/O thread with no request: the line says which thread, and no request.
start_weft "$DIR" || { fail "server start"; finish; exit 1; }
tid=$(thread_named "weft I/O")
tgkill "$PID" "$tid" 7
wait "$PID"
rc=$?
check "weft dies of the SIGBUS (status $rc)" "$(died_of 7 "$rc")" died
line=$(grep "fatal signal" "$DIR/log")
check_contains "the log names SIGBUS and the I/O thread" "$line" "fatal signal SIGBUS (sent by pid "
check_contains "the I/O thread" "$line" "in I/O thread (tid $tid); weft stops"

# abort() in weft itself (here: sent to the main thread, which sits in sigwait).
start_weft "$DIR" || { fail "server start"; finish; exit 1; }
kill -ABRT "$PID"
wait "$PID"
rc=$?
check "weft dies of the SIGABRT (status $rc)" "$(died_of 6 "$rc")" died
check_contains "SIGABRT is reported" "$(grep "fatal signal" "$DIR/log")" "fatal signal SIGABRT"

# Guest faults are not weft's: a trapping guest is a 500 and no fatal line.
start_weft "$DIR" || { fail "server start"; finish; exit 1; }
get /cgi/trap
check "a trapping guest: 500" "$STATUS" 500
check "no fatal line for a guest's trap" "$(grep -c "fatal signal" "$DIR/log")" 0
stop_weft
check "weft up stops cleanly" "$STOP_RC" 0
finish
