/* The daemon's SQLite store, writer side. See store.h and docs/storage.md.
 *
 * Shape of the work. store_add_sample() validates a sample, derives its rates from the previous sample of
 * the same agent (kept in memory), folds it into the hourly trend and per-user curve deltas of its agent,
 * and appends it to an in-memory batch: no SQL on the hot path. store_commit() then writes the batch in
 * one transaction, agent by agent and oldest first (the primary key's order, which SQLite inserts about
 * three times faster than interleaved rows).
 *
 * The aggregates (trends, curves, netdev and the agents' newest timestamps) are written by an aggregate
 * flush: one UPSERT per touched trend hour, curve key and interface, inside a commit, at most every
 * STORE_AGG_INTERVAL_MS. Writing them at every commit would rewrite the same pages a hundred times a
 * second and halve the ingest rate with small commits. A watermark per agent, agents.agg_time_ms, says up
 * to when its aggregates are complete; store_open() folds the committed samples after it back in, so a
 * crash between two flushes loses nothing. A sample older than the watermark (a late backfill) forces
 * the flush into its own commit, so the watermark stays true.
 *
 * Nothing is ever half-lost: the database holds what was committed, the batch holds what was added
 * since, and the two never overlap (no transaction stays open between calls). A failed commit rolls
 * back and keeps the batch and the deltas, which are increments applied by the UPSERTs, so the next
 * commit writes them again exactly once. */

#include <math.h>
#include <sqlite3.h>

#include "curve.h"
#include "label.h"
#include "log.h"
#include "schema-files.h"
#include "store.h"
#include "util.h"

#define STORE_APPLICATION_ID 0x53544d31 /* "STM1" in PRAGMA application_id */
#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_CACHE_KIB 16384
#define STORE_WAL_LIMIT_BYTES (64 * 1024 * 1024)
#define STORE_BBB_CACHE 256      /* newest polls per server kept in memory for store_bbb_users_at() */
#define STORE_BBB_SERVERS_MAX 1024
#define MS_PER_HOUR (3600LL * 1000)
#define MS_PER_DAY (24 * MS_PER_HOUR)
#define NONE UINT32_MAX

/* Columns of a stored row, in the order of the INSERT below. */
enum { R_CPU_CORES, R_CPU_RATIO, R_THROTTLED_RATIO, R_IO_READ, R_IO_WRITE, R_NET_RX, R_NET_TX, R_STEAL_RATIO, _R_MAX };
enum { G_MEMORY, G_WORKING_SET, G_CACHE, G_ANON, G_SWAP, _G_MAX };
enum {
        C_CPU_USAGE,
        C_THROTTLED_USEC,
        C_IO_READ,
        C_IO_WRITE,
        C_NET_RX,
        C_NET_TX,
        C_OOM_KILLS,
        C_NR_PERIODS,
        C_NR_THROTTLED,
        C_STEAL_USEC,
        _C_MAX
};

/* One sample as it will be stored. NAN and -1 stand for NULL (every stored integer is >= 0). */
typedef struct Row {
        int64_t time_ms, seq;
        int32_t users, listeners, voice, video; /* -1 unknown */
        int64_t epoch;                          /* limits epoch, -1 unknown (recovered old rows) */
        uint32_t next; /* the agent's next pending row, in arrival order */
        double rate[_R_MAX];
        int64_t gauge[_G_MAX];
        int64_t counter[_C_MAX];
} Row;

/* The previous sample of an agent, as far as rates need it. */
typedef struct Prev {
        bool valid;
        int64_t time_ms;
        int n_net; /* interfaces summed into C_NET_*, -1 unknown */
        int64_t counter[_C_MAX];
} Prev;

/* Hourly trend columns, in the schema's order. */
enum {
        T_CPU_CORES,
        T_CPU_RATIO,
        T_THROTTLED_RATIO,
        T_MEMORY,
        T_WORKING_SET,
        T_IO_READ,
        T_IO_WRITE,
        T_NET_RX,
        T_NET_TX,
        T_USERS,
        T_STEAL_RATIO,
        _T_MAX
};
static const char *const trend_columns[_T_MAX] = {
        "cpu_cores",   "cpu_ratio",   "throttled_ratio", "memory_bytes", "working_set_bytes",
        "io_read_bps", "io_write_bps", "net_rx_bps",     "net_tx_bps",   "users",
        "steal_ratio",
};

typedef struct TrendAcc {
        int64_t n;
        double min, sum, max;
} TrendAcc;

/* What one commit adds to a trends row. */
typedef struct TrendDelta {
        int64_t hour_ms;
        int64_t n;
        TrendAcc col[_T_MAX];
} TrendDelta;

typedef struct CurveAcc {
        uint64_t n;
        double sum, sumsq, max;
        CurveHist *hist;
} CurveAcc;

/* What one commit adds to the curves rows of one hour, limits epoch and participant count, and to
 * the curve_mix rows of that participant mix (listeners -1: mix unknown, curves only). */
typedef struct CurveDelta {
        int64_t hour_ms, epoch;
        int32_t users, listeners, voice, video;
        CurveAcc m[_CURVE_METRIC_MAX];
} CurveDelta;

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
        TrendDelta *trends;
        size_t n_trends, alloc_trends;
        CurveDelta *curves;
        size_t n_curves, alloc_curves;
} StoreAgent;

typedef struct PollCache {
        int64_t time_ms;
        int64_t participants; /* -1 unknown (failed poll) */
        bool up;              /* the server's state after this poll */
        int64_t listeners, voice, video; /* -1 unknown */
} PollCache;

typedef struct BbbState {
        char name[STORE_ID_MAX + 1];
        int64_t num;
        PollCache ring[STORE_BBB_CACHE]; /* every poll with time >= the oldest one held, ascending */
        unsigned head, count;
} BbbState;

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
        STMT_MIX_UPSERT,
        STMT_EPOCH_GET,
        STMT_EPOCH_INSERT,
        STMT_NETDEV_UPSERT,
        STMT_NETDEV_PRUNE,
        STMT_BBB_GET,
        STMT_BBB_CREATE,
        STMT_BBB_STATE,
        STMT_BBB_POLL,
        STMT_BBB_RECENT,
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

static const char *const stmt_sql[_STMT_MAX] = {
        [STMT_INSERT_SAMPLE] =
                "INSERT OR IGNORE INTO samples (agent, time_ms, seq, users, cpu_cores, cpu_ratio, throttled_ratio,"
                " io_read_bps, io_write_bps, net_rx_bps, net_tx_bps, steal_ratio, memory_bytes, working_set_bytes,"
                " cache_bytes, anon_bytes, swap_bytes, cpu_usage_usec, cpu_throttled_usec, io_read_bytes,"
                " io_write_bytes, net_rx_bytes, net_tx_bytes, oom_kills, cpu_nr_periods, cpu_nr_throttled,"
                " cpu_steal_usec, listeners, voice, video, epoch)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [STMT_STREAM_GET] = "SELECT last_seq FROM streams WHERE agent = ? AND stream = ?",
        [STMT_STREAM_SET] = "INSERT INTO streams (agent, stream, last_seq) VALUES (?, ?, ?)"
                            " ON CONFLICT (agent, stream) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)",
        [STMT_SAMPLE_EXISTS] = "SELECT 1 FROM samples WHERE agent = ? AND time_ms = ?",
        [STMT_SAMPLE_BEFORE] =
                "SELECT time_ms, cpu_usage_usec, cpu_throttled_usec, io_read_bytes, io_write_bytes, net_rx_bytes,"
                " net_tx_bytes, oom_kills, cpu_nr_periods, cpu_nr_throttled, cpu_steal_usec FROM samples"
                " WHERE agent = ? AND time_ms < ? ORDER BY time_ms DESC LIMIT 1",
        [STMT_SAMPLE_NEWEST] =
                "SELECT time_ms, cpu_usage_usec, cpu_throttled_usec, io_read_bytes, io_write_bytes, net_rx_bytes,"
                " net_tx_bytes, oom_kills, cpu_nr_periods, cpu_nr_throttled, cpu_steal_usec, seq FROM samples"
                " WHERE agent = ? ORDER BY time_ms DESC LIMIT 1",
        [STMT_NETDEV_COUNT] = "SELECT count(*) FROM netdev WHERE agent = ? AND time_ms = ?",
        [STMT_AGENT_GET] = "SELECT num, effective_cpus, agg_time_ms, memory_limit_bytes FROM agents WHERE id = ?",
        [STMT_AGENT_CREATE] = "INSERT INTO agents (id, first_seen_ms, last_seen_ms) VALUES (?1, ?2, ?2)"
                              " ON CONFLICT (id) DO NOTHING",
        [STMT_AGENT_HELLO] =
                "INSERT INTO agents (id, virt, hostname, machine_id, agent_version, cgroup_version, cgroup_mode,"
                " cgroup_path, effective_cpus, cpu_count, cpuset, quota_us, period_us, memory_limit_bytes,"
                " swap_limit_bytes, host_cpus, host_memory_bytes, bbb, transport, clock_offset_ms,"
                " connected, first_seen_ms, last_seen_ms, labels)"
                " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,1,?21,?21,?22)"
                " ON CONFLICT (id) DO UPDATE SET virt = excluded.virt, hostname = excluded.hostname,"
                " machine_id = excluded.machine_id, agent_version = excluded.agent_version,"
                " cgroup_version = excluded.cgroup_version, cgroup_mode = excluded.cgroup_mode,"
                " cgroup_path = excluded.cgroup_path, effective_cpus = excluded.effective_cpus,"
                " cpu_count = excluded.cpu_count, cpuset = excluded.cpuset, quota_us = excluded.quota_us,"
                " period_us = excluded.period_us, memory_limit_bytes = excluded.memory_limit_bytes,"
                " swap_limit_bytes = excluded.swap_limit_bytes, host_cpus = excluded.host_cpus,"
                " host_memory_bytes = excluded.host_memory_bytes, bbb = excluded.bbb,"
                " transport = excluded.transport, clock_offset_ms = excluded.clock_offset_ms, connected = 1,"
                " last_seen_ms = excluded.last_seen_ms, labels = excluded.labels"
                " RETURNING num",
        [STMT_AGENT_LAST] = "UPDATE agents SET last_seq = CASE WHEN ?1 >= last_time_ms THEN ?2 ELSE last_seq END,"
                            " last_time_ms = max(last_time_ms, ?1), last_seen_ms = max(coalesce(last_seen_ms, 0), ?3),"
                            " agg_time_ms = max(agg_time_ms, ?1) WHERE num = ?4",
        [STMT_AGENT_LIMITS] = "UPDATE agents SET effective_cpus = ?, cpu_count = ?, cpuset = ?, quota_us = ?,"
                              " period_us = ?, memory_limit_bytes = ?, swap_limit_bytes = ?, host_cpus = ?,"
                              " host_memory_bytes = ? WHERE num = ?",
        [STMT_AGENT_DISCONNECTED] = "UPDATE agents SET connected = 0, last_seen_ms = ? WHERE id = ?",
        [STMT_AGENT_RESET] = "UPDATE agents SET connected = 0 WHERE connected != 0",
        [STMT_AGENT_NUMS] = "SELECT num FROM agents ORDER BY num",
        /* Committed samples that the aggregates do not hold yet (after a crash). */
        [STMT_AGENT_TAIL] = "SELECT a.id, s.time_ms, s.users, s.cpu_cores, s.cpu_ratio, s.throttled_ratio,"
                            " s.io_read_bps, s.io_write_bps, s.net_rx_bps, s.net_tx_bps, s.steal_ratio, s.memory_bytes,"
                            " s.working_set_bytes, s.listeners, s.voice, s.video, s.epoch"
                            " FROM agents a JOIN samples s ON s.agent = a.num"
                            " AND s.time_ms > a.agg_time_ms ORDER BY a.num, s.time_ms",
        [STMT_TREND_UPSERT] = NULL, /* built by trend_upsert_sql() */
        [STMT_CURVE_UPSERT] =
                "INSERT INTO curves (agent, metric, hour_ms, epoch, users, n, sum, sumsq, max, hist)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (agent, metric, hour_ms, epoch, users) DO UPDATE SET n = curves.n + excluded.n,"
                " sum = curves.sum + excluded.sum, sumsq = curves.sumsq + excluded.sumsq,"
                " max = max(curves.max, excluded.max), hist = seatmeter_hist_merge(curves.hist, excluded.hist)",
        [STMT_MIX_UPSERT] =
                "INSERT INTO curve_mix (agent, metric, hour_ms, epoch, users, listeners, voice, video, n, sum, sumsq)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (agent, metric, hour_ms, epoch, users, listeners, voice, video) DO UPDATE SET"
                " n = curve_mix.n + excluded.n, sum = curve_mix.sum + excluded.sum,"
                " sumsq = curve_mix.sumsq + excluded.sumsq",
        [STMT_EPOCH_GET] = "SELECT epoch, effective_cpus, memory_limit_bytes FROM epochs WHERE agent = ?"
                           " ORDER BY epoch DESC LIMIT 1",
        [STMT_EPOCH_INSERT] = "INSERT OR IGNORE INTO epochs (agent, epoch, start_ms, effective_cpus,"
                              " memory_limit_bytes) VALUES (?,?,?,?,?)",
        [STMT_NETDEV_UPSERT] =
                "INSERT INTO netdev (agent, name, time_ms, rx_bytes, tx_bytes, rx_packets, tx_packets, rx_errors,"
                " tx_errors, rx_dropped, tx_dropped) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT (agent, name) DO UPDATE SET time_ms = excluded.time_ms,"
                " rx_bytes = excluded.rx_bytes, tx_bytes = excluded.tx_bytes, rx_packets = excluded.rx_packets,"
                " tx_packets = excluded.tx_packets, rx_errors = excluded.rx_errors,"
                " tx_errors = excluded.tx_errors, rx_dropped = excluded.rx_dropped,"
                " tx_dropped = excluded.tx_dropped WHERE excluded.time_ms >= netdev.time_ms",
        [STMT_NETDEV_PRUNE] = "DELETE FROM netdev WHERE agent = ? AND time_ms < ?",
        [STMT_BBB_GET] = "SELECT num FROM bbb_servers WHERE name = ?",
        [STMT_BBB_CREATE] = "INSERT INTO bbb_servers (name) VALUES (?) ON CONFLICT (name) DO NOTHING",
        [STMT_BBB_STATE] = "UPDATE bbb_servers SET up = ?, last_poll_ms = ?, last_ok_ms = coalesce(?, last_ok_ms),"
                           " error = ?, meetings = ?, participants = ?, listeners = ?, voice = ?, video = ?,"
                           " moderators = ?, breakouts = ? WHERE num = ?",
        [STMT_BBB_POLL] = "INSERT OR REPLACE INTO bbb_polls (server, time_ms, ok, meetings, participants,"
                          " listeners, voice, video, moderators, breakouts, up) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [STMT_BBB_RECENT] = "SELECT time_ms, ok, participants, up, listeners, voice, video FROM bbb_polls"
                            " WHERE server = ?"
                            " ORDER BY time_ms DESC LIMIT ?",
        [STMT_BBB_AT] = "SELECT time_ms, ok, participants, up FROM bbb_polls WHERE server = ? AND time_ms <= ?"
                        " ORDER BY time_ms DESC LIMIT 1",
        [STMT_BBB_AT_OK] = "SELECT time_ms, participants, listeners, voice, video FROM bbb_polls"
                           " WHERE server = ? AND time_ms <= ?"
                           " AND time_ms >= ? AND ok ORDER BY time_ms DESC LIMIT 1",
        [STMT_BBB_NUMS] = "SELECT num FROM bbb_servers ORDER BY num",
        [STMT_RETAIN_SAMPLES] = "DELETE FROM samples WHERE agent = ?1 AND time_ms IN (SELECT time_ms FROM samples"
                                " WHERE agent = ?1 AND time_ms < ?2 ORDER BY time_ms LIMIT ?3)",
        [STMT_RETAIN_TRENDS] = "DELETE FROM trends WHERE agent = ?1 AND hour_ms IN (SELECT hour_ms FROM trends"
                               " WHERE agent = ?1 AND hour_ms < ?2 ORDER BY hour_ms LIMIT ?3)",
        [STMT_RETAIN_POLLS] = "DELETE FROM bbb_polls WHERE server = ?1 AND time_ms IN (SELECT time_ms FROM"
                              " bbb_polls WHERE server = ?1 AND time_ms < ?2 ORDER BY time_ms LIMIT ?3)",
        [STMT_BEGIN] = "BEGIN IMMEDIATE",
        [STMT_COMMIT] = "COMMIT",
        [STMT_ROLLBACK] = "ROLLBACK",
};

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

