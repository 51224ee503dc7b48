#!/usr/bin/env python3
"""Creates a seatmeter database with the real schema (schema/*.sql) and synthetic, deterministic rows:
agents, raw samples, hourly trends, netdev counters, per-user curves (with histograms in the daemon's
serialised form) and BBB servers, so the HTTP API can be tested and benchmarked without the ingest path.

    fill_db.py DB [--agents N] [--hours H | --days D] [--interval-ms MS] [--end-ms T] [--bbb N]

Every value is a function of the agent index k and the sample time, documented in value_at(), so tests
can compute what the API must answer. Trends and curves are computed from the samples by SQL, the way
the daemon aggregates them. 30 days of 1 s samples for one agent (2.6 million rows) take about a minute.
"""

import argparse
import glob
import math
import os
import sqlite3
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("SEATMETER_SOURCE_ROOT", os.path.normpath(os.path.join(HERE, "..", "..")))

VIRTS = ["lxc", "kvm", "openvz", "docker", "none"]
MIB = 1024 * 1024
EFFECTIVE_CPUS = 2.0
MEMORY_LIMIT = 4096 * MIB
USERS_LEVELS = 41          # users cycles 0..40, one step per USERS_STEP_S
USERS_STEP_S = 60
CPU_RATIO_BASE = 0.05      # cpu_ratio = CPU_RATIO_BASE + CPU_RATIO_PER_USER * users + noise
CPU_RATIO_PER_USER = 0.015
WS_BASE = 500 * MIB        # working_set = WS_BASE + WS_PER_USER * users + noise
WS_PER_USER = 20 * MIB
NET_RX_PER_USER = 50_000.0
NET_TX_PER_USER = 120_000.0
INTERFACES = ["eth0", "eth1"]

# Curve metrics, as daemon/curve.h numbers them, and the sample column each aggregates.
CURVE_METRICS = [(0, "cpu_ratio"), (1, "cpu_cores"), (2, "working_set_bytes"), (3, "net_rx_bps"),
                 (4, "net_tx_bps")]
HIST_VERSION = 1
HIST_PER_OCTAVE = 64
HIST_MIN_EXP = -32
HIST_MAX_EXP = 64


def agent_id(k):
    return f"agent-{k:03d}"


def has_bbb(k):
    """Agents with an even index run a BBB server (users known); odd ones have none (users NULL)."""
    return k % 2 == 0


def noise(t_s, k):
    """Deterministic noise in [0, 1)."""
    return ((t_s * 7919 + k * 104729) % 1000) / 1000.0


