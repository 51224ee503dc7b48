/* SQL reads for the HTTP API over the schema of schema/001_init.sql (see query.h). */
#include <errno.h>
#include <math.h>
#include <string.h>

#include <sqlite3.h>

#include "curve.h"
#include "log.h"
#include "query.h"
#include "store.h"

/* Order matches QueryColumn; the samples SELECT lists them in this order after time_ms and seq. */
static const struct {
        const char *name;
        bool integer;
} column_table[_QUERY_COLUMN_MAX] = {
        [QUERY_CPU_CORES] = {"cpu_cores", false},
        [QUERY_CPU_RATIO] = {"cpu_ratio", false},
        [QUERY_THROTTLED_RATIO] = {"throttled_ratio", false},
        [QUERY_MEMORY_BYTES] = {"memory_bytes", true},
        [QUERY_WORKING_SET_BYTES] = {"working_set_bytes", true},
        [QUERY_IO_READ_BPS] = {"io_read_bps", false},
        [QUERY_IO_WRITE_BPS] = {"io_write_bps", false},
        [QUERY_NET_RX_BPS] = {"net_rx_bps", false},
        [QUERY_NET_TX_BPS] = {"net_tx_bps", false},
        [QUERY_USERS] = {"users", true},
        [QUERY_STEAL_RATIO] = {"steal_ratio", false},
        [QUERY_CACHE_BYTES] = {"cache_bytes", true},
        [QUERY_ANON_BYTES] = {"anon_bytes", true},
        [QUERY_SWAP_BYTES] = {"swap_bytes", true},
        [QUERY_CPU_USAGE_USEC] = {"cpu_usage_usec", true},
        [QUERY_CPU_THROTTLED_USEC] = {"cpu_throttled_usec", true},
        [QUERY_IO_READ_BYTES] = {"io_read_bytes", true},
        [QUERY_IO_WRITE_BYTES] = {"io_write_bytes", true},
        [QUERY_NET_RX_BYTES] = {"net_rx_bytes", true},
        [QUERY_NET_TX_BYTES] = {"net_tx_bytes", true},
        [QUERY_OOM_KILLS] = {"oom_kills", true},
        [QUERY_CPU_NR_PERIODS] = {"cpu_nr_periods", true},
        [QUERY_CPU_NR_THROTTLED] = {"cpu_nr_throttled", true},
        [QUERY_CPU_STEAL_USEC] = {"cpu_steal_usec", true},
};

#define SAMPLE_COLUMNS                                                                                      \
        "time_ms, seq, cpu_cores, cpu_ratio, throttled_ratio, memory_bytes, working_set_bytes, "            \
        "io_read_bps, "                                                                                     \
        "io_write_bps, net_rx_bps, net_tx_bps, users, steal_ratio, cache_bytes, anon_bytes, swap_bytes, "   \
        "cpu_usage_usec, "                                                                                  \
        "cpu_throttled_usec, io_read_bytes, io_write_bytes, net_rx_bytes, net_tx_bytes, oom_kills, "        \
        "cpu_nr_periods, cpu_nr_throttled, cpu_steal_usec"

#define AGENT_COLUMNS                                                                                       \
        "a.num, a.id, a.virt, a.hostname, a.bbb, a.transport, a.cgroup_mode, a.cgroup_path, "               \
        "a.agent_version, "                                                                                 \
        "a.connected, a.cgroup_version, a.cpu_count, a.effective_cpus, a.memory_limit_bytes, "              \
        "a.swap_limit_bytes, a.host_cpus, a.host_memory_bytes, a.first_seen_ms, a.last_seen_ms, "           \
        "a.clock_offset_ms, a.agg_time_ms, a.labels"
#define AGENT_NCOLUMNS 22

#define TREND_STATS(c) c "_n, " c "_min, " c "_sum, " c "_max"

/* The value of curve metric ?2 in a samples row. Curve metric names are samples columns: query_stmt()
 * writes the expression out from curve_metric_to_string() where a statement says METRIC_VALUE. */
#define METRIC_VALUE "@METRIC_VALUE@"
/* The samples of agent ?1 in the raw ranges [?5, ?6] and [?7, ?8] of a window (QueryWindow.raw) that
 * have a participant count (the samples the aggregates of a cut hour hold), as columns: one SELECT per
 * range, so that each is a range of the primary key (with an OR of the two, SQLite scans the agent). */
#define RAW_EDGES(columns, where)                                                                           \
        "SELECT " columns " FROM samples WHERE agent = ?1 AND time_ms BETWEEN ?5 AND ?6 AND users >= 0" where \
        " UNION ALL SELECT " columns " FROM samples WHERE agent = ?1 AND time_ms BETWEEN ?7 AND ?8"           \
        " AND users >= 0" where

