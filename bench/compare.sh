#!/usr/bin/env bash
# Before/after: the ingest and HTTP API benchmarks on two git revisions, interleaved, in one run.
#
#   bench/compare.sh OLD NEW        e.g. bench/compare.sh 49997bb origin/main
#
# Each revision is exported (git archive, so the working tree is untouched) into a temporary folder and
# built there in a release build (-Dbuildtype=release -Dtests=false, and -Dwerror=false: a revision is
# measured here, not judged, and an older one may warn). Then, round after round, the same load runs
# against OLD's and NEW's seatmeterd, in the order OLD NEW in odd rounds and NEW OLD in even ones, so
# that a machine getting slower or faster during the run weighs on both alike:
#
#   ingest   the load generator of bench/ingest-socket.c (compiled once, from this tree): AGENTS simulated
#            agents stream SAMPLES pre-encoded samples each (Sample frames) over the unix socket into a
#            fresh database, as fast as Acks allow; samples/s from the last Welcome to the last Ack.
#   api      wrk -t1 -cCONNS --latency, closed loop, against both daemons serving copies of the same two
#            databases (bench/http.sh's: 100 agents x 10 minutes, and 1 agent x 30 days of 1 s samples),
#            both made by OLD's tests/integration/fill_db.py with OLD's schema, so NEW also proves it
#            migrates them; req/s and p99 per endpoint.
#
# Prints one table: the median over the rounds for OLD and NEW, and the ratio new/old (above 1 is
# faster for rates, slower for latencies), with the smallest and largest ratio of a single round.
# Environment: ROUNDS (5), AGENTS (100), SAMPLES (3000), CONNS (4), DURATION (3s), HTTP_THREADS (2),
# SEATMETER_BENCH_CACHE (where the 30-day database is kept; see bench/lib.sh).
# About 5 minutes for the two builds and 5 more for the default rounds on 2 CPUs. Needs wrk.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
(($# == 2)) || { sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
rounds=${ROUNDS:-5}
agents=${AGENTS:-100}
samples=${SAMPLES:-3000}
conns=${CONNS:-4}
duration=${DURATION:-3s}
http_threads=${HTTP_THREADS:-2}

command -v wrk >/dev/null || { echo "wrk not installed (Debian package wrk)" >&2; exit 77; }
declare -A rev
rev[old]=$(git -C "$top" rev-parse --verify "$1^{commit}")
rev[new]=$(git -C "$top" rev-parse --verify "$2^{commit}")

# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"
bench_init compare

for side in old new; do
        echo "building $side (${rev[$side]:0:12}) in a release build ..." >&2
        mkdir "$work/$side-src"
        git -C "$top" archive "${rev[$side]}" | tar -x -C "$work/$side-src"
        if ! { meson setup "$work/$side-build" "$work/$side-src" -Dbuildtype=release -Dwerror=false -Dtests=false &&
               ninja -C "$work/$side-build"; } >"$work/$side-build.log" 2>&1; then
                tail -30 "$work/$side-build.log" >&2
                echo "building $side failed" >&2
                exit 1
        fi
done
bench_ingest_tool "$work/new-build" "$work/ingest-socket"

echo "making the databases ..." >&2
history=$(bench_history "$work/old-src")
SEATMETER_SOURCE_ROOT=$work/old-src python3 "$work/old-src/tests/integration/fill_db.py" "$work/fleet.db" \
        --agents 100 --hours 0.1667 --bbb 2 >/dev/null 2>"$work/fill.log" || { cat "$work/fill.log" >&2; exit 1; }
end_ms=$(python3 -c "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT max(time_ms) FROM samples').fetchone()[0])" "$history")
day_ms=86400000

# The API daemons run for the whole comparison, each on its own copies of the two databases.
declare -A fleet_port hist_port
for side in old new; do
        cp "$work/fleet.db" "$work/$side-fleet.db"
        cp "$history" "$work/$side-history.db"
        bench_start "$side-fleet" "$work/$side-build/daemon/seatmeterd" "$work/$side-fleet.db" "$http_threads"
        fleet_port[$side]=$port
        bench_start "$side-history" "$work/$side-build/daemon/seatmeterd" "$work/$side-history.db" "$http_threads"
        hist_port[$side]=$port
done

# name|database|path: the endpoints of bench/http.sh that read the database through the code that moved
# (series, curves, capacity, metrics), and /healthz and latest as the fixed-cost baseline.
series="api/v1/agents/agent-000/series?to=$end_ms"
endpoints=(
        "/healthz|fleet|healthz"
        "latest (100 agents)|fleet|api/v1/agents/agent-042/latest"
        "/metrics (100 agents)|fleet|metrics"
        "agents (100)|fleet|api/v1/agents"
        "curve cpu_ratio (30 d of 1 s)|hist|api/v1/curves?agent=agent-000&metric=cpu_ratio"
        "curve csv working_set|hist|api/v1/curves?agent=agent-000&metric=working_set_bytes&format=csv"
        "series 24 h, 5 metrics|hist|$series&from=$((end_ms - day_ms))&metrics=cpu_ratio,working_set_bytes,net_rx_bps,net_tx_bps,users"
        "series 30 d (hourly trends)|hist|$series&from=$((end_ms - 30 * day_ms))"
        "series 15 min|hist|$series&from=$((end_ms - 900000))&metrics=cpu_ratio,working_set_bytes,net_rx_bps,net_tx_bps,users"
)
url() { # side database path
        local p
        if [[ $2 == fleet ]]; then p=${fleet_port[$1]}; else p=${hist_port[$1]}; fi
        echo "http://127.0.0.1:$p/$3"
}
for e in "${endpoints[@]}"; do
        IFS='|' read -r name db path <<<"$e"
        for side in old new; do
                curl -sf -o /dev/null "$(url "$side" "$db" "$path")" ||
                        { echo "$side: /$path does not answer 200" >&2; exit 1; }
        done
done

# One figure of one run (key label side value): "$work/fig/KEY.SIDE" gets a line per round.
mkdir "$work/fig"
record() {
        echo "$2" >"$work/fig/$1.label"
        echo "$4" >>"$work/fig/$1.$3"
}
to_us() { awk '{v = $1; if (v ~ /us$/) v += 0; else if (v ~ /ms$/) v *= 1000; else if (v ~ /s$/) v *= 1000000; print v}'; }

ingest_run() { # side round
        local rate
        bench_start "$1-ingest$2" "$work/$1-build/daemon/seatmeterd" "$work/$1-ingest$2.db"
        rate=$("$work/ingest-socket" load "$work/$1-ingest$2.sock" "$agents" "$samples" 1 "$samples" |
               sed -n 's/^samples_per_s=//p')
        bench_stop_last
        rm -f "$work/$1-ingest$2.db"*
        record 00 "ingest samples/s" "$1" "$rate"
}
api_run() { # side
        local i=0 name db path out
        for e in "${endpoints[@]}"; do
                IFS='|' read -r name db path <<<"$e"
                i=$((i + 1))
                out=$(wrk -t1 -c"$conns" -d"$duration" --latency "$(url "$1" "$db" "$path")" | bench_wrk_summary)
                record "$(printf '%02d' "$i")a" "$name req/s" "$1" "$(echo "$out" | awk '{print $1}')"
                record "$(printf '%02d' "$i")b" "$name p99 us" "$1" "$(echo "$out" | awk '{print $4}' | to_us)"
        done
}

for round in $(seq "$rounds"); do
        if ((round % 2)); then order="old new"; else order="new old"; fi
        echo "round $round of $rounds ($order) ..." >&2
        for side in $order; do ingest_run "$side" "$round"; done
        for side in $order; do api_run "$side"; done
done

echo "old ${rev[old]:0:12} ($1), new ${rev[new]:0:12} ($2): release builds; $rounds rounds, interleaved;" \
     "ingest $agents agents x $samples samples; API wrk -t1 -c$conns -d$duration closed loop," \
     "$http_threads HTTP threads; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-46s %12s %12s %8s %17s\n' "benchmark (median of $rounds)" old new new/old "rounds' new/old"
for f in "$work"/fig/*.old; do
        key=$(basename "$f" .old)
        o=$(bench_median <"$f")
        n=$(bench_median <"$work/fig/$key.new")
        range=$(paste "$f" "$work/fig/$key.new" |
                awk '$1 > 0 {r = $2 / $1; if (min == "" || r < min) min = r; if (r > max) max = r}
                     END {printf "%.2f..%.2f", min, max}')
        printf '%-46s %12.0f %12.0f %8.3f %17s\n' "$(cat "$work/fig/$key.label")" "$o" "$n" \
                "$(awk -v o="$o" -v n="$n" 'BEGIN {print (o > 0) ? n / o : 0}')" "$range"
done
