#pragma once
/* The daemon's SQLite store, writer side. One Store per process, used only from the event-loop thread.
 * WAL mode, synchronous=NORMAL, prepared statements, schema migrations from the schema/ migrations by
 * PRAGMA user_version. Samples are added inside an open transaction and made durable by store_commit();
 * acks follow the commit. The HTTP threads read through their own connections (query.h).
 * OWNER: store helper. Contract used by daemon/ingest.c and daemon/bbb.c. */

#include "macro.h"
#include "proto/seatmeter.pb-c.h"

typedef struct Store Store;

/* What a Hello tells about an agent, plus what the daemon decided. */
typedef struct StoreAgentInfo {
        const char *id;
        const Seatmeter__Hello *hello;
        const char *transport;  /* "unix", "tcp", "vsock" */
        const char *bbb;        /* configured BBB server name or NULL */
        int64_t clock_offset_ms; /* daemon clock - agent clock */
        int64_t now_ms;
} StoreAgentInfo;

/* The result of one BBB poll, as stored. ok=false: every count unknown (NULL). */
typedef struct StoreBbbPoll {
        const char *server;
        int64_t time_ms;
        bool ok;
        bool up;                /* state after this poll (down after 2 failures) */
        const char *error;      /* NULL when ok */
        int64_t meetings, participants, listeners, voice, video, moderators, breakouts;
} StoreBbbPoll;

/* Opens (creating if needed) the database at path and migrates it. Returns 0 or -errno. */
int store_open(const char *path, Store **ret);
/* Commits what is pending and closes. Takes NULL. */
Store *store_free(Store *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Store *, store_free)

/* Marks every agent disconnected (daemon start). */
int store_reset_connected(Store *s);

/* Records a Hello: upserts the agent row, marks it connected, returns the newest stored timestamp and
 * sequence number for it (0 when none). */
int store_agent_hello(Store *s, const StoreAgentInfo *info, int64_t *ret_last_time_ms, uint64_t *ret_last_seq);
int store_agent_disconnected(Store *s, const char *id, int64_t now_ms);

/* Adds one sample of agent id inside the open transaction (begun on demand). users is the participant
 * count of the agent's BBB server at that moment, or -1 when unknown. Rates are derived from the
 * previous sample of the same agent (counter resets give no rate for that interval); trends and curve
 * aggregates are updated. Returns 1 when stored, 0 when (agent, time_ms) was already stored (a resend),
 * -EINVAL for absurd values (nothing stored), other -errno on failure. */
int store_add_sample(Store *s, const char *id, const Seatmeter__Sample *sample, int users);

/* Commits the open transaction, if any. After it returns 0, every sample added before is on disk. */
int store_commit(Store *s);
/* Samples added since the last commit. */
unsigned store_pending(const Store *s);

/* Stores a BBB poll result and the server's current state. */
int store_add_bbb_poll(Store *s, const StoreBbbPoll *p);
/* Participant count of server at time_ms: from the newest poll at or before time_ms that is not older
 * than max_age_ms. Returns 1 and *ret when known, 0 when unknown (no fresh poll, or it failed). */
int store_bbb_users_at(Store *s, const char *server, int64_t time_ms, int64_t max_age_ms, int64_t *ret);

/* Deletes at most max_rows expired raw samples, trends and polls. Returns the number deleted, so the
 * caller can schedule the next step soon (>0) or late (0). Never holds the write lock for long. */
int store_retention_step(Store *s, int64_t now_ms, unsigned raw_days, unsigned trend_days, unsigned max_rows);

/* Translates a sqlite3 result code to -errno (BUSY -> -EBUSY, CONSTRAINT -> -EEXIST, FULL -> -ENOSPC,
 * else -EIO). */
int store_errno(int sqlite_rc);
