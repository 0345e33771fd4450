# Sourced by the host tests (after ../lib.sh): starts tests/host/server.py on a free
# port of 127.0.0.1 and stops it when the test ends. Sets PORT and BASE.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
python3 "$(dirname "${BASH_SOURCE[0]}")/server.py" "$WORK/port" &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do
  [ -s "$WORK/port" ] && break
  sleep 0.05
done
PORT=$(cat "$WORK/port" 2>/dev/null) || { echo "the test server did not start" >&2; exit 1; }
BASE="http://127.0.0.1:$PORT"

# A port on 127.0.0.1 where nothing listens (bound, then closed).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
# hits PATH: how many requests the server has had for PATH.
hits() { python3 -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' "$BASE/hits?path=$1"; }

# Compiled once up front, so that compiler progress never mixes with what a test reads.
"$WEFT" compile -q "$GUESTS/http_out.wasm" >/dev/null || { echo "http_out.wasm did not compile" >&2; exit 1; }
