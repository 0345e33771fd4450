#!/bin/bash
# A request reaches the guest as a CGI invocation (variables, argv, stdin) and the
# guest's stdout becomes the HTTP response, over real HTTP with `weft up`.
source "$(dirname "$0")/gw.bash"

DIR="$WORK/app"
mkdir -p "$DIR"
cp "$GUESTS/gw_cgi.wasm" "$DIR/"
cat >"$DIR/weft.toml" <<'TOML'
[[function]]
name = "cgi"
source = "gw_cgi.wasm"
route = "/cgi/..."
environment = { GREETING = "from the module", SHARED = "module", SERVER_NAME = "forged" }

[[function]]
name = "tmpl"
source = "gw_cgi.wasm"
route = "/tmpl/..."
argv = "prog ${SCRIPT_NAME} -- ${ARGS} end"
TOML
printf 'FROM_FILE="quoted value"\n# a comment\n\nexport SHARED=file\n' >"$DIR/.env"
start_weft "$DIR" --env GLOBAL=global --env-file .env || { fail "server start"; finish; exit 1; }

# ---- the request side ----------------------------------------------------------------
get '/cgi/env?a=1&b=%20x&&c' -H 'X-Custom-Thing: one' -H 'Authorization: Bearer secret' \
  -H 'Accept: text/plain' -H 'X-Twice: 1' -H 'X-Twice: 2' -H 'Cookie: k=v' -H 'Cookie: k2=v2'
check "env: status" "$STATUS" 200
var() { printf '%s\n' "$BODY" | grep -m1 "^$1=" | cut -d= -f2-; }
check "AUTH_TYPE is empty" "$(var AUTH_TYPE)" ""
check_contains "REMOTE_USER is set, empty" "$BODY" $'\nREMOTE_USER=\n'
check "CONTENT_LENGTH of a GET" "$(var CONTENT_LENGTH)" 0
check "CONTENT_TYPE of a GET" "$(var CONTENT_TYPE)" ""
check "GATEWAY_INTERFACE" "$(var GATEWAY_INTERFACE)" "CGI/1.1"
check "SERVER_SOFTWARE" "$(var SERVER_SOFTWARE)" "weft/0.1.0"
check "SERVER_PROTOCOL" "$(var SERVER_PROTOCOL)" "HTTP/1.1"
check "REQUEST_METHOD" "$(var REQUEST_METHOD)" "GET"
check "QUERY_STRING is raw" "$(var QUERY_STRING)" "a=1&b=%20x&&c"
check "REMOTE_ADDR" "$(var REMOTE_ADDR)" "127.0.0.1"
check "REMOTE_HOST" "$(var REMOTE_HOST)" "127.0.0.1"
check "SERVER_NAME from Host" "$(var SERVER_NAME)" "127.0.0.1"
check "SERVER_PORT from Host" "$(var SERVER_PORT)" "$PORT"
check "X_FULL_URL" "$(var X_FULL_URL)" "http://127.0.0.1:$PORT/cgi/env?a=1&b=%20x&&c"
check "X_MATCHED_ROUTE" "$(var X_MATCHED_ROUTE)" "/cgi/..."
check "SCRIPT_NAME" "$(var SCRIPT_NAME)" "/cgi"
check "X_RAW_PATH_INFO" "$(var X_RAW_PATH_INFO)" "/env"
check "PATH_INFO" "$(var PATH_INFO)" "/env"
check "PATH_TRANSLATED" "$(var PATH_TRANSLATED)" "/env"
check "HTTP_X_CUSTOM_THING" "$(var HTTP_X_CUSTOM_THING)" "one"
check "HTTP_ACCEPT" "$(var HTTP_ACCEPT)" "text/plain"
check "HTTP_HOST" "$(var HTTP_HOST)" "127.0.0.1:$PORT"
check "a repeated header is one variable" "$(var HTTP_X_TWICE)" "1, 2"
check "repeated Cookie headers joined with ;" "$(var HTTP_COOKIE)" "k=v; k2=v2"
check "no HTTP_AUTHORIZATION" "$(printf '%s\n' "$BODY" | grep -c '^HTTP_AUTHORIZATION=')" 0
check "no HTTP_CONNECTION" "$(printf '%s\n' "$BODY" | grep -c '^HTTP_CONNECTION=')" 0
check "argv: path, then query items (empty ones skipped)" \
  "$(printf '%s\n' "$BODY" | grep '^argv')" \
  "$(printf '%s\n' 'argv[0]=/cgi/env' 'argv[1]=a=1' 'argv[2]=b=%20x' 'argv[3]=c')"

# Environment layers: --env/--env-file first, the module's next, CGI last; a later
# layer replaces a name, and the CGI variables cannot be forged by the manifest.
check "--env" "$(var GLOBAL)" "global"
check "--env-file, quotes removed" "$(var FROM_FILE)" "quoted value"
check "module environment" "$(var GREETING)" "from the module"
check "module replaces global" "$(var SHARED)" "module"
check "CGI replaces module" "$(var SERVER_NAME)" "127.0.0.1"
order=$(printf '%s\n' "$BODY" | grep -v '^argv' | cut -d= -f1 | grep -n -x -e GLOBAL -e GREETING -e AUTH_TYPE -e HTTP_ACCEPT | cut -d: -f2 | tr '\n' ' ')
check "order: global, module, CGI, headers" "$order" "GLOBAL GREETING AUTH_TYPE HTTP_ACCEPT "
check "each name once" "$(printf '%s\n' "$BODY" | grep -v '^argv' | cut -d= -f1 | sort | uniq -d)" ""

