#!/bin/sh
# Cost of seatmeter-agent per sample beside one node_exporter scrape, in one command:
#
#   bench/agent.sh [AGENT] [N]
#
# AGENT defaults to build/agent/seatmeter-agent, N (samples and scrapes) to 2000. The agent runs
# "sample --count N --interval 0" against this machine's real cgroups; its CPU time (user+sys, from
# /usr/bin/time) divided by N is the cost per sample, its peak RSS the memory. node_exporter
# (Debian's prometheus-node-exporter, installed if missing) runs on 127.0.0.1 at a free port with only
# its cpu, meminfo, netdev and diskstats collectors; it is scraped N times with curl and its CPU time is
# taken from /proc/PID/stat before and after. Exits 0 when the agent meets its targets (<= 50 us of CPU
# per sample, <= 4 MiB RSS), 1 otherwise.
set -eu

AGENT=${1:-build/agent/seatmeter-agent}
N=${2:-2000}
TARGET_US=50
TARGET_RSS_KB=4096
NE=/usr/bin/prometheus-node-exporter

[ -x "$AGENT" ] || { echo "no agent at $AGENT (build it first)"; exit 2; }
if [ ! -x $NE ] || ! command -v curl >/dev/null || [ ! -x /usr/bin/time ]; then
        apt-get install -y prometheus-node-exporter curl time >/dev/null
fi

tmp=$(mktemp -d)
ne_pid=
cleanup() {
        [ -n "$ne_pid" ] && kill "$ne_pid" 2>/dev/null && wait "$ne_pid" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# --- the agent ---
/usr/bin/time -f '%U %S %M' -o "$tmp/time" "$AGENT" sample --count "$N" --interval 0 >"$tmp/out"
lines=$(wc -l <"$tmp/out")
[ "$lines" -eq "$N" ] || { echo "agent printed $lines lines, expected $N"; exit 2; }
read -r user sys rss_kb <"$tmp/time"
agent_us=$(echo "$user $sys $N" | awk '{ printf "%.1f", ($1 + $2) * 1e6 / $3 }')

# --- node_exporter ---
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
$NE --web.listen-address=127.0.0.1:$port --collector.disable-defaults --collector.cpu --collector.meminfo \
        --collector.netdev --collector.diskstats >"$tmp/ne.log" 2>&1 &
ne_pid=$!
i=0
until curl -sf -o /dev/null "http://127.0.0.1:$port/metrics"; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "node_exporter did not start:"; cat "$tmp/ne.log"; exit 2; }
        sleep 0.1
done
ticks() { awk '{ print $14 + $15 }' "/proc/$ne_pid/stat"; }
hz=$(getconf CLK_TCK)
before=$(ticks)
i=0
urls=
while [ $i -lt "$N" ]; do
        urls="$urls http://127.0.0.1:$port/metrics"
        i=$((i + 1))
        # one curl per 100 scrapes keeps curl's own start-up out of node_exporter's figures
        if [ $((i % 100)) -eq 0 ] || [ $i -eq "$N" ]; then
                # shellcheck disable=SC2086
                curl -sf $urls >/dev/null
                urls=
        fi
done
after=$(ticks)
ne_rss_kb=$(awk '/^VmHWM/ { print $2 }' "/proc/$ne_pid/status")
ne_us=$(echo "$before $after $hz $N" | awk '{ printf "%.1f", ($2 - $1) * 1e6 / $3 / $4 }')

echo "samples/scrapes:          $N"
echo "seatmeter-agent per sample: ${agent_us} us CPU, peak RSS $((rss_kb / 1024)).$(((rss_kb % 1024) * 10 / 1024)) MiB (${rss_kb} kB)"
echo "node_exporter per scrape:   ${ne_us} us CPU, peak RSS $((ne_rss_kb / 1024)) MiB (${ne_rss_kb} kB)"
echo "$ne_us $agent_us" | awk '{ if ($2 > 0) printf "ratio: one scrape costs %.0f samples\n", $1 / $2 }'
ok=$(echo "$agent_us $TARGET_US $rss_kb $TARGET_RSS_KB" | awk '{ print ($1 <= $2 && $3 <= $4) ? 1 : 0 }')
if [ "$ok" = 1 ]; then
        echo "targets met (<= ${TARGET_US} us, <= $((TARGET_RSS_KB / 1024)) MiB)"
else
        echo "targets MISSED (<= ${TARGET_US} us, <= $((TARGET_RSS_KB / 1024)) MiB)"
        exit 1
fi