typedef enum QueryStmt {
        STMT_BEGIN,
        STMT_COMMIT,
        STMT_AGENTS,
        STMT_AGENT_FIND,
        STMT_LATEST,
        STMT_TRENDS,
        STMT_CURVES,
        STMT_CURVE_MIX,
        STMT_EDGE,
        STMT_WATERMARK,
        STMT_EPOCHS,
        STMT_NETDEV,
        STMT_BBB,
        STMT_EXPERIMENTS,
        _STMT_MAX,
} QueryStmt;

static const char *const stmt_sql[_STMT_MAX] =
        {
                [STMT_BEGIN] = "BEGIN",
                [STMT_COMMIT] = "COMMIT",
                /* The newest row per agent is found through the (agent, time_ms) primary key: one seek each.
                 */
                [STMT_AGENTS] = "SELECT " AGENT_COLUMNS ", s." SAMPLE_COLUMNS
                                " FROM agents a LEFT JOIN samples s ON s.agent = a.num AND s.time_ms = "
                                "(SELECT max(time_ms) FROM samples WHERE agent = a.num) ORDER BY a.id",
                [STMT_AGENT_FIND] = "SELECT " AGENT_COLUMNS " FROM agents a WHERE a.id = ?1",
                [STMT_LATEST] = "SELECT " SAMPLE_COLUMNS
                                " FROM samples WHERE agent = ?1 ORDER BY time_ms DESC LIMIT 1",
                [STMT_TRENDS] = "SELECT hour_ms, n, " TREND_STATS("cpu_cores") ", " TREND_STATS("cpu_ratio") ", " TREND_STATS("throttled_ratio") ", " TREND_STATS("memory_bytes") ", " TREND_STATS(
                        "working_set_bytes") ", " TREND_STATS("io_read_bps") ", " TREND_STATS("io_write_bps") ", " TREND_STATS("net_rx_bps") ", " TREND_STATS("net_tx_bps") ", " TREND_STATS("users") ", " TREND_STATS("steal_ratio") " FROM trends WHERE agent = ?1 AND hour_ms BETWEEN ?2 AND ?3 ORDER BY hour_ms",
                /* Rows of the whole days and hours in the window (QueryWindow), one per (day or hour,
                 * epoch, users), summed by the caller, so the cost is the number of days and hours times
                 * the levels, never the samples; and the raw samples of the at most two hours the window
                 * cuts. */
                [STMT_CURVES] = "SELECT users, n, sum, sumsq, max, hist, epoch, 0 FROM curves WHERE agent = ?1 AND"
                                " metric = ?2 AND hour_ms BETWEEN ?3 AND ?4"
                                " UNION ALL SELECT users, n, sum, sumsq, max, hist, epoch, 0 FROM curves WHERE"
                                " agent = ?1 AND metric = ?2 AND hour_ms BETWEEN ?9 AND ?10"
                                " UNION ALL SELECT users, n, sum, sumsq, max, hist, epoch, 0 FROM curves_day WHERE"
                                " agent = ?1 AND metric = ?2 AND day_ms BETWEEN ?11 AND ?12"
                                " UNION ALL SELECT users, 1, v, v * v, v, NULL, epoch, 1 FROM ("
                                RAW_EDGES("users, coalesce(epoch, 0) AS epoch, " METRIC_VALUE " AS v", "")
                                ") WHERE v IS NOT NULL"
                                " ORDER BY epoch, users",
                [STMT_CURVE_MIX] = "SELECT epoch, users, listeners, voice, video, sum(n), sum(sum), sum(sumsq) FROM ("
                                   "SELECT epoch, users, listeners, voice, video, n, sum, sumsq FROM curve_mix"
                                   " WHERE agent = ?1 AND metric = ?2 AND hour_ms BETWEEN ?3 AND ?4"
                                   " UNION ALL SELECT epoch, users, listeners, voice, video, n, sum, sumsq FROM curve_mix"
                                   " WHERE agent = ?1 AND metric = ?2 AND hour_ms BETWEEN ?9 AND ?10"
                                   " UNION ALL SELECT epoch, users, listeners, voice, video, n, sum, sumsq FROM"
                                   " curve_mix_day WHERE agent = ?1 AND metric = ?2 AND day_ms BETWEEN ?11 AND ?12"
                                   " UNION ALL SELECT epoch, users, listeners, voice, video, 1, v, v * v FROM ("
                                   RAW_EDGES("coalesce(epoch, 0) AS epoch, users, listeners, voice, video, "
                                             METRIC_VALUE " AS v",
                                             " AND listeners >= 0 AND voice >= 0 AND video >= 0")
                                   ") WHERE v IS NOT NULL)"
                                   " GROUP BY epoch, users, listeners, voice, video ORDER BY epoch",
                /* A cut hour ?3: its aggregate's sample count, and the raw samples it should hold up to
                 * ?4 (the hour's end or the agent's aggregate watermark). */
                [STMT_EDGE] = "SELECT (SELECT coalesce(sum(n), 0) FROM curves WHERE agent = ?1 AND metric = ?2"
                              " AND hour_ms = ?3), (SELECT count(*) FROM samples WHERE agent = ?1 AND time_ms"
                              " BETWEEN ?3 AND ?4 AND users >= 0 AND " METRIC_VALUE " IS NOT NULL)",
                [STMT_WATERMARK] = "SELECT agg_time_ms FROM agents WHERE num = ?1",
                [STMT_EPOCHS] = "SELECT epoch, start_ms, effective_cpus, memory_limit_bytes FROM epochs"
                                " WHERE agent = ?1 ORDER BY epoch",
                [STMT_NETDEV] = "SELECT agent, name, time_ms, rx_bytes, tx_bytes, rx_packets, tx_packets, "
                                "rx_errors, "
                                "tx_errors, rx_dropped, tx_dropped FROM netdev ORDER BY agent, name",
                [STMT_BBB] = "SELECT name, up, last_poll_ms, last_ok_ms, error, meetings, participants, "
                             "listeners, "
                             "voice, video, moderators, breakouts FROM bbb_servers ORDER BY name",
                [STMT_EXPERIMENTS] = "SELECT name, start_ms, end_ms, created_ms FROM experiments"
                                     " WHERE ?1 IS NULL OR name = ?1 ORDER BY name",
};

