#!/usr/bin/env bash
# Builds the example in its folder: the trainer (native), the guest infer.wasm
# (wasm32-wasi, with weft's sdk/weft.h two folders up, for the cache's document store),
# and the model, trained on scikit-learn's digits (Debian's python3-sklearn;
# DIGITS_CSV=FILE names another copy) into model/digits.weights.
set -euo pipefail
cd "$(dirname "$0")"
data=${DIGITS_CSV:-$(dpkg -L python3-sklearn 2>/dev/null | grep '/digits\.csv\.gz$' | head -n 1 || true)}
if [ -z "$data" ] || [ ! -r "$data" ]; then
  echo "build.sh: scikit-learn's digits.csv.gz not found: apt-get install python3-sklearn" \
    "(or set DIGITS_CSV=FILE)" >&2
  exit 1
fi
CC=${CC:-cc}
STB="-I/usr/include/stb -Wno-unused-function"
$CC -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra $STB train.c digits.c -o train -lz -lm
clang --target=wasm32-wasi -O2 -Wall -Wextra $STB -I ../../sdk infer.c digits.c sha256.c \
  -o infer.wasm
mkdir -p model
./train --data "$data" --out model/digits.weights
