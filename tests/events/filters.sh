#!/usr/bin/env bash
# Every filter dialect of Knative's subscriptions API and CESQL, through triggers: each
# trigger delivers to a sink of its own, and each sink must get exactly the events its
# filter lets through.
source "$(dirname "$0")/ev.bash"

DIR=$WORK/app
mkdir -p "$DIR"
names=(exact prefix suffix all any not cesql none)
{
  echo '[[broker]]'
  echo 'name = "b"'
  for n in "${names[@]}"; do
    start_sink "$n"
    printf '[[target]]\nname = "%s"\nurl = "%s"\n' "$n" "$SINK_URL"
  done
  cat <<'T'
[[trigger]]
name = "t-exact"
broker = "b"
target = "exact"
filters = [{ exact = { type = "order.created", subject = "s1" } }]

[[trigger]]
name = "t-prefix"
broker = "b"
target = "prefix"
filters = [{ prefix = { type = "order." } }]

[[trigger]]
name = "t-suffix"
broker = "b"
target = "suffix"
filters = [{ suffix = { type = ".deleted" } }]

[[trigger]]
name = "t-all"
broker = "b"
target = "all"
filters = [{ all = [{ prefix = { type = "order." } }, { exact = { subject = "s2" } }] }]

[[trigger]]
name = "t-any"
broker = "b"
target = "any"
filters = [{ any = [{ exact = { type = "user.created" } }, { suffix = { type = ".deleted" } }] }]

[[trigger]]
name = "t-not"
broker = "b"
target = "not"
filters = [{ not = { prefix = { type = "order." } } }]

[[trigger]]
name = "t-cesql"
broker = "b"
target = "cesql"
filters = [{ cesql = "type LIKE 'order.%' AND EXISTS subject AND INT(amount) > 10" }]

[[trigger]]
name = "t-none"
broker = "b"
target = "none"
T
} >"$DIR/weft.toml"
start_weft "$DIR" || { fail "weft up did not start"; finish; exit; }

# id type subject amount
events=(
  "1 order.created s1 5"
  "2 order.created s2 50"
  "3 order.deleted s1 20"
  "4 user.created s1 x"
  "5 user.deleted - 99"
  "6 order.paid s3 x"
)
for e in "${events[@]}"; do
  read -r id type subject amount <<<"$e"
  args=(-H "ce-amount: $amount")
  [ "$subject" != - ] && args+=(-H "ce-subject: $subject")
  send b "$id" "$type" '{}' "${args[@]}"
  check "event $id accepted" "$STATUS" 202
done

declare -A want=(
  [exact]="1" [prefix]="1 2 3 6" [suffix]="3 5" [all]="2" [any]="3 4 5" [not]="4 5"
  [cesql]="2 3" [none]="1 2 3 4 5 6"
)
for n in "${names[@]}"; do
  expect=${want[$n]}
  wait_lines "$WORK/$n.log" "$(wc -w <<<"$expect")" 10
done
sleep 0.5 # anything extra would have arrived by now
for n in "${names[@]}"; do
  got=$(field "$WORK/$n.log" 'r["headers"]["ce-id"]' | sort -n | tr '\n' ' ')
  check "filter $n" "$got" "${want[$n]} "
done
# The CESQL expression raised a cast error on event 6 (INT('x')): logged once.
check "the CESQL error is logged once" "$(grep -c 'cast' "$DIR/log")" 1
stop_weft
finish