/* Samples statements that select only some columns, by column mask: a scan's cost is mostly SQLite
 * decoding the columns it selects, whether they are read or not. */
#define SAMPLES_STMT_CACHE 8

struct Query {
        sqlite3 *db;
        sqlite3_stmt *stmts[_STMT_MAX];
        bool in_transaction;
        struct {
                uint64_t columns;
                sqlite3_stmt *stmt;
        } samples[SAMPLES_STMT_CACHE];
        unsigned samples_next; /* round-robin replacement */
};

/* Reader connections map the database: long scans then read the page cache without copying it. */
#define QUERY_MMAP_SIZE (256LL * 1024 * 1024)

const char *query_column_to_string(QueryColumn c)
{
        if ((unsigned)c >= _QUERY_COLUMN_MAX)
                return NULL;
        return column_table[c].name;
}

int query_column_from_string(const char *s, QueryColumn max, QueryColumn *ret)
{
        if (!s)
                return -EINVAL;
        for (QueryColumn c = 0; c < max && c < _QUERY_COLUMN_MAX; c++)
                if (streq(s, column_table[c].name)) {
                        *ret = c;
                        return 0;
                }
        return -EINVAL;
}

bool query_column_is_integer(QueryColumn c)
{
        return (unsigned)c < _QUERY_COLUMN_MAX && column_table[c].integer;
}

