#!/usr/bin/env bash
# GET /_weft/metrics: the Prometheus text exposition format 0.0.4, behind the token of
# weft's own endpoints. After known traffic the counters that must be exact are: HTTP
# requests by route and status class (404s under route "(unmatched)"), guest outcomes
# (a non-zero exit, a trap by its kind, returns), a broker's events ingested and a
# trigger's deliveries. promtool (Debian's prometheus) accepts the exposition.
source "$(dirname "$0")/ops.bash"

TOKEN=ops-secret
DIR=$WORK/app
mkdir -p "$DIR"
cat >"$DIR/weft.toml" <<TOML
[server]
token = "$TOKEN"

[[function]]
name = "hello"
source = "$GUESTS/gw_hello.wasm"
route = "/hello"

[[function]]
name = "cgi"
source = "$GUESTS/gw_cgi.wasm"
route = "/cgi/..."

[[broker]]
name = "orders"

[[trigger]]
name = "to-hello"
broker = "orders"
target = "hello"
TOML
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }

get /_weft/metrics
check "without the token: 401" "$STATUS" 401
scrape
check "with it: 200" "$STATUS" 200
check_contains "the exposition format's content type" "$HEADERS" \
  "content-type: text/plain; version=0.0.4; charset=utf-8"
check "every outcome is listed before it happens" \
  "$(series "$METRICS" 'weft_guest_outcomes_total{outcome="memory_limit"}')" 0
check "ready" "$(series "$METRICS" 'weft_ready')" 1

for _ in 1 2 3; do get /hello; done
check "hello answers" "$STATUS" 200
get /cgi/exit3
get /cgi/exit3
check "exit 3: 500" "$STATUS" 500
get /cgi/trap
check "a trap: 500" "$STATUS" 500
get /nowhere
check "no route: 404" "$STATUS" 404
for id in 1 2; do
  get /brokers/orders -X POST -H "Authorization: Bearer $TOKEN" -H 'ce-specversion: 1.0' \
    -H "ce-id: $id" -H 'ce-source: ops' -H 'ce-type: ops.test' -d x
done
check "an event: 202" "$STATUS" 202

wait_series 'weft_trigger_deliveries_delivered_total{broker="orders",trigger="to-hello"}' 2 ||
  fail "the trigger did not deliver both events"
wait_series 'weft_http_requests_total{route="(unmatched)",code_class="4xx"}' 1 ||
  fail "the 404 was not counted"
# The position moves once the delivery is acknowledged, a moment after it is counted.
wait_series 'weft_trigger_lag{broker="orders",trigger="to-hello"}' 0 && pass ||
  fail "lag: not 0 once both events were delivered: $(series "$METRICS" 'weft_trigger_lag{broker="orders",trigger="to-hello"}')"
check "/hello 2xx" "$(series "$METRICS" 'weft_http_requests_total{route="/hello",code_class="2xx"}')" 3
check "/hello 5xx" "$(series "$METRICS" 'weft_http_requests_total{route="/hello",code_class="5xx"}')" 0
check "/cgi/... 5xx" "$(series "$METRICS" 'weft_http_requests_total{route="/cgi/...",code_class="5xx"}')" 3
check "/brokers/orders 2xx" \
  "$(series "$METRICS" 'weft_http_requests_total{route="/brokers/orders",code_class="2xx"}')" 2
check "/hello's durations counted" \
  "$(series "$METRICS" 'weft_http_request_duration_seconds_count{route="/hello"}')" 3
check "/hello's +Inf bucket holds them all" \
  "$(series "$METRICS" 'weft_http_request_duration_seconds_bucket{route="/hello",le="+Inf"}')" 3
check "exit_nonzero" "$(series "$METRICS" 'weft_guest_outcomes_total{outcome="exit_nonzero"}')" 2
check "the trap, by its kind" "$(series "$METRICS" 'weft_guest_outcomes_total{outcome="unreachable"}')" 1
check "returned: 3 requests and 2 deliveries" \
  "$(series "$METRICS" 'weft_guest_outcomes_total{outcome="returned"}')" 5
check "no deadline" "$(series "$METRICS" 'weft_guest_outcomes_total{outcome="deadline"}')" 0
started=$(series "$METRICS" 'weft_guest_instances_started_total')
# A trial on an I/O thread that runs over its budget starts a second instance.
((started >= 8)) && pass || fail "instances started: $started, expected at least 8"
check "ingested" "$(series "$METRICS" 'weft_broker_events_ingested_total{broker="orders"}')" 2
check "rejected" "$(series "$METRICS" 'weft_broker_events_rejected_total{broker="orders"}')" 0
check "dropped" \
  "$(series "$METRICS" 'weft_trigger_deliveries_dropped_total{broker="orders",trigger="to-hello"}')" 0
check "delivery durations" \
  "$(series "$METRICS" 'weft_trigger_delivery_duration_seconds_count{broker="orders",trigger="to-hello"}')" 2
check "compiles counted" "$(series "$METRICS" 'weft_compile_cache_total{result="hit"}' | grep -c '^[0-9]')" 1

if command -v promtool >/dev/null; then
  printf '%s\n' "$METRICS" >"$WORK/metrics.txt"
  out=$(promtool check metrics <"$WORK/metrics.txt" 2>&1)
  check "promtool check metrics accepts the exposition" "$?:$out" "0:"
else
  echo "promtool not installed (Debian package prometheus): its check is left out"
fi
stop_weft
check "weft up stopped cleanly" "$STOP_RC" 0
finish
