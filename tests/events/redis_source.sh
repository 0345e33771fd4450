#!/usr/bin/env bash
# A broker source of Redis channel messages ([[source]] type = "redis") and weft.toml's
# [[redis_trigger]], with a redis-server of the test's own that requires a password:
# a message PUBLISHed with redis-cli becomes a CloudEvent in the broker that a trigger
# delivers to a sink, with the attributes TriggerMesh's sources give (type, source
# without the credentials, subject the channel, a fresh id, the time), or those the
# source sets (type, source, datacontenttype); a channel name with a space and a '%'
# arrives intact (one subscription holds a trigger's channel and a source's of the same
# address); a [[redis_trigger]] calls a WASI module with the message on stdin; the
# password appears in no log line; a [[source]] of an unknown type or broker is refused;
# /_weft/metrics counts a trigger's messages by outcome (handled, failed) and a source's
# events by result (ingested, refused: one larger than the broker's max_event_size).
source "$(dirname "$0")/ev.bash"
source "$TESTS_DIR/store/redis_server.bash"
trap 'stop_redis; cleanup_sinks' EXIT
REDIS_ARGS=(--requirepass 's3cret')
start_redis
cli() { redis-cli --no-auth-warning -a s3cret -p "$REDIS_PORT" "$@"; }

DIR=$WORK/app
mkdir -p "$DIR"
start_sink plain
PLAIN_LOG=$SINK_LOG
{
  printf '[[broker]]\nname = "default"\nmax_event_size = "64KiB"\n\n'
  printf '[[target]]\nname = "plain"\nurl = "%s"\n\n' "$SINK_URL"
  start_sink typed
  printf '[[target]]\nname = "typed"\nurl = "%s"\n\n' "$SINK_URL"
  printf '[[trigger]]\nbroker = "default"\ntarget = "plain"\n'
  printf 'filters = [{ exact = { type = "io.redis.pubsub.message" } }]\n\n'
  printf '[[trigger]]\nbroker = "default"\ntarget = "typed"\n'
  printf 'filters = [{ exact = { type = "com.example.order" } }]\n\n'
  printf '[[function]]\nname = "direct"\nsource = "%s"\n\n' "$GUESTS/redis_stdin.wasm"
  printf '[[redis_trigger]]\naddress = "redis://:s3cret@127.0.0.1:%s"\nchannel = "direct"\nfunction = "direct"\n\n' "$REDIS_PORT"
  printf '[[source]]\ntype = "redis"\naddress = "redis://weft:s3cret@127.0.0.1:%s/3"\nchannel = "orders"\nbroker = "default"\n\n' "$REDIS_PORT"
  printf '[[source]]\ntype = "redis"\naddress = "redis://:s3cret@127.0.0.1:%s"\nchannel = "odd chan%%"\nbroker = "default"\n\n' "$REDIS_PORT"
  printf '[[source]]\ntype = "redis"\naddress = "redis+unix://:s3cret@%s"\nchannel = "typed"\nbroker = "default"\n' "$REDIS_SOCK"
  printf 'event_type = "com.example.order"\nevent_source = "shop/orders"\ncontent_type = "application/json"\n'
} >"$DIR/weft.toml"
TYPED_LOG=$SINK_LOG
# The user "weft" has no ACL of its own: Redis's default user takes the password.
cli ACL SETUSER weft on '>s3cret' '~*' '&*' '+@all' >/dev/null
start_weft "$DIR" || { fail "weft up did not start"; finish; exit 1; }
LOG=$DIR/log
log_check "one subscription for a trigger and a source of one address" "$LOG" "redis 127.0.0.1:$REDIS_PORT: subscribed to 2 channels (direct, ...)"
log_check "another for another address" "$LOG" "redis 127.0.0.1:$REDIS_PORT: subscribed to 1 channel (orders)"
log_check "over the socket" "$LOG" "redis $REDIS_SOCK: subscribed to 1 channel (typed)"

check "PUBLISH orders reaches weft" "$(cli PUBLISH orders 'order 1')" 1
wait_lines "$PLAIN_LOG" 1 5 || fail "the sink got nothing: $(tail -5 "$LOG")"
# One Python run for every attribute (each start costs): "name=value" lines of event 1.
ATTRS=$(field "$PLAIN_LOG" '"\n".join("%s=%s" % (k, r["headers"].get(k, "-")) for k in ("ce-type", "ce-source", "ce-subject", "ce-specversion", "content-type")) + "\nid-len=%d\ntime=%s\nbody=%s" % (len(r["headers"].get("ce-id", "")), r["headers"].get("ce-time", "-")[:11], r["body"])')
attr() { sed -n "s/^$1=//p" <<<"$ATTRS"; }
check "type" "$(attr ce-type)" "io.redis.pubsub.message"
check "source: the address without its credentials" "$(attr ce-source)" "redis://127.0.0.1:$REDIS_PORT/3"
check "subject: the channel" "$(attr ce-subject)" orders
check "specversion" "$(attr ce-specversion)" 1.0
check "id: a UUID" "$(attr id-len)" 36
check "time: now, in UTC" "$(attr time)" "$(date -u +%Y-%m-%dT)"
check "no datacontenttype" "$(attr content-type)" -
check "data: the message" "$(attr body)" "order 1"

