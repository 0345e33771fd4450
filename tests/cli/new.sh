#!/usr/bin/env bash
# weft new: each template, in a clean folder, becomes a project that `weft build` builds
# and `weft up` serves as its README says: http-c greets on every path, wagi-c shows its
# query items as arguments, its environment and its read-only folder, event-c answers an
# event of its broker with a reply event stored in the broker. The project's name is
# substituted everywhere. --list names every template; an unknown template, a bad name
# and a missing argument are usage errors (2); an existing folder is refused (1) with
# nothing written into it.
source "$(dirname "$0")/../gateway/gw.bash"

command -v clang >/dev/null || skip "no clang (Debian package clang)"
printf 'int main(void){return 0;}' >"$WORK/probe.c"
clang --target=wasm32-wasi -O2 "$WORK/probe.c" -o "$WORK/probe.wasm" 2>/dev/null ||
  skip "clang cannot build for wasm32-wasi (Debian packages wasi-libc, lld, libclang-rt-dev-wasm32)"
# weft new and weft build as a user runs them: `weft` on PATH, from any folder.
mkdir -p "$WORK/bin"
ln -s "$WEFT" "$WORK/bin/weft"
export PATH="$WORK/bin:$PATH"

# ---- --list ---------------------------------------------------------------------------
run weft new --list
check "--list: status" "$RC" 0
for t in http-c event-c wagi-c; do
  check_contains "--list names $t" "$OUT" "$t "
done
check "--list: one line a template" "$(wc -l <<<"$OUT")" 3

# new TEMPLATE NAME: creates NAME in a clean folder, builds it, starts it; sets DIR.
new_project() {
  local template=$1 name=$2
  mkdir -p "$WORK/$template"
  cd "$WORK/$template" || exit 1
  run weft new "$template" "$name"
  check "$template: status" "$RC" 0
  check_contains "$template: says what it made" "$OUT" "$name/weft.toml"
  DIR=$WORK/$template/$name
  for f in weft.toml src/main.c .gitignore README.md; do
    [ -f "$DIR/$f" ] && pass || fail "$template: no $f"
  done
  check "$template: no placeholder left" "$(grep -rl '{{' "$DIR")" ""
  check_contains "$template: the name substituted" "$(cat "$DIR/weft.toml")" "source = \"$name.wasm\""
  check_contains "$template: .gitignore" "$(cat "$DIR/.gitignore")" "*.wasm"
  check_contains "$template: .gitignore" "$(cat "$DIR/.gitignore")" ".weft/"
  cd "$DIR" || exit 1
  run weft build
  check "$template: weft build: status" "$RC" 0
  check_contains "$template: weft build says what it runs" "$OUT" \
    "Building $name: clang --target=wasm32-wasi -O2 src/main.c -o $name.wasm"
  [ -s "$DIR/$name.wasm" ] && pass || fail "$template: weft build made no $name.wasm"
  start_weft "$DIR" || { fail "$template: weft up did not start"; return 1; }
  check "$template: the address file" "$(cat "$DIR/.weft/address")" "$URL"
}

# ---- http-c ----------------------------------------------------------------------------
if new_project http-c hello; then
  get /some/path
  check "http-c: status" "$STATUS" 200
  check "http-c: the greeting" "$BODY" $'Hello from hello!\nYou asked for /some/path'
  check_contains "http-c: text/plain" "$HEADERS" "content-type: text/plain"
  stop_weft
  check "http-c: clean exit" "$STOP_RC" 0
fi

# ---- wagi-c ----------------------------------------------------------------------------
if new_project wagi-c my-wagi; then
  get '/greet?one&two'
  check "wagi-c: status" "$STATUS" 200
  check "wagi-c: argv, environment and the read-only folder" "$BODY" \
    "Hello from my-wagi (GET /greet)
argument 1: one
argument 2: two
This line comes from static/motd.txt, mounted read-only at /static."
  stop_weft
  check "wagi-c: clean exit" "$STOP_RC" 0
fi

# ---- event-c ---------------------------------------------------------------------------
if new_project event-c greeter; then
  curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$URL/brokers/events" \
    -H 'ce-specversion: 1.0' -H 'ce-id: req-1' -H 'ce-source: test' \
    -H 'ce-type: greeting.request' -H 'content-type: application/json' \
    --data-binary '{"name":"world"}' >"$WORK/status"
  check "event-c: the broker takes the event" "$(cat "$WORK/status")" 202
  # The broker's stream from its first event: the request, then the function's reply.
  for _ in $(seq 1 20); do
    curl -s -N --max-time 1 "$URL/brokers/events/events?since=earliest" >"$WORK/sse" 2>/dev/null
    grep -q 'greeting.reply' "$WORK/sse" && break
  done
  reply=$(sed -n 's/^data: //p' "$WORK/sse" | grep '"greeting.reply"')
  check "event-c: one reply" "$(grep -c . <<<"$reply")" 1
  check "event-c: the reply" "$(python3 -c '
import json, sys
e = json.loads(sys.argv[1])
print(e["type"], e["source"], e["subject"], json.dumps(e["data"], sort_keys=True))' "$reply" 2>&1)" \
    'greeting.reply greeter req-1 {"greeting": "Hello from greeter", "request": {"name": "world"}}'
  # The reply does not match the trigger's filter: two events, no loop.
  sleep 0.5
  curl -s -N --max-time 1 "$URL/brokers/events/events?since=earliest" >"$WORK/sse" 2>/dev/null
  check "event-c: the request and its reply only" "$(grep -c '^data: ' "$WORK/sse")" 2
  stop_weft
  check "event-c: clean exit" "$STOP_RC" 0
fi

# ---- mistakes --------------------------------------------------------------------------
mkdir -p "$WORK/errors"
cd "$WORK/errors" || exit 1
run weft new nonesuch app
check "unknown template: status" "$RC" 2
check_contains "unknown template: named, with the known ones" "$ERR" \
  "unknown template 'nonesuch' (the templates: event-c, http-c, wagi-c)"
check "unknown template: nothing made" "$(ls -A)" ""
run weft new http-c 'bad name'
check "bad name: status" "$RC" 2
check_contains "bad name: says the rule" "$ERR" "'bad name' is not a project name"
run weft new http-c ../escape
check "a path as name: status" "$RC" 2
run weft new http-c
check "missing NAME: status" "$RC" 2
check_contains "missing NAME: says so" "$ERR" "expected TEMPLATE NAME"
check "mistakes: nothing made" "$(ls -A)" ""
mkdir taken
echo mine >taken/weft.toml
run weft new http-c taken
check "existing folder: status" "$RC" 1
check_contains "existing folder: says so" "$ERR" "taken already exists; nothing was written"
check "existing folder: untouched" "$(ls -A taken) $(cat taken/weft.toml)" "weft.toml mine"
check "existing folder: no temporary left" "$(ls -A)" "taken"
# Spin's spelling: -t TEMPLATE NAME, and -o DIR.
run weft new -t http-c spun -o "$WORK/errors/elsewhere"
check "-t and -o: status" "$RC" 0
check_contains "-t and -o: the name in the manifest" "$(cat elsewhere/weft.toml)" 'name = "spun"'
run weft new http-c slashed -o "$WORK/errors/slashed/"
check "-o DIR/: status" "$RC" 0
[ -f slashed/weft.toml ] && pass || fail "-o DIR/ did not make DIR"
check "-o DIR/: no temporary left" "$(ls -A | tr '\n' ' ')" "elsewhere slashed taken "
run weft new --help
check "--help: status" "$RC" 0
check_contains "--help" "$OUT" "usage: weft new [options] TEMPLATE NAME"
finish
