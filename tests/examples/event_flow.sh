#!/usr/bin/env bash
# examples/event-flow/README.md, run as written: every command of its console blocks
# runs in a copy of the folder (weft up in the background, on a free port rather than
# 3000: the one deviation), and the output the README shows must be what the commands
# print, ids, times, ports and durations aside (the README's must have the right shape
# too). The display's log lines the README shows must be in weft up's log, each event's
# lines in order.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../gateway/gw.bash"

EX=$WORK/event-flow
cp -r "$SRC/examples/event-flow" "$EX"
rm -rf "$EX/.weft" "$EX"/*.wasm
mkdir -p "$WORK/bin"
ln -s "$WEFT" "$WORK/bin/weft"
export PATH="$WORK/bin:$PATH"
README=$SRC/examples/event-flow/README.md

# The README's console blocks as records: "cmd<TAB>COMMAND" then "out<TAB>LINE" lines,
# and its plain blocks of weft up's log as "log<TAB>LINE".
python3 - "$README" >"$WORK/script" <<'PY'
import sys
block = None
for line in open(sys.argv[1]).read().split("\n"):
    if line.startswith("```"):
        if block is None:
            block = line[3:].strip() or "plain"
        else:
            block = None
        continue
    if block == "console":
        if line.startswith("$ "):
            print("cmd\t" + line[2:])
        else:
            print("out\t" + line)
    elif block == "plain" and line.startswith("weft: "):
        print("log\t" + line)
PY

# norm: the variable parts of a line made fixed, and runs of spaces one.
norm() {
  sed -E 's/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/<id>/g;
          s/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z/<time>/g;
          s#http://127\.0\.0\.1:[0-9]+#http://<addr>#g;
          s/in [0-9]+ ms/in <n> ms/g;
          s/ +/ /g; s/ $//'
}

# compare NAME EXPECTED_FILE ACTUAL_FILE: the README's output, normalized, is what the
# command printed, normalized (blank lines aside).
compare() {
  norm <"$2" | grep -v '^$' >"$2.n"
  norm <"$3" | grep -v '^$' >"$3.n"
  check "README: $1" "$(diff "$2.n" "$3.n" | head -20)" ""
}

n=0
cmd=""
: >"$WORK/expected"
run_pending() {
  [ -n "$cmd" ] || return 0
  n=$((n + 1))
  case "$cmd" in
  "cd examples/event-flow")
    cd "$EX" || fail "cd"
    ;;
  "weft up")
    (exec weft up --listen 127.0.0.1:0 </dev/null >"$EX/up.out" 2>"$EX/up.err") &
    PID=$!
    WEFT_PIDS+=("$PID")
    DIR=$EX
    for _ in $(seq 1 600); do grep -q '^Ready' "$EX/up.out" 2>/dev/null && break; sleep 0.1; done
    URL=$(sed -n 's/^Ready: serving on //p' "$EX/up.out")
    [ -n "$URL" ] || fail "weft up did not start: $(cat "$EX/up.err")"
    compare "$cmd" "$WORK/expected" "$EX/up.out"
    ;;
  "weft watch "*)
    # Ctrl-C ends it in the README; here, once the two events are printed.
    timeout -s INT 10 bash -c "$cmd" </dev/null >"$WORK/actual.$n" 2>/dev/null &
    local w=$!
    for _ in $(seq 1 100); do [ "$(wc -l <"$WORK/actual.$n")" -ge 2 ] && break; sleep 0.1; done
    kill -INT "$w" 2>/dev/null
    wait "$w"
    check "README: $cmd: exit status on Ctrl-C" "$?" 0
    compare "$cmd" "$WORK/expected" "$WORK/actual.$n"
    ;;
  *)
    bash -c "$cmd" </dev/null >"$WORK/actual.$n" 2>"$WORK/err.$n"
    check "README: $cmd: exit status" "$?" 0
    [ -s "$WORK/expected" ] && compare "$cmd" "$WORK/expected" "$WORK/actual.$n"
    if [[ "$cmd" == "weft send "* ]]; then
      # What the README shows next needs the flow to have run: both events displayed.
      for _ in $(seq 1 200); do
        [ "$(grep -c 'cloudevents.Event' "$EX/up.err")" -ge 2 ] && break
        sleep 0.1
      done
      sleep 0.5
    fi
    if [[ "$cmd" == "weft create "* ]]; then
      for _ in $(seq 1 100); do grep -q 'reloaded in' "$EX/up.err" && break; sleep 0.1; done
      check_contains "README: the running weft up picked the new trigger up" \
        "$(grep 'reloaded in' "$EX/up.err")" "2 functions, 0 routes, 1 broker, 3 triggers"
    fi
    ;;
  esac
  cmd=""
  : >"$WORK/expected"
}

: >"$WORK/log_expected"
while IFS=$'\t' read -r kind text; do
  case "$kind" in
  cmd)
    run_pending
    cmd=$text
    ;;
  out) printf '%s\n' "$text" >>"$WORK/expected" ;;
  log) printf '%s\n' "$text" >>"$WORK/log_expected" ;;
  esac
done <"$WORK/script"
run_pending
check "README: every command ran" "$n" 8

# The display's log, as the README shows it: each event's lines in order. The two events
# come through two triggers, which Knative does not order between them (the original
# usually arrives first, the transformed one after its trip through transform, but a
# slow machine may turn that round), so the events are compared as a set.
events_of() { # one line per event: its lines joined by a tab, sorted
  norm | grep -v '^$' | awk '/display: cloudevents.Event$/ && NR > 1 { print "" } { printf "%s\t", $0 } END { print "" }' | sort
}
grep '^weft: display:' "$EX/up.err" | head -n "$(wc -l <"$WORK/log_expected")" >"$WORK/log_actual"
check "README: the display's log" \
  "$(diff <(events_of <"$WORK/log_expected") <(events_of <"$WORK/log_actual") | head -20)" ""

kill -TERM "$PID"
wait "$PID"
check "weft up stops cleanly" "$?" 0
finish
