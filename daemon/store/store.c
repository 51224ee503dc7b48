/* The daemon's SQLite store, writer side: open, the batch, commit and flush. See store.h,
 * store-internal.h (the other parts) and docs/storage.md.
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

#include "log.h"
#include "store-internal.h"
#include "util.h"

#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_CACHE_KIB 16384
#define STORE_WAL_LIMIT_BYTES (64 * 1024 * 1024)

static int store_recover_aggregates(Store *s);

int store_end_transaction(Store *s, int r)
{
        if (r >= 0)
                r = stmt_exec(s->stmt[STMT_COMMIT]);
        /* SQLite may have rolled back already (it does on SQLITE_FULL), hence the check. */
        if (r < 0 && !sqlite3_get_autocommit(s->db))
                (void)stmt_exec(s->stmt[STMT_ROLLBACK]);
        return r;
}

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

static int agent_set_net(StoreAgent *a, const Sample *sample)
{
        if (sample->n_net > a->alloc_net) {
                NetDevCopy *p = realloc(a->net, sample->n_net * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                a->net = p;
                a->alloc_net = sample->n_net;
        }
        for (size_t i = 0; i < sample->n_net; i++) {
                const SampleNetDev *d = &sample->net[i];
                NetDevCopy *c = &a->net[i];

                (void)snprintf(c->name, sizeof(c->name), "%s", d->name);
                memcpy(c->v, d->v, sizeof(c->v));
        }
        a->n_net = sample->n_net;
        a->net_time_ms = sample->time_ms;
        a->net_dirty = true;
        return 0;
}

/* Sum of one counter over the interfaces, -1 when any lacks it or the sum leaves int64. */
static int64_t net_sum(const Sample *sample, bool rx)
{
        int64_t sum = 0;

        if (sample->n_net == 0)
                return -1;
        for (size_t i = 0; i < sample->n_net; i++) {
                int64_t v = sample->net[i].v[rx ? 0 : 1];

                if (v < 0 || v > INT64_MAX - sum)
                        return -1;
                sum += v;
        }
        return sum;
}

int store_add_sample(Store *s, const char *id, const Sample *sample, int users)
{
        return store_add_sample_counts(s, id, sample,
                                       &(const StoreCounts){ .users = users, .listeners = -1, .voice = -1, .video = -1 });
}

/* A count as a Row holds it: -1 unless in [0, STORE_USERS_MAX]. */
static int32_t row_count(int64_t v)
{
        return v >= 0 && v <= STORE_USERS_MAX ? (int32_t)v : -1;
}

int store_add_sample_counts(Store *s, const char *id, const Sample *sample, const StoreCounts *counts)
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

        /* Checked once, at ingest (ingest_sample_check()): within the limits of store.h, with a seq. */
        assert(sample);
        users = counts->users;
        if (!id_is_valid(id) || users < -1 || users > STORE_USERS_MAX)
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
                .seq = (int64_t)sample->seq,
                .users = (int32_t)users,
                .listeners = users < 0 ? -1 : row_count(counts->listeners),
                .voice = users < 0 ? -1 : row_count(counts->voice),
                .video = users < 0 ? -1 : row_count(counts->video),
                .next = NONE,
                .gauge = {
                        [G_MEMORY] = sample->memory_usage_bytes,
                        [G_WORKING_SET] = sample->memory_working_set_bytes,
                        [G_CACHE] = sample->memory_cache_bytes,
                        [G_ANON] = sample->memory_anon_bytes,
                        [G_SWAP] = sample->memory_swap_bytes,
                },
                .counter = {
                        [C_CPU_USAGE] = sample->cpu_usage_usec,
                        [C_THROTTLED_USEC] = sample->cpu_throttled_usec,
                        [C_IO_READ] = sample->io_read_bytes,
                        [C_IO_WRITE] = sample->io_write_bytes,
                        [C_NET_RX] = net_sum(sample, true),
                        [C_NET_TX] = net_sum(sample, false),
                        [C_OOM_KILLS] = sample->memory_oom_kills,
                        [C_NR_PERIODS] = sample->cpu_nr_periods,
                        [C_NR_THROTTLED] = sample->cpu_nr_throttled,
                        [C_STEAL_USEC] = sample->cpu_steal_usec,
                },
        };
        if (row->seq < 0)
                row->seq = 0;
        r = agent_epoch_for(a, row->time_ms, &row->epoch);
        if (r < 0)
                return r;
        derive_rates(row, prev, in_order ? (int)sample->n_net : -1, a->effective_cpus);

        r = derive_trend_add(&a->trends, row);
        if (r >= 0)
                r = derive_curve_add(&a->curves, row);
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
                r = derive_trend_add(&a->trends, &row);
                if (r >= 0)
                        r = derive_curve_add(&a->curves, &row);
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

        for (size_t i = 0; i < a->trends.n; i++) {
                const TrendDelta *t = &a->trends.d[i];
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

/* The key of the curve tables: agent, metric, hour (or day), limits epoch and participant count. */
static void bind_curve_key(sqlite3_stmt *st, const StoreAgent *a, unsigned metric, const CurveDelta *d, bool day)
{
        sqlite3_bind_int64(st, 1, a->num);
        sqlite3_bind_int(st, 2, (int)metric);
        sqlite3_bind_int64(st, 3, day ? d->hour_ms - d->hour_ms % MS_PER_DAY : d->hour_ms);
        sqlite3_bind_int64(st, 4, d->epoch);
        sqlite3_bind_int64(st, 5, d->users);
}

static int write_curve(sqlite3_stmt *st, const StoreAgent *a, unsigned metric, const CurveDelta *d, bool day,
                       const uint8_t *blob, size_t size)
{
        const CurveAcc *c = &d->m[metric];
        int r;

        bind_curve_key(st, a, metric, d, day);
        sqlite3_bind_int64(st, 6, (int64_t)c->n);
        sqlite3_bind_double(st, 7, c->sum);
        sqlite3_bind_double(st, 8, c->sumsq);
        sqlite3_bind_double(st, 9, c->max);
        sqlite3_bind_blob(st, 10, blob, (int)size, SQLITE_STATIC);
        r = stmt_exec(st);
        sqlite3_bind_null(st, 10);
        return r;
}

static int write_mix(sqlite3_stmt *st, const StoreAgent *a, unsigned metric, const CurveDelta *d, bool day)
{
        const CurveAcc *c = &d->m[metric];

        bind_curve_key(st, a, metric, d, day);
        sqlite3_bind_int64(st, 6, d->listeners);
        sqlite3_bind_int64(st, 7, d->voice);
        sqlite3_bind_int64(st, 8, d->video);
        sqlite3_bind_int64(st, 9, (int64_t)c->n);
        sqlite3_bind_double(st, 10, c->sum);
        sqlite3_bind_double(st, 11, c->sumsq);
        return stmt_exec(st);
}

/* One row per touched (hour, epoch, count) in curves, and per known participant mix in curve_mix; the
 * same into the day's rows of curves_day and curve_mix_day. */
static int write_curves(Store *s, const StoreAgent *a)
{
        int r;

        for (size_t i = 0; i < a->curves.n; i++)
                for (unsigned m = 0; m < _CURVE_METRIC_MAX; m++) {
                        const CurveDelta *d = &a->curves.d[i];
                        _cleanup_free_ uint8_t *blob = NULL;
                        size_t size;

                        if (d->m[m].n == 0)
                                continue;
                        r = curve_hist_serialize(d->m[m].hist, &blob, &size);
                        if (r < 0)
                                return r;
                        r = write_curve(s->stmt[STMT_CURVE_UPSERT], a, m, d, false, blob, size);
                        if (r >= 0)
                                r = write_curve(s->stmt[STMT_CURVE_DAY_UPSERT], a, m, d, true, blob, size);
                        if (r >= 0 && d->listeners >= 0)
                                r = write_mix(s->stmt[STMT_MIX_UPSERT], a, m, d, false);
                        if (r >= 0 && d->listeners >= 0)
                                r = write_mix(s->stmt[STMT_MIX_DAY_UPSERT], a, m, d, true);
                        if (r < 0)
                                return r;
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
        /* On failure keep the batch and the deltas: the next commit writes them again. */
        r = store_end_transaction(s, r);
        if (r < 0)
                return r;

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
