#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each over its seed corpus
# for a fixed number of runs with a fixed seed, so that the run is the same every time
# and a parser regression fails it. Longer, open-ended fuzzing: fuzz/README.md.
#   FUZZ_RUNS   inputs per fuzzer (default 30000)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${FUZZ_RUNS:-30000}
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DWEFT_FUZZ=ON -DWEFT_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=()
for src in fuzz/*_fuzz.c; do targets+=("$(basename "$src" .c)"); done
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]}" >/dev/null

passed=0
failed=0
for t in "${targets[@]}"; do
  corpus=fuzz/corpus/${t%_fuzz}
  scratch=$(mktemp -d)
  # New inputs go to the scratch folder (first); the committed corpus is only read.
  if build-fuzz/fuzz/"$t" -seed=1 -runs="$runs" -timeout=10 -rss_limit_mb=2048 \
      "$scratch" "$corpus" >"$scratch.log" 2>&1; then
    echo "fuzz $t: $runs inputs, no findings"
    passed=$((passed + 1))
  else
    echo "fuzz $t: FAILED"
    tail -40 "$scratch.log"
    failed=$((failed + 1))
  fi
  rm -rf "$scratch" "$scratch.log"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
