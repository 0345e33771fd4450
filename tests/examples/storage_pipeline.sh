#!/usr/bin/env bash
# examples/storage-pipeline: its README run as written (readme.bash: every command of
# its console blocks, on a copy of the folder, and the output it shows), then what the
# README promises. The handler stores the body as the blob and publishes the event the
# webhook turns into a document holding exactly the posted text (quotes, backslashes,
# newlines, control characters, non-ASCII), with invalid UTF-8 stored as U+FFFD; missing
# or bad names are 400 and nothing is stored, an ungranted container 403; an event whose
# subject names no blob, or a missing blob, is given up, not retried.
source "$(dirname "$0")/readme.bash"

readme_setup storage-pipeline
readme_script >"$WORK/script"

n=0
cmd=""
: >"$WORK/expected"
run_pending() {
  [ -n "$cmd" ] || return 0
  n=$((n + 1))
  local c=${cmd//localhost:3000/$HOSTPORT}
  case "$cmd" in
  "cd "*) cd "${cmd#cd }" || fail "$cmd" ;;
  "weft up") readme_up ;;
  "curl localhost:3000/docs/"*) readme_doc_cmd "$cmd" ;;
  "weft watch "*)
    # Ctrl-C ends it in the README; here, once it printed as many lines as shown.
    local want
    want=$(grep -vc '^$' "$WORK/expected")
    timeout -s INT 10 bash -c "$c" </dev/null >"$WORK/actual.$n" 2>/dev/null &
    local w=$!
    for _ in $(seq 1 100); do [ "$(wc -l <"$WORK/actual.$n")" -ge "$want" ] && break; sleep 0.1; done
    kill -INT "$w" 2>/dev/null
    wait "$w"
    check "README: $cmd: exit status on Ctrl-C" "$?" 0
    readme_compare "$cmd" "$WORK/expected" "$WORK/actual.$n"
    ;;
  *)
    bash -c "$c" </dev/null >"$WORK/actual.$n" 2>"$WORK/err.$n"
    check "README: $cmd: exit status" "$?" 0
    readme_compare "$cmd" "$WORK/expected" "$WORK/actual.$n"
    # What the README shows next needs the webhook to have run on the upload (or given
    # up on the event): wait for its line in the log.
    local blob
    blob=$(sed -n 's/^Published blob \(.*\) to broker.*/\1/p' "$WORK/actual.$n")
    if [ -n "$blob" ]; then
      for _ in $(seq 1 100); do grep -q "blob $blob (.*stored as document" "$EX/log" && break; sleep 0.1; done
    fi
    if [[ "$cmd" == "weft send "* ]]; then
      for _ in $(seq 1 100); do grep -q "given up" "$EX/log" && break; sleep 0.1; done
    fi
    ;;
  esac
  cmd=""
  : >"$WORK/expected"
}

: >"$WORK/log_expected"
while IFS=$'\t' read -r kind text; do
  case "$kind" in
  cmd)
    run_pending
    cmd=$text
    ;;
  out) printf '%s\n' "$text" >>"$WORK/expected" ;;
  log) printf '%s\n' "$text" >>"$WORK/log_expected" ;;
  esac
done <"$WORK/script"
run_pending
check "README: every command ran" "$n" 12
readme_log_check

# ---- What the README promises, beyond its examples -----------------------------------

# post CONTAINER BLOB FILE: POSTs FILE's bytes to the handler; waits for the webhook.
post() {
  get "/handler?container=$1&blob=$2" -X POST --data-binary "@$3"
  if [ "$STATUS" = 200 ]; then
    for _ in $(seq 1 100); do grep -q "blob $1/$2 (.*stored as document" "$EX/log" && break; sleep 0.1; done
  fi
}
# value_is LABEL CONTAINER BLOB FILE: the document CONTAINER-BLOB holds its id and, as
# its value, exactly FILE's bytes (decoded from JSON, compared as bytes).
value_is() {
  readme_doc uploads "$2-$3" >"$WORK/doc.json"
  check "$1: the document holds exactly the text posted" "$(python3 - "$WORK/doc.json" "$4" "$2-$3" <<'PY'
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
want = open(sys.argv[2], "rb").read()
try:
    doc = json.loads(text)
except ValueError:
    doc = None
if not isinstance(doc, dict):
    print("not a JSON object: " + (text or "no document"))
elif set(doc) != {"id", "value"} or doc["id"] != sys.argv[3]:
    print("members or id:", doc)
elif doc["value"].encode("utf-8") != want:
    print("value:", repr(doc["value"]), "posted:", repr(want))
else:
    print("same")
PY
)" same
}

printf 'He said "yes", then \\no\\.\nA tab:\there; a bell: \x07; UTF-8: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n\n' >"$WORK/text1"
post c quoted.txt "$WORK/text1"
check "quotes, newlines, controls, UTF-8: 200" "$STATUS" 200
check "quotes, newlines, controls, UTF-8: the answer" "$BODY" "Writing $(wc -c <"$WORK/text1") bytes.
Published blob c/quoted.txt to broker \"blobs\""
value_is "quotes, newlines, controls, UTF-8" c quoted.txt "$WORK/text1"
: >"$WORK/empty"
post uploads empty "$WORK/empty"
check "an empty body: 200" "$STATUS" 200
value_is "an empty body" uploads empty "$WORK/empty"

