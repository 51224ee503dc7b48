#!/usr/bin/env bash
# HTTP API benchmark: wrk --latency against the real seatmeterd on loopback, with a fixed-body baseline
# (/healthz) measured in the same run.
#
#   bench/http.sh [BUILD_DIR]          (default: build)
#   bench/http.sh BUILD_DIR ingest     ingest rate alone, then while wrk floods the API of the same daemon
#
# Two databases made by tests/integration/fill_db.py:
#   fleet:   100 agents x 10 minutes of 1 s samples  -> /api/v1/agents/{id}/latest, /metrics
#   history: 1 agent x 30 days of 1 s samples (2.6 million rows) -> a 24-hour series, a curve
# The history database takes about a minute to make; it is kept in $SEATMETER_BENCH_CACHE (default
# ~/.cache/seatmeter-bench) and reused while schema/*.sql and fill_db.py are unchanged.
#
# Environment: WRK_THREADS (2), WRK_CONNECTIONS (32), WRK_DURATION (10s), HTTP_THREADS (2).
# Targets (issue 5): latest >= 20,000 req/s with p99 < 5 ms; series and curves p99 < 20 ms.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
[[ $build = /* ]] || build=$top/$build
daemon=$build/daemon/seatmeterd
fill=$top/tests/integration/fill_db.py
threads=${WRK_THREADS:-2}
conns=${WRK_CONNECTIONS:-32}
duration=${WRK_DURATION:-10s}
http_threads=${HTTP_THREADS:-2}

command -v wrk >/dev/null || { echo "wrk not installed (Debian package wrk)" >&2; exit 77; }
[[ -x $daemon ]] || { echo "no $daemon: build first (meson setup build && ninja -C build)" >&2; exit 1; }

mode=${2:-api}
work=$(mktemp -d /tmp/seatmeter-bench-XXXXXX)
pids=()
cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
        for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
        rm -rf "$work"
}
trap cleanup EXIT

# Starts seatmeterd on db and sets port (not in a subshell: its pid must reach the cleanup).
port=
start() {
        local name=$1 db=$2
        printf '[daemon]\nraw_retention_days = 3650\nhttp_threads = %s\nhttp_max_connections = 1024\n' \
                "$http_threads" >"$work/$name.conf"
        "$daemon" --config "$work/$name.conf" --db "$db" --http 127.0.0.1:0 \
                --listen "unix:$work/$name.sock" >"$work/$name.log" 2>&1 &
        pids+=($!)
        for _ in $(seq 100); do
                if grep -q 'ready http=' "$work/$name.log"; then
                        port=$(grep -o 'ready http=[0-9.]*:[0-9]*' "$work/$name.log" | sed 's/.*://')
                        return
                fi
                sleep 0.1
        done
        echo "seatmeterd ($name) did not get ready:" >&2
        cat "$work/$name.log" >&2
        exit 1
}

stop_last() {
        kill "${pids[-1]}" 2>/dev/null || true
        wait "${pids[-1]}" 2>/dev/null || true
}

if [[ $mode == ingest ]]; then
        # The ingest load generator of bench/ingest-socket.c: 50 agents x 20,000 samples in frames of 100
        # over the unix socket, timed from the last Welcome to the last Ack (committed to disk).
        cc -O2 -std=gnu11 -D_GNU_SOURCE -o "$work/ingest-socket" "$top/bench/ingest-socket.c" \
                "$build/proto/seatmeter.pb-c.c" -I "$build" -I "$top" \
                $(pkg-config --cflags --libs libprotobuf-c sqlite3)
        echo "ingest: 50 agents x 20,000 samples; API load: wrk -t1 -c16 on /api/v1/agents/bench-0001/latest;" \
             "$(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
        for round in 1 2 3; do
                start "alone$round" "$work/alone$round.db"
                alone=$("$work/ingest-socket" load "$work/alone$round.sock" 50 20000 100 4000 |
                        sed -n 's/^samples_per_s=//p')
                stop_last
                start "loaded$round" "$work/loaded$round.db"
                wrk -t1 -c16 -d12s "http://127.0.0.1:$port/api/v1/agents/bench-0001/latest" >"$work/wrk$round" &
                wrk_pid=$!
                sleep 1
                loaded=$("$work/ingest-socket" load "$work/loaded$round.sock" 50 20000 100 4000 |
                         sed -n 's/^samples_per_s=//p')
                wait "$wrk_pid"
                stop_last
                printf 'round %d: ingest alone %s samples/s, under API load %s samples/s (%s%%), API %s req/s\n' \
                        "$round" "$alone" "$loaded" "$(awk -v a="$alone" -v b="$loaded" 'BEGIN {printf "%+.0f", (b / a - 1) * 100}')" \
                        "$(awk '/^Requests\/sec/ {print $2}' "$work/wrk$round")"
        done
        exit 0
fi

cache=${SEATMETER_BENCH_CACHE:-$HOME/.cache/seatmeter-bench}
mkdir -p "$cache"
stamp=$(cat "$top"/schema/*.sql "$fill" | sha256sum | cut -c1-16)
history=$cache/history-30d-$stamp.db
if [[ ! -f $history ]]; then
        echo "making 30 days of 1 s history (once, cached in $cache) ..."
        python3 "$fill" "$history.tmp" --agents 1 --days 30 --bbb 1 >/dev/null
        mv "$history.tmp" "$history"
fi
cp "$history" "$work/history.db"
python3 "$fill" "$work/fleet.db" --agents 100 --hours 0.1667 --bbb 2 >/dev/null

start fleet "$work/fleet.db"
fleet_port=$port
start history "$work/history.db"
hist_port=$port
end_ms=$(sqlite3 "$work/history.db" 'SELECT max(time_ms) FROM samples' 2>/dev/null ||
         python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT max(time_ms) FROM samples').fetchone()[0])" "$work/history.db")
day_ms=86400000

# name url [target_rps target_p99_ms]
run() {
        local name=$1 url=$2 out rps p50 p99 errs
        curl -sf -o /dev/null "$url" || { echo "$name: $url does not answer 200" >&2; exit 1; }
        out=$(wrk -t"$threads" -c"$conns" -d"$duration" --latency "$url")
        rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
        p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
        p90=$(awk '$1 == "90%" {print $2}' <<<"$out")
        p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
        errs=$(awk '/Non-2xx|Socket errors/ {printf "%s ", $0}' <<<"$out")
        printf '%-34s %10s %9s %9s %9s  %s\n' "$name" "$rps" "$p50" "$p90" "$p99" "$errs"
}

echo "wrk -t$threads -c$conns -d$duration --latency; seatmeterd with $http_threads HTTP threads; $(nproc) CPUs;" \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %10s %9s %9s %9s\n' endpoint req/s p50 p90 p99
run "baseline /healthz" "http://127.0.0.1:$fleet_port/healthz"
run "latest (100 agents)" "http://127.0.0.1:$fleet_port/api/v1/agents/agent-042/latest"
run "/metrics (100 agents)" "http://127.0.0.1:$fleet_port/metrics"
run "agents (100)" "http://127.0.0.1:$fleet_port/api/v1/agents"
run "curve cpu_ratio (30 d of 1 s)" "http://127.0.0.1:$hist_port/api/v1/curves?agent=agent-000&metric=cpu_ratio"
run "curve csv working_set" "http://127.0.0.1:$hist_port/api/v1/curves?agent=agent-000&metric=working_set_bytes&format=csv"
series="http://127.0.0.1:$hist_port/api/v1/agents/agent-000/series?from=$((end_ms - day_ms))&to=$end_ms"
run "series 24 h, 2 metrics" "$series&metrics=cpu_ratio,users"
run "series 24 h, 5 metrics (dashboard)" "$series&metrics=cpu_ratio,working_set_bytes,net_rx_bps,net_tx_bps,users"
run "series 24 h, all 10 metrics" "$series"
run "series 30 d (hourly trends)" "http://127.0.0.1:$hist_port/api/v1/agents/agent-000/series?from=$((end_ms - 30 * day_ms))&to=$end_ms"
run "series 15 min (dashboard live)" "http://127.0.0.1:$hist_port/api/v1/agents/agent-000/series?from=$((end_ms - 900000))&to=$end_ms&metrics=cpu_ratio,working_set_bytes,net_rx_bps,net_tx_bps,users"
