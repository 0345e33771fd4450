#!/usr/bin/env bash
# Delivery as Knative's data-plane spec says: which statuses are retried and which are
# not, linear and exponential backoff, Retry-After (capped by retry_after_max), the dead
# letter and its knativeerror* attributes, the reply loop stopped by knativebrokerttl,
# and a slow target that delays no other trigger.
source "$(dirname "$0")/ev.bash"

DIR=$WORK/app
mkdir -p "$DIR"
retryable=(404 408 409 429 500 503)
final=(400 401 403 413 422)
start_sink dls
DLS=$SINK_URL
{
  printf '[[broker]]\nname = "b"\n\n[[target]]\nname = "dls"\nurl = "%s"\n\n' "$DLS"
  for s in "${retryable[@]}"; do
    start_sink "r$s" --status "$s,$s,200"
    printf '[[target]]\nname = "r%s"\nurl = "%s"\n' "$s" "$SINK_URL"
    printf '[[trigger]]\nbroker = "b"\ntarget = "r%s"\nfilters = [{ exact = { type = "r%s" } }]\n' "$s" "$s"
    printf 'delivery = { retry = 3, backoff_policy = "linear", backoff_delay = "20ms", dead_letter = "dls" }\n\n'
  done
  for s in "${final[@]}"; do
    start_sink "f$s" --status "$s"
    printf '[[target]]\nname = "f%s"\nurl = "%s"\n' "$s" "$SINK_URL"
    printf '[[trigger]]\nbroker = "b"\ntarget = "f%s"\nfilters = [{ exact = { type = "f%s" } }]\n' "$s" "$s"
    printf 'delivery = { retry = 3, backoff_delay = "20ms", dead_letter = "dls" }\n\n'
  done
  start_sink gone --status 400
  printf '[[target]]\nname = "gone"\nurl = "%s"\n' "$SINK_URL"
  printf '[[trigger]]\nname = "no-dls"\nbroker = "b"\ntarget = "gone"\nfilters = [{ exact = { type = "gone" } }]\n\n'
  start_sink lin --status 500,500,500,200
  printf '[[target]]\nname = "lin"\nurl = "%s"\n' "$SINK_URL"
  printf '[[trigger]]\nbroker = "b"\ntarget = "lin"\nfilters = [{ exact = { type = "lin" } }]\n'
  printf 'delivery = { retry = 3, backoff_policy = "linear", backoff_delay = "150ms" }\n\n'
  start_sink exp --status 500,500,500,200
  printf '[[target]]\nname = "exp"\nurl = "%s"\n' "$SINK_URL"
  printf '[[trigger]]\nbroker = "b"\ntarget = "exp"\nfilters = [{ exact = { type = "exp" } }]\n'
  printf 'delivery = { retry = 3, backoff_policy = "exponential", backoff_delay = "100ms" }\n\n'
  start_sink ra --status 429,200 --retry-after 1
  printf '[[target]]\nname = "ra"\nurl = "%s"\n' "$SINK_URL"
  printf '[[trigger]]\nbroker = "b"\ntarget = "ra"\nfilters = [{ exact = { type = "ra" } }]\n'
  printf 'delivery = { retry = 2, backoff_delay = "10ms" }\n\n'
  start_sink racap --status 503,200 --retry-after 5
  printf '[[target]]\nname = "racap"\nurl = "%s"\n' "$SINK_URL"
  printf '[[trigger]]\nbroker = "b"\ntarget = "racap"\nfilters = [{ exact = { type = "racap" } }]\n'
  printf 'delivery = { retry = 2, backoff_delay = "10ms", retry_after_max = "300ms" }\n\n'
  start_sink loop --reply-type loop
  printf '[[target]]\nname = "loop"\nurl = "%s"\n' "$SINK_URL"
  printf '[[trigger]]\nbroker = "b"\ntarget = "loop"\nfilters = [{ exact = { type = "loop" } }]\n'
  printf 'delivery = { dead_letter = "dls" }\n\n'
  start_sink slow --delay 3
  printf '[[target]]\nname = "slow"\nurl = "%s"\n' "$SINK_URL"
  printf '[[trigger]]\nbroker = "b"\ntarget = "slow"\nfilters = [{ prefix = { type = "iso" } }]\n'
  printf 'delivery = { parallelism = 2, timeout = "10s" }\n\n'
  start_sink fast
  printf '[[target]]\nname = "fast"\nurl = "%s"\n' "$SINK_URL"
  printf '[[trigger]]\nbroker = "b"\ntarget = "fast"\nfilters = [{ prefix = { type = "iso" } }]\n\n'
} >"$DIR/weft.toml"
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }

