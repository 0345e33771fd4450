#!/usr/bin/env bash
# A real Prometheus server scrapes GET /_weft/metrics (with the bearer token, as a
# scrape config's authorization: credentials) every second, and its HTTP API
# (/api/v1/query) gives back weft_http_requests_total as weft counted it. promtool
# check metrics accepts the exposition. Skipped where Debian's prometheus is not
# installed (scripts/install-deps.sh installs it).
source "$(dirname "$0")/ops.bash"

command -v prometheus >/dev/null && command -v promtool >/dev/null ||
  skip "prometheus and promtool are not installed (apt-get install prometheus)"

TOKEN=scrape-secret
DIR=$WORK/app
mkdir -p "$DIR"
cat >"$DIR/weft.toml" <<TOML
[server]
token = "$TOKEN"

[[function]]
name = "hello"
source = "$GUESTS/gw_hello.wasm"
route = "/hello"
TOML
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }
for _ in 1 2 3 4; do get /hello; done
check "hello answers" "$STATUS" 200
wait_series 'weft_http_requests_total{route="/hello",code_class="2xx"}' 4 ||
  fail "the requests were not counted"
printf '%s\n' "$METRICS" >"$WORK/metrics.txt"
out=$(promtool check metrics <"$WORK/metrics.txt" 2>&1)
check "promtool check metrics accepts the exposition" "$?:$out" "0:"

PROM_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$WORK/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: weft
    metrics_path: /_weft/metrics
    authorization:
      credentials: $TOKEN
    static_configs:
      - targets: ["127.0.0.1:$PORT"]
YML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
WEFT_PIDS+=("$PROM_PID") # killed with the servers should the script end early

# query EXPR: the value of an instant query's first result, or "none".
query() {
  curl -s --max-time 5 "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" |
    python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)["data"]["result"]
    print(r[0]["value"][1] if r else "none")
except Exception:
    print("none")'
}
value=none
T0=$SECONDS
for _ in $(seq 1 40); do
  value=$(query 'weft_http_requests_total{route="/hello",code_class="2xx"}')
  [ "$value" != none ] && break
  sleep 0.25
done
echo "Prometheus had the value after $((SECONDS - T0)) s"
check "Prometheus read weft_http_requests_total back" "$value" 4
check "the scrape was up (the token was accepted)" "$(query 'up{job="weft"}')" 1
[ "$value" == 4 ] || tail -n 20 "$WORK/prometheus.log" >&2
kill -TERM "$PROM_PID"
wait "$PROM_PID" 2>/dev/null
stop_weft
check "weft up stopped cleanly" "$STOP_RC" 0
finish
