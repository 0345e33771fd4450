# Helpers for the operations tests (sourced; not a test itself: no .sh suffix): the
# gateway's helpers, and reading one series of a Prometheus exposition.
source "$(dirname "${BASH_SOURCE[0]}")/../gateway/gw.bash"

# series TEXT NAME{LABELS}: the value of that series in TEXT (an exposition), or
# "absent" (awk: python's start-up, many times over, would be most of the test).
series() {
  printf '%s\n' "$1" | awk -v want="$2" '
    /^#/ { next }
    { value = $NF; name = substr($0, 1, length($0) - length(value) - 1) }
    name == want { print value; found = 1; exit }
    END { if (!found) print "absent" }'
}

# scrape [CURL ARGS...]: $METRICS, the exposition (with $TOKEN as the bearer token).
scrape() {
  get /_weft/metrics -H "Authorization: Bearer $TOKEN" "$@"
  METRICS=$BODY
}

# wait_series NAME{LABELS} VALUE: scrapes until the series has VALUE (at most 10 s): a
# request is counted once h2o is done with it, a moment after its client has the
# answer.
wait_series() {
  for _ in $(seq 1 100); do
    scrape
    [ "$(series "$METRICS" "$1")" == "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
