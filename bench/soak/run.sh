#!/usr/bin/env bash
# The long fault-mix soak (bench/README.md): tests/gateway/soak.sh, which the test
# command runs for 20 s, run here for minutes. Hello traffic from wrk while guests trap,
# time out, exhaust memory and stack, print 50 MiB and flood stderr, with more busy
# processes than cores; prints the requests made, each fault's count, RSS before and
# after, and whether every check held.
#
# usage: bash bench/soak/run.sh [SECONDS]     (default 300)
# Environment: BUILD_DIR (default ./build), SOAK_RSS_MIB (the RSS bound, default 32).
# It builds weft in BUILD_DIR; the test's own log goes to bench/out/soak/.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
SECONDS_RUN=${1:-300}
[[ $SECONDS_RUN =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: SECONDS must be a positive number" >&2; exit 2; }
command -v wrk >/dev/null || { echo "run.sh: needs wrk (bash scripts/install-deps.sh)" >&2; exit 2; }
OUT=$ROOT/bench/out/soak
mkdir -p "$OUT"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null
echo "soak: $SECONDS_RUN s, weft $(git -C "$ROOT" rev-parse --short HEAD), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
export WEFT="$BUILD/weft" GUESTS="$BUILD/guests" WEFT_TEST_CACHE="$BUILD/test-cache"
export SRC="$ROOT" TESTS_DIR="$ROOT/tests" BUILD_DIR="$BUILD" SOAK_SECONDS="$SECONDS_RUN"
set +e
bash "$ROOT/tests/gateway/soak.sh" 2>&1 | tee "$OUT/soak.log"
rc=${PIPESTATUS[0]}
echo "soak: $( ((rc == 0)) && echo "every check held" || echo "FAILED (see bench/out/soak/soak.log)")"
exit "$rc"
