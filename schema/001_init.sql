-- seatmeter schema, version 1. Applied by the daemon when PRAGMA user_version < 1.
-- Times are epoch milliseconds. Rates are per second. NULL means "not known", never zero.

-- One row per agent id ever seen. num is the compact key used by the big tables.
CREATE TABLE agents (
        num INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        virt TEXT NOT NULL DEFAULT 'unknown',
        hostname TEXT,
        machine_id TEXT,
        agent_version TEXT,
        cgroup_version INTEGER,
        cgroup_mode TEXT,
        cgroup_path TEXT,
        effective_cpus REAL,
        cpu_count INTEGER,
        cpuset TEXT,
        quota_us INTEGER,
        period_us INTEGER,
        memory_limit_bytes INTEGER,
        swap_limit_bytes INTEGER,
        host_cpus INTEGER,
        host_memory_bytes INTEGER,
        bbb TEXT,                              -- the [bbb NAME] server running in this guest (config)
        transport TEXT,                        -- unix, tcp, vsock
        connected INTEGER NOT NULL DEFAULT 0,
        first_seen_ms INTEGER,
        last_seen_ms INTEGER,
        clock_offset_ms INTEGER NOT NULL DEFAULT 0, -- daemon clock minus agent clock, at the last Hello
        last_time_ms INTEGER NOT NULL DEFAULT 0,    -- newest stored sample (agent clock)
        last_seq INTEGER NOT NULL DEFAULT 0,
        agg_time_ms INTEGER NOT NULL DEFAULT 0      -- trends, curves and netdev include every sample up to
                                                    -- this time; newer ones are folded in at the next
                                                    -- aggregate flush (every few seconds, or at restart)
);

-- Raw samples: derived rates and gauges, plus the cumulative counters Prometheus totals need.
-- time_ms is the agent's own clock (stable across resends: the dedup key); time_ms + clock offset is
-- used to correlate with BBB polls.
CREATE TABLE samples (
        agent INTEGER NOT NULL,                -- agents.num
        time_ms INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        users INTEGER,                         -- BBB participants at that moment, NULL when unknown
        cpu_cores REAL,                        -- CPU time per second
        cpu_ratio REAL,                        -- cpu_cores / effective_cpus
        throttled_ratio REAL,                  -- throttled periods / periods in the interval
        memory_bytes INTEGER,
        working_set_bytes INTEGER,
        cache_bytes INTEGER,
        anon_bytes INTEGER,
        swap_bytes INTEGER,
        io_read_bps REAL,
        io_write_bps REAL,
        net_rx_bps REAL,
        net_tx_bps REAL,
        cpu_usage_usec INTEGER,                -- cumulative counters as read
        cpu_throttled_usec INTEGER,
        io_read_bytes INTEGER,
        io_write_bytes INTEGER,
        net_rx_bytes INTEGER,                  -- summed over the interfaces sent
        net_tx_bytes INTEGER,
        oom_kills INTEGER,
        cpu_nr_periods INTEGER,                -- CFS enforcement periods, cumulative
        cpu_nr_throttled INTEGER,              -- periods in which the cgroup was throttled, cumulative
        PRIMARY KEY (agent, time_ms)
) WITHOUT ROWID;

-- Hourly trends, Zabbix style: per agent and hour, count and min/sum/max of each rate or gauge
-- (avg = sum / count of that column, counted separately because values may be NULL).
CREATE TABLE trends (
        agent INTEGER NOT NULL,
        hour_ms INTEGER NOT NULL,              -- start of the hour
        n INTEGER NOT NULL,
        cpu_cores_n INTEGER, cpu_cores_min REAL, cpu_cores_sum REAL, cpu_cores_max REAL,
        cpu_ratio_n INTEGER, cpu_ratio_min REAL, cpu_ratio_sum REAL, cpu_ratio_max REAL,
        throttled_ratio_n INTEGER, throttled_ratio_min REAL, throttled_ratio_sum REAL, throttled_ratio_max REAL,
        memory_bytes_n INTEGER, memory_bytes_min REAL, memory_bytes_sum REAL, memory_bytes_max REAL,
        working_set_bytes_n INTEGER, working_set_bytes_min REAL, working_set_bytes_sum REAL, working_set_bytes_max REAL,
        io_read_bps_n INTEGER, io_read_bps_min REAL, io_read_bps_sum REAL, io_read_bps_max REAL,
        io_write_bps_n INTEGER, io_write_bps_min REAL, io_write_bps_sum REAL, io_write_bps_max REAL,
        net_rx_bps_n INTEGER, net_rx_bps_min REAL, net_rx_bps_sum REAL, net_rx_bps_max REAL,
        net_tx_bps_n INTEGER, net_tx_bps_min REAL, net_tx_bps_sum REAL, net_tx_bps_max REAL,
        users_n INTEGER, users_min REAL, users_sum REAL, users_max REAL,
        PRIMARY KEY (agent, hour_ms)
) WITHOUT ROWID;

-- Latest cumulative counters per network interface, for Prometheus totals by interface.
CREATE TABLE netdev (
        agent INTEGER NOT NULL,
        name TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        rx_bytes INTEGER, tx_bytes INTEGER, rx_packets INTEGER, tx_packets INTEGER,
        rx_errors INTEGER, tx_errors INTEGER, rx_dropped INTEGER, tx_dropped INTEGER,
        PRIMARY KEY (agent, name)
) WITHOUT ROWID;

-- Per-user curves: running aggregates per (agent, metric, participant count), updated as samples
-- arrive. metric: 0 cpu_ratio, 1 cpu_cores, 2 working_set_bytes, 3 net_rx_bps, 4 net_tx_bps.
-- hist is a sparse log-scale histogram (see daemon/curve.h) for p95.
CREATE TABLE curves (
        agent INTEGER NOT NULL,
        metric INTEGER NOT NULL,
        users INTEGER NOT NULL,
        n INTEGER NOT NULL,
        sum REAL NOT NULL,
        sumsq REAL NOT NULL,
        max REAL NOT NULL,
        hist BLOB,
        PRIMARY KEY (agent, metric, users)
) WITHOUT ROWID;

-- BBB servers as configured, with their current state.
CREATE TABLE bbb_servers (
        num INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        up INTEGER,                            -- NULL before the first poll
        last_poll_ms INTEGER,
        last_ok_ms INTEGER,
        error TEXT,
        meetings INTEGER, participants INTEGER, listeners INTEGER, voice INTEGER, video INTEGER,
        moderators INTEGER, breakouts INTEGER
);

-- Every poll's result as a time series. Counts are NULL when the poll failed (unknown, not zero).
CREATE TABLE bbb_polls (
        server INTEGER NOT NULL,               -- bbb_servers.num
        time_ms INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        up INTEGER NOT NULL DEFAULT 1,         -- the server's state after this poll (down after 2 failures)
        meetings INTEGER, participants INTEGER, listeners INTEGER, voice INTEGER, video INTEGER,
        moderators INTEGER, breakouts INTEGER,
        PRIMARY KEY (server, time_ms)
) WITHOUT ROWID;