int store_errno(int sqlite_rc)
{
        switch (sqlite_rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_CONSTRAINT:
                return -EEXIST;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_READONLY:
                return -EROFS;
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        case SQLITE_TOOBIG:
                return -E2BIG;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EBADMSG;
        case SQLITE_INTERRUPT:
                return -EINTR;
        case SQLITE_MISUSE:
        case SQLITE_RANGE:
                return -EINVAL;
        default:
                return -EIO;
        }
}

/* Runs a statement that returns no rows and resets it. */
static int stmt_exec(sqlite3_stmt *st)
{
        int rc = sqlite3_step(st);

        (void)sqlite3_reset(st);
        return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : store_errno(rc);
}

static void bind_i64_or_null(sqlite3_stmt *st, int i, int64_t v)
{
        if (v < 0)
                sqlite3_bind_null(st, i);
        else
                sqlite3_bind_int64(st, i, v);
}

static void bind_double_or_null(sqlite3_stmt *st, int i, double v)
{
        if (isnan(v))
                sqlite3_bind_null(st, i);
        else
                sqlite3_bind_double(st, i, v);
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
        if (isempty(s))
                sqlite3_bind_null(st, i);
        else
                sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static int64_t column_i64_or_none(sqlite3_stmt *st, int i)
{
        return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

/* ---- schema ---------------------------------------------------------------------------------------- */

/* NNN_name.sql -> NNN; -EINVAL for anything else. */
static int migration_version(const char *name, unsigned *ret)
{
        unsigned v = 0;
        size_t i = 0, n = strlen(name);

        while (i < n && name[i] >= '0' && name[i] <= '9' && i < 6)
                v = v * 10 + (unsigned)(name[i++] - '0');
        if (i < 3 || i >= n || name[i] != '_' || n < 4 || !streq(name + n - 4, ".sql") || v == 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int db_get_int(sqlite3 *db, const char *sql, int64_t *ret)
{
        sqlite3_stmt *st = NULL;
        int rc;

        rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return store_errno(rc);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *ret = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? -ENODATA : store_errno(rc);
}

static int db_exec(sqlite3 *db, const char *sql)
{
        return store_errno(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

/* Applies every embedded migration newer than the database, each in its own transaction. */
static int store_migrate(sqlite3 *db, const char *path)
{
        unsigned latest = 0;
        int64_t version, app_id, tables;
        int r;

        for (size_t i = 0; schema_files[i].name; i++) {
                unsigned v;

                if (migration_version(schema_files[i].name, &v) < 0 || v != i + 1)
                        return log_error_errno(EINVAL, "Embedded migration '%s' is not number %zu.",
                                               schema_files[i].name, i + 1);
                latest = v;
        }

        r = db_get_int(db, "PRAGMA application_id", &app_id);
        if (r < 0)
                return log_error_errno(r, "Failed to read the application id of '%s': %s", path, sqlite3_errmsg(db));
        r = db_get_int(db, "PRAGMA user_version", &version);
        if (r < 0)
                return log_error_errno(r, "Failed to read the schema version of '%s': %s", path, sqlite3_errmsg(db));
        if (app_id != 0 && app_id != STORE_APPLICATION_ID)
                return log_error_errno(EMEDIUMTYPE, "'%s' is not a seatmeter database (application id 0x%llx).",
                                       path, (unsigned long long)app_id);
        if (version > (int64_t)latest)
                return log_error_errno(EPROTONOSUPPORT,
                                       "Database '%s' has schema version %lld, newer than this seatmeterd knows "
                                       "(%u): refusing to touch it. Run a newer seatmeterd.",
                                       path, (long long)version, latest);
        if (version == 0 && app_id == 0) {
                r = db_get_int(db, "SELECT count(*) FROM sqlite_schema", &tables);
                if (r < 0)
                        return log_error_errno(r, "Failed to read '%s': %s", path, sqlite3_errmsg(db));
                if (tables > 0)
                        return log_error_errno(EMEDIUMTYPE,
                                               "'%s' holds tables but no seatmeter schema version: not a "
                                               "seatmeter database, refusing to touch it.", path);
        }

        for (unsigned v = (unsigned)version + 1; v <= latest; v++) {
                const EmbeddedFile *f = &schema_files[v - 1];
                char pragma[96];
                int64_t now_version;

                r = db_exec(db, "BEGIN IMMEDIATE");
                if (r < 0)
                        return log_error_errno(r, "Failed to begin migration '%s' of '%s': %s", f->name, path,
                                               sqlite3_errmsg(db));
                /* Another process may have migrated while we waited for the lock. */
                r = db_get_int(db, "PRAGMA user_version", &now_version);
                if (r >= 0 && now_version >= v) {
                        (void)db_exec(db, "COMMIT");
                        continue;
                }
                if (r >= 0)
                        r = db_exec(db, (const char *)f->data);
                if (r >= 0) {
                        (void)snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %u; PRAGMA application_id = %d",
                                       v, STORE_APPLICATION_ID);
                        r = db_exec(db, pragma);
                }
                if (r >= 0)
                        r = db_exec(db, "COMMIT");
                if (r < 0) {
                        int k = log_error_errno(r, "Failed to apply migration '%s' to '%s': %s", f->name, path,
                                                sqlite3_errmsg(db));
                        if (!sqlite3_get_autocommit(db))
                                (void)db_exec(db, "ROLLBACK");
                        return k;
                }
                log_info("Database '%s' migrated to schema version %u.", path, v);
        }
        return 0;
}

/* seatmeter_hist_merge(old, new): the curves UPSERT's histogram sum. A damaged stored histogram is
 * replaced by the new counts rather than failing every commit after it. */
static void sql_hist_merge(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
        _cleanup_(curve_hist_freep) CurveHist *a = NULL, *b = NULL;
        _cleanup_free_ uint8_t *out = NULL;
        size_t out_size;
        int r;

        assert(argc == 2);
        if (sqlite3_value_type(argv[1]) != SQLITE_BLOB) {
                sqlite3_result_value(ctx, argv[0]);
                return;
        }
        if (sqlite3_value_type(argv[0]) != SQLITE_BLOB ||
            curve_hist_deserialize(sqlite3_value_blob(argv[0]), (size_t)sqlite3_value_bytes(argv[0]), &a) < 0) {
                if (sqlite3_value_type(argv[0]) == SQLITE_BLOB)
                        log_warning("Damaged curve histogram replaced.");
                sqlite3_result_value(ctx, argv[1]);
                return;
        }
        r = curve_hist_deserialize(sqlite3_value_blob(argv[1]), (size_t)sqlite3_value_bytes(argv[1]), &b);
        if (r >= 0)
                r = curve_hist_merge(a, b);
        if (r >= 0)
                r = curve_hist_serialize(a, &out, &out_size);
        if (r == -ENOMEM) {
                sqlite3_result_error_nomem(ctx);
                return;
        }
        if (r < 0) {
                sqlite3_result_value(ctx, argv[0]);
                return;
        }
        sqlite3_result_blob(ctx, TAKE_PTR(out), (int)out_size, free);
}

static char *trend_upsert_sql(void)
{
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return NULL;
        fputs("INSERT INTO trends (agent, hour_ms, n", f);
        for (unsigned i = 0; i < _T_MAX; i++) {
                const char *c = trend_columns[i];
                fprintf(f, ", %s_n, %s_min, %s_sum, %s_max", c, c, c, c);
        }
        fputs(") VALUES (?, ?, ?", f);
        for (unsigned i = 0; i < _T_MAX; i++)
                fputs(", ?, ?, ?, ?", f);
        fputs(") ON CONFLICT (agent, hour_ms) DO UPDATE SET n = trends.n + excluded.n", f);
        for (unsigned i = 0; i < _T_MAX; i++) {
                const char *c = trend_columns[i];

                fprintf(f, ", %s_n = coalesce(trends.%s_n, 0) + excluded.%s_n", c, c, c);
                fprintf(f, ", %s_min = min(coalesce(trends.%s_min, excluded.%s_min), coalesce(excluded.%s_min, trends.%s_min))",
                        c, c, c, c, c);
                fprintf(f, ", %s_sum = coalesce(trends.%s_sum + excluded.%s_sum, trends.%s_sum, excluded.%s_sum)", c, c,
                        c, c, c);
                fprintf(f, ", %s_max = max(coalesce(trends.%s_max, excluded.%s_max), coalesce(excluded.%s_max, trends.%s_max))",
                        c, c, c, c, c);
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

static int store_recover_aggregates(Store *s);

static int store_prepare(Store *s)
{
        _cleanup_free_ char *trend_sql = NULL;
        int rc;

        trend_sql = trend_upsert_sql();
        if (!trend_sql)
                return -ENOMEM;

        for (unsigned i = 0; i < _STMT_MAX; i++) {
                const char *sql = i == STMT_TREND_UPSERT ? trend_sql : stmt_sql[i];

                rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i], NULL);
                if (rc != SQLITE_OK)
                        return log_error_errno(store_errno(rc), "Failed to prepare statement %u of '%s': %s", i,
                                               s->path, sqlite3_errmsg(s->db));
        }
        return 0;
}

int store_open(const char *path, Store **ret)
{
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_free_ char *mode = NULL;
        sqlite3_stmt *st = NULL;
        char pragmas[160];
        int rc, r;

        assert(path);
        assert(ret);

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->path = strdup(path);
        if (!s->path)
                return -ENOMEM;

        rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK) {
                r = s->db ? sqlite3_system_errno(s->db) : 0;
                return log_error_errno(r > 0 ? r : -store_errno(rc), "Failed to open database '%s': %s", path,
                                       s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        }
        sqlite3_extended_result_codes(s->db, 1);
        sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);

        /* WAL lets the HTTP threads read while we write; NORMAL syncs at checkpoints only, so a commit
         * survives a crash of the daemon (what acks promise) but the newest ones may roll back if the
         * machine loses power. */
        rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
                const unsigned char *m = sqlite3_column_text(st, 0);
                mode = m ? strdup((const char *)m) : NULL;
        }
        rc = sqlite3_finalize(st);
        if (rc != SQLITE_OK || !mode)
                return log_error_errno(rc != SQLITE_OK ? store_errno(rc) : EIO,
                                       "Failed to read database '%s': %s", path, sqlite3_errmsg(s->db));
        if (!streq(mode, "wal") && !streq(path, ":memory:"))
                return log_error_errno(EIO, "Database '%s' cannot use WAL (journal mode '%s').", path, mode);

        (void)snprintf(pragmas, sizeof(pragmas),
                       "PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = %d; PRAGMA cache_size = -%d;"
                       " PRAGMA temp_store = MEMORY",
                       STORE_WAL_LIMIT_BYTES, STORE_CACHE_KIB);
        r = db_exec(s->db, pragmas);
        if (r < 0)
                return log_error_errno(r, "Failed to configure database '%s': %s", path, sqlite3_errmsg(s->db));

        r = store_migrate(s->db, path);
        if (r < 0)
                return r;

        rc = sqlite3_create_function_v2(s->db, "seatmeter_hist_merge", 2,
                                        SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
                                        sql_hist_merge, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return log_error_errno(store_errno(rc), "Failed to register SQL functions: %s", sqlite3_errmsg(s->db));

        r = store_prepare(s);
        if (r < 0)
                return r;

        s->agg_interval_ms = STORE_AGG_INTERVAL_MS;
        s->last_agg_usec = now_usec(CLOCK_MONOTONIC);
        r = store_recover_aggregates(s);
        if (r < 0)
                return log_error_errno(r, "Failed to fold the newest samples of '%s' into its aggregates: %m", path);

        *ret = TAKE_PTR(s);
        return 0;
}

/* After a commit: the rows and limits are written. */
static void agent_clear_rows(StoreAgent *a)
{
        a->first = a->last = NONE;
        a->n_pending = 0;
        a->limits_dirty = false;
        a->n_new_epochs = 0;
}

/* After an aggregate flush: the deltas are written. */
static void agent_clear_aggs(StoreAgent *a)
{
        for (size_t i = 0; i < a->n_curves; i++)
                for (unsigned m = 0; m < _CURVE_METRIC_MAX; m++)
                        a->curves[i].m[m].hist = curve_hist_free(a->curves[i].m[m].hist);
        a->n_curves = 0;
        a->n_trends = 0;
        a->newest_dirty = a->net_dirty = false;
}

static bool agent_has_aggs(const StoreAgent *a)
{
        return a->n_curves > 0 || a->n_trends > 0 || a->newest_dirty || a->net_dirty;
}

static void agent_free(StoreAgent *a)
{
        if (!a)
                return;
        agent_clear_aggs(a);
        free(a->curves);
        free(a->new_epochs);
        free(a->trends);
        free(a->net);
        free(a);
}

Store *store_free(Store *s)
{
        int r;

        if (!s)
                return NULL;

        if (s->db && s->n_dirty > 0) {
                r = store_flush(s);
                if (r < 0)
                        log_error_errno(r, "Failed to commit %zu samples to '%s' at exit: %m", s->n_rows, s->path);
        }
        for (unsigned i = 0; i < _STMT_MAX; i++)
                sqlite3_finalize(s->stmt[i]);
        if (s->db) {
                int rc = sqlite3_close(s->db);
                if (rc != SQLITE_OK)
                        log_warning("Failed to close database '%s': %s", strna(s->path), sqlite3_errstr(rc));
        }
        for (size_t i = 0; i < s->n_agents; i++)
                agent_free(s->agents[i]);
        free(s->agents);
        free(s->slots);
        free(s->dirty);
        free(s->rows);
        for (size_t i = 0; i < s->n_bbb; i++)
                free(s->bbb[i]);
        free(s->bbb);
        free(s->path);
        free(s);
        return NULL;
}

void store_set_live(Store *s, Live *live)
{
        assert(s);
        s->live = live;
}

int store_set_size_limit(Store *s, uint64_t max_bytes)
{
        int64_t page_size = 0; /* gcc 12 -O2 cannot see that db_get_int() sets it on success */
        char sql[64];
        int r;

        assert(s);
        r = db_get_int(s->db, "PRAGMA page_size", &page_size);
        if (r < 0)
                return r;
        if (page_size <= 0)
                return -EIO;
        (void)snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %llu",
                       max_bytes == 0 ? 4294967294ULL : (unsigned long long)MAX(max_bytes / (uint64_t)page_size, 1));
        return db_exec(s->db, sql);
}

bool store_has_unflushed(const Store *s)
{
        return s && s->n_dirty > 0;
}

unsigned store_pending(const Store *s)
{
        return s ? (unsigned)s->n_rows : 0;
}

/* ---- agents ---------------------------------------------------------------------------------------- */

static int agents_rehash(Store *s, size_t n_slots)
{
        uint32_t *slots = calloc(n_slots, sizeof(uint32_t));

        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_agents; i++) {
                size_t j = s->agents[i]->hash & (n_slots - 1);
                while (slots[j])
                        j = (j + 1) & (n_slots - 1);
                slots[j] = (uint32_t)i + 1;
        }
        free(s->slots);
        s->slots = slots;
        s->n_slots = n_slots;
        return 0;
}

static StoreAgent *agent_find(Store *s, const char *id, uint32_t hash)
{
        if (s->n_slots == 0)
                return NULL;
        for (size_t j = hash & (s->n_slots - 1);; j = (j + 1) & (s->n_slots - 1)) {
                StoreAgent *a;

                if (!s->slots[j])
                        return NULL;
                a = s->agents[s->slots[j] - 1];
                if (a->hash == hash && streq(a->id, id))
                        return a;
        }
}

static void prev_from_columns(sqlite3_stmt *st, Prev *ret)
{
        *ret = (Prev){ .valid = true, .time_ms = sqlite3_column_int64(st, 0), .n_net = -1 };
        for (int c = 0; c < _C_MAX; c++)
                ret->counter[c] = column_i64_or_none(st, 1 + c);
}

/* Loads what rates need from the database: the agent's newest stored sample. */
static int agent_load_prev(Store *s, StoreAgent *a)
{
        sqlite3_stmt *st = s->stmt[STMT_SAMPLE_NEWEST];
        int rc;

        sqlite3_bind_int64(st, 1, a->num);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                prev_from_columns(st, &a->prev);
                a->newest_seq = (uint64_t)MAX(sqlite3_column_int64(st, 1 + _C_MAX), 0);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return store_errno(rc);
        if (rc == SQLITE_DONE)
                return 0;

        /* The interfaces of that sample, when the netdev table still describes it. */
        st = s->stmt[STMT_NETDEV_COUNT];
        sqlite3_bind_int64(st, 1, a->num);
        sqlite3_bind_int64(st, 2, a->prev.time_ms);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_int(st, 0) > 0)
                a->prev.n_net = sqlite3_column_int(st, 0);
        sqlite3_reset(st);
        return rc == SQLITE_ROW ? 0 : store_errno(rc);
}

/* The newest limits epoch of a, so that a restart continues it while the limits stay the same. */
static int agent_load_epoch(Store *s, StoreAgent *a)
{
        sqlite3_stmt *st = s->stmt[STMT_EPOCH_GET];
        int rc;

        a->epoch = 0;
        a->epoch_cpus = NAN;
        a->epoch_memory = -1;
        sqlite3_bind_int64(st, 1, a->num);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                a->epoch = sqlite3_column_int64(st, 0);
                a->epoch_cpus = sqlite3_column_type(st, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 1);
                a->epoch_memory = column_i64_or_none(st, 2);
        }
        sqlite3_reset(st);
        return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_errno(rc);
}

