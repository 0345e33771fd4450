#!/usr/bin/env bash
# Installs what is missing, builds weft, and runs the demo: a C function compiled to
# WebAssembly, compiled ahead of time by weft, run as a command.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
demo=build/demo
mkdir -p "$demo/data"
clang --target=wasm32-wasi -O2 examples/hello/hello.c -o "$demo/hello.wasm"
echo "Hello from the host" >"$demo/data/greeting.txt"

echo "== weft compile (ahead of time, cached)"
build/weft compile "$demo/hello.wasm"
echo "== weft run: arguments, environment, stdin and a preopened directory"
echo "piped input" | build/weft run --env USER_NAME=demo --dir "$demo/data::/data" \
  "$demo/hello.wasm" first second
echo "== weft run: a runaway guest is stopped at its deadline"
build/weft run --timeout 200ms build/guests/traps.wasm loop || echo "(exit status $?)"

echo "== weft up: the same kind of function as an HTTP handler (a WAGI modules.toml)"
cp examples/http/modules.toml "$demo/modules.toml"
clang --target=wasm32-wasi -O2 examples/http/handler.c -o "$demo/handler.wasm"
# From the manifest's folder: a WAGI file's paths are relative to the working directory.
(cd "$demo" && exec ../weft up -c modules.toml --listen 127.0.0.1:0) >"$demo/up.log" 2>&1 &
up=$!
trap 'kill $up 2>/dev/null || true' EXIT
url=""
for _ in $(seq 100); do
  url=$(sed -n 's/^Ready: serving on \(http[^ ]*\).*/\1/p' "$demo/up.log")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { cat "$demo/up.log"; exit 1; }
cat "$demo/up.log"
curl -fsS "$url/hello/world?lang=c"
curl -fsS -X POST --data 'Some string data' "$url/hello/upload"
kill $up
rc=0
wait $up || rc=$?
[ "$rc" -eq 0 ] || { echo "weft up exited $rc on SIGTERM:"; cat "$demo/up.log"; exit 1; }
echo "== weft up stopped cleanly on SIGTERM"

echo "== an event flow (examples/event-flow): a broker, a wasm transform, an event display"
flow=$demo/event-flow
rm -rf "$flow"
cp -r examples/event-flow "$flow"
clang --target=wasm32-wasi -O2 "$flow/transform.c" -o "$flow/transform.wasm"
clang --target=wasm32-wasi -O2 "$flow/display.c" -o "$flow/display.wasm"
weft=$PWD/build/weft
(cd "$flow" && exec "$weft" up --listen 127.0.0.1:0) >"$flow/up.out" 2>"$flow/up.log" &
up=$!
for _ in $(seq 300); do
  grep -q '^Ready' "$flow/up.out" && break
  sleep 0.1
done
cat "$flow/up.out"
cd "$flow"
"$weft" send --broker wasm --type io.wasm.event '{"hi":"world"}'
for _ in $(seq 100); do
  [ "$(grep -c 'cloudevents.Event' up.log)" -ge 2 ] && break
  sleep 0.1
done
echo "== the display's log (weft up's stderr)"
grep 'display:' up.log
echo "== weft describe"
"$weft" describe
echo "== weft watch wasm --since earliest (stopped after 2 s)"
timeout -s INT 2 "$weft" watch wasm --since earliest || true
echo "== the live page: $(cat .weft/address)/brokers/wasm in a browser while weft up runs"
kill $up
rc=0
wait $up || rc=$?
[ "$rc" -eq 0 ] || { echo "weft up exited $rc on SIGTERM:"; cat up.log; exit 1; }