def value_at(k, t_s):
    """The rates and gauges of agent k at second t_s (seconds since the start of its history)."""
    users = (t_s // USERS_STEP_S) % USERS_LEVELS if has_bbb(k) else None
    u = users or 0
    nz = noise(t_s, k)
    cpu_ratio = CPU_RATIO_BASE + CPU_RATIO_PER_USER * u + 0.01 * nz
    ws = WS_BASE + WS_PER_USER * u + int(MIB * nz)
    return {
        "users": users,
        "cpu_ratio": cpu_ratio,
        "cpu_cores": cpu_ratio * EFFECTIVE_CPUS,
        "throttled_ratio": max(0.0, cpu_ratio - 0.7),
        "working_set_bytes": ws,
        "memory_bytes": ws + 200 * MIB,
        "cache_bytes": 200 * MIB,
        "anon_bytes": ws - 50 * MIB,
        "swap_bytes": 0,
        "io_read_bps": 1000.0 + 10 * nz,
        "io_write_bps": 5000.0 + 10 * nz,
        "net_rx_bps": NET_RX_PER_USER * u + 100 * nz,
        "net_tx_bps": NET_TX_PER_USER * u + 100 * nz,
    }


def schema_files():
    files = sorted(glob.glob(os.path.join(SOURCE_ROOT, "schema", "[0-9][0-9][0-9]_*.sql")))
    if not files:
        raise SystemExit(f"no schema/*.sql under {SOURCE_ROOT}")
    return files


def create(path):
    for p in (path, path + "-wal", path + "-shm", path + "-journal"):
        if os.path.exists(p):
            os.unlink(p)
    con = sqlite3.connect(path, isolation_level=None)
    version = 0
    for f in schema_files():
        with open(f) as fh:
            con.executescript(fh.read())
        version = int(os.path.basename(f)[:3])
    con.execute(f"PRAGMA user_version = {version}")
    return con


def _varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def hist_blob(zero, buckets):
    """The daemon's serialised histogram (daemon/curve.c): version, zero count, pair count, then per
    non-empty bucket ascending a delta (the first zig-zag coded, later ones the gap minus one) and a
    count, all varints. buckets: {bucket: count}."""
    out = bytearray([HIST_VERSION])
    out += _varint(zero)
    items = sorted(buckets.items())
    out += _varint(len(items))
    prev = None
    for b, count in items:
        if prev is None:
            delta = ((-b) << 1) - 1 if b < 0 else b << 1
        else:
            delta = b - prev - 1
        out += _varint(delta)
        out += _varint(count)
        prev = b
    return bytes(out)


def fill(path, agents=3, seconds=3600, interval_ms=1000, end_ms=None, bbb=2, connected=True, chunk=100_000,
         quiet=True):
    """Creates path and fills it. Returns a dict describing what was written (start_ms, end_ms, ...)."""
    t0 = time.monotonic()
    if end_ms is None:
        end_ms = int(time.time() * 1000) // 1000 * 1000
    n_samples = max(1, seconds * 1000 // interval_ms)
    start_ms = end_ms - (n_samples - 1) * interval_ms
    con = create(path)
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    con.execute("BEGIN")

    for i in range(bbb):
        name = f"bbb{i + 1}"
        if i == 1:
            # The second server is down: counts unknown, an error.
            con.execute("INSERT INTO bbb_servers (num, name, up, last_poll_ms, last_ok_ms, error) "
                        "VALUES (?, ?, 0, ?, ?, ?)", (i + 1, name, end_ms, end_ms - 60_000,
                                                      "connect timeout \"bbb2\""))
        else:
            con.execute("INSERT INTO bbb_servers (num, name, up, last_poll_ms, last_ok_ms, error, meetings, "
                        "participants, listeners, voice, video, moderators, breakouts) "
                        "VALUES (?, ?, 1, ?, ?, NULL, 3, 1202, 800, 300, 100, 6, 2)",
                        (i + 1, name, end_ms, end_ms))

    for k in range(agents):
        con.execute(
            "INSERT INTO agents (num, id, virt, hostname, machine_id, agent_version, cgroup_version, cgroup_mode, "
            "cgroup_path, effective_cpus, cpu_count, cpuset, quota_us, period_us, memory_limit_bytes, "
            "host_cpus, host_memory_bytes, bbb, transport, connected, first_seen_ms, last_seen_ms, "
            "clock_offset_ms, last_time_ms, last_seq) VALUES (?, ?, ?, ?, 'm', '0.1.0', 1, 'hybrid', ?, ?, 2, "
            "'0-1', 200000, 100000, ?, 24, ?, ?, 'unix', ?, ?, ?, 5, ?, ?)",
            (k + 1, agent_id(k), VIRTS[k % len(VIRTS)], f"host-{k}", f"/lxc/ct{k}", EFFECTIVE_CPUS,
             MEMORY_LIMIT, 64 * 1024 * MIB, "bbb1" if has_bbb(k) and bbb > 0 else None,
             1 if connected else 0, start_ms, end_ms, end_ms, n_samples))

    # The store folds samples newer than agents.agg_time_ms into trends and curves when it starts: mark
    # every sample as aggregated already (this script writes trends and curves itself).
    if "agg_time_ms" in [r[1] for r in con.execute("PRAGMA table_info(agents)")]:
        con.execute("UPDATE agents SET agg_time_ms = ?", (end_ms,))

    cols = ("agent, time_ms, seq, users, cpu_cores, cpu_ratio, throttled_ratio, memory_bytes, working_set_bytes, "
            "cache_bytes, anon_bytes, swap_bytes, io_read_bps, io_write_bps, net_rx_bps, net_tx_bps, "
            "cpu_usage_usec, cpu_throttled_usec, io_read_bytes, io_write_bytes, net_rx_bytes, net_tx_bytes, "
            "oom_kills, cpu_nr_periods, cpu_nr_throttled")
    sql = f"INSERT INTO samples ({cols}) VALUES ({', '.join('?' * len(cols.split(',')))})"
    dt = interval_ms / 1000.0
    for k in range(agents):
        acc = {"cpu": 0, "thr": 0, "rd": 0, "wr": 0, "rx": 0, "tx": 0, "per": 0, "nthr": 0}

        def rows():
            for i in range(n_samples):
                t_ms = start_ms + i * interval_ms
                v = value_at(k, (t_ms - start_ms) // 1000)
                acc["cpu"] += int(v["cpu_cores"] * dt * 1e6)
                acc["thr"] += int(v["throttled_ratio"] * dt * 1e6)
                acc["rd"] += int(v["io_read_bps"] * dt)
                acc["wr"] += int(v["io_write_bps"] * dt)
                acc["rx"] += int(v["net_rx_bps"] * dt)
                acc["tx"] += int(v["net_tx_bps"] * dt)
                acc["per"] += int(dt * 10)
                acc["nthr"] += int(v["throttled_ratio"] > 0) * int(dt * 10)
                yield (k + 1, t_ms, i + 1, v["users"], v["cpu_cores"], v["cpu_ratio"], v["throttled_ratio"],
                       v["memory_bytes"], v["working_set_bytes"], v["cache_bytes"], v["anon_bytes"],
                       v["swap_bytes"], v["io_read_bps"], v["io_write_bps"], v["net_rx_bps"], v["net_tx_bps"],
                       acc["cpu"], acc["thr"], acc["rd"], acc["wr"], acc["rx"], acc["tx"], k % 2, acc["per"],
                       acc["nthr"])

        it = rows()
        while True:
            batch = [r for _, r in zip(range(chunk), it)]
            if not batch:
                break
            con.executemany(sql, batch)
        for j, ifname in enumerate(INTERFACES):
            share = 0.75 if j == 0 else 0.25
            con.execute("INSERT INTO netdev VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?, 0)",
                        (k + 1, ifname, end_ms, int(acc["rx"] * share), int(acc["tx"] * share),
                         int(acc["rx"] * share) // 1200, int(acc["tx"] * share) // 1200, j))
        if not quiet:
            print(f"{agent_id(k)}: {n_samples} samples ({time.monotonic() - t0:.1f}s)", file=sys.stderr)

    # Hourly trends, as the daemon keeps them: count, min, sum, max of each non-NULL value.
    metrics = ["cpu_cores", "cpu_ratio", "throttled_ratio", "memory_bytes", "working_set_bytes", "io_read_bps",
               "io_write_bps", "net_rx_bps", "net_tx_bps", "users"]
    tcols = ", ".join(f"{m}_n, {m}_min, {m}_sum, {m}_max" for m in metrics)
    tvals = ", ".join(f"count({m}), min({m}), sum({m}), max({m})" for m in metrics)
    con.execute(f"INSERT INTO trends (agent, hour_ms, n, {tcols}) SELECT agent, time_ms / 3600000 * 3600000, "
                f"count(*), {tvals} FROM samples GROUP BY agent, time_ms / 3600000")

    # Curves per (agent, metric, users) over samples with known users; histograms bucketed in SQL with the
    # daemon's bucket function floor(log2(v) * 64), values <= 2^-32 in the zero bucket.
    lo, hi = HIST_MIN_EXP * HIST_PER_OCTAVE, HIST_MAX_EXP * HIST_PER_OCTAVE - 1
    for num, col in CURVE_METRICS:
        con.execute(f"INSERT INTO curves (agent, metric, users, n, sum, sumsq, max, hist) SELECT agent, {num}, "
                    f"users, count(*), sum(1.0 * {col}), sum(1.0 * {col} * {col}), max({col}), NULL FROM samples "
                    f"WHERE users IS NOT NULL AND {col} IS NOT NULL GROUP BY agent, users")
        hists = {}
        q = (f"SELECT agent, users, CASE WHEN {col} > pow(2, {HIST_MIN_EXP}) THEN "
             f"min(max(CAST(floor(log2({col}) * {HIST_PER_OCTAVE}) AS INTEGER), {lo}), {hi}) END AS b, count(*) "
             f"FROM samples WHERE users IS NOT NULL AND {col} IS NOT NULL GROUP BY agent, users, b")
        for agent, users, b, count in con.execute(q):
            zero, buckets = hists.setdefault((agent, users), [0, {}])
            if b is None:
                hists[(agent, users)][0] += count
            else:
                buckets[b] = buckets.get(b, 0) + count
        con.executemany("UPDATE curves SET hist = ? WHERE agent = ? AND metric = ? AND users = ?",
                        [(hist_blob(z, bk), a, num, u) for (a, u), (z, bk) in hists.items()])
    # The daily roll-up the daemon keeps beside them: these rows are undated (hour 0), so day 0 holds the same.
    con.execute("INSERT INTO curves_day (agent, metric, day_ms, epoch, users, n, sum, sumsq, max, hist)"
                " SELECT agent, metric, 0, epoch, users, n, sum, sumsq, max, hist FROM curves")
    con.execute("COMMIT")
    con.execute("PRAGMA journal_mode = WAL")
    con.close()
    if not quiet:
        print(f"done in {time.monotonic() - t0:.1f}s", file=sys.stderr)
    return {"start_ms": start_ms, "end_ms": end_ms, "n_samples": n_samples, "interval_ms": interval_ms,
            "agents": [agent_id(k) for k in range(agents)]}


def expected_curve(metric):
    """Intercept and slope per user of the synthetic curve of metric (noise adds half its amplitude)."""
    if metric == "cpu_ratio":
        return CPU_RATIO_BASE + 0.005, CPU_RATIO_PER_USER
    if metric == "cpu_cores":
        return (CPU_RATIO_BASE + 0.005) * EFFECTIVE_CPUS, CPU_RATIO_PER_USER * EFFECTIVE_CPUS
    if metric == "working_set_bytes":
        return WS_BASE + MIB / 2, WS_PER_USER
    raise ValueError(metric)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("db")
    ap.add_argument("--agents", type=int, default=3)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--hours", type=float)
    g.add_argument("--days", type=float)
    ap.add_argument("--interval-ms", type=int, default=1000)
    ap.add_argument("--end-ms", type=int)
    ap.add_argument("--bbb", type=int, default=2)
    a = ap.parse_args()
    if a.agents < 0 or a.agents > 100000 or a.interval_ms <= 0:
        ap.error("agents must be 0..100000 and interval-ms positive")
    seconds = int((a.days * 86400) if a.days else (a.hours or 1) * 3600)
    info = fill(a.db, agents=a.agents, seconds=seconds, interval_ms=a.interval_ms, end_ms=a.end_ms, bbb=a.bbb,
                quiet=False)
    print(f"start_ms={info['start_ms']} end_ms={info['end_ms']} samples_per_agent={info['n_samples']}")


if __name__ == "__main__":
    main()
