/* The store's schema: the embedded migrations (schema/NNN_*.sql) applied by PRAGMA user_version, the SQL
 * function the curves UPSERT uses, and every prepared statement of the writer. See store-internal.h. */

#include "../curve.h"
#include "log.h"
#include "schema-files.h"
#include "store-internal.h"
#include "util.h"

#define STORE_APPLICATION_ID 0x53544d31 /* "STM1" in PRAGMA application_id */

/* Hourly trend columns (store-derive.h's T_*), as the trends table names them. */
static const char *const trend_columns[_T_MAX] = {
        "cpu_cores",   "cpu_ratio",   "throttled_ratio", "memory_bytes", "working_set_bytes",
        "io_read_bps", "io_write_bps", "net_rx_bps",     "net_tx_bps",   "users",
        "steal_ratio",
};

/* The per-user curve UPSERTs: one row per (agent, metric, hour or day, epoch, count), and per mix. */
#define CURVE_UPSERT(table, key)                                                                            \
        "INSERT INTO " table " (agent, metric, " key ", epoch, users, n, sum, sumsq, max, hist)"            \
        " VALUES (?,?,?,?,?,?,?,?,?,?)"                                                                     \
        " ON CONFLICT (agent, metric, " key ", epoch, users) DO UPDATE SET n = " table ".n + excluded.n,"    \
        " sum = " table ".sum + excluded.sum, sumsq = " table ".sumsq + excluded.sumsq,"                    \
        " max = max(" table ".max, excluded.max), hist = seatmeter_hist_merge(" table ".hist, excluded.hist)"
#define MIX_UPSERT(table, key)                                                                              \
        "INSERT INTO " table " (agent, metric, " key ", epoch, users, listeners, voice, video, n, sum, sumsq)" \
        " VALUES (?,?,?,?,?,?,?,?,?,?,?)"                                                                   \
        " ON CONFLICT (agent, metric, " key ", epoch, users, listeners, voice, video) DO UPDATE SET"        \
        " n = " table ".n + excluded.n, sum = " table ".sum + excluded.sum,"                                \
        " sumsq = " table ".sumsq + excluded.sumsq"

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
        [STMT_CURVE_UPSERT] = CURVE_UPSERT("curves", "hour_ms"),
        [STMT_CURVE_DAY_UPSERT] = CURVE_UPSERT("curves_day", "day_ms"),
        [STMT_MIX_UPSERT] = MIX_UPSERT("curve_mix", "hour_ms"),
        [STMT_MIX_DAY_UPSERT] = MIX_UPSERT("curve_mix_day", "day_ms"),
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

int db_get_int(sqlite3 *db, const char *sql, int64_t *ret)
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

int db_exec(sqlite3 *db, const char *sql)
{
        return store_errno(sqlite3_exec(db, sql, NULL, NULL, NULL));
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

/* What a migration needs beyond its SQL file, run after it in its transaction: SQL that calls the
 * daemon's own functions, which a plain sqlite3 shell applying schema/ does not have. */
static const char *const migration_after[] = {
        /* 006: the daily roll-ups of the curves stored so far. */
        [6] = "INSERT INTO curves_day (agent, metric, day_ms, epoch, users, n, sum, sumsq, max, hist)"
              " SELECT agent, metric, hour_ms - hour_ms % 86400000, epoch, users, n, sum, sumsq, max, hist"
              " FROM curves WHERE true"
              " ON CONFLICT (agent, metric, day_ms, epoch, users) DO UPDATE SET n = curves_day.n + excluded.n,"
              " sum = curves_day.sum + excluded.sum, sumsq = curves_day.sumsq + excluded.sumsq,"
              " max = max(curves_day.max, excluded.max),"
              " hist = seatmeter_hist_merge(curves_day.hist, excluded.hist);"
              "INSERT INTO curve_mix_day (agent, metric, day_ms, epoch, users, listeners, voice, video, n, sum,"
              " sumsq) SELECT agent, metric, hour_ms - hour_ms % 86400000, epoch, users, listeners, voice, video,"
              " sum(n), sum(sum), sum(sumsq) FROM curve_mix GROUP BY 1, 2, 3, 4, 5, 6, 7, 8",
};

/* Applies every embedded migration newer than the database, each in its own transaction. */
int store_migrate(sqlite3 *db, const char *path)
{
        unsigned latest = 0;
        int64_t version, app_id, tables;
        int r, rc;

        /* The UPSERTs and migration 006 sum histograms with it. */
        rc = sqlite3_create_function_v2(db, "seatmeter_hist_merge", 2,
                                        SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, NULL,
                                        sql_hist_merge, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return log_error_errno(store_errno(rc), "Failed to register SQL functions: %s", sqlite3_errmsg(db));

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
                if (r >= 0 && v < ELEMENTSOF(migration_after) && migration_after[v])
                        r = db_exec(db, migration_after[v]);
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

int store_prepare(Store *s)
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