int query_open(const char *db_path, Query **ret)
{
        _cleanup_(query_freep) Query *q = NULL;
        int rc;

        assert(db_path);
        assert(ret);

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;

        /* NOMUTEX: a Query belongs to one thread at a time. */
        rc = sqlite3_open_v2(db_path, &q->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK)
                return log_debug_errno(store_errno(rc), "Failed to open '%s' read-only: %s", db_path,
                                       q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
        (void)sqlite3_busy_timeout(q->db, QUERY_BUSY_TIMEOUT_MS);
        (void)sqlite3_extended_result_codes(q->db, 1);
        (void)sqlite3_exec(q->db, "PRAGMA mmap_size = " STRINGIFY(QUERY_MMAP_SIZE), NULL, NULL, NULL);

        *ret = TAKE_PTR(q);
        return 0;
}

Query *query_free(Query *q)
{
        if (!q)
                return NULL;
        for (size_t i = 0; i < _STMT_MAX; i++)
                sqlite3_finalize(q->stmts[i]);
        for (size_t i = 0; i < SAMPLES_STMT_CACHE; i++)
                sqlite3_finalize(q->samples[i].stmt);
        sqlite3_close_v2(q->db);
        free(q);
        return NULL;
}

/* "CASE ?2 WHEN 0 THEN cpu_ratio WHEN 1 THEN ... END" as a REAL, for METRIC_VALUE. */
static int metric_value_sql(char **ret)
{
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fputs("CAST(CASE ?2", f);
        for (unsigned m = 0; m < _CURVE_METRIC_MAX; m++)
                fprintf(f, " WHEN %u THEN %s", m, curve_metric_to_string((CurveMetric)m));
        fputs(" END AS REAL)", f);
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* The statement's SQL with every METRIC_VALUE written out. */
static int stmt_sql_expand(const char *sql, char **ret)
{
        _cleanup_free_ char *value = NULL, *buf = NULL;
        size_t size = 0;
        const char *p;
        FILE *f;
        int r;

        r = metric_value_sql(&value);
        if (r < 0)
                return r;
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        while ((p = strstr(sql, METRIC_VALUE))) {
                fwrite(sql, 1, (size_t)(p - sql), f);
                fputs(value, f);
                sql = p + strlen(METRIC_VALUE);
        }
        fputs(sql, f);
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* Returns the cached statement, preparing it on first use, reset and with no bindings. */
static int query_stmt(Query *q, QueryStmt id, sqlite3_stmt **ret)
{
        int rc;

        if (!q->stmts[id]) {
                _cleanup_free_ char *expanded = NULL;
                const char *sql = stmt_sql[id];

                if (strstr(sql, METRIC_VALUE)) {
                        int r = stmt_sql_expand(sql, &expanded);

                        if (r < 0)
                                return r;
                        sql = expanded;
                }
                rc = sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &q->stmts[id], NULL);
                if (rc != SQLITE_OK)
                        return log_error_errno(store_errno(rc), "Failed to prepare query: %s",
                                               sqlite3_errmsg(q->db));
        }
        *ret = q->stmts[id];
        return 0;
}

/* Resets a statement when the reading function returns, so no read transaction outlives it. */
static void stmt_resetp(sqlite3_stmt **s)
{
        if (*s) {
                sqlite3_reset(*s);
                sqlite3_clear_bindings(*s);
        }
}
#define _cleanup_reset_ _cleanup_(stmt_resetp)

static int step_error(Query *q, int rc)
{
        return log_warning_errno(store_errno(rc), "Database read failed: %s", sqlite3_errmsg(q->db));
}

int query_begin(Query *q)
{
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        int r, rc;

        if (q->in_transaction)
                return 0;
        r = query_stmt(q, STMT_BEGIN, &s);
        if (r < 0)
                return r;
        rc = sqlite3_step(s);
        if (rc != SQLITE_DONE)
                return step_error(q, rc);
        q->in_transaction = true;
        return 0;
}

void query_end(Query *q)
{
        _cleanup_reset_ sqlite3_stmt *s = NULL;

        if (!q || !q->in_transaction)
                return;
        q->in_transaction = false;
        if (query_stmt(q, STMT_COMMIT, &s) < 0 || sqlite3_step(s) != SQLITE_DONE)
                (void)sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
}

static double column_double(sqlite3_stmt *s, int i)
{
        return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

static int64_t column_int(sqlite3_stmt *s, int i, int64_t null_value)
{
        return sqlite3_column_type(s, i) == SQLITE_NULL ? null_value : sqlite3_column_int64(s, i);
}

/* Copies a text column into buf (size bytes), cutting what does not fit; "" for NULL. */
static void column_text(sqlite3_stmt *s, int i, char *buf, size_t size)
{
        const unsigned char *t = sqlite3_column_text(s, i);
        size_t n;

        if (!t) {
                buf[0] = 0;
                return;
        }
        n = strnlen((const char *)t, size - 1);
        memcpy(buf, t, n);
        buf[n] = 0;
}

static void read_sample(sqlite3_stmt *s, int first, QuerySample *ret)
{
        ret->time_ms = sqlite3_column_int64(s, first);
        ret->seq = sqlite3_column_int64(s, first + 1);
        for (int c = 0; c < _QUERY_COLUMN_MAX; c++)
                ret->v[c] = column_double(s, first + 2 + c);
}

static void read_agent(sqlite3_stmt *s, QueryAgent *ret)
{
        *ret = (QueryAgent){
                .num = sqlite3_column_int64(s, 0),
                .connected = sqlite3_column_int64(s, 9) != 0,
                .cgroup_version = column_int(s, 10, -1),
                .cpu_count = column_int(s, 11, -1),
                .effective_cpus = column_double(s, 12),
                .memory_limit_bytes = column_double(s, 13),
                .swap_limit_bytes = column_double(s, 14),
                .host_cpus = column_double(s, 15),
                .host_memory_bytes = column_double(s, 16),
                .first_seen_ms = column_double(s, 17),
                .last_seen_ms = column_double(s, 18),
                .clock_offset_ms = column_int(s, 19, 0),
                .agg_time_ms = column_int(s, 20, 0),
        };
        column_text(s, 1, ret->id, sizeof(ret->id));
        column_text(s, 2, ret->virt, sizeof(ret->virt));
        column_text(s, 3, ret->hostname, sizeof(ret->hostname));
        column_text(s, 4, ret->bbb, sizeof(ret->bbb));
        column_text(s, 5, ret->transport, sizeof(ret->transport));
        column_text(s, 6, ret->cgroup_mode, sizeof(ret->cgroup_mode));
        column_text(s, 7, ret->cgroup_path, sizeof(ret->cgroup_path));
        column_text(s, 8, ret->agent_version, sizeof(ret->agent_version));
        column_text(s, 21, ret->labels, sizeof(ret->labels));
}

int query_agents(Query *q, QueryAgentCb cb, void *userdata)
{
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        int r, rc;

        r = query_stmt(q, STMT_AGENTS, &s);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                QueryAgent a;
                QuerySample latest;
                bool has_latest = sqlite3_column_type(s, AGENT_NCOLUMNS) != SQLITE_NULL;

                read_agent(s, &a);
                if (has_latest)
                        read_sample(s, AGENT_NCOLUMNS, &latest);
                r = cb(&a, has_latest ? &latest : NULL, userdata);
                if (r < 0)
                        return r;
        }
        return rc == SQLITE_DONE ? 0 : step_error(q, rc);
}

int query_agent_find(Query *q, const char *id, QueryAgent *ret)
{
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        int r, rc;

        r = query_stmt(q, STMT_AGENT_FIND, &s);
        if (r < 0)
                return r;
        if (sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC) != SQLITE_OK)
                return -ENOMEM;
        rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return step_error(q, rc);
        read_agent(s, ret);
        return 1;
}

int query_latest(Query *q, int64_t agent_num, QuerySample *ret)
{
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        int r, rc;

        r = query_stmt(q, STMT_LATEST, &s);
        if (r < 0)
                return r;
        sqlite3_bind_int64(s, 1, agent_num);
        rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return step_error(q, rc);
        read_sample(s, 0, ret);
        return 1;
}

/* The samples scan selecting time_ms, seq and the columns of mask, in QueryColumn order. */
static int samples_stmt(Query *q, uint64_t columns, sqlite3_stmt **ret)
{
        char sql[1024];
        size_t n;
        unsigned slot;
        int rc;

        for (size_t i = 0; i < SAMPLES_STMT_CACHE; i++)
                if (q->samples[i].stmt && q->samples[i].columns == columns) {
                        *ret = q->samples[i].stmt;
                        return 0;
                }

        n = (size_t)snprintf(sql, sizeof(sql), "SELECT time_ms, seq");
        for (int c = 0; c < _QUERY_COLUMN_MAX; c++)
                if (columns & QUERY_COLUMN_BIT(c))
                        n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", %s", column_table[c].name);
        n += (size_t)snprintf(
                sql + n, sizeof(sql) - n,
                " FROM samples WHERE agent = ?1 AND time_ms BETWEEN ?2 AND ?3 ORDER BY time_ms LIMIT ?4");
        assert(n < sizeof(sql));

        slot = q->samples_next++ % SAMPLES_STMT_CACHE;
        sqlite3_finalize(q->samples[slot].stmt);
        q->samples[slot].stmt = NULL;
        rc = sqlite3_prepare_v3(q->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &q->samples[slot].stmt, NULL);
        if (rc != SQLITE_OK)
                return log_error_errno(store_errno(rc), "Failed to prepare query: %s",
                                       sqlite3_errmsg(q->db));
        q->samples[slot].columns = columns;
        *ret = q->samples[slot].stmt;
        return 0;
}