/* Effective CPUs that differ by less than this are the same limit (a quota read back as a fraction). */
#define EPOCH_CPUS_EPSILON 1e-6

/* Sets *ret to the epoch of a sample at time_ms under a's current limits: a new one when they differ
 * from the current epoch's (or there is none yet). Returns 0 or -ENOMEM. */
static int agent_epoch_for(StoreAgent *a, int64_t time_ms, int64_t *ret)
{
        bool same_cpus = (isnan(a->effective_cpus) && isnan(a->epoch_cpus)) ||
                         fabs(a->effective_cpus - a->epoch_cpus) <= EPOCH_CPUS_EPSILON;
        int r;

        if (a->epoch <= 0 || !same_cpus || a->memory_limit != a->epoch_memory) {
                r = GREEDY_REALLOC(a->new_epochs, a->alloc_new_epochs, a->n_new_epochs + 1);
                if (r < 0)
                        return r;
                a->epoch++;
                a->epoch_cpus = a->effective_cpus;
                a->epoch_memory = a->memory_limit;
                a->new_epochs[a->n_new_epochs++] = (EpochCopy){ .epoch = a->epoch, .start_ms = time_ms,
                                                                .memory_limit = a->memory_limit,
                                                                .effective_cpus = a->effective_cpus };
        }
        *ret = a->epoch;
        return 0;
}

