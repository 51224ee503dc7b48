-- seatmeter schema, version 5: named experiments created through the HTTP API (POST /api/v1/experiments).
-- Those of the config ([experiment NAME]) are not stored; a name is either the config's or here, never
-- both (the API refuses a clash).
CREATE TABLE experiments (
        name TEXT NOT NULL PRIMARY KEY,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        CHECK (start_ms <= end_ms)
) WITHOUT ROWID;
