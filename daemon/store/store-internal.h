#pragma once
/* What the parts of the store share, and nothing outside daemon/store/ may include: the in-memory state
 * of the writer (struct Store, its agents, the pending batch), the prepared statements, and the small
 * SQLite helpers. The contract for the rest of the daemon is daemon/store.h.
 *
 * The parts: store.c (open, the batch, commit and flush), store-migrate.c (schema migrations and the
 * prepared statements), store-agents.c (the agent table, Hello, the previous row of an agent),
 * store-derive.c (rates, trend and curve deltas: pure), store-bbb.c (BBB poll rows),
 * store-retention.c (deleting what expired). */

#include <math.h>
#include <sqlite3.h>

#include "../store.h"
#include "store-derive.h"

#define NONE UINT32_MAX /* end of a chain of pending rows */

typedef struct NetDevCopy {
        char name[STORE_IFNAME_MAX + 1];
        int64_t v[8]; /* rx/tx bytes, rx/tx packets, rx/tx errors, rx/tx dropped; -1 unknown */
} NetDevCopy;

typedef struct LimitsCopy {
        double effective_cpus; /* NAN unknown */
        int64_t cpu_count, quota_us, period_us, memory_limit_bytes, swap_limit_bytes, host_cpus,
                host_memory_bytes; /* -1 unknown */
        char cpuset[STORE_CPUSET_MAX + 1];
} LimitsCopy;

/* One spool stream of an agent: every sample up to seq is stored or pending, up to committed on disk. */
typedef struct StreamPos {
        uint64_t stream;
        uint64_t seq;
        uint64_t committed;
} StreamPos;

#define STORE_STREAMS_CACHED 4

typedef struct EpochCopy {
        int64_t epoch, start_ms, memory_limit; /* -1 unknown */
        double effective_cpus;                 /* NAN unknown */
} EpochCopy;

typedef struct StoreAgent {
        char id[STORE_ID_MAX + 1];
        int64_t num; /* agents.num */
        uint32_t hash;

        Prev prev;              /* newest sample, stored or pending */
        uint64_t newest_seq;
        double effective_cpus;  /* current limit, NAN unknown */
        int64_t memory_limit;   /* current limit, -1 unknown */

        /* The limits epoch new samples belong to (0: none yet), and its limits. */
        int64_t epoch;
        double epoch_cpus;
        int64_t epoch_memory;
        /* Epochs begun since the last commit: their rows go in with it. */
        EpochCopy *new_epochs;
        size_t n_new_epochs, alloc_new_epochs;

        /* Sequence positions of the streams seen lately; streams[cur] is the one samples belong to. */
        StreamPos streams[STORE_STREAMS_CACHED];
        unsigned n_streams, cur;

        int64_t agg_time_ms;    /* agents.agg_time_ms as committed */

        /* What the next commit (rows, limits) and the next aggregate flush (the rest) write. */
        bool dirty;             /* on the dirty list */
        uint32_t first, last;   /* chain of pending rows */
        unsigned n_pending;
        bool newest_dirty;
        bool limits_dirty;
        LimitsCopy limits;
        bool net_dirty;
        int64_t net_time_ms;
        NetDevCopy *net;
        size_t n_net, alloc_net;
        TrendDeltas trends;
        CurveDeltas curves;
} StoreAgent;

#define MS_PER_DAY (24 * 3600LL * 1000) /* curves_day rows are UTC days */

typedef enum StmtId {
        STMT_INSERT_SAMPLE,
        STMT_SAMPLE_EXISTS,
        STMT_SAMPLE_BEFORE,
        STMT_SAMPLE_NEWEST,
        STMT_NETDEV_COUNT,
        STMT_AGENT_GET,
        STMT_AGENT_CREATE,
        STMT_AGENT_HELLO,
        STMT_AGENT_LAST,
        STMT_AGENT_LIMITS,
        STMT_AGENT_DISCONNECTED,
        STMT_AGENT_RESET,
        STMT_AGENT_NUMS,
        STMT_AGENT_TAIL,
        STMT_TREND_UPSERT,
        STMT_CURVE_UPSERT,
        STMT_CURVE_DAY_UPSERT,
        STMT_MIX_UPSERT,
        STMT_MIX_DAY_UPSERT,
        STMT_EPOCH_GET,
        STMT_EPOCH_INSERT,
        STMT_NETDEV_UPSERT,
        STMT_NETDEV_PRUNE,
        STMT_BBB_GET,
        STMT_BBB_CREATE,
        STMT_BBB_STATE,
        STMT_BBB_POLL,
        STMT_BBB_AT,
        STMT_BBB_AT_OK,
        STMT_BBB_NUMS,
        STMT_RETAIN_SAMPLES,
        STMT_RETAIN_TRENDS,
        STMT_RETAIN_POLLS,
        STMT_STREAM_GET,
        STMT_STREAM_SET,
        STMT_BEGIN,
        STMT_COMMIT,
        STMT_ROLLBACK,
        _STMT_MAX
} StmtId;

