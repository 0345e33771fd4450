#!/usr/bin/env bash
# The engine benchmark (bench/README.md): CPU-bound C programs built natively with
# gcc -O2 and clang -O2 and to wasm32-wasi, the wasm run under `weft run`; then what
# a fresh instance costs in one process, and the wall time of `weft run` on a cached
# hello module.
#
# usage: bash bench/engine/run.sh [-n RUNS] [--clock cpu|wall] [--quick] [PROGRAM...]
#   -n RUNS        runs of each build of each program; the best counts (default 3)
#   --clock cpu    time each program by its own CPU time (default): on a shared machine
#                  this leaves out time spent waiting for a core
#   --clock wall   time each program by its own wall clock
#   --quick        small work sizes, to check that everything runs (times mean little)
#   PROGRAM        some of: sha256 nbody conv2d json sort matmul hashtable lz77 interp
#                  recursive strsearch (default all)
# Environment: BUILD_DIR (default ./build), INSTANTIATE_ITERATIONS (default 20000).
#
# Each program times its own work and reports it on stderr ("bench-seconds WALL CPU"),
# so neither process start-up nor loading the artifact is counted, the same way for
# every build. Binaries, wasm and the artifact cache go to bench/out/ (git-ignored).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
OUT=$ROOT/bench/out
CACHE=$OUT/cache
WEFT=$BUILD/weft
RUNS=3
CLOCK=cpu
QUICK=0
PROGRAMS=()
ALL_PROGRAMS=(sha256 nbody conv2d json sort matmul hashtable lz77 interp recursive strsearch)

die() { echo "run.sh: $*" >&2; exit 2; }
while (($#)); do
    case $1 in
    -n) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "-n needs a positive number"; RUNS=$2; shift 2 ;;
    --clock) [[ ${2:-} == cpu || ${2:-} == wall ]] || die "--clock is cpu or wall"; CLOCK=$2; shift 2 ;;
    --quick) QUICK=1; shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [[ " ${ALL_PROGRAMS[*]} " == *" $1 "* ]] || die "no program '$1' (have: ${ALL_PROGRAMS[*]})"
       PROGRAMS+=("$1"); shift ;;
    esac
