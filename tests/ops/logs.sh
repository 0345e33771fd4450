#!/usr/bin/env bash
# weft up's logs: --log-format json makes every log line one JSON object (time in RFC
# 3339 UTC with milliseconds, level, msg, and request_id, route, function, trigger,
# event_id where they apply); a guest's stderr lines keep their "/route #id:" tag in
# msg. --access-log FILE writes Apache's combined format plus the duration and the
# request id, a line per request. [server] log_format and access_log say the same in
# weft.toml (a relative access_log is beside it); a log_format other than text or json
# is refused.
source "$(dirname "$0")/ops.bash"

DIR=$WORK/app
mkdir -p "$DIR"
cat >"$DIR/weft.toml" <<TOML
[[function]]
name = "cgi"
source = "$GUESTS/gw_cgi.wasm"
route = "/cgi/..."

[[function]]
name = "fails"
source = "$GUESTS/ev_target.wasm"

[[broker]]
name = "orders"

[[trigger]]
name = "to-fails"
broker = "orders"
target = "fails"
delivery = { retry = 0 }
TOML
start_weft "$DIR" --log-format json --access-log "$DIR/access.log" ||
  { fail "weft up did not start"; finish; exit; }
get /cgi/stderr
check "stderr: 200" "$STATUS" 200
get /cgi/trap -A "ops test" -e "http://example.com/from"
check "trap: 500" "$STATUS" 500
get /brokers/orders -X POST -H 'ce-specversion: 1.0' -H 'ce-id: ev-7' -H 'ce-source: ops' \
  -H 'ce-type: fail' -d x
check "event: 202" "$STATUS" 202
log_has '"event_id":"ev-7"' || fail "no log line names the event given up"
log_has 'trap: unreachable' || fail "no log line for the trap"

# Every line of the log is a JSON object; the fields of the interesting ones.
out=$(python3 - "$DIR/log" <<'PY'
import json, re, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
objs, bad = [], [l for l in lines if not l.startswith("{")]
for l in lines:
    if l.startswith("{"):
        try:
            objs.append(json.loads(l))
        except ValueError:
            bad.append(l)
print("not json:", bad)
time_re = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
print("times:", all(time_re.match(o.get("time", "")) for o in objs) and len(objs) > 0)
print("levels:", sorted({o.get("level") for o in objs}))
trap = [o for o in objs if "trap: unreachable" in o["msg"]]
t = trap[0] if trap else {}
print("trap:", t.get("level"), t.get("route"), t.get("function"), type(t.get("request_id")).__name__)
print("trap id:", t.get("request_id"))
err = [o for o in objs if "guest line" in o["msg"] and o.get("route") == "/cgi/..."]
print("stderr lines tagged:", len(err) >= 2 and all(re.match(r"^/cgi/\.\.\. #\d+: ", o["msg"]) for o in err))
give = [o for o in objs if o.get("event_id") == "ev-7"]
g = give[0] if give else {}
print("given up:", g.get("level"), g.get("trigger"), "given up" in g.get("msg", ""))
PY
)
check "every line is JSON" "$(sed -n 's/^not json: //p' <<<"$out")" "[]"
check "time: RFC 3339, UTC, milliseconds" "$(sed -n 's/^times: //p' <<<"$out")" True
check "levels" "$(sed -n 's/^levels: //p' <<<"$out")" "['error', 'info', 'warn']"
check "the trap's line: error, route, function, request id" "$(sed -n 's/^trap: //p' <<<"$out")" \
  "error /cgi/... cgi int"
check "a guest's stderr lines keep their tag, with the request's fields" \
  "$(sed -n 's/^stderr lines tagged: //p' <<<"$out")" True
check "an event given up: warn, its trigger and event id" "$(sed -n 's/^given up: //p' <<<"$out")" \
  "warn to-fails True"
trap_id=$(sed -n 's/^trap id: //p' <<<"$out")

# The access log: combined format, then seconds and the request id.
for _ in $(seq 1 50); do [ "$(wc -l <"$DIR/access.log")" -ge 3 ] && break; sleep 0.1; done
line=$(grep ' "GET /cgi/trap HTTP/1.1" ' "$DIR/access.log")
re='^127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} \+0000\] "GET /cgi/trap HTTP/1\.1" 500 [0-9]+ "http://example\.com/from" "ops test" [0-9]+\.[0-9]{6} ([0-9]+)$'
if [[ $line =~ $re ]]; then
  pass
  check "the access log's request id is the log's" "${BASH_REMATCH[1]}" "$trap_id"
else
  fail "access log line: [$line]"
fi
check "a line per request" "$(wc -l <"$DIR/access.log")" 3
stop_weft
check "weft up stopped cleanly" "$STOP_RC" 0

# The same from weft.toml; the access log beside it.
DIR=$WORK/toml
mkdir -p "$DIR"
cat >"$DIR/weft.toml" <<TOML
[server]
log_format = "json"
access_log = "logs/access.log"

[[function]]
name = "cgi"
source = "$GUESTS/gw_cgi.wasm"
route = "/cgi/..."
TOML
mkdir -p "$DIR/logs"
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }
get /cgi/exit0
for _ in $(seq 1 50); do [ -s "$DIR/logs/access.log" ] && break; sleep 0.1; done
check_contains "access_log, relative to weft.toml" "$(cat "$DIR/logs/access.log" 2>/dev/null)" \
  '"GET /cgi/exit0 HTTP/1.1" 200'
check "log_format: its lines are JSON" "$(head -c 9 "$DIR/log")" '{"time":"'
stop_weft
check "weft up stopped cleanly" "$STOP_RC" 0
sed -i 's/log_format = "json"/log_format = "xml"/' "$DIR/weft.toml"
run "$WEFT" up -c "$DIR/weft.toml"
check "log_format xml: refused" "$RC" 1
check_contains "saying why" "$ERR" 'log_format must be "text" or "json", not "xml"'
run "$WEFT" up -c "$DIR/weft.toml" --log-format xml
check "--log-format xml: a usage error" "$RC" 2
finish