int query_samples(Query *q, int64_t agent_num, int64_t from_ms, int64_t to_ms, uint64_t limit,
                  uint64_t columns, QuerySampleCb cb, void *userdata)
{
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        int r, rc;

        columns &= QUERY_COLUMNS_ALL;
        r = samples_stmt(q, columns, &s);
        if (r < 0)
                return r;
        sqlite3_bind_int64(s, 1, agent_num);
        sqlite3_bind_int64(s, 2, from_ms);
        sqlite3_bind_int64(s, 3, to_ms);
        sqlite3_bind_int64(s, 4, limit == 0 || limit > INT64_MAX ? -1 : (int64_t)limit);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                QuerySample row = {
                        .time_ms = sqlite3_column_int64(s, 0),
                        .seq = sqlite3_column_int64(s, 1),
                };
                int i = 2;

                for (int c = 0; c < _QUERY_COLUMN_MAX; c++)
                        row.v[c] = (columns & QUERY_COLUMN_BIT(c)) ? column_double(s, i++) : NAN;
                r = cb(&row, userdata);
                if (r < 0)
                        return r;
        }
        return rc == SQLITE_DONE ? 0 : step_error(q, rc);
}

int query_trends(Query *q, int64_t agent_num, int64_t from_ms, int64_t to_ms, QueryTrendCb cb,
                 void *userdata)
{
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        int r, rc;

        r = query_stmt(q, STMT_TRENDS, &s);
        if (r < 0)
                return r;
        sqlite3_bind_int64(s, 1, agent_num);
        sqlite3_bind_int64(s, 2, from_ms);
        sqlite3_bind_int64(s, 3, to_ms);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                QueryTrend t = {
                        .hour_ms = sqlite3_column_int64(s, 0),
                        .n = sqlite3_column_int64(s, 1),
                };

                for (int c = 0; c < QUERY_SERIES_MAX; c++) {
                        int i = 2 + 4 * c;

                        t.count[c] = column_int(s, i, 0);
                        t.min[c] = column_double(s, i + 1);
                        t.sum[c] = column_double(s, i + 2);
                        t.max[c] = column_double(s, i + 3);
                        if (t.count[c] <= 0 || isnan(t.sum[c]))
                                t.count[c] = 0;
                }
                r = cb(&t, userdata);
                if (r < 0)
                        return r;
        }
        return rc == SQLITE_DONE ? 0 : step_error(q, rc);
}