/* The in-memory state of agent id, from the database (creating its row) the first time. */
static int agent_get(Store *s, const char *id, StoreAgent **ret)
{
        _cleanup_free_ StoreAgent *a = NULL;
        uint32_t hash = string_hash(id);
        StoreAgent *found;
        sqlite3_stmt *st;
        int rc, r;

        found = agent_find(s, id, hash);
        if (found) {
                *ret = found;
                return 0;
        }

        if (s->n_agents >= STORE_AGENTS_MAX)
                return -ENOBUFS;
        if (strlen(id) > STORE_ID_MAX)
                return -EINVAL;

        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        strcpy(a->id, id);
        a->hash = hash;
        a->first = a->last = NONE;
        a->effective_cpus = NAN;
        a->memory_limit = -1;
        a->num = -1;

        for (int attempt = 0; attempt < 2 && a->num < 0; attempt++) {
                st = s->stmt[STMT_AGENT_GET];
                sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
                rc = sqlite3_step(st);
                if (rc == SQLITE_ROW) {
                        a->num = sqlite3_column_int64(st, 0);
                        if (sqlite3_column_type(st, 1) != SQLITE_NULL)
                                a->effective_cpus = sqlite3_column_double(st, 1);
                        a->agg_time_ms = sqlite3_column_int64(st, 2);
                        a->memory_limit = column_i64_or_none(st, 3);
                }
                sqlite3_reset(st);
                if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                        return store_errno(rc);
                if (rc == SQLITE_DONE && attempt == 0) {
                        st = s->stmt[STMT_AGENT_CREATE];
                        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
                        sqlite3_bind_int64(st, 2, now_ms());
                        r = stmt_exec(st);
                        if (r < 0)
                                return r;
                }
        }
        if (a->num < 0)
                return -EIO;

        r = agent_load_prev(s, a);
        if (r < 0)
                return r;
        r = agent_load_epoch(s, a);
        if (r < 0)
                return r;

        r = GREEDY_REALLOC(s->agents, s->alloc_agents, s->n_agents + 1);
        if (r < 0)
                return r;
        s->agents[s->n_agents++] = a;
        if (s->n_agents * 2 > s->n_slots) {
                r = agents_rehash(s, MAX(s->n_slots * 2, (size_t)64));
                if (r < 0) {
                        s->agents[--s->n_agents] = NULL;
                        return r;
                }
        } else {
                size_t j = hash & (s->n_slots - 1);
                while (s->slots[j])
                        j = (j + 1) & (s->n_slots - 1);
                s->slots[j] = (uint32_t)s->n_agents;
        }
        *ret = TAKE_PTR(a);
        return 0;
}

static int agent_mark_dirty(Store *s, StoreAgent *a)
{
        int r;

        if (a->dirty)
                return 0;
        r = GREEDY_REALLOC(s->dirty, s->alloc_dirty, s->n_dirty + 1);
        if (r < 0)
                return r;
        s->dirty[s->n_dirty++] = a;
        a->dirty = true;
        return 0;
}

static void limits_copy(const Seatmeter__Limits *l, LimitsCopy *ret)
{
        *ret = (LimitsCopy){
                .effective_cpus = l->has_effective_cpus ? l->effective_cpus : NAN,
                .cpu_count = l->has_cpu_count ? (int64_t)l->cpu_count : -1,
                .quota_us = l->has_quota_us ? l->quota_us : -1,
                .period_us = l->has_period_us ? (int64_t)l->period_us : -1,
                .memory_limit_bytes = l->has_memory_limit_bytes ? (int64_t)l->memory_limit_bytes : -1,
                .swap_limit_bytes = l->has_swap_limit_bytes ? (int64_t)l->swap_limit_bytes : -1,
                .host_cpus = l->has_host_cpus ? (int64_t)l->host_cpus : -1,
                .host_memory_bytes = l->has_host_memory_bytes ? (int64_t)l->host_memory_bytes : -1,
        };
        if (l->cpuset)
                (void)snprintf(ret->cpuset, sizeof(ret->cpuset), "%s", l->cpuset);
}

/* Makes stream the one agent a's samples belong to, loading its position from the database when it is
 * not cached. A cached stream whose samples all are committed makes room. Returns 0, -ENOBUFS when
 * every cached stream has pending samples (commit first), or -errno. */
static int agent_select_stream(Store *s, StoreAgent *a, uint64_t stream)
{
        sqlite3_stmt *st;
        uint64_t seq = 0;
        unsigned slot;
        int rc;

        for (unsigned i = 0; i < a->n_streams; i++)
                if (a->streams[i].stream == stream) {
                        a->cur = i;
                        return 0;
                }

        st = s->stmt[STMT_STREAM_GET];
        sqlite3_bind_int64(st, 1, a->num);
        sqlite3_bind_int64(st, 2, (int64_t)stream);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                seq = (uint64_t)MAX(sqlite3_column_int64(st, 0), 0);
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return store_errno(rc);

        if (a->n_streams < STORE_STREAMS_CACHED)
                slot = a->n_streams++;
        else {
                slot = STORE_STREAMS_CACHED;
                for (unsigned i = 0; i < a->n_streams; i++)
                        if (a->streams[i].seq == a->streams[i].committed) {
                                slot = i;
                                break;
                        }
                if (slot == STORE_STREAMS_CACHED)
                        return -ENOBUFS;
        }
        a->streams[slot] = (StreamPos){ .stream = stream, .seq = seq, .committed = seq };
        a->cur = slot;
        return 0;
}