typedef struct BbbState BbbState; /* store-bbb.c */

struct Store {
        sqlite3 *db;
        char *path;
        sqlite3_stmt *stmt[_STMT_MAX];

        unsigned agg_interval_ms;
        uint64_t last_agg_usec;  /* CLOCK_MONOTONIC of the last aggregate flush */
        bool force_agg;

        /* Agents: all of them in agents[], found by id through an open-addressing table of indexes + 1. */
        StoreAgent **agents;
        size_t n_agents, alloc_agents;
        uint32_t *slots;
        size_t n_slots;

        StoreAgent **dirty;
        size_t n_dirty, alloc_dirty;

        Row *rows;
        size_t n_rows, alloc_rows;

        BbbState **bbb;
        size_t n_bbb;

        Live *live; /* not owned */
};

/* Runs a statement that returns no rows and resets it. */
static inline int stmt_exec(sqlite3_stmt *st)
{
        int rc = sqlite3_step(st);

        (void)sqlite3_reset(st);
        return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : store_errno(rc);
}

static inline void bind_i64_or_null(sqlite3_stmt *st, int i, int64_t v)
{
        if (v < 0)
                sqlite3_bind_null(st, i);
        else
                sqlite3_bind_int64(st, i, v);
}

static inline void bind_double_or_null(sqlite3_stmt *st, int i, double v)
{
        if (isnan(v))
                sqlite3_bind_null(st, i);
        else
                sqlite3_bind_double(st, i, v);
}

static inline void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
        if (isempty(s))
                sqlite3_bind_null(st, i);
        else
                sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static inline int64_t column_i64_or_none(sqlite3_stmt *st, int i)
{
        return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

/* store.c */
/* Ends the transaction that BEGIN opened: commits when r >= 0 (what went before it succeeded), else rolls
 * back. Returns r, or the commit's -errno. */
int store_end_transaction(Store *s, int r);

/* store-migrate.c */
int db_get_int(sqlite3 *db, const char *sql, int64_t *ret);
int db_exec(sqlite3 *db, const char *sql);
/* Registers the store's SQL functions on db and applies every embedded migration newer than the
 * database, each in its own transaction. */
int store_migrate(sqlite3 *db, const char *path);
/* Prepares every statement of s->stmt[] (after store_migrate()). */
int store_prepare(Store *s);

/* store-agents.c */
/* The in-memory state of agent id, from the database (creating its row) the first time. */
int agent_get(Store *s, const char *id, StoreAgent **ret);
/* Puts a on the list of agents the next commit writes. */
int agent_mark_dirty(Store *s, StoreAgent *a);
/* Sets *ret to the epoch of a sample at time_ms under a's current limits: a new one when they differ
 * from the current epoch's (or there is none yet). Returns 0 or -ENOMEM. */
int agent_epoch_for(StoreAgent *a, int64_t time_ms, int64_t *ret);
/* Makes stream the one agent a's samples belong to (see the definition). */
int agent_select_stream(Store *s, StoreAgent *a, uint64_t stream);
/* For a sample older than the agent's newest: is (agent, time) taken, and which sample precedes it?
 * Returns 1 for a duplicate, 0 with *ret_prev, or -errno. */
int lookup_older(Store *s, StoreAgent *a, int64_t time_ms, Prev *ret_prev);
void limits_copy(const SampleLimits *l, LimitsCopy *ret);
/* After a commit: the rows and limits are written. */
void agent_clear_rows(StoreAgent *a);
/* After an aggregate flush: the deltas are written. */
void agent_clear_aggs(StoreAgent *a);
bool agent_has_aggs(const StoreAgent *a);
void agent_free(StoreAgent *a);
/* Inside the commit's transaction: an agent's stream positions, new epochs and limits, and (with an
 * aggregate flush) its interfaces and newest timestamps. */
int write_streams(Store *s, const StoreAgent *a);
int write_limits(Store *s, const StoreAgent *a);
int write_agent(Store *s, const StoreAgent *a, int64_t now);