/* The first hour of a window starting at from_ms: the hour that holds it. */
static int64_t window_first_hour(int64_t from_ms)
{
        return from_ms <= 0 ? INT64_MIN : from_ms - from_ms % QUERY_HOUR_MS;
}

/* Whether the raw samples of hour_ms up to until_ms are exactly what the hour's aggregate of metric
 * holds: none expired, none missing. */
static int edge_complete(Query *q, int64_t agent_num, int metric, int64_t hour_ms, int64_t until_ms)
{
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        int r, rc;

        r = query_stmt(q, STMT_EDGE, &s);
        if (r < 0)
                return r;
        sqlite3_bind_int64(s, 1, agent_num);
        sqlite3_bind_int(s, 2, metric);
        sqlite3_bind_int64(s, 3, hour_ms);
        sqlite3_bind_int64(s, 4, MIN(until_ms, hour_ms + QUERY_HOUR_MS - 1));
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
                return step_error(q, rc);
        return sqlite3_column_int64(s, 0) == sqlite3_column_int64(s, 1);
}

#define QUERY_DAY_MS (24 * QUERY_HOUR_MS)

static int64_t day_floor(int64_t t)
{
        return t - ((t % QUERY_DAY_MS) + QUERY_DAY_MS) % QUERY_DAY_MS;
}

/* Splits the hourly rows [hours_from, hours_to] into the UTC days they cover whole (their daily rows)
 * and the hours before and after those. */
static void window_days(QueryWindow *w, int64_t hours_from, int64_t hours_to)
{
        /* The first day that starts in the range, and the last whose last hour is in it. */
        int64_t first = hours_from == INT64_MIN ? INT64_MIN : day_floor(hours_from + QUERY_DAY_MS - 1);
        int64_t last = hours_to < INT64_MIN + QUERY_DAY_MS ? INT64_MIN : day_floor(hours_to - 23 * QUERY_HOUR_MS);

        if (hours_from > hours_to || last == INT64_MIN || first > last) {
                w->hours[0][0] = hours_from;
                w->hours[0][1] = hours_to;
                return;
        }
        if (first != INT64_MIN) {
                w->hours[0][0] = hours_from;
                w->hours[0][1] = first - 1;
        }
        w->days[0] = first;
        w->days[1] = last;
        w->hours[1][0] = last + QUERY_DAY_MS;
        w->hours[1][1] = hours_to;
}

