# Shared helpers for weft's shell tests. Source it; then call the checks; end with
# `finish`, which prints "N passed, N failed" and sets the exit status: a test that
# made no check fails. A test that cannot run here calls `skip` instead.
set -u
PASSED=0
FAILED=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/weft-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export XDG_CACHE_HOME="${WEFT_TEST_CACHE:-$WORK/cache}"
# The tests run python3 often (sinks, JSON fields, raw sockets). When python3 is a
# version manager's shim (pyenv's, asdf's: a script that looks the version up anew on
# every call, half a second each with pyenv), the interpreter it resolves to goes
# first in PATH, for the test and everything it starts: the same Python, without the
# lookup each time. Looked up once per cache (the run's, which its tests share).
_py=$(command -v python3 2>/dev/null)
case "$_py" in
*/shims/python3)
  _real=$(cat "$XDG_CACHE_HOME/weft-test-python3" 2>/dev/null)
  if [ ! -x "$_real" ]; then
    _real=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
    mkdir -p "$XDG_CACHE_HOME" && echo "$_real" >"$XDG_CACHE_HOME/weft-test-python3.$$" &&
      mv -f "$XDG_CACHE_HOME/weft-test-python3.$$" "$XDG_CACHE_HOME/weft-test-python3"
  fi
  [ -x "$_real" ] && [ "$_real" != "$_py" ] && PATH="$(dirname "$_real"):$PATH"
  ;;
esac
unset _py _real

pass() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*" >&2; }

# check NAME ACTUAL EXPECTED
check() {
  if [ "$2" == "$3" ]; then pass; else fail "$1: got [$2], expected [$3]"; fi
}
# check_contains NAME HAYSTACK NEEDLE
check_contains() {
  case "$2" in *"$3"*) pass ;; *) fail "$1: [$2] does not contain [$3]" ;; esac
}
# run CMD...: runs a command, capturing stdout in $OUT, stderr in $ERR, status in $RC.
run() {
  "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
  RC=$?
  OUT=$(cat "$WORK/out")
  ERR=$(cat "$WORK/err")
}
# run_in INPUT CMD...: as run, with INPUT on stdin.
run_in() {
  local input=$1
  shift
  printf '%s' "$input" | "$@" >"$WORK/out" 2>"$WORK/err"
  RC=$?
  OUT=$(cat "$WORK/out")
  ERR=$(cat "$WORK/err")
}
finish() {
  echo "$PASSED passed, $FAILED failed"
  if [ $((PASSED + FAILED)) -eq 0 ]; then
    echo "FAIL: the test made no check" >&2
    return 1
  fi
  [ "$FAILED" -eq 0 ]
}
# weft_up DIR [ARGS...]: starts `weft up --listen 127.0.0.1:0 -q ARGS` in DIR in the
# background (stdout in DIR/out, its log in DIR/log) and waits for its Ready line (3
# minutes at most: the first run of a test compiles its guests into the shared cache);
# sets UP (its pid) and URL. Returns 1, with the log on stderr, when weft exits first
# or does not get ready. Stopping it is the caller's.
weft_up() {
  local dir=$1
  shift
  rm -f "$dir/out" "$dir/log" # or a previous server's Ready line could be read
  (cd "$dir" && exec "$WEFT" up --listen 127.0.0.1:0 -q "$@" >"$dir/out" 2>"$dir/log") &
  UP=$!
  URL=
  for _ in $(seq 1 1800); do
    if grep -q '^Ready: serving on ' "$dir/out" 2>/dev/null; then
      URL=$(sed -n 's/^Ready: serving on //p' "$dir/out")
      return 0
    fi
    if ! kill -0 "$UP" 2>/dev/null; then
      echo "weft up exited before it was ready:" >&2
      cat "$dir/log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "weft up did not get ready" >&2
  return 1
}
# skip REASON: ends the test as skipped (status 77, ctest's SKIP_RETURN_CODE), saying
# why: for what this machine lacks, never for what weft does wrong.
skip() {
  echo "skipped: $*"
  exit 77
}
