# Shell functions shared by bench/http.sh and bench/compare.sh (sourced, not run).

# bench_init NAME: a temporary folder `work` (/tmp/seatmeter-NAME-*) and the array `pids` of the daemons
# started; on exit the daemons are stopped and the folder removed.
bench_init() {
        work=$(mktemp -d "/tmp/seatmeter-$1-XXXXXX")
        pids=()
        trap bench_cleanup EXIT
}
bench_cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
        for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
        rm -rf "$work"
}

# bench_start NAME DAEMON DB [HTTP_THREADS]: starts DAEMON on DB with the unix ingest socket
# $work/NAME.sock and HTTP on a free loopback port, waits for "ready", and sets `port`. Not to be called
# in a subshell: the daemon's pid must reach the caller's cleanup.
port=
bench_start() {
        local name=$1 daemon=$2 db=$3 http_threads=${4:-2}
        printf '[daemon]\nraw_retention_days = 3650\nhttp_threads = %s\nhttp_max_connections = 1024\n' \
                "$http_threads" >"$work/$name.conf"
        "$daemon" --config "$work/$name.conf" --db "$db" --http 127.0.0.1:0 \
                --listen "unix:$work/$name.sock" >"$work/$name.log" 2>&1 &
        pids+=($!)
        for _ in $(seq 300); do
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

# bench_stop_last: stops the daemon started last.
bench_stop_last() {
        kill "${pids[-1]}" 2>/dev/null || true
        wait "${pids[-1]}" 2>/dev/null || true
}

# bench_ingest_tool BUILD OUT: compiles bench/ingest-socket.c (the load generator) against BUILD's
# generated protobuf code.
bench_ingest_tool() {
        local top build=$1 out=$2
        top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
        cc -O2 -std=gnu11 -D_GNU_SOURCE -o "$out" "$top/bench/ingest-socket.c" \
                "$build/proto/seatmeter.pb-c.c" -I "$build" -I "$top" \
                $(pkg-config --cflags --libs libprotobuf-c sqlite3)
}

# bench_history SOURCE_ROOT: prints the path of a database of 1 agent x 30 days of 1 s samples made by
# SOURCE_ROOT's tests/integration/fill_db.py with SOURCE_ROOT's schema; made once (about a minute) and
# kept in $SEATMETER_BENCH_CACHE (default ~/.cache/seatmeter-bench) while that schema and fill_db.py
# are unchanged.
bench_history() {
        local src=$1 cache=${SEATMETER_BENCH_CACHE:-$HOME/.cache/seatmeter-bench} stamp history
        mkdir -p "$cache"
        stamp=$(cat "$src"/schema/*.sql "$src/tests/integration/fill_db.py" | sha256sum | cut -c1-16)
        history=$cache/history-30d-$stamp.db
        if [[ ! -f $history ]]; then
                echo "making 30 days of 1 s history (once, cached in $cache) ..." >&2
                SEATMETER_SOURCE_ROOT=$src python3 "$src/tests/integration/fill_db.py" "$history.tmp" \
                        --agents 1 --days 30 --bbb 1 >/dev/null 2>"$work/fill.log" ||
                        { cat "$work/fill.log" >&2; exit 1; }
                mv "$history.tmp" "$history"
        fi
        echo "$history"
}

# bench_wrk_summary: reads wrk --latency output, prints "req/s p50 p90 p99 [errors]".
bench_wrk_summary() {
        awk '/^Requests\/sec/ {rps = $2} $1 == "50%" {p50 = $2} $1 == "90%" {p90 = $2} $1 == "99%" {p99 = $2}
             /Non-2xx|Socket errors/ {errs = errs $0 " "}
             END {printf "%10s %9s %9s %9s  %s", rps, p50, p90, p99, errs}'
}

# bench_median: the median of the numbers on stdin, one a line.
bench_median() {
        sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
