#pragma once
/* The daemon's SQLite store, writer side. One Store per process, used only from the event-loop thread.
 * WAL mode, synchronous=NORMAL, prepared statements, schema migrations from the schema/ migrations by
 * PRAGMA user_version. Samples are added to an in-memory batch and made durable by store_commit(); acks
 * follow the commit. The HTTP threads read through their own connections (query.h). docs/storage.md
 * says what is stored where, and what is refused.
 * Implemented in daemon/store/ (store-internal.h names the parts); used by daemon/ingest.c and daemon/bbb.c. */

#include "live.h"
#include "id.h"
#include "macro.h"
#include "sample.h"

typedef struct Store Store;

/* What the store accepts (docs/storage.md). ingest-validate.h checks every sample and Hello against these
 * once, at ingest; the store asserts. */
#define STORE_ID_MAX ID_MAX
#define STORE_FUTURE_MAX_MS (24LL * 3600 * 1000) /* a sample may be at most one day ahead of the daemon */
#define STORE_CPUS_MAX 65536                     /* effective_cpus in (0, this], cpu counts in [1, this] */
#define STORE_BYTES_MAX (UINT64_C(1) << 60)      /* 1 EiB: memory sizes and limits above are absurd */
#define STORE_PERIOD_US_MAX 10000000ULL          /* CFS period (the kernel allows 1 ms .. 1 s) */
#define STORE_COUNTER_MAX ((uint64_t)INT64_MAX)  /* cumulative counters must fit SQLite's integer */
#define STORE_NETDEV_MAX 256                     /* interfaces per sample */
#define STORE_IFNAME_MAX 64
#define STORE_CPUSET_MAX 4096
#define STORE_HOSTNAME_MAX 255
#define STORE_PATH_MAX 4096                      /* cgroup path */
#define STORE_SHORT_TEXT_MAX 64                  /* machine id, cgroup mode, agent version, transport */
#define STORE_USERS_MAX 1000000                  /* participants of one BBB server */
#define STORE_BBB_COUNT_MAX 100000000            /* any count of one poll */
#define STORE_TIME_SHIFT_MAX 1000                /* ms a new sample may move to a free time (see below) */
#define STORE_ERROR_MAX 1024                     /* a poll's error text is cut to this many bytes */
#define STORE_AGENTS_MAX 65536                   /* agents kept in memory */
#define STORE_PENDING_MAX 262144                 /* samples added and not yet committed */
#define STORE_RATE_GAP_MAX_MS (10LL * 60 * 1000) /* no rate over a longer gap between two samples */
#define STORE_AGG_INTERVAL_MS 2000               /* trends, curves, netdev are written this often */
#define STORE_AGG_INTERVAL_MAX_MS 60000


