#!/bin/bash
# allowed_hosts through `weft run --allow-host`: what is denied answers 7
# (DestinationNotAllowed), is logged with the module and the URL, and never reaches
# the server; what is allowed does.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/serve.bash"
G="$GUESTS/http_out.wasm"
OTHER=$(free_port)

# req ALLOW-HOST... -- URL: a GET with those --allow-host entries.
req() {
  local args=()
  while [ "$1" != "--" ]; do args+=(--allow-host "$1"); shift; done
  run "$WEFT" run "${args[@]}" "$G" req GET "$2"
}
allowed() { # NAME ENTRIES... -- URL
  local name=$1; shift
  req "$@"
  check_contains "$name: allowed" "$OUT" "status: 200"
}
denied() { # NAME ENTRIES... -- URL
  local name=$1; shift
  local url=${*: -1}
  local before
  before=$(hits /hello)
  req "$@"
  check "$name: exit" "$RC" 0
  check "$name: code 7" "$OUT" "req: 7 destination not allowed"
  check_contains "$name: logged with module and URL" "$ERR" \
    "weft: $G: outbound HTTP request to $url denied: not in allowed_hosts"
  check "$name: the server saw nothing" "$(hits /hello)" "$before"
}

# Nothing allowed.
denied "no --allow-host" -- "$BASE/hello"

# WAGI-style entries: the host is compared.
allowed "WAGI URL of the host" "http://127.0.0.1" -- "$BASE/hello"
allowed "WAGI URL with a path" "https://127.0.0.1/some/path" -- "$BASE/hello"
denied "WAGI URL of another host" "http://localhost" -- "$BASE/hello"
allowed "one of several" "https://example.com" "http://127.0.0.1" -- "$BASE/hello"

# Spin-style entries: scheme, host and port.
allowed "exact port" "http://127.0.0.1:$PORT" -- "$BASE/hello"
denied "other port" "http://127.0.0.1:$OTHER" -- "$BASE/hello"
denied "other scheme" "https://127.0.0.1:$PORT" -- "$BASE/hello"
allowed "any port" "http://127.0.0.1:*" -- "$BASE/hello"
allowed "any scheme, any port" "*://127.0.0.1:*" -- "$BASE/hello"
allowed "a port range" "http://127.0.0.1:$PORT..$((PORT + 1))" -- "$BASE/hello"
denied "a range that ends before the port" "http://127.0.0.1:$((PORT - 5))..$PORT" -- "$BASE/hello"
denied "any port of another host" "http://127.0.0.2:*" -- "$BASE/hello"
denied "a wildcard entry without a port means port 80" "http://*" -- "$BASE/hello"
denied "*.localhost is not localhost" "http://*.localhost:$PORT" -- "http://localhost:$PORT/hello"
allowed "localhost by name" "http://localhost:$PORT" -- "http://localhost:$PORT/hello"
denied "localhost is not 127.0.0.1" "http://localhost:*" -- "$BASE/hello"
allowed "any host on the port" "http://*:$PORT" -- "$BASE/hello"

# Everything.
allowed "insecure:allow-all" "insecure:allow-all" -- "$BASE/hello"
allowed "*://*:*" "*://*:*" -- "$BASE/hello"

# A redirect must be allowed too: the server's Location is checked like the guest's URL.
run "$WEFT" run --allow-host "http://127.0.0.1:$PORT" "$G" req GET \
  "$BASE/redirect?code=302&to=http://localhost:$PORT/hello"
check "redirect to a denied host: code 7" "$OUT" "req: 7 destination not allowed"
check_contains "redirect to a denied host: logged" "$ERR" \
  "outbound HTTP redirect to http://localhost:$PORT/hello denied"

# What a guest puts in a URL cannot forge a log line.
run "$WEFT" run "$G" req GET "$BASE/hello"$'\n'"weft: forged"
check "URL with a newline: invalid" "$OUT" "req: 10 invalid URL"
case "$ERR" in *$'\n'"weft: forged"*) fail "a guest forged a log line" ;; *) pass ;; esac

# Entries are checked when given: a typo is an error, not a silent deny.
for bad in "127.0.0.1" "http://*foo.example" "http://h:99999" "http://*.example.com:*/path" \
  "https://user@example.com" "*://example.com"; do
  run "$WEFT" run --allow-host "$bad" "$G" req GET "$BASE/hello"
  check "--allow-host $bad: usage error" "$RC" 2
  check_contains "--allow-host $bad: says which" "$ERR" "allowed host \"$bad\""
done
run "$WEFT" run --http-max-concurrency 0 "$G" req GET "$BASE/hello"
check "--http-max-concurrency 0: usage error" "$RC" 2

finish