static int write_streams(Store *s, const StoreAgent *a)
{
        sqlite3_stmt *st = s->stmt[STMT_STREAM_SET];
        int r;

        for (unsigned i = 0; i < a->n_streams; i++) {
                const StreamPos *p = &a->streams[i];

                if (p->seq == p->committed)
                        continue;
                sqlite3_bind_int64(st, 1, a->num);
                sqlite3_bind_int64(st, 2, (int64_t)p->stream);
                sqlite3_bind_int64(st, 3, (int64_t)p->seq);
                r = stmt_exec(st);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The labels of a checked Hello as the JSON object stored in agents.labels. */
static int hello_labels_json(const Seatmeter__Hello *h, char *buf, size_t size)
{
        Labels labels = {0};

        for (size_t i = 0; i < h->n_labels && i < LABELS_MAX; i++) {
                Label *l = &labels.l[labels.n++];

                (void)snprintf(l->key, sizeof(l->key), "%s", h->labels[i]->key);
                (void)snprintf(l->value, sizeof(l->value), "%s", h->labels[i]->value ? h->labels[i]->value : "");
        }
        return labels_to_json(&labels, buf, size);
}

int store_agent_hello(Store *s, const StoreAgentInfo *info, int64_t *ret_last_time_ms, uint64_t *ret_last_seq)
{
        char labels_json[LABELS_JSON_MAX + 1];
        const Seatmeter__Hello *h;
        LimitsCopy l = {
                .effective_cpus = NAN,
                .cpu_count = -1,
                .quota_us = -1,
                .period_us = -1,
                .memory_limit_bytes = -1,
                .swap_limit_bytes = -1,
                .host_cpus = -1,
                .host_memory_bytes = -1,
        };
        StoreAgent *a;
        sqlite3_stmt *st;
        int64_t last_time = 0;
        int rc, r;

        assert(s);
        assert(info);

        h = info->hello;
        if (!id_is_valid(info->id) || !h || store_hello_check(h, NULL) < 0 ||
            (info->transport && strlen(info->transport) > STORE_SHORT_TEXT_MAX) ||
            (info->bbb && !id_is_valid(info->bbb)))
                return -EINVAL;
        if (h->limits)
                limits_copy(h->limits, &l);
        r = hello_labels_json(h, labels_json, sizeof(labels_json));
        if (r < 0)
                return r;

        st = s->stmt[STMT_AGENT_HELLO];
        sqlite3_bind_text(st, 1, info->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, store_virt_to_string(h->has_virt ? (int)h->virt : 0), -1, SQLITE_STATIC);
        bind_text_or_null(st, 3, h->hostname);
        bind_text_or_null(st, 4, h->machine_id);
        bind_text_or_null(st, 5, h->agent_version);
        if (h->has_cgroup_version)
                sqlite3_bind_int(st, 6, (int)h->cgroup_version);
        else
                sqlite3_bind_null(st, 6);
        bind_text_or_null(st, 7, h->cgroup_mode);
        bind_text_or_null(st, 8, h->cgroup_path);
        bind_double_or_null(st, 9, l.effective_cpus);
        bind_i64_or_null(st, 10, l.cpu_count);
        bind_text_or_null(st, 11, l.cpuset);
        bind_i64_or_null(st, 12, l.quota_us);
        bind_i64_or_null(st, 13, l.period_us);
        bind_i64_or_null(st, 14, l.memory_limit_bytes);
        bind_i64_or_null(st, 15, l.swap_limit_bytes);
        bind_i64_or_null(st, 16, l.host_cpus);
        bind_i64_or_null(st, 17, l.host_memory_bytes);
        bind_text_or_null(st, 18, info->bbb);
        bind_text_or_null(st, 19, info->transport);
        sqlite3_bind_int64(st, 20, info->clock_offset_ms);
        sqlite3_bind_int64(st, 21, info->now_ms > 0 ? info->now_ms : now_ms());
        sqlite3_bind_text(st, 22, labels_json, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                rc = sqlite3_step(st);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE)
                return store_errno(rc);

        r = agent_get(s, info->id, &a);
        if (r < 0)
                return r;
        r = agent_select_stream(s, a, info->stream);
        if (r < 0)
                return r;

        /* The newest committed sample (agents.last_time_ms may lag by one aggregate interval). */
        st = s->stmt[STMT_SAMPLE_NEWEST];
        sqlite3_bind_int64(st, 1, a->num);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                last_time = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return store_errno(rc);
        /* The Hello's limits are the newest: they win over any older ones a pending sample carried. */
        a->effective_cpus = l.effective_cpus;
        a->memory_limit = l.memory_limit_bytes;
        a->limits_dirty = false;

        if (ret_last_time_ms)
                *ret_last_time_ms = last_time;
        if (ret_last_seq)
                *ret_last_seq = a->streams[a->cur].committed;
        return 0;
}

int store_agent_disconnected(Store *s, const char *id, int64_t now)
{
        sqlite3_stmt *st;
        int r;

        assert(s);
        if (!id_is_valid(id))
                return -EINVAL;
        st = s->stmt[STMT_AGENT_DISCONNECTED];
        sqlite3_bind_int64(st, 1, now > 0 ? now : now_ms());
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        r = stmt_exec(st);
        sqlite3_clear_bindings(st);
        return r;
}

int store_reset_connected(Store *s)
{
        assert(s);
        return stmt_exec(s->stmt[STMT_AGENT_RESET]);
}

/* ---- samples --------------------------------------------------------------------------------------- */

static int64_t u64_or_none(bool has, uint64_t v)
{
        return has ? (int64_t)v : -1; /* validated: v <= INT64_MAX */
}

/* Rate per second of a counter over dt_ms, NAN when unknown or reset (the counter went backwards). */
static double counter_rate(int64_t prev, int64_t cur, int64_t dt_ms)
{
        if (prev < 0 || cur < 0 || cur < prev)
                return NAN;
        return (double)(cur - prev) * 1000.0 / (double)dt_ms;
}

/* Fills the derived rates of row from prev. */
static void derive_rates(Row *row, const Prev *prev, int n_net, double effective_cpus)
{
        int64_t dt_ms;
        double v;

        for (int i = 0; i < _R_MAX; i++)
                row->rate[i] = NAN;
        if (!prev->valid)
                return;
        dt_ms = row->time_ms - prev->time_ms;
        if (dt_ms <= 0 || dt_ms > STORE_RATE_GAP_MAX_MS)
                return;

        /* usec per second / 1e6 = cores. A jump beyond any machine is a counter that changed meaning
         * (another cgroup), not a rate. */
        v = counter_rate(prev->counter[C_CPU_USAGE], row->counter[C_CPU_USAGE], dt_ms) / 1e6;
        if (v <= STORE_CPUS_MAX) {
                row->rate[R_CPU_CORES] = v;
                if (effective_cpus > 0)
                        row->rate[R_CPU_RATIO] = v / effective_cpus;
        }
        /* Steal is a share of the same CPUs: what the VM was granted and the hypervisor gave away. */
        v = counter_rate(prev->counter[C_STEAL_USEC], row->counter[C_STEAL_USEC], dt_ms) / 1e6;
        if (v <= STORE_CPUS_MAX && effective_cpus > 0)
                row->rate[R_STEAL_RATIO] = v / effective_cpus;

        /* A cgroup that ran no CFS period was not throttled: 0, not unknown, so that a guest throttled
         * while busy and idle since does not keep its last ratio (a trigger on it would never resolve). */
        if (prev->counter[C_NR_PERIODS] >= 0 && row->counter[C_NR_PERIODS] >= prev->counter[C_NR_PERIODS] &&
            prev->counter[C_NR_THROTTLED] >= 0 && row->counter[C_NR_THROTTLED] >= prev->counter[C_NR_THROTTLED]) {
                int64_t periods = row->counter[C_NR_PERIODS] - prev->counter[C_NR_PERIODS];
                int64_t throttled = row->counter[C_NR_THROTTLED] - prev->counter[C_NR_THROTTLED];

                if (periods == 0 && throttled == 0)
                        row->rate[R_THROTTLED_RATIO] = 0;
                else if (periods > 0 && throttled <= periods)
                        row->rate[R_THROTTLED_RATIO] = (double)throttled / (double)periods;
        }

        row->rate[R_IO_READ] = counter_rate(prev->counter[C_IO_READ], row->counter[C_IO_READ], dt_ms);
        row->rate[R_IO_WRITE] = counter_rate(prev->counter[C_IO_WRITE], row->counter[C_IO_WRITE], dt_ms);
        /* A sum over a different set of interfaces is not a rate. */
        if (prev->n_net < 0 || prev->n_net == n_net) {
                row->rate[R_NET_RX] = counter_rate(prev->counter[C_NET_RX], row->counter[C_NET_RX], dt_ms);
                row->rate[R_NET_TX] = counter_rate(prev->counter[C_NET_TX], row->counter[C_NET_TX], dt_ms);
        }
}

static void trend_acc_add(TrendAcc *t, double v)
{
        if (isnan(v))
                return;
        if (t->n == 0) {
                t->min = t->max = v;
                t->sum = 0;
        } else {
                t->min = MIN(t->min, v);
                t->max = MAX(t->max, v);
        }
        t->sum += v;
        t->n++;
}

static int agent_add_trend(StoreAgent *a, const Row *row)
{
        int64_t hour = row->time_ms - row->time_ms % MS_PER_HOUR;
        TrendDelta *t = NULL;
        int r;

        /* Newest first: nearly every sample lands in the hour of the previous one. */
        for (size_t i = a->n_trends; i > 0; i--)
                if (a->trends[i - 1].hour_ms == hour) {
                        t = &a->trends[i - 1];
                        break;
                }
        if (!t) {
                r = GREEDY_REALLOC(a->trends, a->alloc_trends, a->n_trends + 1);
                if (r < 0)
                        return r;
                t = &a->trends[a->n_trends++];
                *t = (TrendDelta){ .hour_ms = hour };
        }

        t->n++;
        trend_acc_add(&t->col[T_CPU_CORES], row->rate[R_CPU_CORES]);
        trend_acc_add(&t->col[T_CPU_RATIO], row->rate[R_CPU_RATIO]);
        trend_acc_add(&t->col[T_THROTTLED_RATIO], row->rate[R_THROTTLED_RATIO]);
        trend_acc_add(&t->col[T_MEMORY], row->gauge[G_MEMORY] < 0 ? NAN : (double)row->gauge[G_MEMORY]);
        trend_acc_add(&t->col[T_WORKING_SET],
                      row->gauge[G_WORKING_SET] < 0 ? NAN : (double)row->gauge[G_WORKING_SET]);
        trend_acc_add(&t->col[T_IO_READ], row->rate[R_IO_READ]);
        trend_acc_add(&t->col[T_IO_WRITE], row->rate[R_IO_WRITE]);
        trend_acc_add(&t->col[T_NET_RX], row->rate[R_NET_RX]);
        trend_acc_add(&t->col[T_NET_TX], row->rate[R_NET_TX]);
        trend_acc_add(&t->col[T_USERS], row->users < 0 ? NAN : (double)row->users);
        trend_acc_add(&t->col[T_STEAL_RATIO], row->rate[R_STEAL_RATIO]);
        return 0;
}

static int curve_acc_add(CurveAcc *c, double v)
{
        int r;

        if (isnan(v))
                return 0;
        if (!c->hist) {
                r = curve_hist_new(&c->hist);
                if (r < 0)
                        return r;
        }
        c->max = c->n == 0 ? v : MAX(c->max, v);
        c->n++;
        c->sum += v;
        c->sumsq += v * v;
        curve_hist_add(c->hist, v);
        return 0;
}

static int agent_add_curves(StoreAgent *a, const Row *row)
{
        int64_t hour = row->time_ms - row->time_ms % MS_PER_HOUR, epoch = MAX(row->epoch, (int64_t)0);
        int32_t listeners = row->listeners, voice = row->voice, video = row->video;
        CurveDelta *c = NULL;
        double v[_CURVE_METRIC_MAX];
        int r;

        if (row->users < 0)
                return 0;
        if (listeners < 0 || voice < 0 || video < 0)
                listeners = voice = video = -1;

        /* Newest first: nearly every sample lands where the previous one did. */
        for (size_t i = a->n_curves; i > 0; i--) {
                CurveDelta *d = &a->curves[i - 1];

                if (d->users == row->users && d->hour_ms == hour && d->epoch == epoch &&
                    d->listeners == listeners && d->voice == voice && d->video == video) {
                        c = d;
                        break;
                }
        }
        if (!c) {
                r = GREEDY_REALLOC(a->curves, a->alloc_curves, a->n_curves + 1);
                if (r < 0)
                        return r;
                c = &a->curves[a->n_curves++];
                *c = (CurveDelta){ .hour_ms = hour, .epoch = epoch, .users = row->users,
                                   .listeners = listeners, .voice = voice, .video = video };
        }

        v[CURVE_CPU_RATIO] = row->rate[R_CPU_RATIO];
        v[CURVE_CPU_CORES] = row->rate[R_CPU_CORES];
        v[CURVE_WORKING_SET] = row->gauge[G_WORKING_SET] < 0 ? NAN : (double)row->gauge[G_WORKING_SET];
        v[CURVE_NET_RX] = row->rate[R_NET_RX];
        v[CURVE_NET_TX] = row->rate[R_NET_TX];
        for (unsigned m = 0; m < _CURVE_METRIC_MAX; m++) {
                r = curve_acc_add(&c->m[m], v[m]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int agent_set_net(StoreAgent *a, const Seatmeter__Sample *sample)
{
        if (sample->n_net > a->alloc_net) {
                NetDevCopy *p = realloc(a->net, sample->n_net * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                a->net = p;
                a->alloc_net = sample->n_net;
        }
        for (size_t i = 0; i < sample->n_net; i++) {
                const Seatmeter__NetDev *d = sample->net[i];
                NetDevCopy *c = &a->net[i];

                (void)snprintf(c->name, sizeof(c->name), "%s", d->name);
                c->v[0] = u64_or_none(d->has_rx_bytes, d->rx_bytes);
                c->v[1] = u64_or_none(d->has_tx_bytes, d->tx_bytes);
                c->v[2] = u64_or_none(d->has_rx_packets, d->rx_packets);
                c->v[3] = u64_or_none(d->has_tx_packets, d->tx_packets);
                c->v[4] = u64_or_none(d->has_rx_errors, d->rx_errors);
                c->v[5] = u64_or_none(d->has_tx_errors, d->tx_errors);
                c->v[6] = u64_or_none(d->has_rx_dropped, d->rx_dropped);
                c->v[7] = u64_or_none(d->has_tx_dropped, d->tx_dropped);
        }
        a->n_net = sample->n_net;
        a->net_time_ms = sample->time_ms;
        a->net_dirty = true;
        return 0;
}

/* Sum of one counter over the interfaces, -1 when any lacks it or the sum leaves int64. */
static int64_t net_sum(const Seatmeter__Sample *sample, bool rx)
{
        int64_t sum = 0;

        if (sample->n_net == 0)
                return -1;
        for (size_t i = 0; i < sample->n_net; i++) {
                const Seatmeter__NetDev *d = sample->net[i];
                bool has = rx ? d->has_rx_bytes : d->has_tx_bytes;
                uint64_t v = rx ? d->rx_bytes : d->tx_bytes;

                if (!has || v > (uint64_t)(INT64_MAX - sum))
                        return -1;
                sum += (int64_t)v;
        }
        return sum;
}

/* For a sample older than the agent's newest: is (agent, time) taken, and which sample precedes it?
 * Looks at the pending chain (not yet in the database) and the database. Returns 1 for a duplicate. */
static int lookup_older(Store *s, StoreAgent *a, int64_t time_ms, Prev *ret_prev)
{
        sqlite3_stmt *st;
        Prev best = { .valid = false };
        int rc;

        for (uint32_t i = a->first; i != NONE; i = s->rows[i].next) {
                const Row *r = &s->rows[i];

                if (r->time_ms == time_ms)
                        return 1;
                if (r->time_ms < time_ms && (!best.valid || r->time_ms > best.time_ms)) {
                        best = (Prev){ .valid = true, .time_ms = r->time_ms, .n_net = -1 };
                        memcpy(best.counter, r->counter, sizeof(best.counter));
                }
        }

        st = s->stmt[STMT_SAMPLE_EXISTS];
        sqlite3_bind_int64(st, 1, a->num);
        sqlite3_bind_int64(st, 2, time_ms);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc == SQLITE_ROW)
                return 1;
        if (rc != SQLITE_DONE)
                return store_errno(rc);

        st = s->stmt[STMT_SAMPLE_BEFORE];
        sqlite3_bind_int64(st, 1, a->num);
        sqlite3_bind_int64(st, 2, time_ms);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && (!best.valid || sqlite3_column_int64(st, 0) > best.time_ms))
                prev_from_columns(st, &best);
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return store_errno(rc);

        *ret_prev = best;
        return 0;
}

int store_add_sample(Store *s, const char *id, const Seatmeter__Sample *sample, int users)
{
        return store_add_sample_counts(s, id, sample,
                                       &(const StoreCounts){ .users = users, .listeners = -1, .voice = -1, .video = -1 });
}

/* A count as a Row holds it: -1 unless in [0, STORE_USERS_MAX]. */
static int32_t row_count(int64_t v)
{
        return v >= 0 && v <= STORE_USERS_MAX ? (int32_t)v : -1;
}

int store_add_sample_counts(Store *s, const char *id, const Seatmeter__Sample *sample, const StoreCounts *counts)
{
        int64_t users;
        StoreAgent *a;
        StreamPos *stream;
        Prev older;
        const Prev *prev;
        Row *row;
        int64_t time_ms;
        bool in_order;
        int r;

        assert(s);
        assert(counts);

        users = counts->users;
        if (!id_is_valid(id) || users < -1 || users > STORE_USERS_MAX)
                return -EINVAL;
        r = store_sample_check(sample, now_ms(), NULL);
        if (r < 0)
                return r;
        if (!sample->has_seq)
                return -EINVAL;
        if (s->n_rows >= STORE_PENDING_MAX)
                return -ENOBUFS;
        time_ms = sample->time_ms;

        r = agent_get(s, id, &a);
        if (r < 0)
                return r;
        if (a->n_streams == 0) {
                r = agent_select_stream(s, a, 0);
                if (r < 0)
                        return r;
        }
        stream = &a->streams[a->cur];

        /* A resend, or out of order: each (agent, stream, seq) is stored once, whatever its time says. */
        if (sample->seq <= stream->seq)
                return 0;

        /* A new sample whose time is taken already (the agent's clock went back, or stood still): the
         * row key is (agent, time), so it moves to the next free millisecond rather than being lost. */
        for (unsigned i = 0;; i++) {
                in_order = !a->prev.valid || time_ms > a->prev.time_ms;
                if (in_order) {
                        prev = &a->prev;
                        break;
                }
                r = time_ms == a->prev.time_ms ? 1 : lookup_older(s, a, time_ms, &older);
                if (r < 0)
                        return r;
                if (r == 0) {
                        prev = &older;
                        /* Older than what the aggregates claim complete: flush them with this commit. */
                        if (time_ms <= a->agg_time_ms)
                                s->force_agg = true;
                        break;
                }
                if (i >= STORE_TIME_SHIFT_MAX)
                        return -EEXIST;
                time_ms++;
        }

        if (s->n_rows == s->alloc_rows) {
                size_t n = MIN(MAX(s->alloc_rows * 2, (size_t)1024), (size_t)STORE_PENDING_MAX);
                Row *p = realloc(s->rows, n * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                s->rows = p;
                s->alloc_rows = n;
        }
        r = agent_mark_dirty(s, a);
        if (r < 0)
                return r;

        /* Limits that came with the sample apply to its own ratio already. */
        if (sample->limits) {
                limits_copy(sample->limits, &a->limits);
                a->limits_dirty = true;
                a->effective_cpus = a->limits.effective_cpus;
                a->memory_limit = a->limits.memory_limit_bytes;
        }

        row = &s->rows[s->n_rows];
        *row = (Row){
                .time_ms = time_ms,
                .seq = u64_or_none(sample->has_seq, sample->seq),
                .users = (int32_t)users,
                .listeners = users < 0 ? -1 : row_count(counts->listeners),
                .voice = users < 0 ? -1 : row_count(counts->voice),
                .video = users < 0 ? -1 : row_count(counts->video),
                .next = NONE,
                .gauge = {
                        [G_MEMORY] = u64_or_none(sample->has_memory_usage_bytes, sample->memory_usage_bytes),
                        [G_WORKING_SET] = u64_or_none(sample->has_memory_working_set_bytes,
                                                      sample->memory_working_set_bytes),
                        [G_CACHE] = u64_or_none(sample->has_memory_cache_bytes, sample->memory_cache_bytes),
                        [G_ANON] = u64_or_none(sample->has_memory_anon_bytes, sample->memory_anon_bytes),
                        [G_SWAP] = u64_or_none(sample->has_memory_swap_bytes, sample->memory_swap_bytes),
                },
                .counter = {
                        [C_CPU_USAGE] = u64_or_none(sample->has_cpu_usage_usec, sample->cpu_usage_usec),
                        [C_THROTTLED_USEC] = u64_or_none(sample->has_cpu_throttled_usec,
                                                         sample->cpu_throttled_usec),
                        [C_IO_READ] = u64_or_none(sample->has_io_read_bytes, sample->io_read_bytes),
                        [C_IO_WRITE] = u64_or_none(sample->has_io_write_bytes, sample->io_write_bytes),
                        [C_NET_RX] = net_sum(sample, true),
                        [C_NET_TX] = net_sum(sample, false),
                        [C_OOM_KILLS] = u64_or_none(sample->has_memory_oom_kills, sample->memory_oom_kills),
                        [C_NR_PERIODS] = u64_or_none(sample->has_cpu_nr_periods, sample->cpu_nr_periods),
                        [C_NR_THROTTLED] = u64_or_none(sample->has_cpu_nr_throttled, sample->cpu_nr_throttled),
                        [C_STEAL_USEC] = u64_or_none(sample->has_cpu_steal_usec, sample->cpu_steal_usec),
                },
        };
        if (row->seq < 0)
                row->seq = 0;
        r = agent_epoch_for(a, row->time_ms, &row->epoch);
        if (r < 0)
                return r;
        derive_rates(row, prev, in_order ? (int)sample->n_net : -1, a->effective_cpus);

        r = agent_add_trend(a, row);
        if (r >= 0)
                r = agent_add_curves(a, row);
        if (r >= 0 && in_order && sample->n_net > 0)
                r = agent_set_net(a, sample);
        if (r < 0)
                /* Out of memory: the sample is not stored (and not acked); the aggregates may have
                 * counted part of it. Not worth undoing for a daemon that is about to fail anyway. */
                return r;

        if (a->last == NONE)
                a->first = (uint32_t)s->n_rows;
        else
                s->rows[a->last].next = (uint32_t)s->n_rows;
        a->last = (uint32_t)s->n_rows;
        a->n_pending++;
        s->n_rows++;

        if (in_order) {
                a->prev = (Prev){ .valid = true, .time_ms = row->time_ms, .n_net = (int)sample->n_net };
                memcpy(a->prev.counter, row->counter, sizeof(a->prev.counter));
                a->newest_seq = (uint64_t)row->seq;
                a->newest_dirty = true;
        }
        stream->seq = sample->seq;
        return time_ms == sample->time_ms ? 1 : 2;
}

/* Folds the committed samples after each agent's watermark (agents.agg_time_ms) into the deltas and
 * writes them: what a crash between two aggregate flushes left out. */
static int store_recover_aggregates(Store *s)
{
        sqlite3_stmt *st = s->stmt[STMT_AGENT_TAIL];
        StoreAgent *a = NULL;
        uint64_t n = 0;
        int rc, r = 0;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *id = (const char *)sqlite3_column_text(st, 0);
                Row row;

                if (!id || !id_is_valid(id))
                        continue;
                if (!a || !streq(a->id, id)) {
                        r = agent_get(s, id, &a);
                        if (r >= 0)
                                r = agent_mark_dirty(s, a);
                        if (r < 0)
                                break;
                }
                row = (Row){
                        .time_ms = sqlite3_column_int64(st, 1),
                        .users = sqlite3_column_type(st, 2) == SQLITE_NULL
                                         ? -1
                                         : (int32_t)MIN(MAX(sqlite3_column_int64(st, 2), -1), STORE_USERS_MAX),
                };
                for (int i = 0; i < _R_MAX; i++)
                        row.rate[i] = sqlite3_column_type(st, 3 + i) == SQLITE_NULL ? NAN
                                                                                   : sqlite3_column_double(st, 3 + i);
                row.gauge[G_MEMORY] = column_i64_or_none(st, 3 + _R_MAX);
                row.gauge[G_WORKING_SET] = column_i64_or_none(st, 4 + _R_MAX);
                row.listeners = row_count(column_i64_or_none(st, 5 + _R_MAX));
                row.voice = row_count(column_i64_or_none(st, 6 + _R_MAX));
                row.video = row_count(column_i64_or_none(st, 7 + _R_MAX));
                row.epoch = column_i64_or_none(st, 8 + _R_MAX);
                r = agent_add_trend(a, &row);
                if (r >= 0)
                        r = agent_add_curves(a, &row);
                if (r < 0)
                        break;
                a->newest_dirty = true;
                n++;
        }
        sqlite3_reset(st);
        if (r < 0)
                return r;
        if (rc != SQLITE_DONE)
                return store_errno(rc);
        if (n == 0)
                return 0;

        log_info("Folding %llu samples stored after the last aggregate flush into trends and curves.",
                 (unsigned long long)n);
        return store_flush(s);
}

/* ---- commit ---------------------------------------------------------------------------------------- */

static int cmp_agent_num(const void *x, const void *y)
{
        const StoreAgent *a = *(StoreAgent *const *)x, *b = *(StoreAgent *const *)y;

        return a->num < b->num ? -1 : a->num > b->num;
}

static int write_rows(Store *s, const StoreAgent *a)
{
        sqlite3_stmt *st = s->stmt[STMT_INSERT_SAMPLE];
        int r;

        for (uint32_t i = a->first; i != NONE; i = s->rows[i].next) {
                const Row *row = &s->rows[i];
                int k = 1;

                sqlite3_bind_int64(st, k++, a->num);
                sqlite3_bind_int64(st, k++, row->time_ms);
                sqlite3_bind_int64(st, k++, row->seq);
                bind_i64_or_null(st, k++, row->users);
                for (int j = 0; j < _R_MAX; j++)
                        bind_double_or_null(st, k++, row->rate[j]);
                for (int j = 0; j < _G_MAX; j++)
                        bind_i64_or_null(st, k++, row->gauge[j]);
                for (int j = 0; j < _C_MAX; j++)
                        bind_i64_or_null(st, k++, row->counter[j]);
                bind_i64_or_null(st, k++, row->listeners);
                bind_i64_or_null(st, k++, row->voice);
                bind_i64_or_null(st, k++, row->video);
                bind_i64_or_null(st, k++, row->epoch);
                r = stmt_exec(st);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int write_trends(Store *s, const StoreAgent *a)
{
        sqlite3_stmt *st = s->stmt[STMT_TREND_UPSERT];
        int r;

        for (size_t i = 0; i < a->n_trends; i++) {
                const TrendDelta *t = &a->trends[i];
                int k = 1;

                sqlite3_bind_int64(st, k++, a->num);
                sqlite3_bind_int64(st, k++, t->hour_ms);
                sqlite3_bind_int64(st, k++, t->n);
                for (unsigned c = 0; c < _T_MAX; c++) {
                        sqlite3_bind_int64(st, k++, t->col[c].n);
                        if (t->col[c].n == 0) {
                                sqlite3_bind_null(st, k++);
                                sqlite3_bind_null(st, k++);
                                sqlite3_bind_null(st, k++);
                        } else {
                                sqlite3_bind_double(st, k++, t->col[c].min);
                                sqlite3_bind_double(st, k++, t->col[c].sum);
                                sqlite3_bind_double(st, k++, t->col[c].max);
                        }
                }
                r = stmt_exec(st);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int write_curves(Store *s, const StoreAgent *a)
{
        sqlite3_stmt *st = s->stmt[STMT_CURVE_UPSERT], *mix = s->stmt[STMT_MIX_UPSERT];
        int r;

        for (size_t i = 0; i < a->n_curves; i++)
                for (unsigned m = 0; m < _CURVE_METRIC_MAX; m++) {
                        const CurveDelta *d = &a->curves[i];
                        const CurveAcc *c = &d->m[m];
                        _cleanup_free_ uint8_t *blob = NULL;
                        size_t size;

                        if (c->n == 0)
                                continue;
                        r = curve_hist_serialize(c->hist, &blob, &size);
                        if (r < 0)
                                return r;
                        sqlite3_bind_int64(st, 1, a->num);
                        sqlite3_bind_int(st, 2, (int)m);
                        sqlite3_bind_int64(st, 3, d->hour_ms);
                        sqlite3_bind_int64(st, 4, d->epoch);
                        sqlite3_bind_int64(st, 5, d->users);
                        sqlite3_bind_int64(st, 6, (int64_t)c->n);
                        sqlite3_bind_double(st, 7, c->sum);
                        sqlite3_bind_double(st, 8, c->sumsq);
                        sqlite3_bind_double(st, 9, c->max);
                        sqlite3_bind_blob(st, 10, blob, (int)size, SQLITE_STATIC);
                        r = stmt_exec(st);
                        sqlite3_bind_null(st, 10);
                        if (r < 0)
                                return r;
                        if (d->listeners < 0)
                                continue;
                        sqlite3_bind_int64(mix, 1, a->num);
                        sqlite3_bind_int(mix, 2, (int)m);
                        sqlite3_bind_int64(mix, 3, d->hour_ms);
                        sqlite3_bind_int64(mix, 4, d->epoch);
                        sqlite3_bind_int64(mix, 5, d->users);
                        sqlite3_bind_int64(mix, 6, d->listeners);
                        sqlite3_bind_int64(mix, 7, d->voice);
                        sqlite3_bind_int64(mix, 8, d->video);
                        sqlite3_bind_int64(mix, 9, (int64_t)c->n);
                        sqlite3_bind_double(mix, 10, c->sum);
                        sqlite3_bind_double(mix, 11, c->sumsq);
                        r = stmt_exec(mix);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static int write_agent(Store *s, const StoreAgent *a, int64_t now)
{
        sqlite3_stmt *st;
        int r;

        if (a->net_dirty) {
                st = s->stmt[STMT_NETDEV_UPSERT];
                for (size_t i = 0; i < a->n_net; i++) {
                        sqlite3_bind_int64(st, 1, a->num);
                        sqlite3_bind_text(st, 2, a->net[i].name, -1, SQLITE_STATIC);
                        sqlite3_bind_int64(st, 3, a->net_time_ms);
                        for (int j = 0; j < 8; j++)
                                bind_i64_or_null(st, 4 + j, a->net[i].v[j]);
                        r = stmt_exec(st);
                        if (r < 0)
                                return r;
                }
                /* Interfaces that are gone. */
                st = s->stmt[STMT_NETDEV_PRUNE];
                sqlite3_bind_int64(st, 1, a->num);
                sqlite3_bind_int64(st, 2, a->net_time_ms);
                r = stmt_exec(st);
                if (r < 0)
                        return r;
        }

        if (a->newest_dirty) {
                st = s->stmt[STMT_AGENT_LAST];
                sqlite3_bind_int64(st, 1, a->prev.time_ms);
                sqlite3_bind_int64(st, 2, (int64_t)a->newest_seq);
                sqlite3_bind_int64(st, 3, now);
                sqlite3_bind_int64(st, 4, a->num);
                r = stmt_exec(st);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int write_limits(Store *s, const StoreAgent *a)
{
        sqlite3_stmt *st;
        int r;

        for (size_t i = 0; i < a->n_new_epochs; i++) {
                const EpochCopy *e = &a->new_epochs[i];

                st = s->stmt[STMT_EPOCH_INSERT];
                sqlite3_bind_int64(st, 1, a->num);
                sqlite3_bind_int64(st, 2, e->epoch);
                sqlite3_bind_int64(st, 3, e->start_ms);
                bind_double_or_null(st, 4, e->effective_cpus);
                bind_i64_or_null(st, 5, e->memory_limit);
                r = stmt_exec(st);
                if (r < 0)
                        return r;
        }
        if (a->limits_dirty) {
                const LimitsCopy *l = &a->limits;

                st = s->stmt[STMT_AGENT_LIMITS];
                bind_double_or_null(st, 1, l->effective_cpus);
                bind_i64_or_null(st, 2, l->cpu_count);
                bind_text_or_null(st, 3, l->cpuset);
                bind_i64_or_null(st, 4, l->quota_us);
                bind_i64_or_null(st, 5, l->period_us);
                bind_i64_or_null(st, 6, l->memory_limit_bytes);
                bind_i64_or_null(st, 7, l->swap_limit_bytes);
                bind_i64_or_null(st, 8, l->host_cpus);
                bind_i64_or_null(st, 9, l->host_memory_bytes);
                sqlite3_bind_int64(st, 10, a->num);
                return stmt_exec(st);
        }
        return 0;
}

/* The row as the query side reads it back (query.h's column order; NULL is NAN). */
static void row_to_sample(const Row *row, QuerySample *ret)
{
        static const int8_t rate_col[_R_MAX] = {
                [R_CPU_CORES] = QUERY_CPU_CORES, [R_CPU_RATIO] = QUERY_CPU_RATIO,
                [R_THROTTLED_RATIO] = QUERY_THROTTLED_RATIO, [R_IO_READ] = QUERY_IO_READ_BPS,
                [R_IO_WRITE] = QUERY_IO_WRITE_BPS, [R_NET_RX] = QUERY_NET_RX_BPS, [R_NET_TX] = QUERY_NET_TX_BPS,
                [R_STEAL_RATIO] = QUERY_STEAL_RATIO,
        };
        static const int8_t gauge_col[_G_MAX] = {
                [G_MEMORY] = QUERY_MEMORY_BYTES, [G_WORKING_SET] = QUERY_WORKING_SET_BYTES,
                [G_CACHE] = QUERY_CACHE_BYTES,   [G_ANON] = QUERY_ANON_BYTES,
                [G_SWAP] = QUERY_SWAP_BYTES,
        };
        static const int8_t counter_col[_C_MAX] = {
                [C_CPU_USAGE] = QUERY_CPU_USAGE_USEC,     [C_THROTTLED_USEC] = QUERY_CPU_THROTTLED_USEC,
                [C_IO_READ] = QUERY_IO_READ_BYTES,        [C_IO_WRITE] = QUERY_IO_WRITE_BYTES,
                [C_NET_RX] = QUERY_NET_RX_BYTES,          [C_NET_TX] = QUERY_NET_TX_BYTES,
                [C_OOM_KILLS] = QUERY_OOM_KILLS,          [C_NR_PERIODS] = QUERY_CPU_NR_PERIODS,
                [C_NR_THROTTLED] = QUERY_CPU_NR_THROTTLED, [C_STEAL_USEC] = QUERY_CPU_STEAL_USEC,
        };

        ret->time_ms = row->time_ms;
        ret->seq = row->seq;
        for (int j = 0; j < _R_MAX; j++)
                ret->v[rate_col[j]] = row->rate[j];
        for (int j = 0; j < _G_MAX; j++)
                ret->v[gauge_col[j]] = row->gauge[j] < 0 ? NAN : (double)row->gauge[j];
        for (int j = 0; j < _C_MAX; j++)
                ret->v[counter_col[j]] = row->counter[j] < 0 ? NAN : (double)row->counter[j];
        ret->v[QUERY_USERS] = row->users < 0 ? NAN : (double)row->users;
}

/* Tells live about the newest of the rows of a that were just committed. */
static void publish_newest(Store *s, const StoreAgent *a)
{
        const Row *newest = NULL;
        QuerySample sample;
        int r;

        if (!s->live)
                return;
        for (uint32_t i = a->first; i != NONE; i = s->rows[i].next)
                if (!newest || s->rows[i].time_ms > newest->time_ms)
                        newest = &s->rows[i];
        if (!newest)
                return;
        row_to_sample(newest, &sample);
        r = live_publish(s->live, a->id, a->num, &sample);
        if (r < 0 && r != -ENOSPC)
                log_warning_errno(r, "Failed to publish the newest sample of agent '%s': %m", a->id);
}

static bool agg_due(const Store *s)
{
        return s->force_agg || s->agg_interval_ms == 0 ||
               now_usec(CLOCK_MONOTONIC) - s->last_agg_usec >= (uint64_t)s->agg_interval_ms * USEC_PER_MSEC;
}

int store_commit(Store *s)
{
        int64_t now = now_ms();
        bool flush, limits = false;
        size_t k = 0;
        int r;

        assert(s);
        if (s->n_dirty == 0)
                return 0;
        flush = agg_due(s);
        for (size_t i = 0; i < s->n_dirty && !limits; i++)
                limits = s->dirty[i]->limits_dirty || s->dirty[i]->n_new_epochs > 0;
        if (!flush && s->n_rows == 0 && !limits)
                return 0;

        /* Agent by agent in key order, each agent's rows oldest first (its chain is in arrival order,
         * which for a live agent is time order): SQLite appends to the B-tree instead of seeking. */
        qsort(s->dirty, s->n_dirty, sizeof(s->dirty[0]), cmp_agent_num);

        r = stmt_exec(s->stmt[STMT_BEGIN]);
        for (size_t i = 0; r >= 0 && i < s->n_dirty; i++) {
                r = write_rows(s, s->dirty[i]);
                if (r >= 0)
                        r = write_streams(s, s->dirty[i]);
        }
        for (size_t i = 0; r >= 0 && i < s->n_dirty; i++)
                r = write_limits(s, s->dirty[i]);
        for (size_t i = 0; r >= 0 && flush && i < s->n_dirty; i++) {
                r = write_trends(s, s->dirty[i]);
                if (r >= 0)
                        r = write_curves(s, s->dirty[i]);
                if (r >= 0)
                        r = write_agent(s, s->dirty[i], now);
        }
        if (r >= 0)
                r = stmt_exec(s->stmt[STMT_COMMIT]);
        if (r < 0) {
                /* Keep the batch and the deltas: the next commit writes them again. SQLite may have rolled
                 * back already (it does on SQLITE_FULL), hence the check. */
                if (!sqlite3_get_autocommit(s->db))
                        (void)stmt_exec(s->stmt[STMT_ROLLBACK]);
                return r;
        }

        for (size_t i = 0; i < s->n_dirty; i++) {
                StoreAgent *a = s->dirty[i];

                publish_newest(s, a);
                agent_clear_rows(a);
                for (unsigned j = 0; j < a->n_streams; j++)
                        a->streams[j].committed = a->streams[j].seq;
                if (flush) {
                        agent_clear_aggs(a);
                        a->agg_time_ms = MAX(a->agg_time_ms, a->prev.time_ms);
                }
                if (agent_has_aggs(a))
                        s->dirty[k++] = a;
                else
                        a->dirty = false;
        }
        s->n_dirty = k;
        s->n_rows = 0;
        if (flush) {
                s->force_agg = false;
                s->last_agg_usec = now_usec(CLOCK_MONOTONIC);
        }
        /* Give back a batch that grew large once (a backfill); keep the usual one. */
        if (s->alloc_rows > 65536) {
                free(s->rows);
                s->rows = NULL;
                s->alloc_rows = 0;
        }
        return 0;
}

int store_flush(Store *s)
{
        assert(s);
        s->force_agg = true;
        return store_commit(s);
}

void store_set_aggregate_interval(Store *s, unsigned interval_ms)
{
        assert(s);
        s->agg_interval_ms = MIN(interval_ms, (unsigned)STORE_AGG_INTERVAL_MAX_MS);
}

/* ---- BBB ------------------------------------------------------------------------------------------- */

static void ring_push(BbbState *b, const PollCache *pc)
{
        int64_t time_ms = pc->time_ms;

        if (b->count > 0 && time_ms <= b->ring[(b->head + b->count - 1) % STORE_BBB_CACHE].time_ms) {
                /* Out of order or a repeat: the ring would no longer hold every poll after its oldest.
                 * Start over; older times are asked from the database. */
                b->head = 0;
                b->count = 0;
        }
        if (b->count == STORE_BBB_CACHE) {
                b->head = (b->head + 1) % STORE_BBB_CACHE;
                b->count--;
        }
        b->ring[(b->head + b->count) % STORE_BBB_CACHE] = *pc;
        b->count++;
}

static int bbb_get(Store *s, const char *name, bool create, BbbState **ret)
{
        _cleanup_free_ BbbState *b = NULL;
        sqlite3_stmt *st;
        int64_t num = -1;
        int rc, r;

        for (size_t i = 0; i < s->n_bbb; i++)
                if (streq(s->bbb[i]->name, name)) {
                        *ret = s->bbb[i];
                        return 1;
                }
        if (s->n_bbb >= STORE_BBB_SERVERS_MAX)
                return -ENOBUFS;

        for (int attempt = 0; attempt < 2 && num < 0; attempt++) {
                st = s->stmt[STMT_BBB_GET];
                sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
                rc = sqlite3_step(st);
                if (rc == SQLITE_ROW)
                        num = sqlite3_column_int64(st, 0);
                sqlite3_reset(st);
                if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                        return store_errno(rc);
                if (rc == SQLITE_DONE) {
                        if (!create)
                                return 0;
                        if (attempt > 0)
                                return -EIO;
                        st = s->stmt[STMT_BBB_CREATE];
                        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
                        r = stmt_exec(st);
                        if (r < 0)
                                return r;
                }
        }

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        (void)snprintf(b->name, sizeof(b->name), "%s", name);
        b->num = num;

        /* The newest polls, oldest first into the ring. */
        st = s->stmt[STMT_BBB_RECENT];
        sqlite3_bind_int64(st, 1, num);
        sqlite3_bind_int(st, 2, STORE_BBB_CACHE);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                unsigned k = STORE_BBB_CACHE - 1 - b->count;
                b->ring[k] = (PollCache){
                        .time_ms = sqlite3_column_int64(st, 0),
                        .participants = sqlite3_column_int(st, 1) ? column_i64_or_none(st, 2) : -1,
                        .up = sqlite3_column_int(st, 3),
                        .listeners = sqlite3_column_int(st, 1) ? column_i64_or_none(st, 4) : -1,
                        .voice = sqlite3_column_int(st, 1) ? column_i64_or_none(st, 5) : -1,
                        .video = sqlite3_column_int(st, 1) ? column_i64_or_none(st, 6) : -1,
                };
                b->count++;
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
                return store_errno(rc);
        b->head = (STORE_BBB_CACHE - b->count) % STORE_BBB_CACHE;

        {
                BbbState **p = realloc(s->bbb, (s->n_bbb + 1) * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                s->bbb = p;
        }
        s->bbb[s->n_bbb++] = b;
        *ret = TAKE_PTR(b);
        return 1;
}

static int64_t count_or_none(bool ok, int64_t v)
{
        return ok ? v : -1;
}

int store_add_bbb_poll(Store *s, const StoreBbbPoll *p)
{
        char error[STORE_ERROR_MAX + 1] = "";
        const int64_t *counts;
        BbbState *b;
        sqlite3_stmt *st;
        int r, k;

        assert(s);
        assert(p);

        if (!id_is_valid(p->server) || p->time_ms <= 0)
                return -EINVAL;
        counts = (const int64_t[]){ p->meetings, p->participants, p->listeners, p->voice,
                                    p->video,    p->moderators,   p->breakouts };
        if (p->ok)
                for (int i = 0; i < 7; i++)
                        if (counts[i] < 0 || counts[i] > STORE_BBB_COUNT_MAX)
                                return -EINVAL;
        /* Error texts may quote the remote server: keep them short and plain. */
        if (!p->ok || p->error) {
                const char *e = p->error ? p->error : "poll failed";
                size_t n = 0;
                for (; e[n] && n < STORE_ERROR_MAX; n++)
                        error[n] = e[n] >= 0x20 && e[n] < 0x7f ? e[n] : '?';
                error[n] = 0;
        }

        r = bbb_get(s, p->server, true, &b);
        if (r < 0)
                return r;

        r = stmt_exec(s->stmt[STMT_BEGIN]);
        if (r < 0)
                return r;

        st = s->stmt[STMT_BBB_STATE];
        sqlite3_bind_int(st, 1, p->up);
        sqlite3_bind_int64(st, 2, p->time_ms);
        if (p->ok)
                sqlite3_bind_int64(st, 3, p->time_ms);
        else
                sqlite3_bind_null(st, 3);
        bind_text_or_null(st, 4, error);
        for (k = 0; k < 7; k++)
                bind_i64_or_null(st, 5 + k, count_or_none(p->ok, counts[k]));
        sqlite3_bind_int64(st, 12, b->num);
        r = stmt_exec(st);

        if (r >= 0) {
                st = s->stmt[STMT_BBB_POLL];
                sqlite3_bind_int64(st, 1, b->num);
                sqlite3_bind_int64(st, 2, p->time_ms);
                sqlite3_bind_int(st, 3, p->ok);
                for (k = 0; k < 7; k++)
                        bind_i64_or_null(st, 4 + k, count_or_none(p->ok, counts[k]));
                sqlite3_bind_int(st, 11, p->up);
                r = stmt_exec(st);
        }
        if (r >= 0)
                r = stmt_exec(s->stmt[STMT_COMMIT]);
        if (r < 0) {
                if (!sqlite3_get_autocommit(s->db))
                        (void)stmt_exec(s->stmt[STMT_ROLLBACK]);
                return r;
        }

        ring_push(b, &(const PollCache){
                             .time_ms = p->time_ms,
                             .participants = p->ok ? p->participants : -1,
                             .up = p->up,
                             .listeners = p->ok ? p->listeners : -1,
                             .voice = p->ok ? p->voice : -1,
                             .video = p->ok ? p->video : -1,
                     });
        return 0;
}

/* The rule of bbb_poller_users_at(), over the stored series: a count is known at time_ms when the
 * server was up after the newest poll at or before time_ms, and the newest successful poll at or before
 * time_ms is at most max_age_ms old. So one failed poll keeps the last count (the server is not yet down)
 * for live and backfilled samples alike. */
int store_bbb_users_at(Store *s, const char *server, int64_t time_ms, int64_t max_age_ms, int64_t *ret)
{
        StoreCounts c;
        int r;

        r = store_bbb_counts_at(s, server, time_ms, max_age_ms, &c);
        if (r > 0 && ret)
                *ret = c.users;
        return r;
}

int store_bbb_counts_at(Store *s, const char *server, int64_t time_ms, int64_t max_age_ms, StoreCounts *ret)
{
        BbbState *b;
        sqlite3_stmt *st;
        int64_t t = 0, participants = -1, listeners = -1, voice = -1, video = -1;
        bool up = false;
        int r, rc;

        assert(s);
        if (!id_is_valid(server) || max_age_ms < 0)
                return -EINVAL;

        r = bbb_get(s, server, false, &b);
        if (r <= 0)
                return r;

        /* The ring holds every poll since its oldest one: answer from memory when time_ms is in it. */
        if (b->count > 0 && time_ms >= b->ring[b->head].time_ms) {
                unsigned i = b->count;

                while (b->ring[(b->head + i - 1) % STORE_BBB_CACHE].time_ms > time_ms)
                        i--; /* stops at the oldest entry at the latest, which is <= time_ms */
                if (!b->ring[(b->head + i - 1) % STORE_BBB_CACHE].up)
                        return 0;
                for (; i > 0; i--) {
                        const PollCache *pc = &b->ring[(b->head + i - 1) % STORE_BBB_CACHE];

                        if (time_ms - pc->time_ms > max_age_ms)
                                return 0;
                        if (pc->participants >= 0) {
                                if (ret)
                                        *ret = (StoreCounts){ .users = pc->participants, .listeners = pc->listeners,
                                                              .voice = pc->voice, .video = pc->video };
                                return 1;
                        }
                }
                /* The last success is older than the ring: ask the database below. */
        } else {
                st = s->stmt[STMT_BBB_AT];
                sqlite3_bind_int64(st, 1, b->num);
                sqlite3_bind_int64(st, 2, time_ms);
                rc = sqlite3_step(st);
                if (rc == SQLITE_ROW)
                        up = sqlite3_column_int(st, 3);
                sqlite3_reset(st);
                if (rc == SQLITE_DONE)
                        return 0;
                if (rc != SQLITE_ROW)
                        return store_errno(rc);
                if (!up)
                        return 0;
        }

        st = s->stmt[STMT_BBB_AT_OK];
        sqlite3_bind_int64(st, 1, b->num);
        sqlite3_bind_int64(st, 2, time_ms);
        sqlite3_bind_int64(st, 3, time_ms - max_age_ms);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                t = sqlite3_column_int64(st, 0);
                participants = column_i64_or_none(st, 1);
                listeners = column_i64_or_none(st, 2);
                voice = column_i64_or_none(st, 3);
                video = column_i64_or_none(st, 4);
        }
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return store_errno(rc);
        if (participants < 0 || time_ms - t > max_age_ms)
                return 0;
        if (ret)
                *ret = (StoreCounts){ .users = participants, .listeners = listeners, .voice = voice, .video = video };
        return 1;
}

/* ---- retention ------------------------------------------------------------------------------------- */

/* The nums of a table's keys (agents or BBB servers), for per-key deletes that use the primary keys. */
static int list_nums(sqlite3_stmt *st, int64_t **ret, size_t *ret_n)
{
        _cleanup_free_ int64_t *nums = NULL;
        size_t n = 0, alloc = 0;
        int rc;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                if (GREEDY_REALLOC(nums, alloc, n + 1) < 0) {
                        sqlite3_reset(st);
                        return -ENOMEM;
                }
                nums[n++] = sqlite3_column_int64(st, 0);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
                return store_errno(rc);
        *ret = TAKE_PTR(nums);
        *ret_n = n;
        return 0;
}

static int retain(Store *s, StmtId id, const int64_t *nums, size_t n, int64_t cutoff, unsigned *budget,
                  unsigned *deleted)
{
        sqlite3_stmt *st = s->stmt[id];
        int r;

        for (size_t i = 0; i < n && *budget > 0; i++) {
                unsigned k;

                sqlite3_bind_int64(st, 1, nums[i]);
                sqlite3_bind_int64(st, 2, cutoff);
                sqlite3_bind_int64(st, 3, *budget);
                r = stmt_exec(st);
                if (r < 0)
                        return r;
                k = (unsigned)sqlite3_changes(s->db);
                k = MIN(k, *budget);
                *budget -= k;
                *deleted += k;
        }
        return 0;
}

int store_retention_step(Store *s, int64_t now, unsigned raw_days, unsigned trend_days, unsigned max_rows)
{
        _cleanup_free_ int64_t *agents = NULL, *servers = NULL;
        size_t n_agents = 0, n_servers = 0;
        unsigned budget = MIN(max_rows, (unsigned)INT32_MAX), deleted = 0;
        bool raw_done = false;
        int r;

        assert(s);
        if (budget == 0)
                return 0;

        r = list_nums(s->stmt[STMT_AGENT_NUMS], &agents, &n_agents);
        if (r >= 0)
                r = list_nums(s->stmt[STMT_BBB_NUMS], &servers, &n_servers);
        if (r < 0)
                return r;

        /* One short transaction of at most max_rows deletes; 0 days keeps that kind forever. */
        r = stmt_exec(s->stmt[STMT_BEGIN]);
        if (r < 0)
                return r;
        if (raw_days > 0)
                r = retain(s, STMT_RETAIN_SAMPLES, agents, n_agents, now - (int64_t)raw_days * MS_PER_DAY, &budget,
                           &deleted);
        raw_done = raw_days > 0 && budget > 0; /* every expired raw row of every agent is gone */
        if (r >= 0 && trend_days > 0)
                r = retain(s, STMT_RETAIN_TRENDS, agents, n_agents, now - (int64_t)trend_days * MS_PER_DAY,
                           &budget, &deleted);
        if (r >= 0 && trend_days > 0)
                r = retain(s, STMT_RETAIN_POLLS, servers, n_servers, now - (int64_t)trend_days * MS_PER_DAY,
                           &budget, &deleted);
        if (r >= 0)
                r = stmt_exec(s->stmt[STMT_COMMIT]);
        if (r < 0) {
                if (!sqlite3_get_autocommit(s->db))
                        (void)stmt_exec(s->stmt[STMT_ROLLBACK]);
                return r;
        }
        if (raw_done && s->live)
                live_forget_before(s->live, now - (int64_t)raw_days * MS_PER_DAY);
        return (int)deleted;
}