/* What a Hello tells about an agent, plus what the daemon decided. */
typedef struct StoreAgentInfo {
        const char *id;
        const AgentHello *hello;  /* converted by hello_from_wire() */
        const char *transport;  /* "unix", "tcp", "vsock" */
        const char *bbb;        /* configured BBB server name or NULL */
        int64_t clock_offset_ms; /* daemon clock - agent clock */
        uint64_t stream;         /* the agent's spool stream (Hello.stream), 0 when it names none */
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

/* Records a Hello: upserts the agent row, marks it connected, makes info->stream the stream its next
 * samples belong to, and returns the newest stored timestamp (for the log only) and the sequence number
 * up to which that stream is committed (0 when none): what the agent may drop from its spool. The Hello
 * passed ingest_hello_check(). -EINVAL for a bad id, -ENOBUFS when the agent has pending samples in
 * too many streams (commit first). */
int store_agent_hello(Store *s, const StoreAgentInfo *info, int64_t *ret_last_time_ms, uint64_t *ret_last_seq);
int store_agent_disconnected(Store *s, const char *id, int64_t now_ms);

/* Participant counts of a BBB server at one moment. -1: unknown. */
typedef struct StoreCounts {
        int64_t users, listeners, voice, video;
} StoreCounts;

/* Adds one sample of agent id to the batch of the next commit, in the stream of the agent's last Hello
 * (stream 0 without one). users is the participant count of the agent's BBB server at that moment, or
 * -1 when unknown. Rates are derived from the previous sample of the same agent by time (counter resets
 * give no rate for that interval); trends and curve aggregates are updated.
 * Resends are recognised by sequence number alone: a sample whose seq is not above the newest of its
 * stream (stored or pending) is a resend or out of order and is not stored. The time is never used for
 * that; a new sample whose (agent, time_ms) is taken (a clock that went back) is stored at the next free
 * millisecond, at most STORE_TIME_SHIFT_MAX later.
 * The sample must have passed ingest_sample_check() with a seq before sample_from_wire() (not checked again).
 * Returns 1 when stored, 2 when stored at a shifted time, 0 when not stored (a resend), -EINVAL for a
 * bad id or participant count (nothing stored), -EEXIST when no free time was found, -ENOBUFS when
 * STORE_PENDING_MAX samples wait already (commit first), other -errno on failure. The batch lives in
 * memory, so a full disk shows at the commit, not here. An id never seen by store_agent_hello() gets an
 * agents row of its own (virt 'unknown'). */
int store_add_sample(Store *s, const char *id, const Sample *sample, int users);
/* The same with the participant mix of that moment: users as above; listeners, voice and video (each
 * -1 when unknown, and ignored when users is) feed the per-stream-type model. Each sample also gets the
 * agent's limits epoch: a change of its effective CPUs or memory limit (from a Hello or a sample's
 * limits) starts a new one, written to the epochs table with the sample's commit. */
int store_add_sample_counts(Store *s, const char *id, const Sample *sample, const StoreCounts *counts);

/* Commits the batch. After it returns 0, every sample added before is on disk (safe from a crash of the
 * daemon; with synchronous=NORMAL the newest commits may roll back if the machine loses power).
 * On failure (-ENOSPC for a full disk or the size limit, -EBUSY, -EIO) the transaction is rolled back
 * and nothing is lost: what was committed before stays, and the samples added since stay pending, to be
 * written by the next successful store_commit(). So acks stay correct when the caller acks only what a
 * successful commit covered.
 * The aggregates (trends, curves, netdev, agents.last_*) go in with the first commit at least
 * STORE_AGG_INTERVAL_MS after the previous aggregate flush; they are complete up to agents.agg_time_ms,
 * and store_open() completes them after a crash. */
int store_commit(Store *s);
/* Whether aggregates wait for the next aggregate flush (a store_commit() at least STORE_AGG_INTERVAL_MS
 * after the previous flush writes them). */
bool store_has_unflushed(const Store *s);
/* Samples added since the last commit. */
unsigned store_pending(const Store *s);

/* Commits, and writes the aggregates now whatever the interval. Returns 0 or -errno as store_commit(). */
int store_flush(Store *s);
/* Sets how often the aggregates are written (0: with every commit), capped at STORE_AGG_INTERVAL_MAX_MS.
 * An idle daemon should still call store_commit() every STORE_AGG_INTERVAL_MS or so, so the last
 * aggregates reach the readers; it costs nothing when nothing is due. */
void store_set_aggregate_interval(Store *s, unsigned interval_ms);

/* After each commit, publish every agent's newest committed row to live (NULL: stop). Retention also
 * drops from it what it deleted. The store does not own live. */
void store_set_live(Store *s, Live *live);

/* Stores a BBB poll result and the server's current state. */
int store_add_bbb_poll(Store *s, const StoreBbbPoll *p);
/* A stored poll, as the participants look-up reads it. time_ms -1: there is none. */
typedef struct StoreBbbPollRow {
        int64_t time_ms;
        bool up;            /* the server's state after this poll */
        StoreCounts counts; /* of a successful poll (listeners, voice, video -1 when it lacked them) */
} StoreBbbPollRow;

/* The stored polls of server that "participants at time_ms" needs: *ret_newest, the newest poll at or
 * before time_ms, and *ret_newest_ok, the newest successful one at or before time_ms and not before
 * min_ok_ms (counts only in that one). Each has time_ms -1 when there is none (also for a server never
 * polled). The rule that turns them into an answer is the poller's (bbb_poller_counts_at()). Returns 0,
 * -EINVAL for a bad name, or -errno. */
int store_bbb_polls_at(Store *s, const char *server, int64_t time_ms, int64_t min_ok_ms, StoreBbbPollRow *ret_newest,
                       StoreBbbPollRow *ret_newest_ok);

/* Deletes at most max_rows expired raw samples, trends and polls. Returns the number deleted, so the
 * caller can schedule the next step soon (>0) or late (0). Never holds the write lock for long. */
int store_retention_step(Store *s, int64_t now_ms, unsigned raw_days, unsigned trend_days, unsigned max_rows);

/* Caps the database at max_bytes (rounded down to whole pages; 0 = no cap beyond SQLite's own): a commit
 * that would grow it further fails with -ENOSPC, as a full disk does. Returns 0 or -errno. */
int store_set_size_limit(Store *s, uint64_t max_bytes);

/* Translates a sqlite3 result code to -errno (BUSY -> -EBUSY, CONSTRAINT -> -EEXIST, FULL -> -ENOSPC,
 * else -EIO). */
int store_errno(int sqlite_rc);