for s in "${retryable[@]}"; do send b "r$s" "r$s"; done
for s in "${final[@]}"; do send b "f$s" "f$s"; done
send b gone gone
send b lin lin
send b exp exp
send b ra ra
send b racap racap
send b loop loop '{}' -H 'ce-knativebrokerttl: 3'
for i in $(seq 1 20); do send b "iso$i" iso; done
check "the last event accepted" "$STATUS" 202

# Isolation: the fast sink has all 20 while the slow one (3 s an answer, 2 at a time)
# has at most 2 answered.
wait_lines "$WORK/fast.log" 20 10
check "a slow target delays no other trigger: fast sink" "$(lines "$WORK/fast.log")" 20
[ "$(lines "$WORK/slow.log")" -le 4 ] && pass || fail "the slow sink got $(lines "$WORK/slow.log") already"

for s in "${retryable[@]}"; do
  wait_lines "$WORK/r$s.log" 3 10
  check "status $s is retried" "$(lines "$WORK/r$s.log")" 3
done
wait_lines "$WORK/dls.log" 6 15
for s in "${final[@]}"; do
  check "status $s is not retried" "$(lines "$WORK/f$s.log")" 1
  d=$(grep "\"ce-id\": \"f$s\"" "$WORK/dls.log")
  check "status $s: dead-lettered" "$(field <(echo "$d") 'r["headers"].get("ce-knativeerrorcode")')" "$s"
  check "status $s: knativeerrordest" "$(field <(echo "$d") 'r["headers"].get("ce-knativeerrordest")')" \
    "http://127.0.0.1:$(cat "$WORK/f$s.port")/"
  check "status $s: knativeerrordata" \
    "$(field <(echo "$d") 'r["headers"].get("ce-knativeerrordata")' | base64 -d)" "sink says no"
done
for s in "${retryable[@]}"; do
  check "status $s: delivered in the end, no dead letter" "$(grep -c "\"ce-id\": \"r$s\"" "$WORK/dls.log")" 0
done

# Without a dead letter, an event given up is logged with broker, trigger, id and why.
for _ in $(seq 1 100); do grep -q "given up" "$DIR/log" && break; sleep 0.1; done
check_contains "given up: logged with broker, trigger, id and why" "$(grep 'given up' "$DIR/log")" \
  "broker b, trigger no-dls: event id 'gone' (source 'test') given up: http://127.0.0.1:$(cat "$WORK/gone.port")/"

# gaps LOG MS...: "ok" when the gaps between the sink's requests are the delays given,
# in ms: never shorter (5% for clocks), and later by at most 250 ms, what a busy machine
# may add to a retry (a gap is measured between two requests, so a late first request
# makes it shorter: the bound is on each gap, not on ratios to the first); else the
# gaps measured.
gaps() {
  python3 -c '
import json, sys
t = [json.loads(l)["t"] for l in open(sys.argv[1])]
g = [(b - a) * 1000 for a, b in zip(t, t[1:])]
want = [float(x) for x in sys.argv[2:]]
ok = len(g) == len(want) and all(w * 0.95 <= x <= w + 250 for x, w in zip(g, want))
print("ok" if ok else "gaps " + " ".join("%.0f" % x for x in g) + " ms")' "$@"
}
wait_lines "$WORK/lin.log" 4 10
wait_lines "$WORK/exp.log" 4 10
check "linear backoff: delay x1, x2, x3 (150 ms)" "$(gaps "$WORK/lin.log" 150 300 450)" ok
check "exponential backoff: delay x2^n (100 ms)" "$(gaps "$WORK/exp.log" 200 400 800)" ok

wait_lines "$WORK/ra.log" 2 10
wait_lines "$WORK/racap.log" 2 10
span() { python3 -c '
import json, sys
t = [json.loads(l)["t"] for l in open(sys.argv[1])]
print(int((t[1] - t[0]) * 1000))' "$1"; }
ra=$(span "$WORK/ra.log")
[ "$ra" -ge 900 ] && [ "$ra" -le 3000 ] && pass || fail "Retry-After: 1 waited ${ra} ms"
racap=$(span "$WORK/racap.log")
[ "$racap" -ge 250 ] && [ "$racap" -le 2000 ] && pass ||
  fail "Retry-After: 5 capped by retry_after_max 300ms waited ${racap} ms"

# The reply loop: ttl 3, 2, 1 delivered; the reply at 0 goes to the dead letter.
wait_lines "$WORK/loop.log" 3 10
sleep 0.5
check "a reply loop stops: deliveries" "$(lines "$WORK/loop.log")" 3
check "with TTLs 3 2 1" "$(field "$WORK/loop.log" 'r["headers"].get("ce-knativebrokerttl")' | tr '\n' ' ')" "3 2 1 "
check "the reply at TTL 0 is dead-lettered" \
  "$(grep -c '"ce-type": "loop"' "$WORK/dls.log")" 1
stop_weft
finish
