-- seatmeter schema, version 4: capacity planning over time windows and limits epochs.
-- Applied by the daemon when PRAGMA user_version < 4. docs/curves.md says how these are used.

-- Each sample's participant mix (from the same BBB poll as users, NULL when unknown) and its limits
-- epoch (epochs.epoch of its agent; NULL for samples stored before version 4).
ALTER TABLE samples ADD COLUMN listeners INTEGER;
ALTER TABLE samples ADD COLUMN voice INTEGER;
ALTER TABLE samples ADD COLUMN video INTEGER;
ALTER TABLE samples ADD COLUMN epoch INTEGER;

-- Limits epochs: a change of an agent's effective CPUs or memory limit starts a new one, so points
-- measured under different limits are never mixed. Epoch 0 holds what was stored before version 4
-- (limits not recorded).
CREATE TABLE epochs (
        agent INTEGER NOT NULL,                -- agents.num
        epoch INTEGER NOT NULL,                -- 1, 2, ... per agent
        start_ms INTEGER NOT NULL,             -- time of its first sample (agent clock)
        effective_cpus REAL,                   -- NULL: unknown
        memory_limit_bytes INTEGER,            -- NULL: no limit known
        PRIMARY KEY (agent, epoch)
) WITHOUT ROWID;

-- Per-user curves, now per hour and limits epoch, so a window (whole hours) sums its rows and a query
-- reads at most one row per (hour, epoch, participant count) in it. hour_ms 0 / epoch 0: undated rows
-- carried over from version 1.
CREATE TABLE curves_v2 (
        agent INTEGER NOT NULL,
        metric INTEGER NOT NULL,
        hour_ms INTEGER NOT NULL DEFAULT 0,
        epoch INTEGER NOT NULL DEFAULT 0,
        users INTEGER NOT NULL,
        n INTEGER NOT NULL,
        sum REAL NOT NULL,
        sumsq REAL NOT NULL,
        max REAL NOT NULL,
        hist BLOB,
        PRIMARY KEY (agent, metric, hour_ms, epoch, users)
) WITHOUT ROWID;
INSERT INTO curves_v2 (agent, metric, users, n, sum, sumsq, max, hist)
        SELECT agent, metric, users, n, sum, sumsq, max, hist FROM curves;
DROP TABLE curves;
ALTER TABLE curves_v2 RENAME TO curves;

-- The same aggregates per participant mix (listeners, voice, video), for the per-stream-type model:
-- the sufficient statistics of a least-squares fit over levels.
CREATE TABLE curve_mix (
        agent INTEGER NOT NULL,
        metric INTEGER NOT NULL,
        hour_ms INTEGER NOT NULL,
        epoch INTEGER NOT NULL,
        users INTEGER NOT NULL,
        listeners INTEGER NOT NULL,
        voice INTEGER NOT NULL,
        video INTEGER NOT NULL,
        n INTEGER NOT NULL,
        sum REAL NOT NULL,
        sumsq REAL NOT NULL,
        PRIMARY KEY (agent, metric, hour_ms, epoch, users, listeners, voice, video)
) WITHOUT ROWID;