done
((${#PROGRAMS[@]})) || PROGRAMS=("${ALL_PROGRAMS[@]}")

# Work sizes for --quick; the full sizes are each program's defaults (~1-3 s natively).
declare -A QUICK_ARGS=([sha256]="8 1" [nbody]="500000" [conv2d]="512 10" [json]="256 20" [sort]="1 1"
    [matmul]="128 2" [hashtable]="20000 2" [lz77]="64 2" [interp]="2000 5" [recursive]="22 2"
    [strsearch]="32 2")

mkdir -p "$OUT" "$CACHE"
LOG=$OUT/runs.log
: >"$LOG"

# ---- Build --------------------------------------------------------------------------
echo "== building weft and bench_instantiate ($BUILD)"
if [[ ! -f $BUILD/CMakeCache.txt ]]; then
    cmake -B "$BUILD" -S "$ROOT" >"$OUT/cmake.log" 2>&1 || { cat "$OUT/cmake.log"; exit 1; }
fi
cmake --build "$BUILD" -j2 --target weft bench_instantiate >"$OUT/cmake.log" 2>&1 ||
    { tail -40 "$OUT/cmake.log"; exit 1; }

CFLAGS=(-O2 -Wall -Wextra -Wstrict-prototypes -Werror)
echo "== building the programs: gcc -O2, clang -O2, clang --target=wasm32-wasi -O2"
for p in "${PROGRAMS[@]}" hello; do
    src=$HERE/$p.c
    if [[ $p != hello ]]; then
        gcc "${CFLAGS[@]}" "$src" -o "$OUT/$p.gcc" -lm
        clang "${CFLAGS[@]}" "$src" -o "$OUT/$p.clang" -lm
    fi
    clang --target=wasm32-wasi "${CFLAGS[@]}" "$src" -o "$OUT/$p.wasm"
done

# Compiled ahead of time, so that compiling is not what the runs measure.
echo "== weft compile (into $CACHE)"
for p in "${PROGRAMS[@]}" hello; do
    t0=$EPOCHREALTIME
    "$WEFT" compile -q --cache-dir "$CACHE" "$OUT/$p.wasm" >/dev/null
    awk -v p="$p" -v a="$t0" -v b="$EPOCHREALTIME" \
        'BEGIN { printf "   %-9s %6.2f s (0 when already cached)\n", p, b - a }'
done

# ---- Runs ---------------------------------------------------------------------------
echo
echo "== machine: $(nproc) cores, $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p')"
echo "   $(date -u '+%Y-%m-%d %H:%M UTC'); load average before the runs:$(uptime | sed 's/.*load average://')"
rev=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo "unknown revision")
echo "   gcc $(gcc -dumpfullversion), $(clang --version | head -1), $("$WEFT" --version | head -1) ($rev)"
echo "== timing: best of $RUNS runs, $CLOCK time, builds interleaved (raw times in ${LOG#"$ROOT"/})"

declare -A BEST
failures=0
# Runs one build of one program once; records its time in BEST if it is the best so
# far. The first build's stdout (the checksum) is the reference the others must match.
run_one() {
    local p=$1 variant=$2 args=$3 out err secs status=0
    out=$OUT/$p.$variant.stdout
    err=$OUT/$p.$variant.stderr
    local cmd=("$OUT/$p.$variant")
    [[ $variant == weft ]] && cmd=("$WEFT" run --cache-dir "$CACHE" "$OUT/$p.wasm")
    # shellcheck disable=SC2086 # args are words by design
    "${cmd[@]}" $args >"$out" 2>"$err" || status=$?
    if ((status)); then
        echo "   $p/$variant FAILED (exit $status): $(grep -v '^bench-seconds' "$err" | head -3)"
        BEST[$p.$variant]=FAIL
        return 1
    fi
    if [[ -f $OUT/$p.reference ]] && ! cmp -s "$out" "$OUT/$p.reference"; then
        echo "   $p/$variant CHECKSUM MISMATCH: '$(cat "$out")' vs '$(cat "$OUT/$p.reference")'"
        BEST[$p.$variant]=FAIL
        return 1
    fi
    [[ -f $OUT/$p.reference ]] || cp "$out" "$OUT/$p.reference"
    secs=$(awk -v c="$CLOCK" '$1 == "bench-seconds" { print (c == "wall" ? $2 : $3) }' "$err")
    if [[ -z $secs ]]; then
        echo "   $p/$variant printed no bench-seconds line"
        BEST[$p.$variant]=FAIL
        return 1
    fi
    echo "$p $variant $(awk '$1 == "bench-seconds" { print "wall", $2, "cpu", $3 }' "$err")" >>"$LOG"
    local cur=${BEST[$p.$variant]:-}
    if [[ -z $cur ]] || awk -v a="$secs" -v b="$cur" 'BEGIN { exit !(a < b) }'; then
        BEST[$p.$variant]=$secs
    fi
}

VARIANTS=(gcc clang weft)
for p in "${PROGRAMS[@]}"; do
    rm -f "$OUT/$p.reference"
    args=""
    ((QUICK)) && args=${QUICK_ARGS[$p]}
    for ((r = 1; r <= RUNS; r++)); do
        for v in "${VARIANTS[@]}"; do
            [[ ${BEST[$p.$v]:-} == FAIL ]] && continue
            run_one "$p" "$v" "$args" || failures=$((failures + 1))
        done
    done
    echo "   $p: $(cat "$OUT/$p.reference" 2>/dev/null || echo 'no output')"
done

# ---- Table --------------------------------------------------------------------------
echo
printf '%-9s %10s %10s %10s %9s %17s\n' program "gcc -O2" "clang -O2" weft weft/gcc weft/best-native
for p in "${PROGRAMS[@]}"; do
    g=${BEST[$p.gcc]:-FAIL} c=${BEST[$p.clang]:-FAIL} w=${BEST[$p.weft]:-FAIL}
    awk -v p="$p" -v g="$g" -v c="$c" -v w="$w" 'BEGIN {
        f = "%-9s %9s%s %9s%s %9s%s %9s %17s\n"
        r1 = r2 = "-"
        if (w != "FAIL" && g != "FAIL") r1 = sprintf("%.2fx", w / g)
        if (w != "FAIL" && g != "FAIL" && c != "FAIL") r2 = sprintf("%.2fx", w / (g < c ? g : c))
        printf f, p, (g == "FAIL" ? g : sprintf("%.3f", g)), (g == "FAIL" ? " " : "s"),
                     (c == "FAIL" ? c : sprintf("%.3f", c)), (c == "FAIL" ? " " : "s"),
                     (w == "FAIL" ? w : sprintf("%.3f", w)), (w == "FAIL" ? " " : "s"), r1, r2
    }'
done | tee "$OUT/table.txt"
for p in "${PROGRAMS[@]}"; do
    echo "${BEST[$p.gcc]:-FAIL} ${BEST[$p.clang]:-FAIL} ${BEST[$p.weft]:-FAIL}"
done | awk '
    $1 != "FAIL" && $2 != "FAIL" && $3 != "FAIL" {
        n++; lg += log($3 / $1); lb += log($3 / ($1 < $2 ? $1 : $2)); lc += log($2 / $1)
    }
    END {
        if (!n) { print "geometric mean: no program ran under all three builds"; exit }
        printf "%-9s %10s %10s %10s %9s %17s\n", "geomean", "", "", "", \
            sprintf("%.2fx", exp(lg / n)), sprintf("%.2fx", exp(lb / n))
        printf "(over %d programs; clang -O2 / gcc -O2 geomean %.2fx)\n", n, exp(lc / n)
    }' | tee -a "$OUT/table.txt"
echo
echo "targets (issue 2): weft geomean <= 1.3x gcc -O2. For reference on this machine:"
echo "  WAMR LLVM AOT ~1.5x gcc -O2; wasm2c + gcc -O2 with Debian's runtime ~1.55x."

# ---- Instantiation ------------------------------------------------------------------
echo
echo "== fresh instances, in one process (build/bench/bench_instantiate); target < 10 us"
"$BUILD/bench/bench_instantiate" --cache-dir "$CACHE" -n "${INSTANTIATE_ITERATIONS:-20000}" \
    "$OUT/hello.wasm" || failures=$((failures + 1))

# ---- weft run start-up --------------------------------------------------------------
echo
echo "== wall time of 'weft run' on the cached hello module; target < 5 ms"
HELLO_CMD="$WEFT run --cache-dir $CACHE $OUT/hello.wasm"
if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 20 --runs 200 --export-json "$OUT/hyperfine.json" "$HELLO_CMD" \
        >"$OUT/hyperfine.txt" 2>&1 || { cat "$OUT/hyperfine.txt"; failures=$((failures + 1)); }
    # CPU time (user + system) as well: unlike wall time, it hardly depends on whether
    # other processes keep the cores busy.
    awk -F'[:,]' '/"mean"/ { m = $2 } /"median"/ { d = $2 } /"min"/ { lo = $2 }
        /"user"/ { u = $2 } /"system"/ { s = $2 }
        END { printf "  hyperfine -N, 200 runs: mean %.2f ms, median %.2f ms, min %.2f ms wall;" \
                     " CPU %.2f ms user + %.2f ms system\n", m * 1e3, d * 1e3, lo * 1e3, u * 1e3, s * 1e3 }' \
        "$OUT/hyperfine.json"
else
    # No hyperfine (Debian package hyperfine): time 200 runs here, $EPOCHREALTIME needs no fork.
    for ((i = 0; i < 220; i++)); do
        t0=$EPOCHREALTIME
        $HELLO_CMD >/dev/null
        t1=$EPOCHREALTIME
        ((i >= 20)) && echo "$t0 $t1"
    done | awk '{ printf "%.6f\n", ($2 - $1) * 1e3 }' | sort -g |
        awk '{ d[NR] = $1; s += $1 }
        END { n = NR; printf "  200 runs (shell loop): mean %.2f ms, median %.2f ms, min %.2f ms\n",
              s / n, (d[int((n + 1) / 2)] + d[int(n / 2) + 1]) / 2, d[1] }'
fi
echo "  load average after the runs:$(uptime | sed 's/.*load average://')"

if ((failures)); then
    echo
    echo "run.sh: $failures run(s) failed (see above)" >&2
    exit 1
fi
