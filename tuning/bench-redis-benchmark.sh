#!/usr/bin/env bash
# README "Performance": redis-server vs sluice-server under redis-benchmark.
#
# Usage: bash tuning/bench-redis-benchmark.sh
#   N=<requests per test>   default 1000000 (pipelined) and N/4 unpipelined
#   THREADS=<n>             sluice server-threads, default: nproc
#   OUT=<file>              also write the markdown report there
#   ROUNDS=<n>              runs of each test per server, default 3: the
#                           table gives medians and the range of the
#                           per-round ratios (one run swings +-15% here)
#   TESTS=<list>            redis-benchmark tests, default set,get,incr,mset;
#                           `xadd` is the telemetry path: XADD to one stream
#                           capped by MAXLEN ~ 1000000, random sensor ids and
#                           a 100-byte value per entry
#
# 1. Builds sluice-server in release mode once.
# 2. Starts redis-server and sluice-server on probed loopback ports with the
#    same settings (no persistence, default everything else).
# 3. For each server runs, in this one invocation,
#      redis-benchmark -c 50 -P 16 -d 100 -r 1000000 -t set,get,incr,mset -n N --csv
#    and the same with -P 1.
# 4. Prints a markdown table: rps of each, sluice/redis, p50/p99 of each,
#    the server's CPU time per request, and the machine it ran on. Servers are killed on exit (trap).
#
# redis-benchmark runs on the same machine: on a 2-core box it competes with
# the server for CPU, so compare ratios, not absolute numbers, and record
# the machine line with any result copied into README.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

N=${N:-1000000}
TESTS=${TESTS:-set,get,incr,mset}
N_P1=${N_P1:-$((N / 4))}
THREADS=${THREADS:-$(nproc)}
OUT=${OUT:-}
ROUNDS=${ROUNDS:-3}
for tool in redis-server redis-benchmark redis-cli; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install redis-server redis-tools)" >&2; exit 1; }
done

echo "building sluice-server (release)..." >&2
cargo build --release --bin sluice-server >&2
SLUICE=target/release/sluice-server

workdir=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$workdir"
}
trap cleanup EXIT INT TERM

# A port nobody listens on (bash's /dev/tcp: connect fails = free).
probe_port() {
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    echo "no free port found" >&2
    exit 1
}

# wait_ready PORT NAME LOG: bounded wait (10 s) for PING.
wait_ready() {
    for _ in $(seq 1000); do
        if [[ "$(redis-cli -p "$1" ping 2>/dev/null)" == PONG ]]; then
            return
        fi
        sleep 0.01
    done
    echo "$2 did not answer PING on port $1; log:" >&2
    cat "$3" >&2
    exit 1
}

common=(--bind 127.0.0.1 --save "" --appendonly no)
redis_port=$(probe_port)
redis-server "${common[@]}" --port "$redis_port" --daemonize no >"$workdir/redis.log" 2>&1 &
pids+=($!)
wait_ready "$redis_port" redis-server "$workdir/redis.log"
sluice_port=$(probe_port)
(cd "$workdir" && exec "$OLDPWD/$SLUICE" "${common[@]}" --port "$sluice_port" --server-threads "$THREADS") \
    >"$workdir/sluice.log" 2>&1 &
pids+=($!)
wait_ready "$sluice_port" sluice-server "$workdir/sluice.log"

