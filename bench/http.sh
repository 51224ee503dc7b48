#!/usr/bin/env bash
# HTTP API benchmark: wrk --latency against the real seatmeterd on loopback, with a fixed-body baseline
# (/healthz) measured in the same run.
#
#   bench/http.sh [BUILD_DIR]          (default: build)
#   bench/http.sh BUILD_DIR ingest     ingest rate alone, then while the API of the same daemon is loaded
#
# Two tables per endpoint:
#   closed loop:   wrk -c WRK_CONNECTIONS sends the next request as soon as an answer arrives: the most
#                  requests a second the daemon (sharing the CPUs with wrk) serves, and latency at
#                  saturation, which is mostly queueing once connections outnumber CPUs.
#   offered rate:  bench/paced.lua offers a fixed rate over PACED_CONNECTIONS connections, as a fleet of
#                  pollers does: latency of requests arriving at that rate. /latest is offered 20,000 req/s
#                  (issue 5's target); the heavier routes a dashboard fleet's rate (RATE_HEAVY).
#
# Two databases made by tests/integration/fill_db.py:
#   fleet:   100 agents x 10 minutes of 1 s samples  -> /api/v1/agents/{id}/latest, /metrics
#   history: 1 agent x 30 days of 1 s samples (2.6 million rows) -> a 24-hour series, a curve
# The history database takes about a minute to make; it is kept in $SEATMETER_BENCH_CACHE (default
# ~/.cache/seatmeter-bench) and reused while schema/*.sql and fill_db.py are unchanged.
#
# Environment: WRK_THREADS (1), WRK_CONNECTIONS (4), WRK_DURATION (5s), HTTP_THREADS (2),
# PACED_CONNECTIONS (32), RATE_LATEST (20000), RATE_HEAVY (200).
# Targets (issue 5): latest >= 20,000 req/s with p99 < 5 ms; series and curves p99 < 20 ms; ingest within
# 10% while /latest is under that load.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
[[ $build = /* ]] || build=$top/$build
daemon=$build/daemon/seatmeterd
fill=$top/tests/integration/fill_db.py
threads=${WRK_THREADS:-1}
conns=${WRK_CONNECTIONS:-4}
duration=${WRK_DURATION:-5s}
http_threads=${HTTP_THREADS:-2}
paced_conns=${PACED_CONNECTIONS:-32}
rate_latest=${RATE_LATEST:-20000}
rate_heavy=${RATE_HEAVY:-200}
paced=$top/bench/paced.lua

command -v wrk >/dev/null || { echo "wrk not installed (Debian package wrk)" >&2; exit 77; }
[[ -x $daemon ]] || { echo "no $daemon: build first (meson setup build && ninja -C build)" >&2; exit 1; }

mode=${2:-api}
# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
bench_init bench
start() { bench_start "$1" "$daemon" "$2" "$http_threads"; }
stop_last() { bench_stop_last; }

if [[ $mode == ingest ]]; then
        # The ingest load generator of bench/ingest-socket.c: 50 agents x 20,000 samples in frames of 100
        # over the unix socket, timed from the last Welcome to the last Ack (committed to disk). Each round
        # runs it alone, then while /latest of the same daemon is offered RATE_LATEST req/s, then while
        # wrk floods /latest as fast as it can (closed loop, 16 connections).
        bench_ingest_tool "$build" "$work/ingest-socket"
        latest_path=api/v1/agents/bench-0001/latest
        echo "ingest: 50 agents x 20,000 samples; API load on /$latest_path: $rate_latest req/s offered" \
             "(wrk -t1 -c$paced_conns -s bench/paced.lua), then a flood (wrk -t1 -c16);" \
             "$(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
        # name [wrk args...]: ingest rate with that wrk running against the daemon (none: alone)
        ingest_round() {
                local name=$1 rate wrk_pid=
                shift
                start "$name" "$work/$name.db"
                if (($#)); then
                        wrk "$@" "http://127.0.0.1:$port/$latest_path" >"$work/$name.wrk" &
                        wrk_pid=$!
                        sleep 1
                fi
                rate=$("$work/ingest-socket" load "$work/$name.sock" 50 20000 100 4000 |
                       sed -n 's/^samples_per_s=//p')
                [[ -z $wrk_pid ]] || wait "$wrk_pid"
                stop_last
                echo "$rate"
        }
        change() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%+.1f%%", (b / a - 1) * 100}'; }
        api_rate() { awk '/^Requests\/sec/ {printf "%.0f", $2}' "$work/$1.wrk"; }
        median() { bench_median; }
        printf '%-6s %14s %24s %10s %24s %10s\n' round "alone" "at $rate_latest req/s" "API req/s" \
                "under a flood" "API req/s"
        rounds=${INGEST_ROUNDS:-5}
        : >"$work/rates"
        for round in $(seq "$rounds"); do
                alone=$(ingest_round "alone$round")
                paced_rate=$(RATE=$rate_latest ingest_round "paced$round" -t1 -c"$paced_conns" -d6s -s "$paced")
                flood_rate=$(ingest_round "flood$round" -t1 -c16 -d6s)
                echo "$alone $paced_rate $flood_rate" >>"$work/rates"
                printf '%-6s %14s %14s (%7s) %10s %14s (%7s) %10s\n' "$round" "$alone" \
                        "$paced_rate" "$(change "$alone" "$paced_rate")" "$(api_rate "paced$round")" \
                        "$flood_rate" "$(change "$alone" "$flood_rate")" "$(api_rate "flood$round")"
        done
        alone=$(cut -d' ' -f1 "$work/rates" | median)
        paced_rate=$(cut -d' ' -f2 "$work/rates" | median)
        flood_rate=$(cut -d' ' -f3 "$work/rates" | median)
        printf '%-6s %14s %14s (%7s) %10s %14s (%7s)\n' median "$alone" "$paced_rate" \
                "$(change "$alone" "$paced_rate")" "" "$flood_rate" "$(change "$alone" "$flood_rate")"
        exit 0
fi

history=$(bench_history "$top")
cp "$history" "$work/history.db"
python3 "$fill" "$work/fleet.db" --agents 100 --hours 0.1667 --bbb 2 >/dev/null 2>"$work/fill.log" ||
        { cat "$work/fill.log" >&2; exit 1; }

start fleet "$work/fleet.db"
fleet_port=$port
start history "$work/history.db"
hist_port=$port
end_ms=$(sqlite3 "$work/history.db" 'SELECT max(time_ms) FROM samples' 2>/dev/null ||
         python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT max(time_ms) FROM samples').fetchone()[0])" "$work/history.db")
day_ms=86400000

wrk_summary() { bench_wrk_summary; }

# name rate url: one line of both tables
run() {
        local name=$1 rate=$2 url=$3
        curl -sf -o /dev/null "$url" || { echo "$name: $url does not answer 200" >&2; exit 1; }
        printf '%-34s %s | %6s/s %s\n' "$name" \
                "$(wrk -t"$threads" -c"$conns" -d"$duration" --latency "$url" | wrk_summary)" "$rate" \
                "$(RATE=$rate WRK_THREADS=1 wrk -t1 -c"$paced_conns" -d"$duration" --latency -s "$paced" "$url" |
                   wrk_summary)"
}

echo "closed loop: wrk -t$threads -c$conns -d$duration --latency;" \
     "offered rate: wrk -t1 -c$paced_conns -d$duration --latency -s bench/paced.lua;" \
     "seatmeterd with $http_threads HTTP threads; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %10s %9s %9s %9s   | %8s %10s %9s %9s %9s\n' "" "closed" "loop" "" "" "offered" "served" "" "" ""
printf '%-34s %10s %9s %9s %9s   | %8s %10s %9s %9s %9s\n' endpoint req/s p50 p90 p99 rate req/s p50 p90 p99
wrk -t1 -c4 -d1s "http://127.0.0.1:$fleet_port/healthz" >/dev/null # warm-up, not reported
run "baseline /healthz" "$rate_latest" "http://127.0.0.1:$fleet_port/healthz"
run "latest (100 agents)" "$rate_latest" "http://127.0.0.1:$fleet_port/api/v1/agents/agent-042/latest"
run "/metrics (100 agents)" "$rate_heavy" "http://127.0.0.1:$fleet_port/metrics"
run "agents (100)" "$rate_heavy" "http://127.0.0.1:$fleet_port/api/v1/agents"
run "curve cpu_ratio (30 d of 1 s)" "$rate_heavy" "http://127.0.0.1:$hist_port/api/v1/curves?agent=agent-000&metric=cpu_ratio"
run "curve csv working_set" "$rate_heavy" "http://127.0.0.1:$hist_port/api/v1/curves?agent=agent-000&metric=working_set_bytes&format=csv"
series="http://127.0.0.1:$hist_port/api/v1/agents/agent-000/series?from=$((end_ms - day_ms))&to=$end_ms"
run "series 24 h, 2 metrics" "$rate_heavy" "$series&metrics=cpu_ratio,users"
run "series 24 h, 5 metrics (dashboard)" "$rate_heavy" "$series&metrics=cpu_ratio,working_set_bytes,net_rx_bps,net_tx_bps,users"
run "series 24 h, all 10 metrics" "$rate_heavy" "$series"
run "series 30 d (hourly trends)" "$rate_heavy" "http://127.0.0.1:$hist_port/api/v1/agents/agent-000/series?from=$((end_ms - 30 * day_ms))&to=$end_ms"
run "series 15 min (dashboard live)" "$rate_heavy" "http://127.0.0.1:$hist_port/api/v1/agents/agent-000/series?from=$((end_ms - 900000))&to=$end_ms&metrics=cpu_ratio,working_set_bytes,net_rx_bps,net_tx_bps,users"
