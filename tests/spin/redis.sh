#!/bin/bash
# Spin's Redis trigger under `weft up -c spin.toml`, with a redis-server of the test's
# own: a manifest of version 2 ([application.trigger.redis]'s default address, a
# trigger's own address over the Unix socket, a channel from a variable, an HTTP trigger
# beside them) with a Spin 1 Redis handler (tests/guests/spin_redis.c: the canonical ABI
# by hand) and a plain WASI module (tests/guests/redis_stdin.c: the message on stdin):
# messages PUBLISHed with redis-cli reach each guest, err(error) and a trap are logged,
# err(success) is not; Redis restarted: the subscription comes back and messages flow
# again; the manifest edited: the subscriptions kept while the channels stay the same,
# the new channel subscribed and the old one no more when they change.
# Then the same handler under a manifest of version 1, and a trigger without an address.
source "$(dirname "$0")/../gateway/gw.bash"
source "$TESTS_DIR/store/redis_server.bash"
trap 'stop_redis; cleanup_servers' EXIT
start_redis

DIR="$WORK/app"
mkdir -p "$DIR"
cp "$GUESTS/spin_redis.wasm" "$GUESTS/redis_stdin.wasm" "$DIR/"
write_v2() {
  cat >"$DIR/spin.toml" <<TOML
spin_manifest_version = 2

[application]
name = "redis-e2e"

[application.trigger.redis]
address = "redis://127.0.0.1:{{ port }}"

[variables]
port = { default = "$REDIS_PORT" }
chan = { default = "$1" }

[[trigger.redis]]
channel = "{{ chan }}"
component = "handler"

[[trigger.redis]]
address = "redis+unix://$REDIS_SOCK"
channel = "stdin"
component = { source = "redis_stdin.wasm" }

[[trigger.http]]
route = "/hello"
static_response = { body = "${2:-hi}" }

[component.handler]
source = "spin_redis.wasm"
TOML
}
write_v2 messages
start_weft "$DIR" -c spin.toml || { fail "weft up did not start"; finish; exit 1; }
LOG=$DIR/log
check_contains "the channels are listed" "$(cat "$DIR/out")" "redis  redis://127.0.0.1:$REDIS_PORT messages"
log_check "subscribed over TCP" "$LOG" "redis 127.0.0.1:$REDIS_PORT: subscribed to 1 channel (messages)"
log_check "subscribed over the socket" "$LOG" "redis $REDIS_SOCK: subscribed to 1 channel (stdin)"
get /hello
check "the HTTP trigger beside them" "$BODY" hi

check "PUBLISH reaches one subscriber" "$(redis-cli -p "$REDIS_PORT" PUBLISH messages 'hello spin')" 1
log_check "the Spin handler got it" "$LOG" "spin-redis got [hello spin] (10 bytes)"
redis-cli -s "$REDIS_SOCK" PUBLISH stdin 'hello wasi' >/dev/null
log_check "the WASI module got it on stdin" "$LOG" "wasi-redis got [hello wasi] on stdin"
redis-cli -p "$REDIS_PORT" PUBLISH messages fail >/dev/null
log_check "err(error) is logged" "$LOG" "handler (redis messages): handle-redis-message returned an error"
redis-cli -p "$REDIS_PORT" PUBLISH messages trap >/dev/null
log_check "a trap is logged" "$LOG" "handler (redis messages): trap: "
redis-cli -p "$REDIS_PORT" PUBLISH messages badret >/dev/null
log_check "a record out of bounds is refused" "$LOG" "handle-redis-message returned a record out of memory bounds"
redis-cli -s "$REDIS_SOCK" PUBLISH stdin fail >/dev/null
log_check "a non-zero exit is logged (an inline component named as Spin names it)" "$LOG" "redis-trigger1-component (redis stdin): exited with status 3"
redis-cli -p "$REDIS_PORT" PUBLISH messages success >/dev/null
redis-cli -p "$REDIS_PORT" PUBLISH messages after >/dev/null
log_check "the handler goes on after each" "$LOG" "spin-redis got [after]"
n=$(grep -c "returned an error" "$LOG")
check "err(success) is not an error (as Spin counts it)" "$n" 1

# ---- Redis restarts ------------------------------------------------------------------------
stop_redis
log_check "the loss is logged" "$LOG" "redis 127.0.0.1:$REDIS_PORT: subscription lost"
start_redis
log_check "the subscription comes back" "$LOG" "redis 127.0.0.1:$REDIS_PORT: subscribed again"
log_check "over the socket too" "$LOG" "redis $REDIS_SOCK: subscribed again"
check "PUBLISH after the restart reaches it" "$(redis-cli -p "$REDIS_PORT" PUBLISH messages back)" 1
log_check "the handler got it" "$LOG" "spin-redis got [back]"

# ---- reload ------------------------------------------------------------------------------------
# The same channels: the subscriptions are kept (not made again) and serve the new app.
sleep 1.1 # a new modification time for the watcher
write_v2 messages bye
log_check "reloaded, the subscriptions kept" "$LOG" "the Redis subscriptions are kept" 10
get /hello
check "the new app serves" "$BODY" bye
check "not subscribed again" "$(grep -c 'subscribed to 1 channel (messages)' "$LOG")" 1
check "a message after the reload" "$(redis-cli -p "$REDIS_PORT" PUBLISH messages kept)" 1
log_check "reaches the handler" "$LOG" "spin-redis got [kept]"
# Another channel: subscribed anew, the old one no more.
sleep 1.1
write_v2 renamed
for _ in $(seq 200); do [ "$(grep -c 'reloaded in' "$LOG")" -ge 2 ] && break; sleep 0.05; done
check "reloaded a second time" "$(grep -c 'reloaded in' "$LOG")" 2
log_check "the new channel is subscribed" "$LOG" "subscribed to 1 channel (renamed)"
check "the old channel has no subscriber" "$(redis-cli -p "$REDIS_PORT" PUBLISH messages old)" 0
check "the new one has one" "$(redis-cli -p "$REDIS_PORT" PUBLISH renamed new)" 1
log_check "the handler got it" "$LOG" "spin-redis got [new]"
stop_weft
check "weft up stops cleanly" "$STOP_RC" 0

# ---- version 1 ---------------------------------------------------------------------------------
cat >"$DIR/spin.toml" <<TOML
spin_manifest_version = "1"
name = "redis-v1"
trigger = { type = "redis", address = "redis://127.0.0.1:$REDIS_PORT" }

[[component]]
id = "on_message"
source = "spin_redis.wasm"
[component.trigger]
channel = "v1-channel"
TOML
start_weft "$DIR" -c spin.toml || { fail "weft up (v1) did not start"; finish; exit 1; }
log_check "v1: subscribed" "$DIR/log" "subscribed to 1 channel (v1-channel)"
redis-cli -p "$REDIS_PORT" PUBLISH v1-channel 'from v1' >/dev/null
log_check "v1: the handler got it" "$DIR/log" "on-message (redis v1-channel): spin-redis got [from v1]"
stop_weft

# ---- refused -----------------------------------------------------------------------------------
cat >"$DIR/spin.toml" <<TOML
spin_manifest_version = 2
[application]
name = "no-address"
[[trigger.redis]]
channel = "c"
component = "handler"
[component.handler]
source = "spin_redis.wasm"
TOML
run "$WEFT" up -c "$DIR/spin.toml" --listen 127.0.0.1:0 -q
check "no address: refused" "$RC" 1
check_contains "no address: says what is missing" "$ERR" "[application.trigger.redis] address"
finish