get '/cgi/env' -H 'Host: example.com:8443'
check "SERVER_NAME and PORT from a Host header" "$(var SERVER_NAME):$(var SERVER_PORT)" "example.com:8443"
get '/cgi/env' -H 'Host: example.com'
check "a Host without a port: the listening port" "$(var SERVER_PORT)" "$PORT"
get '/cgi/a%20b/c/env'
check "PATH_INFO is decoded" "$(var PATH_INFO)" "/a b/c/env"
check "X_RAW_PATH_INFO is not" "$(var X_RAW_PATH_INFO)" "/a%20b/c/env"
get '/cgi/env'
check "X_RAW_PATH_INFO is raw" "$(var X_RAW_PATH_INFO)" "/env"

get '/tmpl/env?x=1&y=2'
check "argv template" "$(printf '%s\n' "$BODY" | grep '^argv' | cut -d= -f2- | tr '\n' ' ')" \
  "prog /tmpl -- x=1 y=2 end "
get '/tmpl/env'
check "argv template without a query" "$(printf '%s\n' "$BODY" | grep '^argv' | cut -d= -f2- | tr '\n' ' ')" \
  "prog /tmpl -- end "

# ---- the body ------------------------------------------------------------------------
get '/cgi/echo' -X POST --data-binary 'Some string data' -H 'Content-Type: text/x-test'
check "body echoed" "$BODY" "Some string data"
check_contains "the real request Content-Type reaches the guest" "$HEADERS" "content-type: text/x-test"
get '/cgi/env' -X POST --data-binary 'twelve bytes' -H 'Content-Type: application/x-www-form-urlencoded'
check "CONTENT_LENGTH of a POST" "$(var CONTENT_LENGTH)" 12
check "CONTENT_TYPE of a POST" "$(var CONTENT_TYPE)" "application/x-www-form-urlencoded"
check "REQUEST_METHOD of a POST" "$(var REQUEST_METHOD)" "POST"
head -c 300000 /dev/urandom >"$WORK/random.bin"
curl -s --max-time 30 -X PUT --data-binary @"$WORK/random.bin" "$URL/cgi/echo" -o "$WORK/echoed.bin"
check "300 KB of binary in and out" "$(cmp -s "$WORK/random.bin" "$WORK/echoed.bin" && echo same)" "same"
curl -s --max-time 30 -H 'Transfer-Encoding: chunked' --data-binary @"$WORK/random.bin" "$URL/cgi/echo" -o "$WORK/echoed.bin"
check "a chunked body in" "$(cmp -s "$WORK/random.bin" "$WORK/echoed.bin" && echo same)" "same"
get '/cgi/big'
check "1 MiB out" "${#BODY}" 1048576

# ---- the response side ---------------------------------------------------------------
get '/cgi/headers'
check "Status: 201" "$STATUS" 201
check "every Set-Cookie kept, in order" "$(printf '%s\n' "$HEADERS" | grep '^set-cookie:' | tr -d '\n')" \
  "set-cookie: a=1set-cookie: b=2set-cookie: c=3"
check_contains "a custom header, value trimmed" "$HEADERS" $'x-custom: spaced value\n'
check "an invalid header name dropped" "$(printf '%s\n' "$HEADERS" | grep -ci '^bad')" 0
check "a control character in a value: dropped" "$(printf '%s\n' "$HEADERS" | grep -c '^x-ctl')" 0
check "the guest's Content-Length ignored" "$(printf '%s\n' "$HEADERS" | grep '^content-length:')" "content-length: 8"
check "body after the headers" "$BODY" "created"
log_has "response header dropped (invalid character in header name): Bad Header"
check "dropped headers are logged" $? 0
get '/cgi/location'
check "Location alone: 302" "$STATUS" 302
check_contains "Location passed on" "$HEADERS" "location: /elsewhere"
get '/cgi/see-other'
check "Status wins over Location's 302" "$STATUS" 303
check_contains "Location with a Status" "$HEADERS" "location: /other"
get '/cgi/noct'
check "no Content-Type, Status or Location: 500" "$STATUS" 500
check_contains "the 500 says why" "$BODY" "no Content-Type, Location or Status"
get '/cgi/nonesuch'
check "a guest's own 404" "$STATUS" 404
check "its body" "$BODY" "no such test: /nonesuch"
get '/cgi/exit0'
check "proc_exit(0) is success" "$STATUS:$BODY" "200:exiting 0"
get '/cgi/exit3'
check "proc_exit(3) is a 500" "$STATUS" 500
check "a non-zero exit is logged once, with the route" \
  "$(log_count '^weft: /cgi/\.\.\. #[0-9]+: 500: exited with status 3$')" 1

# ---- guest stderr and isolation ------------------------------------------------------
get '/cgi/stderr'
check "stderr request answered" "$BODY" "logged"
log_has "first guest line"
check "guest stderr reaches the log" $? 0
check "one log line per guest line, tagged with route and request id" \
  "$(grep -E '^weft: /cgi/\.\.\. #[0-9]+: (first|second) guest line$' "$DIR/log" | wc -l)" 2
for i in 1 2 3; do get '/cgi/state'; check "fresh instance per request ($i)" "$BODY" "counter=1"; done

HEAD_STATUS=$(curl -s -o /dev/null -w '%{http_code}' -I "$URL/cgi/env")
check "HEAD" "$HEAD_STATUS" 200

stop_weft
check "weft up exits 0 on SIGTERM" "$STOP_RC" 0
finish
