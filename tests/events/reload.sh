#!/usr/bin/env bash
# weft up applies an edited weft.toml without a restart, while traffic runs: a route
# added, a function changed, a trigger's filter changed, a target and its trigger
# removed. Requests and deliveries under way finish on the old configuration; no
# request fails during the swap; an edit that does not load is reported and the
# running configuration kept; SIGHUP reloads too.
source "$(dirname "$0")/ev.bash"

DIR=$WORK/app
mkdir -p "$DIR"
cp "$GUESTS/gw_hello.wasm" "$GUESTS/gw_cgi.wasm" "$DIR/"
start_sink one
ONE_URL=$SINK_URL ONE_LOG=$SINK_LOG
start_sink two
TWO_URL=$SINK_URL TWO_LOG=$SINK_LOG

# manifest FILTER_TYPE WITH_TWO WITH_B: writes weft.toml as an editor does (a new file
# renamed over the old one).
manifest() {
  {
    cat <<T
[[function]]
name = "greet"
source = "gw_hello.wasm"
route = "/a"

[[function]]
name = "cgi"
source = "gw_cgi.wasm"
route = "/cgi/..."

[[broker]]
name = "b"

[[target]]
name = "one"
url = "$ONE_URL"

[[trigger]]
name = "t1"
broker = "b"
target = "one"
filters = [{ exact = { type = "$1" } }]
T
    if [ "$2" = yes ]; then
      cat <<T

[[target]]
name = "two"
url = "$TWO_URL"

[[trigger]]
name = "t2"
broker = "b"
target = "two"
T
    fi
    if [ "$3" = yes ]; then
      printf '\n[[route]]\npath = "/b/..."\nfunction = "cgi"\nentrypoint = "_start"\n'
    fi
  } >"$DIR/weft.toml.new"
  mv "$DIR/weft.toml.new" "$DIR/weft.toml"
}

# reloaded N: waits until the log says N reloads happened.
reloaded() {
  for _ in $(seq 1 400); do
    [ "$(grep -c ': reloaded in ' "$DIR/log")" -ge "$1" ] && return 0
    sleep 0.05
  done
  return 1
}

manifest x yes no
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }
get /b
check "before: /b is not served" "$STATUS" 404

# Traffic while the manifest changes: events of type x and y, and requests to /a.
traffic() {
  local i=0
  while [ ! -f "$WORK/stop" ]; do
    i=$((i + 1))
    local t=x
    ((i % 2)) && t=y
    curl -s -o /dev/null -w "%{http_code} $i $t\n" --max-time 30 "$URL/brokers/b" \
      -H 'ce-specversion: 1.0' -H "ce-id: e$i" -H 'ce-source: load' -H "ce-type: $t" \
      -H 'content-type: application/json' -d "{\"n\":$i}" >>"$WORK/sent"
    curl -s -o /dev/null -w "%{http_code}\n" --max-time 30 "$URL/a" >>"$WORK/gets"
  done
}
traffic &
TRAFFIC=$!
# A slow request under way across the reload that removes its route... (below: /cgi
# stays, /b goes away later)
sleep 0.5
curl -s -o "$WORK/slow" -w '%{http_code}' --max-time 30 "$URL/cgi/sleep?ms=1500" >"$WORK/slow.status" &
SLOW=$!
sleep 0.3

# Edit 1: /b added, t1's filter from x to y, target "two" and trigger t2 removed.
pre=$(wc -l <"$WORK/sent")
manifest y no yes
reloaded 1 || fail "the first edit was not applied: $(tail -5 "$DIR/log")"
get /b/env
check "a route added by the edit is served" "$STATUS" 200
wait $SLOW
check "a request under way during the reload finished" "$(cat "$WORK/slow.status")" 200
mark=$(wc -l <"$WORK/sent")
sleep 1.5
touch "$WORK/stop"
wait $TRAFFIC
last=$(wc -l <"$WORK/sent")
check "every ingest answered 202 across the reload" \
  "$(awk '$1 != 202' "$WORK/sent" | head -3)" ""
check "every request to /a answered 200 across the reload" \
  "$(awk '$1 != 200' "$WORK/gets" | head -3)" ""
((last > mark + 5)) && pass || fail "too little traffic after the reload ($mark, $last)"

# Trigger t1 now takes y: every y event sent after the reload reached "one"; every x
# event sent before the edit did too (at least once). (An x event ingested between the
# edit and the reload, not yet read by the old trigger, meets the new filter.)
sleep 2
ids_one=$(field "$ONE_LOG" 'r["headers"].get("ce-id")' | sort -u)
missing=""
while read -r code n t; do
  if { [ "$t" = x ] && ((n <= pre)); } || { [ "$t" = y ] && ((n > mark)); }; then
    grep -qx "e$n" <<<"$ids_one" || missing="$missing e$n"
  fi
done <"$WORK/sent"
check "t1 delivered its events before and after the filter change" "$missing" ""
late_x=$(awk -v m="$mark" '$3 == "x" && $2 > m + 3 {print "e"$2}' "$WORK/sent" | grep -cxF -f - <(echo "$ids_one"))
check "t1 no longer takes x once the new filter runs" "$late_x" 0
# The removed trigger delivers nothing sent after the reload.
ids_two=$(field "$TWO_LOG" 'r["headers"].get("ce-id")' | sort -u)
[ -n "$ids_two" ] && pass || fail "t2 delivered nothing before its removal"
late_two=$(awk -v m="$mark" '$2 > m {print "e"$2}' "$WORK/sent" | grep -cxF -f - <(echo "$ids_two"))
check "a removed trigger delivers nothing sent after the reload" "$late_two" 0

# Edit 2 does not load (a trigger naming a broker that does not exist): reported with
# its line, and the running configuration kept.
cp "$DIR/weft.toml" "$WORK/good.toml"
printf '\n[[trigger]]\nname = "bad"\nbroker = "nope"\ntarget = "one"\n' >>"$DIR/weft.toml"
for _ in $(seq 1 100); do
  grep -q 'not reloaded' "$DIR/log" && break
  sleep 0.05
done
check_contains "a broken edit is reported" "$(grep 'not reloaded' "$DIR/log")" "weft.toml:"
check_contains "saying what is wrong" "$(grep 'not reloaded' "$DIR/log")" "nope"
get /b/env
check "the running configuration is kept" "$STATUS" 200
send b k1 y '{"k":1}'
check "ingest still works" "$STATUS" 202

# Edit 3, fixed, changes a function's module: greet now runs gw_cgi.
sed 's/source = "gw_hello.wasm"/source = "gw_cgi.wasm"/; s|route = "/a"|route = "/a/..."|' \
  "$WORK/good.toml" >"$DIR/weft.toml.new"
mv "$DIR/weft.toml.new" "$DIR/weft.toml"
reloaded 2 || fail "the fixed edit was not applied"
get /a/env
check_contains "a changed function runs its new module" "$BODY" "PATH_INFO="

# A module rebuilt in place is picked up as well.
cp "$GUESTS/gw_hello.wasm" "$DIR/gw_cgi.wasm.new"
mv "$DIR/gw_cgi.wasm.new" "$DIR/gw_cgi.wasm"
reloaded 3 || fail "a module replaced on disk was not picked up"
get /a/env
check "the rebuilt module answers" "$BODY" "hello from weft"

# SIGHUP reloads without a change.
kill -HUP "$PID"
reloaded 4 || fail "SIGHUP did not reload"
check_contains "SIGHUP is named in the log" "$(grep 'SIGHUP: reloading' "$DIR/log")" "SIGHUP"

stop_weft
check "clean exit" "$STOP_RC" 0
finish
