#!/usr/bin/env bash
# Installs the Debian packages weft needs to build, test and benchmark, if any are
# missing. Safe to run again: it does nothing when everything is there.
set -euo pipefail

PACKAGES=(
  # build
  gcc make cmake pkg-config clang-format
  # guests: C to wasm32-wasi, and wasm2c
  clang lld wasi-libc libclang-rt-dev-wasm32 wabt tcc
  # libraries
  libssl-dev nettle-dev libh2o-evloop-dev libcurl4-openssl-dev libjansson-dev libsqlite3-dev
  # the stores' distributed backends (weft-dist.so): Redis and PostgreSQL clients, and
  # the servers their tests start
  libhiredis-dev libpq-dev redis-server postgresql
  # third-party C sources a test builds for WASI (stb_image)
  libstb-dev
  # examples/cached-inference: scikit-learn's handwritten digits (its training data) and
  # zlib, with which its trainer reads them
  python3-sklearn zlib1g-dev
  # sanitizers and fuzzers (clang's runtime)
  libclang-rt-14-dev
  # tests
  curl python3 openssl procps
  # the fault-mix soak test's load generator
  wrk
  # the live event page's test: headless Chromium, driven over the DevTools protocol
  chromium
  # the metrics tests: promtool checks the exposition, a Prometheus server scrapes it
  prometheus
)
if [ "${WEFT_BENCH:-0}" = 1 ]; then
  PACKAGES+=(nginx-light hyperfine redis-server redis-tools)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "weft: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
