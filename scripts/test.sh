#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, builds weft twice
# (optimized, and with AddressSanitizer + UndefinedBehaviorSanitizer), runs each parser
# fuzzer over its corpus for a fixed number of inputs, and runs every test in both
# builds. Guests compile once into a cache shared by the two runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

export WEFT_TEST_CACHE="$PWD/build/test-cache"
mkdir -p "$WEFT_TEST_CACHE"
jobs=$(nproc)

echo "== build (optimized)"
bash scripts/build.sh build
echo "== build (ASan + UBSan)"
bash scripts/build.sh build-asan -DWEFT_SANITIZE=ON

status=0
echo "== fuzzers (seeded, fixed number of inputs)"
bash scripts/fuzz.sh || status=1
echo "== tests (optimized)"
(cd build && ctest -j"$jobs" --output-on-failure --timeout 600) || status=1
echo "== tests (ASan + UBSan)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}
# The crash test sends 100,000 events in the optimized run; a fifth of that under the
# sanitizers, which run weft several times slower.
export CRASH_EVENTS=${CRASH_EVENTS_ASAN:-20000}
# Tests labelled "once" (tests/CMakeLists.txt: the layer checks, the long end-to-end
# runs) ran in the optimized build above and are not repeated here.
(cd build-asan && ctest -j"$jobs" -LE once --output-on-failure --timeout 600) || status=1
exit $status