int query_window(Query *q, int64_t agent_num, int metric, int64_t from_ms, int64_t to_ms, QueryWindow *ret)
{
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        QueryWindow w = {
                .hours = { { 1, 0 }, { 1, 0 } },
                .days = { 1, 0 },
                .raw = { { 1, 0 }, { 1, 0 } },
                .answered_from = from_ms,
                .answered_to = to_ms,
                .exact = true,
        };
        int64_t watermark, head = INT64_MIN, hours_from = window_first_hour(from_ms), hours_to = to_ms;
        int r, rc;

        assert(q);
        assert(ret);

        r = query_stmt(q, STMT_WATERMARK, &s);
        if (r < 0)
                return r;
        sqlite3_bind_int64(s, 1, agent_num);
        rc = sqlite3_step(s);
        if (rc == SQLITE_DONE) { /* no such agent: nothing to read, whatever the window */
                *ret = w;
                return 0;
        }
        if (rc != SQLITE_ROW)
                return step_error(q, rc);
        watermark = sqlite3_column_int64(s, 0);

        /* The hour the window starts in, when it cuts it. */
        if (from_ms > 0 && from_ms % QUERY_HOUR_MS != 0) {
                head = hours_from;
                r = edge_complete(q, agent_num, metric, head, watermark);
                if (r < 0)
                        return r;
                if (r > 0) {
                        w.raw[0][0] = from_ms;
                        w.raw[0][1] = MIN(MIN(to_ms, head + QUERY_HOUR_MS - 1), watermark);
                        hours_from = head + QUERY_HOUR_MS;
                } else {
                        w.answered_from = head;
                        w.exact = false;
                }
        }

        /* The hour it ends in: nothing to cut when the aggregates hold nothing after to_ms. */
        if (to_ms < watermark && to_ms % QUERY_HOUR_MS != QUERY_HOUR_MS - 1) {
                int64_t tail = to_ms - to_ms % QUERY_HOUR_MS;

                if (tail == head) { /* one hour, cut at both ends: read as the start's edge */
                        if (hours_from > tail)
                                hours_to = tail - 1;
                        else
                                w.answered_to = tail + QUERY_HOUR_MS - 1;
                } else {
                        r = edge_complete(q, agent_num, metric, tail, watermark);
                        if (r < 0)
                                return r;
                        if (r > 0) {
                                w.raw[1][0] = tail;
                                w.raw[1][1] = to_ms;
                                hours_to = tail - 1;
                        } else {
                                w.answered_to = tail + QUERY_HOUR_MS - 1;
                                w.exact = false;
                        }
                }
        }
        window_days(&w, hours_from, hours_to);
        *ret = w;
        return 0;
}

/* A window's statement with its agent, metric, hours, days and raw ranges bound. */
static int window_stmt(Query *q, QueryStmt id, int64_t agent_num, int metric, const QueryWindow *w,
                       sqlite3_stmt **ret)
{
        int r;

        r = query_stmt(q, id, ret);
        if (r < 0)
                return r;
        sqlite3_bind_int64(*ret, 1, agent_num);
        sqlite3_bind_int(*ret, 2, metric);
        sqlite3_bind_int64(*ret, 3, w->hours[0][0]);
        sqlite3_bind_int64(*ret, 4, w->hours[0][1]);
        for (unsigned i = 0; i < 2; i++) {
                sqlite3_bind_int64(*ret, 5 + 2 * (int)i, w->raw[i][0]);
                sqlite3_bind_int64(*ret, 6 + 2 * (int)i, w->raw[i][1]);
        }
        sqlite3_bind_int64(*ret, 9, w->hours[1][0]);
        sqlite3_bind_int64(*ret, 10, w->hours[1][1]);
        sqlite3_bind_int64(*ret, 11, w->days[0]);
        sqlite3_bind_int64(*ret, 12, w->days[1]);
        return 0;
}

int query_curves(Query *q, int64_t agent_num, int metric, const QueryWindow *w, QueryCurveCb cb, void *userdata)
{
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        int r, rc;

        r = window_stmt(q, STMT_CURVES, agent_num, metric, w, &s);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                QueryCurveRow row = {
                        .epoch = sqlite3_column_int64(s, 6),
                        .users = sqlite3_column_int64(s, 0),
                        .n = sqlite3_column_int64(s, 1),
                        .sum = sqlite3_column_double(s, 2),
                        .sumsq = sqlite3_column_double(s, 3),
                        .max = sqlite3_column_double(s, 4),
                        .single = sqlite3_column_int(s, 7) != 0,
                };
                int size;

                row.hist = sqlite3_column_blob(s, 5);
                size = sqlite3_column_bytes(s, 5);
                if (size < 0 || size > QUERY_HIST_MAX)
                        return log_warning_errno(EBADMSG, "Curve histogram of %d bytes refused.", size);
                row.hist_size = row.hist ? (size_t)size : 0;
                r = cb(&row, userdata);
                if (r < 0)
                        return r;
        }
        return rc == SQLITE_DONE ? 0 : step_error(q, rc);
}

int query_curve_mix(Query *q, int64_t agent_num, int metric, const QueryWindow *w, QueryMixCb cb, void *userdata)
{
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        int r, rc;

        r = window_stmt(q, STMT_CURVE_MIX, agent_num, metric, w, &s);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                QueryMixRow row = {
                        .epoch = sqlite3_column_int64(s, 0),
                        .users = sqlite3_column_int64(s, 1),
                        .listeners = sqlite3_column_int64(s, 2),
                        .voice = sqlite3_column_int64(s, 3),
                        .video = sqlite3_column_int64(s, 4),
                        .n = sqlite3_column_int64(s, 5),
                        .sum = sqlite3_column_double(s, 6),
                        .sumsq = sqlite3_column_double(s, 7),
                };

                r = cb(&row, userdata);
                if (r < 0)
                        return r;
        }
        return rc == SQLITE_DONE ? 0 : step_error(q, rc);
}

