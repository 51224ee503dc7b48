-- seatmeter schema, version 6: daily roll-ups of the per-user curve aggregates, so a window of a year
-- reads about 365 rows per level instead of 8,760. Written beside the hourly rows by every aggregate
-- flush; a window reads the days it covers whole from here, the hours at its ends from curves and
-- curve_mix, and the hours it cuts from the raw samples (docs/curves.md section 2). day_ms is the UTC
-- day's start; 0 holds the undated rows of version 1.
CREATE TABLE curves_day (
        agent INTEGER NOT NULL,
        metric INTEGER NOT NULL,
        day_ms INTEGER NOT NULL,
        epoch INTEGER NOT NULL,
        users INTEGER NOT NULL,
        n INTEGER NOT NULL,
        sum REAL NOT NULL,
        sumsq REAL NOT NULL,
        max REAL NOT NULL,
        hist BLOB,
        PRIMARY KEY (agent, metric, day_ms, epoch, users)
) WITHOUT ROWID;

CREATE TABLE curve_mix_day (
        agent INTEGER NOT NULL,
        metric INTEGER NOT NULL,
        day_ms INTEGER NOT NULL,
        epoch INTEGER NOT NULL,
        users INTEGER NOT NULL,
        listeners INTEGER NOT NULL,
        voice INTEGER NOT NULL,
        video INTEGER NOT NULL,
        n INTEGER NOT NULL,
        sum REAL NOT NULL,
        sumsq REAL NOT NULL,
        PRIMARY KEY (agent, metric, day_ms, epoch, users, listeners, voice, video)
) WITHOUT ROWID;

-- The days of what is stored already are filled by seatmeterd right after this file, in the same
-- transaction (daemon/store/store-migrate.c: it sums their histograms with its own function).