# Invalid UTF-8: each bad sequence one U+FFFD (a stray continuation byte, a sequence cut
# short by an ASCII byte, an overlong form, a surrogate, a NUL, a sequence cut by the
# end), logged.
printf 'a\x80b\xe2\x82c\xc0\xafd\xed\xa0\x80e\x00f\xc3' >"$WORK/bad"
printf 'a\xef\xbf\xbdb\xef\xbf\xbdc\xef\xbf\xbd\xef\xbf\xbdd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbde\xef\xbf\xbdf\xef\xbf\xbd' >"$WORK/bad.want"
post c bad.bin "$WORK/bad"
check "invalid UTF-8: 200" "$STATUS" 200
value_is "invalid UTF-8 replaced by U+FFFD" c bad.bin "$WORK/bad.want"
check "invalid UTF-8: logged" "$(log_count 'webhook: blob c/bad.bin is not all UTF-8 text: 9 invalid')" 1

# Bad requests: 400 (403 for an ungranted container), and nothing stored or published.
published=$(grep -c 'stored as document' "$EX/log")
get "/handler?blob=b" -X POST -d x
check "no container: 400" "$STATUS" 400
check "no container: the reason" "$BODY" "missing query parameter 'container' (POST /handler?container=NAME&blob=NAME, the blob's bytes as body)"
get "/handler?container=c" -X POST -d x
check "no blob: 400" "$STATUS" 400
check_contains "no blob: the reason" "$BODY" "missing query parameter 'blob'"
get "/handler?container=&blob=b" -X POST -d x
check "an empty container: 400" "$STATUS" 400
get "/handler?container=Upper&blob=b" -X POST -d x
check "a container with upper case: 400" "$STATUS" 400
check "a container with upper case: the reason" "$BODY" "bad container name 'Upper': 1 to 63 lower-case letters, digits and '-'"
get "/handler?container=c&blob=a%2Fb" -X POST -d x
check "a blob name with '/': 400" "$STATUS" 400
check "a blob name with '/': the reason" "$BODY" "bad blob name 'a/b': 1 to 200 letters, digits, '.', '_' and '-'"
get "/handler?container=c&blob=%zz" -X POST -d x
check "bad percent-encoding: 400" "$STATUS" 400
get "/handler?container=c&blob=b" -d x -G
check "GET: 405" "$STATUS" 405
get "/handler?container=c&blob=b" -X POST -d x -H "Content-Type: $(printf 'x%.0s' {1..300})"
check "a Content-Type weft refuses for a blob: 400" "$STATUS" 400
check "a Content-Type weft refuses for a blob: weft's reason" "$BODY" \
  "content type: 300 bytes, more than the 255 allowed"
get "/handler?container=photos&blob=b" -X POST -d x
check "an ungranted container: 403" "$STATUS" 403
check "an ungranted container: weft's reason" "$BODY" "blob container 'photos' is not granted to function 'handler' (add it to blob_containers in weft.toml)"
sleep 0.5
check "bad requests stored and published nothing" "$(grep -c 'stored as document' "$EX/log")" "$published"

# A query parameter percent-encoded is decoded; a later one wins.
printf 'x' >"$WORK/x"
get "/handler?container=c&blob=x&blob=%6Eame.txt" -X POST --data-binary "@$WORK/x"
check "a percent-encoded name: 200" "$STATUS" 200
check_contains "a percent-encoded name: decoded" "$BODY" "Published blob c/name.txt"

check "one byte: the answer" "$BODY" "Writing 1 byte.
Published blob c/name.txt to broker \"blobs\""

# A blob too large for a document (1 MiB): stored and published, and the webhook's
# 422 gives the event up, the reason in the log.
head -c $((1 << 20)) /dev/zero | tr '\0' a >"$WORK/big"
get "/handler?container=c&blob=big" -X POST --data-binary "@$WORK/big"
check "a blob of 1 MiB: stored" "$STATUS" 200
check "a blob of 1 MiB: too large for a document" \
  "$(log_count "webhook: blob c/big: 1048576 bytes, too large for a document of at most 1 MiB")" 1
check "a blob of 1 MiB: given up after 1 attempt" \
  "$(log_count "\(source '/weft/functions/handler'\) given up: webhook: status 422 after 1 attempt")" 1
check "a blob of 1 MiB: no document" "$(readme_doc uploads c-big)" ""

# Events the webhook cannot process are given up at once (a 4xx: not retried).
run weft send --url "$URL/brokers/blobs" --type com.example.blob.created --ext subject=nope '{}'
check "an event without CONTAINER/NAME: taken" "$RC" 0
check "an event without CONTAINER/NAME: given up after 1 attempt" \
  "$(log_count "given up: webhook: status 400 after 1 attempt")" 1
check "an event without CONTAINER/NAME: the webhook's reason" \
  "$(log_count "webhook: the subject 'nope' names no blob")" 1

# Which way the documents were read (the HTTP API, or the fallback on the file).

kill -TERM "$PID"
wait "$PID"
check "weft up stops cleanly" "$?" 0
finish