int query_epochs(Query *q, int64_t agent_num, QueryEpochCb cb, void *userdata)
{
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        int r, rc;

        r = query_stmt(q, STMT_EPOCHS, &s);
        if (r < 0)
                return r;
        sqlite3_bind_int64(s, 1, agent_num);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                QueryEpoch e = {
                        .epoch = sqlite3_column_int64(s, 0),
                        .start_ms = sqlite3_column_int64(s, 1),
                        .effective_cpus = column_double(s, 2),
                        .memory_limit_bytes = column_double(s, 3),
                };

                r = cb(&e, userdata);
                if (r < 0)
                        return r;
        }
        return rc == SQLITE_DONE ? 0 : step_error(q, rc);
}

int query_netdev(Query *q, QueryNetdevCb cb, void *userdata)
{
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        int r, rc;

        r = query_stmt(q, STMT_NETDEV, &s);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                QueryNetdev d = {
                        .agent_num = sqlite3_column_int64(s, 0),
                        .time_ms = sqlite3_column_int64(s, 2),
                        .rx_bytes = column_double(s, 3),
                        .tx_bytes = column_double(s, 4),
                        .rx_packets = column_double(s, 5),
                        .tx_packets = column_double(s, 6),
                        .rx_errors = column_double(s, 7),
                        .tx_errors = column_double(s, 8),
                        .rx_dropped = column_double(s, 9),
                        .tx_dropped = column_double(s, 10),
                };

                column_text(s, 1, d.name, sizeof(d.name));
                r = cb(&d, userdata);
                if (r < 0)
                        return r;
        }
        return rc == SQLITE_DONE ? 0 : step_error(q, rc);
}

int query_bbb(Query *q, QueryBbbCb cb, void *userdata)
{
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        int r, rc;

        r = query_stmt(q, STMT_BBB, &s);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                QueryBbb b = {
                        .up = (int)column_int(s, 1, -1),
                        .last_poll_ms = column_double(s, 2),
                        .last_ok_ms = column_double(s, 3),
                        .meetings = column_double(s, 5),
                        .participants = column_double(s, 6),
                        .listeners = column_double(s, 7),
                        .voice = column_double(s, 8),
                        .video = column_double(s, 9),
                        .moderators = column_double(s, 10),
                        .breakouts = column_double(s, 11),
                };

                if (b.up > 1)
                        b.up = 1;
                column_text(s, 0, b.name, sizeof(b.name));
                column_text(s, 4, b.error, sizeof(b.error));
                r = cb(&b, userdata);
                if (r < 0)
                        return r;
        }
        return rc == SQLITE_DONE ? 0 : step_error(q, rc);
}

/* Walks the stored experiments (name NULL: all, by name; else that one). */
static int experiments_walk(Query *q, const char *name, QueryExperimentCb cb, void *userdata)
{
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        int r, rc;

        r = query_stmt(q, STMT_EXPERIMENTS, &s);
        if (r < 0)
                return r;
        if (name)
                sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                QueryExperiment e = {
                        .start_ms = sqlite3_column_int64(s, 1),
                        .end_ms = sqlite3_column_int64(s, 2),
                        .created_ms = sqlite3_column_int64(s, 3),
                };

                column_text(s, 0, e.name, sizeof(e.name));
                r = cb(&e, userdata);
                if (r < 0)
                        return r;
        }
        return rc == SQLITE_DONE ? 0 : step_error(q, rc);
}

int query_experiments(Query *q, QueryExperimentCb cb, void *userdata)
{
        assert(q);
        assert(cb);
        return experiments_walk(q, NULL, cb, userdata);
}

typedef struct ExperimentFound {
        QueryExperiment e;
        bool found;
} ExperimentFound;

static int experiment_copy(const QueryExperiment *e, void *userdata)
{
        ExperimentFound *f = userdata;

        f->e = *e;
        f->found = true;
        return 0;
}

int query_experiment_find(Query *q, const char *name, QueryExperiment *ret)
{
        ExperimentFound f = { .found = false };
        int r;

        assert(q);
        assert(name);
        assert(ret);
        r = experiments_walk(q, name, experiment_copy, &f);
        if (r < 0 || !f.found)
                return r;
        *ret = f.e;
        return 1;
}
