# Helpers for running an example's README as written (sourced; not a test itself: no .sh
# suffix). The README's console blocks are its script: each "$ COMMAND" line runs, in a
# copy of the example laid out as in the repository (examples/NAME beside sdk/), and the
# lines below it are what it must print. weft up runs in the background on a free port
# rather than on 3000, and "localhost:3000" in a command is that port: the deviations.
# Ids, times, dates, ports and durations are compared by their shape only.
#
#   readme_setup NAME            copies examples/NAME to $EX (cwd: $EX's parent's parent),
#                                weft on PATH; README=its README
#   readme_script                the README's records on stdout (below)
#   readme_compare LABEL EXPECTED_FILE ACTUAL_FILE
#   readme_up                    runs weft up in $EX (output in $EX/out, log in
#                                $EX/log) and compares its output with $WORK/expected
#   readme_log_check             the README's log lines (plain blocks) are in log, in order
#   readme_doc COLLECTION ID     prints the document's JSON (see below)
#   readme_doc_cmd COMMAND       runs a README's "curl localhost:3000/docs/C/ID"
#   readme_doc_count COLLECTION  how many documents it holds
source "$(dirname "${BASH_SOURCE[0]}")/../gateway/gw.bash"

readme_setup() {
  mkdir -p "$WORK/repo/examples" "$WORK/bin"
  ln -s "$SRC/sdk" "$WORK/repo/sdk"
  EX=$WORK/repo/examples/$1
  cp -r "$SRC/examples/$1" "$EX"
  rm -rf "$EX/.weft" "$EX"/*.wasm
  ln -s "$WEFT" "$WORK/bin/weft"
  export PATH="$WORK/bin:$PATH"
  README=$SRC/examples/$1/README.md
  cd "$WORK/repo" || exit 1
}

# The README's console blocks as records: "cmd<TAB>COMMAND" then "out<TAB>LINE" lines,
# and its plain blocks of weft up's log as "log<TAB>LINE".
readme_script() {
  python3 - "$README" <<'PY'
import sys
block = None
for line in open(sys.argv[1]).read().split("\n"):
    if line.startswith("```"):
        block = (line[3:].strip() or "plain") if block is None else None
        continue
    if block == "console":
        print(("cmd\t" + line[2:]) if line.startswith("$ ") else ("out\t" + line))
    elif block == "plain" and line.startswith("weft: "):
        print("log\t" + line)
PY
}

# readme_norm: the variable parts of a line made fixed, tabs and runs of spaces one
# space, and CRs (curl -i) gone.
readme_norm() {
  sed -E 's/\r$//; s/\t/ /g;
          s/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/<id>/g;
          s/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z/<time>/g;
          s/^Date: .*/Date: <date>/;
          s#http://127\.0\.0\.1:[0-9]+#http://<addr>#g;
          s/in [0-9.]+ m?s\b/in <n> s/g;
          s/^(real|user|sys) +[0-9]+m[0-9.]+s$/\1 <t>/;
          s/ +/ /g; s/ $//'
}

# readme_compare LABEL EXPECTED ACTUAL: the README's output, normalized, is what the
# command printed, normalized (blank lines aside).
readme_compare() {
  readme_norm <"$2" | grep -v '^$' >"$2.n"
  readme_norm <"$3" | grep -v '^$' >"$3.n"
  check "README: $1" "$(diff "$2.n" "$3.n" | head -20)" ""
}

readme_up() {
  (cd "$EX" && exec weft up --listen 127.0.0.1:0 </dev/null >"$EX/out" 2>"$EX/log") &
  PID=$!
  WEFT_PIDS+=("$PID")
  DIR=$EX
  for _ in $(seq 1 1800); do grep -q '^Ready' "$EX/out" 2>/dev/null && break; sleep 0.1; done
  URL=$(sed -n 's/^Ready: serving on //p' "$EX/out")
  [ -n "$URL" ] || fail "weft up did not start: $(cat "$EX/log")"
  HOSTPORT=${URL#*://}
  readme_compare "weft up" "$WORK/expected" "$EX/out"
}

# The README's log lines are in weft up's log in the README's order (other lines may
# come between them).
readme_log_check() {
  readme_norm <"$WORK/log_expected" >"$WORK/log_expected.n"
  readme_norm <"$EX/log" | grep -Fx -f "$WORK/log_expected.n" | awk '!seen[$0]++' \
    >"$WORK/log_actual.n"
  check "README: weft up's log, as shown" "$(diff "$WORK/log_expected.n" "$WORK/log_actual.n")" ""
}

# readme_doc COLLECTION ID: the document's JSON text on stdout, read through weft's HTTP
# API (GET /docs/COLLECTION/ID; nothing when there is none).
readme_doc() {
  local code
  code=$(curl -s -o "$WORK/doc.body" -w '%{http_code}' "$URL/docs/$1/$2")
  [ "$code" = 200 ] && cat "$WORK/doc.body"
}

# readme_doc_cmd COMMAND: a README command "curl localhost:3000/docs/C/ID": its output
# (or, without the HTTP API, the document read from the file) must be the JSON the
# README shows, compared as JSON values.
readme_doc_cmd() {
  local path=${1#curl localhost:3000/docs/}
  readme_doc "${path%%/*}" "${path#*/}" >"$WORK/doc.actual"
  check "README: $1: the document shown" "$(python3 - "$WORK/expected" \
    "$WORK/doc.actual" <<'PY'
import json, sys
want, got = (open(f, encoding="utf-8").read() for f in sys.argv[1:3])
try:
    print("same" if json.loads(want) == json.loads(got) else "differs: " + got)
except ValueError:
    print("not JSON: " + (got or "no document"))
PY
)" same
}

# readme_doc_count COLLECTION: how many documents the collection holds, counted through
# weft's HTTP API (GET /docs/COLLECTION, page after page).
readme_doc_count() {
  python3 - "$URL" "$1" <<'PY'
import json, sys, urllib.parse, urllib.request
url, coll, after, n = sys.argv[1], sys.argv[2], "", 0
while True:
    q = urllib.parse.urlencode({"limit": 1000, "after": after})
    page = json.load(urllib.request.urlopen(f"{url}/docs/{coll}?{q}"))
    n += len(page["items"])
    if not page["more"]:
        break
    after = page["items"][-1]["id"]
print(n)
PY
}
HOSTPORT=localhost:3000 # until weft up runs