cli PUBLISH 'odd chan%' 'x' >/dev/null
wait_lines "$PLAIN_LOG" 2 5 || fail "the odd channel's event did not come"
# The HTTP binding percent-encodes the header on the way out: decoded, it is the name.
check "a channel with a space and a '%' is the subject intact" "$(field "$PLAIN_LOG" '__import__("urllib.parse").parse.unquote(r["headers"].get("ce-subject"))' | tail -1)" "odd chan%"

redis-cli -s "$REDIS_SOCK" --no-auth-warning -a s3cret PUBLISH typed '{"n":1}' >/dev/null
wait_lines "$TYPED_LOG" 1 5 || fail "the typed sink got nothing: $(tail -5 "$LOG")"
ATTRS=$(field "$TYPED_LOG" '"\n".join("%s=%s" % (k, r["headers"].get(k, "-")) for k in ("ce-type", "ce-source", "content-type")) + "\nbody=" + r["body"]')
check "the source's type" "$(attr ce-type)" com.example.order
check "the source's source" "$(attr ce-source)" shop/orders
check "the source's content type" "$(attr content-type)" application/json
check "its data" "$(attr body)" '{"n":1}'
check "each event went to its own trigger" "$(lines "$PLAIN_LOG")" 2

get /_weft/describe
check "describe lists the Redis trigger, without the password" \
  "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print([(t["address"], t["channel"], t["function"]) for t in d["redis_triggers"]], [(s["address"], s["channel"], s["broker"], s["event_type"]) for s in d["sources"]][0])' <<<"$BODY")" \
  "[('redis://127.0.0.1:$REDIS_PORT', 'direct', 'direct')] ('redis://127.0.0.1:$REDIS_PORT/3', 'orders', 'default', 'io.redis.pubsub.message')"

cli PUBLISH direct 'to a function' >/dev/null
log_check "[[redis_trigger]]: the WASI module got it" "$LOG" "wasi-redis got [to a function] on direct"

# The counts: a message the module fails (it exits 3 on "fail"), an event the broker
# refuses (larger than its max_event_size of 64 KiB).
cli PUBLISH direct fail >/dev/null
cli PUBLISH orders "$(head -c 70000 /dev/zero | tr '\0' x)" >/dev/null
log_check "the event too large is refused" "$LOG" "broker default refused the event: 413"
metric() {
  get /_weft/metrics
  printf '%s\n' "$BODY" | awk -v want="$1" '{ v = $NF; n = substr($0, 1, length($0) - length(v) - 1) }
    n == want { print v; f = 1 } END { if (!f) print "absent" }'
}
for _ in $(seq 1 50); do
  [ "$(metric 'weft_redis_trigger_messages_total{function="direct",channel="direct",outcome="failed"}')" == 1 ] && break
  sleep 0.1
done
check "metrics: the trigger's message handled" \
  "$(metric 'weft_redis_trigger_messages_total{function="direct",channel="direct",outcome="handled"}')" 1
check "metrics: the trigger's message failed" \
  "$(metric 'weft_redis_trigger_messages_total{function="direct",channel="direct",outcome="failed"}')" 1
check "metrics: the source's events ingested" \
  "$(metric 'weft_redis_source_events_total{broker="default",channel="orders",result="ingested"}')" 1
check "metrics: the source's event refused" \
  "$(metric 'weft_redis_source_events_total{broker="default",channel="orders",result="refused"}')" 1
check "metrics: the typed source's" \
  "$(metric 'weft_redis_source_events_total{broker="default",channel="typed",result="ingested"}')/$(metric 'weft_redis_source_events_total{broker="default",channel="typed",result="refused"}')" 1/0
stop_weft
check "weft up stops cleanly" "$STOP_RC" 0
if grep -q s3cret "$LOG" "$DIR/out"; then fail "the password in the log: $(grep s3cret "$LOG" | head -2)"; else pass; fi

# ---- refused -------------------------------------------------------------------------------
printf '[[broker]]\nname = "b"\n[[source]]\ntype = "kafka"\naddress = "x"\n' >"$DIR/weft.toml"
run "$WEFT" up -c "$DIR/weft.toml" --listen 127.0.0.1:0 -q
check_contains "an unknown type" "$ERR" "weft.toml:4: [[source]]: type 'kafka' is not one weft has"
printf '[[broker]]\nname = "b"\n[[source]]\ntype = "redis"\naddress = "redis://h"\nchannel = "c"\nbroker = "nope"\n' >"$DIR/weft.toml"
run "$WEFT" up -c "$DIR/weft.toml" --listen 127.0.0.1:0 -q
check_contains "an unknown broker" "$ERR" "[[source]]: no [[broker]] is named 'nope'"
finish