# cpu_ticks PID: user+system CPU ticks the process has used so far.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# bench NAME PORT PID PIPELINE REQUESTS TEST -> CSV line
# "name,P,test,rps,p50,p99,server_cpu_us_per_request". redis-benchmark 7.0
# --csv columns: "test","rps","avg_latency_ms","min_latency_ms",
# "p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms".
# The client shares the machine, so throughput is capped by it; the server's
# own CPU per request shows the server's efficiency independently of that.
bench() {
    echo "redis-benchmark $1 -P $4 -n $5 -t $6 ..." >&2
    local before after
    before=$(cpu_ticks "$3")
    if [[ $6 == xadd ]]; then
        redis-benchmark -h 127.0.0.1 -p "$2" -c 50 -P "$4" -r 1000000 -n "$5" --csv \
            XADD telemetry MAXLEN '~' 1000000 '*' sensor __rand_int__ value "$(printf 'v%.0s' {1..100})" |
            sed 's/^"XADD[^"]*"/"XADD"/' >"$workdir/one.csv"
    else
        redis-benchmark -h 127.0.0.1 -p "$2" -c 50 -P "$4" -d 100 -r 1000000 \
            -t "$6" -n "$5" --csv >"$workdir/one.csv"
    fi
    after=$(cpu_ticks "$3")
    awk -F'","' -v name="$1" -v p="$4" -v ticks=$((after - before)) -v tick_us="$TICK_US" -v n="$5" '
        NR == 1 { next }
        { gsub(/"/, ""); split($0, f, ",")
          printf "%s,%s,%s,%s,%s,%s,%.2f\n", name, p, f[1], f[2], f[5], f[7], ticks * tick_us / n }' "$workdir/one.csv"
}

results="$workdir/results.csv"
for p in 16 1; do
    n=$N
    [[ $p == 1 ]] && n=$N_P1
    # Alternate the servers test by test, and which goes first round by
    # round, so drift on a noisy host hits both.
    for test in ${TESTS//,/ }; do
        for round in $(seq "$ROUNDS"); do
            if ((round % 2)); then
                bench redis "$redis_port" "${pids[0]}" "$p" "$n" "$test" >>"$results"
                bench sluice "$sluice_port" "${pids[1]}" "$p" "$n" "$test" >>"$results"
            else
                bench sluice "$sluice_port" "${pids[1]}" "$p" "$n" "$test" >>"$results"
                bench redis "$redis_port" "${pids[0]}" "$p" "$n" "$test" >>"$results"
            fi
        done
    done
done

report() {
    echo "### redis-benchmark: redis-server vs sluice-server"
    echo
    echo "\`redis-benchmark -c 50 -P <P> -d 100 -r 1000000 -t $TESTS -n <N> --csv\`" \
        "(N=$N at -P 16, N=$N_P1 at -P 1); sluice server-threads $THREADS;" \
        "medians of $ROUNDS alternating rounds, with the range of the per-round ratios."
    echo
    echo "| test | -P | redis rps | sluice rps | sluice/redis | ratio range | redis p50 ms | sluice p50 ms | redis p99 ms | sluice p99 ms | redis CPU us/req | sluice CPU us/req |"
    echo "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"
    awk -F, '
        function median(name, k, col,    i, j, t, m, v) {
            m = cnt[name, k]
            for (i = 1; i <= m; i++) v[i] = val[name, k, col, i]
            for (i = 2; i <= m; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
            return v[int((m + 1) / 2)]
        }
        { key = $3 SUBSEP $2; if (!(key in seen)) { seen[key] = 1; order[++n] = key }
          c = ++cnt[$1, key]
          val[$1, key, "rps", c] = $4; val[$1, key, "p50", c] = $5
          val[$1, key, "p99", c] = $6; val[$1, key, "cpu", c] = $7 }
        END {
            for (i = 1; i <= n; i++) {
                k = order[i]; split(k, kp, SUBSEP)
                lo = ""; hi = ""
                for (j = 1; j <= cnt["redis", k] && j <= cnt["sluice", k]; j++) {
                    q = val["sluice", k, "rps", j] / val["redis", k, "rps", j]
                    if (lo == "" || q < lo) lo = q
                    if (hi == "" || q > hi) hi = q
                }
                r = median("redis", k, "rps"); s = median("sluice", k, "rps")
                ratio = (r > 0) ? sprintf("%.2f", s / r) : "n/a"
                printf "| %s | %s | %.0f | %.0f | %s | %.2f-%.2f | %s | %s | %s | %s | %s | %s |\n", kp[1], kp[2], r, s, ratio, lo, hi,
                    median("redis", k, "p50"), median("sluice", k, "p50"), median("redis", k, "p99"), median("sluice", k, "p99"),
                    median("redis", k, "cpu"), median("sluice", k, "cpu")
            }
        }' "$results"
    echo
    echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'))," \
        "kernel $(uname -r), redis-server $(redis-server --version | awk '{print $3}' | tr -d 'v=')," \
        "sluice $(git rev-parse --short HEAD 2>/dev/null || echo 'uncommitted'), $(date -u +%Y-%m-%d)," \
        "$(python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import benchlib; print(benchlib.idle_note())' "$(dirname "$0")")."
}

if [[ -n "$OUT" ]]; then
    report | tee "$OUT"
else
    report
fi
