# wrk runs and their figures, shared by the benchmarks that drive HTTP with wrk
# (bench/http, bench/services). Sourced; the caller sets THREADS and CONNECTIONS.

TICK=$(getconf CLK_TCK)
# CPU time (user + system, in ticks) of a process and its threads; for nginx, of the
# master and its workers.
cpu_ticks() {
    local pids=("$1") total=0 p f
    [[ $2 == nginx ]] && mapfile -t -O 1 pids < <(ps -o pid= --ppid "$1")
    for p in "${pids[@]}"; do
        f=$(cat "/proc/${p// /}/stat" 2>/dev/null) || continue
        f=${f##*) } # after the command name, which may hold spaces
        read -r -a a <<<"$f"
        total=$((total + a[11] + a[12])) # utime, stime: fields 14 and 15
    done
    echo "$total"
}

# Busy ticks of the whole machine (user, nice, system, irq, softirq) from /proc/stat.
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

# run_wrk NAME PID URL DURATION FILE [WRK OPTIONS]: one wrk run (-t$THREADS
# -c$CONNECTIONS) against the server PID; its output in FILE, and in FILE.cpu the
# server's CPU ticks, wrk's own CPU seconds, and the cores that everything else on the
# machine kept busy meanwhile (other people's work: the noise in the figures). NAME
# nginx counts the master's workers too.
run_wrk() {
    local name=$1 pid=$2 url=$3 duration=$4 file=$5 before after m0 m1 t0 t1
    shift 5
    before=$(cpu_ticks "$pid" "$name")
    m0=$(machine_ticks)
    t0=$EPOCHREALTIME
    local TIMEFORMAT='%U %S'
    { time wrk -t"$THREADS" -c"$CONNECTIONS" -d"$duration" --latency "$@" "$url" >"$file" 2>&1 || true; } 2>"$file.time"
    t1=$EPOCHREALTIME
    m1=$(machine_ticks)
    after=$(cpu_ticks "$pid" "$name")
    awk -v s=$((after - before)) -v m=$((m1 - m0)) -v k="$TICK" -v t0="$t0" -v t1="$t1" '{
        w = $1 + $2; o = (m - s - w * k) / k / (t1 - t0)
        printf "%d %.2f %.2f\n", s, w, (o < 0 ? 0 : o)
    }' "$file.time" >"$file.cpu"
}

# The figures of one wrk output: requests/s, p50 and p99 in ms, requests, errors.
parse_wrk() {
    awk '
        function ms(v) {
            if (v ~ /us$/) return v / 1000
            if (v ~ /ms$/) return v + 0
            if (v ~ /m$/) return v * 60000
            if (v ~ /s$/) return v * 1000
            return v
        }
        /^Requests\/sec:/ { rps = $2 }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        / requests in / { n = $1 }
        /Non-2xx or 3xx responses:/ { bad += $NF }
        /Socket errors:/ { gsub(",", ""); bad += $4 + $6 + $8 + $10 }
        END { printf "%s %s %s %s %d\n", rps, p50, p99, n, bad }
    ' "$1"
}

