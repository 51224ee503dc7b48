/* Unit tests of daemon/store/ on real SQLite files in a temporary folder: migrations, dedup, rates
 * (counter resets, the first sample after a restart, samples out of order), trends across an hour,
 * curve aggregates, BBB polls, retention in steps, a full disk, and a writer killed mid-transaction; and
 * that what the store publishes to live (daemon/live.h) is what the query side reads back. */

#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "daemon/curve.h"
#include "daemon/live.h"
#include "daemon/query.h"
#include "daemon/ingest-validate.h"
#include "daemon/ingest-wire.h"
#include "daemon/store.h"
#include "log.h"
#include "schema-files.h"
#include "util.h"

/* cmocka 1.1 compares floats only in single precision. */
#define assert_double_equal(a, b, eps)                                                                       \
        do {                                                                                                 \
                double _a_ = (a), _b_ = (b), _e_ = (eps);                                                    \
                if (!(fabs(_a_ - _b_) <= _e_))                                                               \
                        fail_msg("%s = %.17g, expected %.17g +- %g", #a, _a_, _b_, _e_);                     \
        } while (0)

#define HOUR (3600LL * 1000)
#define DAY (24 * HOUR)

static char tmpdir[] = "/tmp/test-store-XXXXXX";
static char dbpath[512];
static int db_counter;

/* ---- helpers -------------------------------------------------------------------------------------- */

static int setup(void **state)
{
        (void)snprintf(dbpath, sizeof(dbpath), "%s/db%d.sqlite", tmpdir, ++db_counter);
        return 0;
}

/* A sample under construction: the protobuf struct plus storage for what it points to. */
typedef struct TS {
        Seatmeter__Sample s;
        Seatmeter__Limits limits;
        Seatmeter__NetDev nd[4];
        Seatmeter__NetDev *ndp[4];
} TS;

static void ts_init_seq(TS *t, int64_t time_ms, uint64_t seq)
{
        memset(t, 0, sizeof(*t));
        seatmeter__sample__init(&t->s);
        t->s.has_time_ms = true;
        t->s.time_ms = time_ms;
        t->s.has_seq = true;
        t->s.seq = seq;
}

/* Most tests do not care about sequence numbers, only that each sample is new: each gets the next one
 * (the store keeps each (agent, stream, seq) once). test_dedup sets them itself. */
static uint64_t auto_seq;

static void ts_init(TS *t, int64_t time_ms, uint64_t seq)
{
        (void)seq;
        ts_init_seq(t, time_ms, ++auto_seq);
}

static void ts_cpu(TS *t, uint64_t usage_usec, uint64_t periods, uint64_t throttled)
{
        t->s.has_cpu_usage_usec = true;
        t->s.cpu_usage_usec = usage_usec;
        t->s.has_cpu_nr_periods = true;
        t->s.cpu_nr_periods = periods;
        t->s.has_cpu_nr_throttled = true;
        t->s.cpu_nr_throttled = throttled;
}

static void ts_mem(TS *t, uint64_t usage, uint64_t ws)
{
        t->s.has_memory_usage_bytes = true;
        t->s.memory_usage_bytes = usage;
        t->s.has_memory_working_set_bytes = true;
        t->s.memory_working_set_bytes = ws;
}

static void ts_io(TS *t, uint64_t rd, uint64_t wr)
{
        t->s.has_io_read_bytes = t->s.has_io_write_bytes = true;
        t->s.io_read_bytes = rd;
        t->s.io_write_bytes = wr;
}

static void ts_net(TS *t, const char *name, uint64_t rx, uint64_t tx)
{
        size_t i = t->s.n_net;

        assert_true(i < ELEMENTSOF(t->nd));
        seatmeter__net_dev__init(&t->nd[i]);
        t->nd[i].name = (char *)name;
        t->nd[i].has_rx_bytes = t->nd[i].has_tx_bytes = true;
        t->nd[i].rx_bytes = rx;
        t->nd[i].tx_bytes = tx;
        t->ndp[i] = &t->nd[i];
        t->s.net = t->ndp;
        t->s.n_net = i + 1;
}

/* A wire sample into the store as the ingest hands it over: converted by sample_from_wire(). On the
 * stack, as some tests add from several threads (each to its own Store). */
static int add_sample_counts(Store *s, const char *id, const Seatmeter__Sample *w, const StoreCounts *counts)
{
        SampleBuf buf;

        sample_from_wire(w, &buf);
        return store_add_sample_counts(s, id, &buf.sample, counts);
}

static int add_sample(Store *s, const char *id, const Seatmeter__Sample *w, int users)
{
        SampleBuf buf;

        sample_from_wire(w, &buf);
        return store_add_sample(s, id, &buf.sample, users);
}

static void limits_init(Seatmeter__Limits *l, double cpus, uint64_t mem)
{
        seatmeter__limits__init(l);
        l->has_effective_cpus = true;
        l->effective_cpus = cpus;
        l->has_cpu_count = true;
        l->cpu_count = isfinite(cpus) && cpus >= 1 && cpus <= 65536 ? (uint32_t)ceil(cpus) : 1;
        l->has_memory_limit_bytes = true;
        l->memory_limit_bytes = mem;
        l->cpuset = (char *)"0-3";
}

static void hello_stream(Store *s, const char *id, double cpus, uint64_t stream, int64_t *ret_time,
                         uint64_t *ret_seq)
{
        Seatmeter__Hello h;
        Seatmeter__Limits l;
        StoreAgentInfo info;
        AgentHello ah;

        seatmeter__hello__init(&h);
        limits_init(&l, cpus, 4ULL << 30);
        h.agent_id = (char *)id;
        h.has_virt = true;
        h.virt = SEATMETER__VIRT__VIRT_LXC;
        h.hostname = (char *)"ct1";
        h.limits = &l;
        hello_from_wire(&h, &ah);
        info = (StoreAgentInfo){ .id = id, .hello = &ah, .transport = "unix", .bbb = "bbb1", .now_ms = now_ms(),
                                 .stream = stream };
        assert_int_equal(store_agent_hello(s, &info, ret_time, ret_seq), 0);
}

static void hello(Store *s, const char *id, double cpus, int64_t *ret_time, uint64_t *ret_seq)
{
        hello_stream(s, id, cpus, 0, ret_time, ret_seq);
}

static sqlite3 *ro_open(void)
{
        sqlite3 *db = NULL;

        assert_int_equal(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        return db;
}

/* Runs sql (with an optional leading integer parameter) on a fresh read connection: the value of the
 * first column of the first row, NAN for NULL or no row. */
static double q(const char *sql)
{
        sqlite3 *db = ro_open();
        sqlite3_stmt *st = NULL;
        double v = NAN;

        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
                v = sqlite3_column_double(st, 0);
        sqlite3_finalize(st);
        sqlite3_close(db);
        return v;
}

static double qf(const char *fmt, ...) _printf_(1, 2);
static double qf(const char *fmt, ...)
{
        char sql[1024];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(sql, sizeof(sql), fmt, ap);
        va_end(ap);
        return q(sql);
}

static bool is_null(double v)
{
        return isnan(v);
}

static void assert_integrity(void)
{
        sqlite3 *db = ro_open();
        sqlite3_stmt *st = NULL;

        assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
        sqlite3_finalize(st);
        sqlite3_close(db);
}

/* A time in the past at the start of an hour, so tests control hour boundaries. */
static int64_t base_time(void)
{
        int64_t t = now_ms() - 3 * DAY;
        return t - t % HOUR;
}

/* ---- tests ---------------------------------------------------------------------------------------- */

static void test_migrate_and_reopen(void **state)
{
        _cleanup_(store_freep) Store *s = NULL;
        unsigned n_files = 0;
        sqlite3 *db;

        while (schema_files[n_files].name)
                n_files++;

        assert_int_equal(store_open(dbpath, &s), 0);
        hello(s, "a1", 2, NULL, NULL);
        s = store_free(s);

        assert_double_equal(q("PRAGMA user_version"), n_files, 0);
        assert_double_equal(q("PRAGMA application_id"), 0x53544d31, 0);
        assert_double_equal(q("SELECT count(*) FROM sqlite_schema WHERE name IN ('agents', 'samples', 'trends',"
                              " 'netdev', 'curves', 'bbb_servers', 'bbb_polls')"),
                            7, 0);
        {
                sqlite3_stmt *st = NULL;
                db = ro_open();
                assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
                assert_int_equal(sqlite3_step(st), SQLITE_ROW);
                assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
                sqlite3_finalize(st);
                sqlite3_close(db);
        }

        /* Reopening migrates nothing and keeps the data. */
        assert_int_equal(store_open(dbpath, &s), 0);
        s = store_free(s);
        assert_double_equal(q("SELECT count(*) FROM agents WHERE id = 'a1' AND virt = 'lxc'"), 1, 0);
        assert_double_equal(q("PRAGMA user_version"), n_files, 0);
}

static void test_refuse_foreign_and_newer(void **state)
{
        _cleanup_(store_freep) Store *s = NULL;
        sqlite3 *db = NULL;
        char other[300];

        assert_int_equal(store_open(dbpath, &s), 0);
        s = store_free(s);

        assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        assert_int_equal(store_open(dbpath, &s), -EPROTONOSUPPORT);
        assert_null(s);

        /* Some other program's database. */
        (void)snprintf(other, sizeof(other), "%s/other.sqlite", tmpdir);
        assert_int_equal(sqlite3_open(other, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        assert_int_equal(store_open(other, &s), -EMEDIUMTYPE);

        /* A file that is not SQLite at all. */
        (void)snprintf(other, sizeof(other), "%s/garbage.sqlite", tmpdir);
        assert_int_equal(write_file_atomic(other, "this is not a database, just some text here....", 48), 0);
        assert_true(store_open(other, &s) < 0);
        assert_null(s);
}

static void test_dedup(void **state)
{
        _cleanup_(store_freep) Store *s = NULL;
        int64_t t0 = base_time(), last;
        uint64_t seq;
        TS t;

        assert_int_equal(store_open(dbpath, &s), 0);
        hello(s, "a1", 2, &last, &seq);
        assert_int_equal(last, 0);
        assert_int_equal(seq, 0);

        for (int i = 0; i < 5; i++) {
                ts_init_seq(&t, t0 + i * 1000, 10 + i);
                assert_int_equal(add_sample(s, "a1", &t.s, -1), 1);
        }
        /* A resend while pending, the newest and an older one. */
        ts_init_seq(&t, t0 + 4000, 14);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 0);
        ts_init_seq(&t, t0 + 2000, 12);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 0);
        assert_int_equal(store_pending(s), 5);
        /* Nothing committed yet: the Welcome says so. */
        hello(s, "a1", 2, NULL, &seq);
        assert_int_equal(seq, 0);
        assert_int_equal(store_commit(s), 0);
        assert_int_equal(store_pending(s), 0);

        /* Resends after the commit; an older sequence number at a new time is out of order: refused. */
        ts_init_seq(&t, t0 + 1000, 11);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 0);
        ts_init_seq(&t, t0 + 4000, 14);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 0);
        ts_init_seq(&t, t0 + 1500, 5);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 0);
        /* A new sample at a time already taken (the clock went back): kept, one ms later. */
        ts_init_seq(&t, t0 + 1000, 15);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 2);
        /* A clock 23 hours ahead, then corrected: the future sample does not hide the later ones. */
        ts_init_seq(&t, t0 + 23 * HOUR, 16);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 1);
        ts_init_seq(&t, t0 + 5000, 17);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 1);
        assert_int_equal(store_commit(s), 0);

        hello(s, "a1", 2, &last, &seq);
        assert_int_equal(last, t0 + 23 * HOUR);
        assert_int_equal(seq, 17); /* the newest by sequence, not the newest by time */

        /* Another spool stream of the same agent starts from nothing, and is de-duplicated alike. */
        hello_stream(s, "a1", 2, UINT64_MAX - 1, NULL, &seq);
        assert_int_equal(seq, 0);
        ts_init_seq(&t, t0 + 6000, 1);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 1);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 0);
        assert_int_equal(store_commit(s), 0);
        hello_stream(s, "a1", 2, UINT64_MAX - 1, NULL, &seq);
        assert_int_equal(seq, 1);
        hello(s, "a1", 2, NULL, &seq);
        assert_int_equal(seq, 17);
        s = store_free(s);

        /* After a restart, from the database alone. */
        assert_int_equal(store_open(dbpath, &s), 0);
        ts_init_seq(&t, t0 + 3000, 13);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 0);
        ts_init_seq(&t, t0 + 7000, 17);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 0);
        assert_int_equal(store_pending(s), 0);
        hello_stream(s, "a1", 2, UINT64_MAX - 1, NULL, &seq);
        assert_int_equal(seq, 1);
        s = store_free(s);

        assert_double_equal(q("SELECT count(*) FROM samples"), 9, 0);
        assert_double_equal(qf("SELECT count(*) FROM samples WHERE time_ms = %lld", (long long)(t0 + 1001)), 1, 0);
}

static void test_validation(void **state)
{
        _cleanup_(store_freep) Store *s = NULL;
        int64_t t0 = base_time();
        const char *why = NULL;
        TS t;

        assert_int_equal(store_open(dbpath, &s), 0);
        hello(s, "a1", 2, NULL, NULL);

#define REJECT(expr_setup)                                                                                   \
        do {                                                                                                 \
                ts_init(&t, t0, 1);                                                                          \
                expr_setup;                                                                                  \
                why = NULL;                                                                                  \
                assert_int_equal(ingest_sample_check(&t.s, now_ms(), &why), -EINVAL);                         \
                assert_non_null(why);                                                                        \
        } while (0)

        REJECT(t.s.time_ms = 0);
        REJECT(t.s.time_ms = -5);
        REJECT(t.s.has_time_ms = false);
        REJECT(t.s.time_ms = now_ms() + DAY + 60000);
        REJECT(t.s.has_seq = true; t.s.seq = UINT64_MAX);
        REJECT(ts_cpu(&t, 5, 10, 11));
        REJECT(ts_cpu(&t, (uint64_t)INT64_MAX + 1, 0, 0));
        REJECT(ts_mem(&t, (1ULL << 60) + 1, 0));
        REJECT(ts_io(&t, UINT64_MAX, 0));
        REJECT(limits_init(&t.limits, NAN, 1 << 20); t.s.limits = &t.limits);
        REJECT(limits_init(&t.limits, INFINITY, 1 << 20); t.s.limits = &t.limits);
        REJECT(limits_init(&t.limits, 0, 1 << 20); t.s.limits = &t.limits);
        REJECT(limits_init(&t.limits, 65537, 1 << 20); t.s.limits = &t.limits);
        REJECT(limits_init(&t.limits, 2, 0); t.s.limits = &t.limits);
        REJECT(limits_init(&t.limits, 2, 1 << 20); t.limits.has_quota_us = true; t.limits.quota_us = -1;
               t.s.limits = &t.limits);
        REJECT(ts_net(&t, "eth0", 1, 1); ts_net(&t, "eth0", 2, 2));
        REJECT(ts_net(&t, "", 1, 1));
        REJECT(ts_net(&t, "eth\n0", 1, 1));
        REJECT(ts_net(&t, "eth0", (uint64_t)INT64_MAX + 7, 1));
        {
                Seatmeter__Pressure p;
                REJECT(seatmeter__pressure__init(&p); p.has_some_avg10 = true; p.some_avg10 = NAN;
                       t.s.cpu_pressure = &p);
        }

        /* The boundaries themselves are fine. */
        ts_init(&t, now_ms() + DAY - 60000, 1);
        limits_init(&t.limits, 65536, 1ULL << 60);
        t.s.limits = &t.limits;
        assert_int_equal(ingest_sample_check(&t.s, now_ms(), NULL), 0);

        /* Bad ids and participant counts. */
        ts_init(&t, t0, 1);
        assert_int_equal(add_sample(s, "a b", &t.s, 1), -EINVAL);
        assert_int_equal(add_sample(s, "", &t.s, 1), -EINVAL);
        assert_int_equal(add_sample(s, "a1", &t.s, -2), -EINVAL);
        assert_int_equal(add_sample(s, "a1", &t.s, STORE_USERS_MAX + 1), -EINVAL);

        assert_int_equal(store_commit(s), 0);
        s = store_free(s);
        assert_double_equal(q("SELECT count(*) FROM samples"), 0, 0);
        assert_double_equal(q("SELECT count(*) FROM trends"), 0, 0);
        assert_double_equal(q("SELECT count(*) FROM curves"), 0, 0);
#undef REJECT
}

static void add_rate_series(Store *s, int64_t t0)
{
        TS t;

        /* t0: cpu 0, periods 0/0, io 0/0, net eth0 0/0 + eth1 0/0 */
        ts_init(&t, t0, 1);
        ts_cpu(&t, 0, 0, 0);
        ts_mem(&t, 1000, 800);
        ts_io(&t, 0, 0);
        ts_net(&t, "eth0", 0, 0);
        ts_net(&t, "eth1", 0, 0);
        assert_int_equal(add_sample(s, "a1", &t.s, 3), 1);

        /* +1 s: 0.5 s of CPU -> 0.5 cores, ratio 0.25 of 2; 5 of 10 periods throttled; io 1000/500 B;
         * net 300+100 rx, 50+50 tx */
        ts_init(&t, t0 + 1000, 2);
        ts_cpu(&t, 500000, 10, 5);
        ts_mem(&t, 2000, 1600);
        ts_io(&t, 1000, 500);
        ts_net(&t, "eth0", 300, 50);
        ts_net(&t, "eth1", 100, 50);
        assert_int_equal(add_sample(s, "a1", &t.s, 3), 1);

        /* +3 s (a 2 s interval): 2 s of CPU -> 1 core; 0 of 10 periods; io 3000 read in 2 s */
        ts_init(&t, t0 + 3000, 3);
        ts_cpu(&t, 2500000, 20, 5);
        ts_mem(&t, 3000, 2400);
        ts_io(&t, 7000, 500);
        ts_net(&t, "eth0", 700, 50);
        ts_net(&t, "eth1", 100, 250);
        assert_int_equal(add_sample(s, "a1", &t.s, 4), 1);
}

static void test_rates(void **state)
{
        _cleanup_(store_freep) Store *s = NULL;
        int64_t t0 = base_time();
        TS t;

        assert_int_equal(store_open(dbpath, &s), 0);
        hello(s, "a1", 2, NULL, NULL);
        add_rate_series(s, t0);

        /* +4 s: the CPU counter went backwards (the cgroup was recreated): no CPU rate; one interface
         * gone: no network rate; the rest as usual. */
        ts_init(&t, t0 + 4000, 4);
        ts_cpu(&t, 100, 1, 0);
        ts_io(&t, 8000, 500);
        ts_net(&t, "eth0", 800, 60);
        assert_int_equal(add_sample(s, "a1", &t.s, 4), 1);

        /* +5 s: counting again from the reset. */
        ts_init(&t, t0 + 5000, 5);
        ts_cpu(&t, 250100, 11, 1);
        ts_io(&t, 8000, 500);
        ts_net(&t, "eth0", 900, 70);
        assert_int_equal(add_sample(s, "a1", &t.s, 4), 1);

        /* +6 s: idle, no CFS period ran: none was throttled (0, not unknown). +7 s: throttled periods
         * without periods is no ratio. */
        ts_init(&t, t0 + 6000, 6);
        ts_cpu(&t, 250100, 11, 1);
        assert_int_equal(add_sample(s, "a1", &t.s, 4), 1);
        ts_init(&t, t0 + 7000, 7);
        ts_cpu(&t, 250100, 11, 2);
        assert_int_equal(add_sample(s, "a1", &t.s, 4), 1);
        assert_int_equal(store_commit(s), 0);
        s = store_free(s);

#define COL(col, dt) qf("SELECT " col " FROM samples WHERE time_ms = %lld", (long long)(t0 + (dt)))
        assert_true(is_null(COL("cpu_cores", 0)));
        assert_true(is_null(COL("net_rx_bps", 0)));
        assert_double_equal(COL("memory_bytes", 0), 1000, 0);

        assert_double_equal(COL("cpu_cores", 1000), 0.5, 1e-12);
        assert_double_equal(COL("cpu_ratio", 1000), 0.25, 1e-12);
        assert_double_equal(COL("throttled_ratio", 1000), 0.5, 1e-12);
        assert_double_equal(COL("io_read_bps", 1000), 1000, 1e-9);
        assert_double_equal(COL("io_write_bps", 1000), 500, 1e-9);
        assert_double_equal(COL("net_rx_bps", 1000), 400, 1e-9);
        assert_double_equal(COL("net_tx_bps", 1000), 100, 1e-9);
        assert_double_equal(COL("net_rx_bytes", 1000), 400, 0);
        assert_double_equal(COL("working_set_bytes", 1000), 1600, 0);

        assert_double_equal(COL("cpu_cores", 3000), 1.0, 1e-12);
        assert_double_equal(COL("cpu_ratio", 3000), 0.5, 1e-12);
        assert_double_equal(COL("throttled_ratio", 3000), 0, 1e-12);
        assert_double_equal(COL("io_read_bps", 3000), 3000, 1e-9);
        assert_double_equal(COL("net_rx_bps", 3000), 200, 1e-9);
        assert_double_equal(COL("net_tx_bps", 3000), 100, 1e-9);

        assert_true(is_null(COL("cpu_cores", 4000)));
        assert_true(is_null(COL("cpu_ratio", 4000)));
        assert_true(is_null(COL("throttled_ratio", 4000)));
        assert_double_equal(COL("throttled_ratio", 6000), 0, 0);
        assert_true(is_null(COL("throttled_ratio", 7000)));
        assert_true(is_null(COL("net_rx_bps", 4000)));
        assert_double_equal(COL("io_read_bps", 4000), 1000, 1e-9);
        assert_double_equal(COL("cpu_usage_usec", 4000), 100, 0);
        assert_true(is_null(COL("memory_bytes", 4000)));

        assert_double_equal(COL("cpu_cores", 5000), 0.25, 1e-12);
        assert_double_equal(COL("throttled_ratio", 5000), 0.1, 1e-12);
        assert_double_equal(COL("net_rx_bps", 5000), 100, 1e-9);
        assert_double_equal(COL("net_tx_bps", 5000), 10, 1e-9);

        /* netdev holds the newest sample's interfaces only. */
        assert_double_equal(q("SELECT count(*) FROM netdev"), 1, 0);
        assert_double_equal(q("SELECT rx_bytes FROM netdev WHERE name = 'eth0'"), 900, 0);
#undef COL
}

/* The first sample after the daemon restarted takes its previous counters from the database; a gap
 * longer than STORE_RATE_GAP_MAX_MS gives no rate. */
static void test_first_sample_after_restart(void **state)
{
        _cleanup_(store_freep) Store *s = NULL;
        int64_t t0 = base_time();
        TS t;

        assert_int_equal(store_open(dbpath, &s), 0);
        hello(s, "a1", 2, NULL, NULL);
        add_rate_series(s, t0);
        assert_int_equal(store_commit(s), 0);
        s = store_free(s);

        assert_int_equal(store_open(dbpath, &s), 0);
        /* No Hello either: effective_cpus comes from the agents row. */
        ts_init(&t, t0 + 4000, 4);
        ts_cpu(&t, 3500000, 30, 10);
        ts_io(&t, 9000, 500);
        ts_net(&t, "eth0", 800, 60);
        ts_net(&t, "eth1", 100, 250);
        assert_int_equal(add_sample(s, "a1", &t.s, 4), 1);

        ts_init(&t, t0 + 4000 + STORE_RATE_GAP_MAX_MS + 1000, 5);
        ts_cpu(&t, 4500000, 40, 10);
        assert_int_equal(add_sample(s, "a1", &t.s, 4), 1);
        assert_int_equal(store_commit(s), 0);
        s = store_free(s);

#define COL(col, dt) qf("SELECT " col " FROM samples WHERE time_ms = %lld", (long long)(t0 + (dt)))
        assert_double_equal(COL("cpu_cores", 4000), 1.0, 1e-12);
        assert_double_equal(COL("cpu_ratio", 4000), 0.5, 1e-12);
        assert_double_equal(COL("throttled_ratio", 4000), 0.5, 1e-12);
        assert_double_equal(COL("io_read_bps", 4000), 2000, 1e-9);
        assert_double_equal(COL("net_rx_bps", 4000), 100, 1e-9);
        assert_double_equal(COL("net_tx_bps", 4000), 10, 1e-9);
        assert_true(is_null(COL("cpu_cores", 4000 + STORE_RATE_GAP_MAX_MS + 1000)));
#undef COL
}

/* A gap filled later (a backfill after the newer samples): its rates come from the sample before it. */
static void test_out_of_order(void **state)
{
        _cleanup_(store_freep) Store *s = NULL;
        int64_t t0 = base_time();
        uint64_t newest_seq;
        TS t;

        assert_int_equal(store_open(dbpath, &s), 0);
        hello(s, "a1", 4, NULL, NULL);
        ts_init(&t, t0, 1);
        ts_cpu(&t, 0, 0, 0);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 1);
        assert_int_equal(store_commit(s), 0);
        ts_init(&t, t0 + 2000, 3);
        ts_cpu(&t, 4000000, 0, 0);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 1);
        /* pending: t0+2000; stored: t0. The missing t0+1000 arrives. */
        ts_init(&t, t0 + 1000, 2);
        ts_cpu(&t, 1000000, 0, 0);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 1);
        /* and one older than everything */
        ts_init(&t, t0 - 1000, 0);
        ts_cpu(&t, 0, 0, 0);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 1);
        assert_int_equal(store_commit(s), 0);
        /* The newest stays the newest. */
        ts_init(&t, t0 + 3000, 4);
        newest_seq = t.s.seq;
        ts_cpu(&t, 5000000, 0, 0);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 1);
        assert_int_equal(store_commit(s), 0);
        s = store_free(s);

        assert_double_equal(qf("SELECT cpu_cores FROM samples WHERE time_ms = %lld", (long long)(t0 + 1000)), 1.0,
                            1e-12);
        assert_double_equal(qf("SELECT cpu_cores FROM samples WHERE time_ms = %lld", (long long)(t0 + 2000)), 2.0,
                            1e-12);
        assert_double_equal(qf("SELECT cpu_cores FROM samples WHERE time_ms = %lld", (long long)(t0 + 3000)), 1.0,
                            1e-12);
        assert_true(is_null(qf("SELECT cpu_cores FROM samples WHERE time_ms = %lld", (long long)(t0 - 1000))));
        assert_double_equal(q("SELECT last_seq FROM agents"), (double)newest_seq, 0);
        assert_double_equal(q("SELECT count(*) FROM samples"), 5, 0);
}

static void test_trends_hour_boundary(void **state)
{
        _cleanup_(store_freep) Store *s = NULL;
        int64_t t0 = base_time() + HOUR - 3000; /* three samples before the hour, three after */
        TS t;

        assert_int_equal(store_open(dbpath, &s), 0);
        hello(s, "a1", 1, NULL, NULL);
        for (int i = 0; i < 6; i++) {
                ts_init(&t, t0 + i * 1000, (uint64_t)i + 1);
                /* cpu_cores: -, 0.1, 0.2, 0.3, 0.4, 0.5 */
                ts_cpu(&t, (uint64_t)(i * (i + 1) / 2) * 100000, 0, 0);
                ts_mem(&t, 1000 * (uint64_t)(i + 1), 500);
                assert_int_equal(add_sample(s, "a1", &t.s, i < 4 ? 10 + i : -1), 1);
                /* Commit in the middle of each hour, so both hours are upserted twice. */
                if (i == 1 || i == 4)
                        assert_int_equal(store_commit(s), 0);
        }
        assert_int_equal(store_commit(s), 0);
        s = store_free(s);

        assert_double_equal(q("SELECT count(*) FROM trends"), 2, 0);
#define TR(col, h) qf("SELECT " col " FROM trends WHERE hour_ms = %lld", (long long)(t0 + 3000 + (h) * HOUR))
        assert_double_equal(TR("n", -1), 3, 0);
        assert_double_equal(TR("cpu_cores_n", -1), 2, 0);
        assert_double_equal(TR("cpu_cores_min", -1), 0.1, 1e-12);
        assert_double_equal(TR("cpu_cores_max", -1), 0.2, 1e-12);
        assert_double_equal(TR("cpu_cores_sum", -1), 0.3, 1e-12);
        assert_double_equal(TR("memory_bytes_sum", -1), 6000, 0);
        assert_double_equal(TR("users_min", -1), 10, 0);
        assert_double_equal(TR("users_max", -1), 12, 0);
        assert_double_equal(TR("users_n", -1), 3, 0);
        assert_true(is_null(TR("io_read_bps_min", -1)));
        assert_double_equal(TR("io_read_bps_n", -1), 0, 0);

        assert_double_equal(TR("n", 0), 3, 0);
        assert_double_equal(TR("cpu_cores_n", 0), 3, 0);
        assert_double_equal(TR("cpu_cores_min", 0), 0.3, 1e-12);
        assert_double_equal(TR("cpu_cores_max", 0), 0.5, 1e-12);
        assert_double_equal(TR("cpu_cores_sum", 0), 1.2, 1e-12);
        assert_double_equal(TR("cpu_ratio_sum", 0), 1.2, 1e-12);
        assert_double_equal(TR("memory_bytes_max", 0), 6000, 0);
        assert_double_equal(TR("users_n", 0), 1, 0);
        assert_double_equal(TR("users_sum", 0), 13, 0);
#undef TR
}

static void test_curves(void **state)
{
        _cleanup_(store_freep) Store *s = NULL;
        int64_t t0 = base_time();
        uint64_t usage = 0;
        CurveAgg aggs[3] = { { 0 } };
        sqlite3 *db;
        sqlite3_stmt *st = NULL;
        CurveFit fit;
        int n = 0;
        TS t;

        assert_int_equal(store_open(dbpath, &s), 0);
        hello(s, "a1", 2, NULL, NULL);

        /* users u in 1..3, ten samples each, cpu_cores = 0.2 u + (0.01 or -0.01): ratio = cores / 2.
         * A first sample with no rate, and samples with unknown users, stay out of the curves. */
        ts_init(&t, t0, 0);
        ts_cpu(&t, 0, 0, 0);
        ts_mem(&t, 100 << 20, 60 << 20);
        assert_int_equal(add_sample(s, "a1", &t.s, 1), 1);
        for (int u = 1; u <= 3; u++)
                for (int i = 0; i < 10; i++) {
                        double cores = 0.2 * u + (i % 2 ? 0.01 : -0.01);
                        usage += (uint64_t)llround(cores * 1e6);
                        n++;
                        ts_init(&t, t0 + n * 1000, (uint64_t)n);
                        ts_cpu(&t, usage, 0, 0);
                        ts_mem(&t, 100 << 20, (uint64_t)(50 + 10 * u) << 20);
                        assert_int_equal(add_sample(s, "a1", &t.s, u), 1);
                        if (n % 7 == 0)
                                assert_int_equal(store_commit(s), 0);
                }
        for (int i = 0; i < 5; i++) {
                n++;
                usage += 5000000;
                ts_init(&t, t0 + n * 1000, (uint64_t)n);
                ts_cpu(&t, usage, 0, 0);
                assert_int_equal(add_sample(s, "a1", &t.s, -1), 1);
        }
        assert_int_equal(store_commit(s), 0);
        s = store_free(s);

        assert_double_equal(q("SELECT count(DISTINCT users) FROM curves"), 3, 0);
        assert_double_equal(q("SELECT n FROM curves WHERE metric = 0 AND users = 1"), 10, 0);
        assert_double_equal(q("SELECT n FROM curves WHERE metric = 2 AND users = 1"), 11, 0);
        assert_double_equal(q("SELECT count(*) FROM curves WHERE metric IN (3, 4)"), 0, 0);
        assert_double_equal(q("SELECT sum FROM curves WHERE metric = 1 AND users = 2"), 4.0, 1e-9);
        /* sum of squares: 5 * 0.41^2 + 5 * 0.39^2 */
        assert_double_equal(q("SELECT sumsq FROM curves WHERE metric = 1 AND users = 2"),
                            5 * 0.41 * 0.41 + 5 * 0.39 * 0.39, 1e-9);
        assert_double_equal(q("SELECT max FROM curves WHERE metric = 0 AND users = 3"), 0.305, 1e-9);

        /* As the HTTP side reads them: the fit of cpu_ratio on users is 0.1 per user through 0. */
        db = ro_open();
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT users, n, sum, sumsq, max, hist FROM curves WHERE agent = "
                                            "(SELECT num FROM agents WHERE id = 'a1') AND metric = 0 ORDER BY users",
                                            -1, &st, NULL),
                         SQLITE_OK);
        for (int i = 0; i < 3; i++) {
                double mean, p95;

                assert_int_equal(sqlite3_step(st), SQLITE_ROW);
                assert_int_equal(curve_agg_from_row(sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                                                    sqlite3_column_double(st, 2), sqlite3_column_double(st, 3),
                                                    sqlite3_column_double(st, 4), sqlite3_column_blob(st, 5),
                                                    (size_t)sqlite3_column_bytes(st, 5), &aggs[i]),
                                 0);
                assert_int_equal(curve_hist_count(aggs[i].hist), 10);
                curve_point_stats(&aggs[i], &mean, NULL, &p95);
                assert_double_equal(mean, 0.1 * (i + 1), 1e-9);
                assert_double_equal(p95, 0.1 * (i + 1) + 0.005, (0.1 * (i + 1) + 0.005) * 0.007);
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
        curve_fit(aggs, 3, &fit);
        assert_true(fit.valid);
        assert_int_equal(fit.n, 30);
        assert_double_equal(fit.slope, 0.1, 1e-6);
        assert_double_equal(fit.intercept, 0, 1e-6);
        assert_true(fit.r2 > 0.99);
        assert_double_equal(curve_capacity(&fit, 0.8), 8, 1e-4);
        for (int i = 0; i < 3; i++)
                curve_agg_done(&aggs[i]);
}

/* The daily roll-up (curves_day, curve_mix_day) holds exactly the sums of its day's hourly rows, with
 * histograms of all their samples; what migration 006 computes for an older database is the same. */
#define DAY_GROUPS(table, key)                                                                              \
        "SELECT agent, metric, hour_ms - hour_ms % 86400000 AS day, epoch, users" key ", sum(n) AS n,"      \
        " sum(sum) AS s, sum(sumsq) AS ss FROM " table " GROUP BY agent, metric, day, epoch, users" key
static void assert_days_equal_hours(void)
{
        /* every day row is its hours' sum, and there is one per (day, key) of the hours */
        assert_double_equal(q("SELECT count(*) FROM (" DAY_GROUPS("curves", "") ")"), q("SELECT count(*) FROM curves_day"), 0);
        assert_double_equal(q("SELECT count(*) FROM (" DAY_GROUPS("curves", "") ") h JOIN curves_day d ON d.agent = h.agent"
                              " AND d.metric = h.metric AND d.day_ms = h.day AND d.epoch = h.epoch AND d.users = h.users"
                              " WHERE d.n = h.n AND abs(d.sum - h.s) <= 1e-9 * abs(h.s) AND abs(d.sumsq - h.ss) <= 1e-9 * abs(h.ss)"
                              " AND d.max = (SELECT max(max) FROM curves c WHERE c.agent = h.agent AND c.metric = h.metric AND"
                              " c.hour_ms - c.hour_ms % 86400000 = h.day AND c.epoch = h.epoch AND c.users = h.users)"),
                            q("SELECT count(*) FROM curves_day"), 0);
        assert_double_equal(q("SELECT count(*) FROM (" DAY_GROUPS("curve_mix", ", listeners, voice, video") ")"),
                            q("SELECT count(*) FROM curve_mix_day"), 0);
        assert_double_equal(q("SELECT count(*) FROM (" DAY_GROUPS("curve_mix", ", listeners, voice, video") ") h JOIN"
                              " curve_mix_day d USING (agent, metric, epoch, users, listeners, voice, video)"
                              " WHERE d.day_ms = h.day AND d.n = h.n AND abs(d.sum - h.s) <= 1e-9 * abs(h.s)"),
                            q("SELECT count(*) FROM curve_mix_day"), 0);

        /* each day's histogram counts every sample of its hours */
        sqlite3 *db = ro_open();
        sqlite3_stmt *st = NULL;
        unsigned rows = 0;

        assert_int_equal(sqlite3_prepare_v2(db, "SELECT n, hist FROM curves_day", -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
                _cleanup_(curve_hist_freep) CurveHist *h = NULL;

                assert_int_equal(curve_hist_deserialize(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), &h), 0);
                assert_int_equal(curve_hist_count(h), sqlite3_column_int64(st, 0));
                rows++;
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
        assert_true(rows > 0);
}

static void test_daily_rollup(void **state)
{
        _cleanup_(store_freep) Store *s = NULL;
        int64_t t0 = base_time();
        uint64_t usage = 0;
        sqlite3 *db = NULL;
        TS t;

        /* 30 hours from 20:00 UTC, a sample every 10 minutes: three days, one of them whole. */
        t0 = t0 - t0 % DAY - 4 * HOUR;
        assert_int_equal(store_open(dbpath, &s), 0);
        hello(s, "a1", 2, NULL, NULL);
        for (int i = 0; i < 30 * 6; i++) {
                int u = i % 5;
                StoreCounts c = { .users = u, .listeners = u, .voice = i % 2, .video = 0 };

                usage += 60000000ULL * (uint64_t)(u + 1) / 10;
                ts_init(&t, t0 + (int64_t)i * 600000, (uint64_t)i + 1);
                ts_cpu(&t, usage, 0, 0);
                assert_int_equal(add_sample_counts(s, "a1", &t.s, i % 7 == 0 ? &(StoreCounts){ .users = u, .listeners = -1,
                                                                                                .voice = -1, .video = -1 }
                                                                               : &c),
                                 1);
                if (i % 50 == 0)
                        assert_int_equal(store_flush(s), 0); /* several flushes per day: the day rows add up */
        }
        assert_int_equal(store_flush(s), 0);
        s = store_free(s);
        assert_double_equal(q("SELECT count(DISTINCT day_ms) FROM curves_day"), 3, 0);
        assert_days_equal_hours();

        /* A database of version 5 gets the same roll-up from migration 006. */
        assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "DROP TABLE curves_day; DROP TABLE curve_mix_day; PRAGMA user_version = 5",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
        assert_double_equal(q("SELECT count(*) FROM sqlite_schema WHERE name = 'curves_day'"), 0, 0);
        assert_int_equal(store_open(dbpath, &s), 0);
        s = store_free(s);
        assert_days_equal_hours();
}

static void add_poll(Store *s, const char *server, int64_t time_ms, bool ok, int64_t participants)
{
        StoreBbbPoll p = {
                .server = server,
                .time_ms = time_ms,
                .ok = ok,
                .up = ok,
                .error = ok ? NULL : "connect timeout\n<x>",
                .meetings = 2,
                .participants = participants,
                .listeners = 1,
                .voice = 1,
                .video = 1,
                .moderators = 2,
                .breakouts = 0,
        };
        assert_int_equal(store_add_bbb_poll(s, &p), 0);
}

static void add_poll_up(Store *s, const char *server, int64_t time_ms, bool ok, bool up, int64_t participants)
{
        StoreBbbPoll p = { .server = server, .time_ms = time_ms, .ok = ok, .up = up,
                           .error = ok ? NULL : "timeout", .participants = participants };
        assert_int_equal(store_add_bbb_poll(s, &p), 0);
}

/* Asks the stored polls of server at time_ms (successes from 10 s before): the newest poll's time and
 * state, and the newest success's time and count (-1 when none). */
static void polls_at(Store *s, const char *server, int64_t time_ms, int64_t newest_time, bool newest_up,
                     int64_t ok_time, int64_t ok_users)
{
        StoreBbbPollRow n, ok;

        assert_int_equal(store_bbb_polls_at(s, server, time_ms, time_ms - 10000, &n, &ok), 0);
        assert_int_equal(n.time_ms, newest_time);
        if (newest_time >= 0)
                assert_int_equal(n.up, newest_up);
        assert_int_equal(ok.time_ms, ok_time);
        if (ok_time >= 0)
                assert_int_equal(ok.counts.users, ok_users);
}

/* What the poller's participants rule reads from the stored polls (the rule itself: test-bbb.c). */
static void check_users(Store *s, int64_t t0)
{
        StoreBbbPollRow n, ok;

        polls_at(s, "bbb1", t0 + 4000, t0, true, t0, 10);
        polls_at(s, "bbb1", t0, t0, true, t0, 10);
        polls_at(s, "bbb1", t0 + 7000, t0 + 5000, false, t0, 10); /* the failed poll, the last success */
        polls_at(s, "bbb1", t0 + 10000, t0 + 10000, true, t0 + 10000, 12);
        polls_at(s, "bbb1", t0 + 30000, t0 + 10000, true, -1, 0); /* no success in the 10 s before */
        polls_at(s, "bbb1", t0 - 1, -1, false, -1, 0);            /* before any */
        polls_at(s, "nope", t0, -1, false, -1, 0);
        assert_int_equal(store_bbb_polls_at(s, "bad name", t0, t0, &n, &ok), -EINVAL);

        /* One failed poll leaves the server up, the second marks it down: the state after each poll is
         * stored with it. The mix of a success comes back too. */
        polls_at(s, "bbb5", t0 + 6000, t0 + 5000, true, t0, 7);
        polls_at(s, "bbb5", t0 + 11000, t0 + 10000, false, -1, 0);
        polls_at(s, "bbb6", t0 + 10 * 5000 + 100, t0 + 10 * 5000, true, t0 + 9 * 5000, 9);
        polls_at(s, "bbb6", t0 + 21 * 5000 + 100, t0 + 21 * 5000, false, -1, 0);
        assert_int_equal(store_bbb_polls_at(s, "bbb1", t0 + 10000, t0, &n, &ok), 0);
        assert_int_equal(ok.counts.listeners, 1);
        assert_int_equal(ok.counts.voice, 1);
        assert_int_equal(ok.counts.video, 1);
}


/* Capacity planning rows: the curves are kept per hour and limits epoch; a change of the effective CPUs
 * or of the memory limit (from a sample's limits or a Hello) starts a new epoch, the same limits again
 * after a restart do not; each sample's mix goes to curve_mix. */
static void test_epochs_hours_mix(void **state)
{
        _cleanup_(store_freep) Store *s = NULL;
        int64_t t0 = base_time();
        uint64_t usage = 0;
        Seatmeter__Limits l;
        int n = 0;
        TS t;

        assert_int_equal(store_open(dbpath, &s), 0);
        hello(s, "a1", 2, NULL, NULL);
        /* Two hours at 2 CPUs, then the limit goes to 4 CPUs (in a sample), then the memory limit moves. */
        for (int i = 0; i < 3 * 60; i++) {
                int u = i % 3 + 1;
                StoreCounts c = { .users = u, .listeners = u - 1, .voice = 1, .video = i % 2 };

                usage += 100000;
                n++;
                ts_init(&t, t0 + (int64_t)i * 60000, (uint64_t)n);
                ts_cpu(&t, usage, 0, 0);
                if (i == 120) {
                        limits_init(&l, 4, 4ULL << 30);
                        t.s.limits = &l;
                } else if (i == 150) {
                        limits_init(&l, 4, 8ULL << 30);
                        t.s.limits = &l;
                }
                assert_int_equal(add_sample_counts(s, "a1", &t.s, &c), 1);
        }
        assert_int_equal(store_flush(s), 0);
        s = store_free(s);

        assert_double_equal(q("SELECT count(*) FROM epochs"), 3, 0);
        assert_double_equal(q("SELECT effective_cpus FROM epochs WHERE epoch = 1"), 2, 0);
        assert_double_equal(q("SELECT effective_cpus FROM epochs WHERE epoch = 2"), 4, 0);
        assert_double_equal(q("SELECT memory_limit_bytes FROM epochs WHERE epoch = 3"), 8ULL << 30, 0);
        assert_double_equal(qf("SELECT start_ms FROM epochs WHERE epoch = 2"), (double)(t0 + 120 * 60000), 0);
        assert_double_equal(q("SELECT count(DISTINCT hour_ms) FROM curves"), 3, 0);
        /* cpu_cores (metric 1): 179 rates, by epoch 119 + 30 + 30 */
        assert_double_equal(q("SELECT sum(n) FROM curves WHERE metric = 1 AND epoch = 1"), 119, 0);
        assert_double_equal(q("SELECT sum(n) FROM curves WHERE metric = 1 AND epoch = 2"), 30, 0);
        assert_double_equal(q("SELECT sum(n) FROM curves WHERE metric = 1 AND epoch = 3"), 30, 0);
        /* cpu_ratio: 0.1 / 2 CPUs, then 0.1 / 4 */
        assert_double_equal(q("SELECT max(max) FROM curves WHERE metric = 0 AND epoch = 1"), 0.05 / 60, 1e-12);
        assert_double_equal(q("SELECT max(max) FROM curves WHERE metric = 0 AND epoch = 2"), 0.025 / 60, 1e-12);
        assert_double_equal(q("SELECT sum(n) FROM curve_mix WHERE metric = 1"), 179, 0);
        assert_double_equal(q("SELECT count(*) FROM curve_mix WHERE metric = 1 AND users != listeners + 1"), 0, 0);
        assert_double_equal(q("SELECT count(*) FROM samples WHERE epoch IS NULL OR listeners IS NULL"), 0, 0);

        /* Reopened with the same limits: the epoch continues; other limits: a fourth one. */
        assert_int_equal(store_open(dbpath, &s), 0);
        n++;
        usage += 100000;
        ts_init(&t, t0 + 180 * 60000, (uint64_t)n);
        ts_cpu(&t, usage, 0, 0);
        limits_init(&l, 4, 8ULL << 30);
        t.s.limits = &l;
        assert_int_equal(add_sample(s, "a1", &t.s, 2), 1);
        assert_int_equal(store_flush(s), 0);
        assert_double_equal(q("SELECT count(*) FROM epochs"), 3, 0);
        hello(s, "a1", 1, NULL, NULL);
        n++;
        usage += 100000;
        ts_init(&t, t0 + 181 * 60000, (uint64_t)n);
        ts_cpu(&t, usage, 0, 0);
        assert_int_equal(add_sample(s, "a1", &t.s, 2), 1);
        assert_int_equal(store_flush(s), 0);
        assert_double_equal(q("SELECT count(*) FROM epochs"), 4, 0);
        assert_double_equal(q("SELECT epoch FROM samples ORDER BY time_ms DESC LIMIT 1"), 4, 0);
        /* A sample without a mix: curves, not curve_mix. */
        assert_double_equal(q("SELECT count(*) FROM curve_mix WHERE epoch >= 3 AND hour_ms > 0 AND metric = 1 "
                              "AND n > 30"), 0, 0);
}

static void test_bbb(void **state)
{
        _cleanup_(store_freep) Store *s = NULL;
        int64_t t0 = base_time();
        StoreBbbPoll bad = { .server = "bbb1", .time_ms = t0, .ok = true, .participants = -3 };

        assert_int_equal(store_open(dbpath, &s), 0);
        add_poll(s, "bbb1", t0, true, 10);
        add_poll(s, "bbb1", t0 + 5000, false, 0);
        add_poll(s, "bbb1", t0 + 10000, true, 12);
        assert_int_equal(store_add_bbb_poll(s, &bad), -EINVAL);
        add_poll_up(s, "bbb5", t0, true, true, 7);
        add_poll_up(s, "bbb5", t0 + 5000, false, true, 0);
        add_poll_up(s, "bbb5", t0 + 10000, false, false, 0);
        for (int i = 0; i < 100; i++)
                add_poll_up(s, "bbb6", t0 + i * 5000, !(i == 10 || i == 20 || i == 21), !(i == 21), i);
        check_users(s, t0);

        /* Many polls: the oldest fall out of memory and come from the database. */
        for (int i = 0; i < 400; i++)
                add_poll(s, "bbb2", t0 + i * 5000, true, i);
        polls_at(s, "bbb2", t0 + 2, t0, true, t0, 0);
        polls_at(s, "bbb2", t0 + 399 * 5000 + 3, t0 + 399 * 5000, true, t0 + 399 * 5000, 399);
        s = store_free(s);

        /* The same answers after a restart, from the database. */
        assert_int_equal(store_open(dbpath, &s), 0);
        check_users(s, t0);
        polls_at(s, "bbb2", t0 + 5 * 5000 + 3, t0 + 5 * 5000, true, t0 + 5 * 5000, 5);
        s = store_free(s);

        assert_double_equal(q("SELECT count(*) FROM bbb_polls WHERE server = (SELECT num FROM bbb_servers WHERE "
                              "name = 'bbb1')"),
                            3, 0);
        assert_true(is_null(q("SELECT participants FROM bbb_polls WHERE ok = 0")));
        assert_double_equal(q("SELECT participants FROM bbb_servers WHERE name = 'bbb1'"), 12, 0);
        assert_double_equal(q("SELECT up FROM bbb_servers WHERE name = 'bbb1'"), 1, 0);
        assert_double_equal(q("SELECT last_ok_ms - last_poll_ms FROM bbb_servers WHERE name = 'bbb1'"), 0, 0);

        /* A failed poll: counts unknown, the error kept in plain text. */
        assert_int_equal(store_open(dbpath, &s), 0);
        add_poll(s, "bbb3", t0, false, 5);
        s = store_free(s);
        assert_double_equal(q("SELECT count(*) FROM bbb_servers WHERE name = 'bbb3' AND up = 0 AND participants IS NULL"
                              " AND last_ok_ms IS NULL AND error = 'connect timeout?<x>'"),
                            1, 0);
}

static void test_hello_and_limits(void **state)
{
        _cleanup_(store_freep) Store *s = NULL;
        int64_t t0 = base_time();
        TS t;

        assert_int_equal(store_open(dbpath, &s), 0);
        hello(s, "a1", 1.5, NULL, NULL);
        hello(s, "a2", 1, NULL, NULL);
        assert_double_equal(q("SELECT connected FROM agents WHERE id = 'a1'"), 1, 0);
        assert_double_equal(q("SELECT effective_cpus FROM agents WHERE id = 'a1'"), 1.5, 0);
        assert_double_equal(q("SELECT cpu_count FROM agents WHERE id = 'a1'"), 2, 0);
        assert_double_equal(q("SELECT count(*) FROM agents WHERE bbb = 'bbb1' AND transport = 'unix'"), 2, 0);

        /* Limits that change with a sample apply to that sample and update the row at commit. */
        ts_init(&t, t0, 1);
        ts_cpu(&t, 0, 0, 0);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 1);
        ts_init(&t, t0 + 1000, 2);
        ts_cpu(&t, 1000000, 0, 0);
        limits_init(&t.limits, 4, 8ULL << 30);
        t.s.limits = &t.limits;
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 1);
        assert_double_equal(q("SELECT effective_cpus FROM agents WHERE id = 'a1'"), 1.5, 0);
        assert_int_equal(store_commit(s), 0);
        assert_double_equal(q("SELECT effective_cpus FROM agents WHERE id = 'a1'"), 4, 0);
        assert_double_equal(q("SELECT memory_limit_bytes FROM agents WHERE id = 'a1'"), 8ULL << 30, 0);
        assert_double_equal(qf("SELECT cpu_ratio FROM samples WHERE time_ms = %lld", (long long)(t0 + 1000)), 0.25,
                            1e-12);

        assert_int_equal(store_agent_disconnected(s, "a1", now_ms()), 0);
        assert_double_equal(q("SELECT connected FROM agents WHERE id = 'a1'"), 0, 0);
        assert_double_equal(q("SELECT connected FROM agents WHERE id = 'a2'"), 1, 0);
        assert_int_equal(store_reset_connected(s), 0);
        assert_double_equal(q("SELECT sum(connected) FROM agents"), 0, 0);

        /* A Hello with absurd limits is refused at ingest (the store only asserts); a bad id by the store
         * too. Neither changes anything. */
        {
                Seatmeter__Hello h;
                Seatmeter__Limits l;
                AgentHello ah;
                StoreAgentInfo info = { .id = "a1", .hello = &ah };
                const char *why = NULL;

                seatmeter__hello__init(&h);
                limits_init(&l, -1, 1 << 20);
                h.limits = &l;
                assert_int_equal(ingest_hello_check(&h, &why), -EINVAL);
                assert_non_null(why);
                info.id = "../etc";
                limits_init(&l, 1, 1 << 20);
                hello_from_wire(&h, &ah);
                assert_int_equal(store_agent_hello(s, &info, NULL, NULL), -EINVAL);
        }
        assert_double_equal(q("SELECT effective_cpus FROM agents WHERE id = 'a1'"), 4, 0);

        /* A sample of an agent never introduced gets its own row. */
        ts_init(&t, t0, 1);
        assert_int_equal(add_sample(s, "stranger", &t.s, -1), 1);
        assert_int_equal(store_commit(s), 0);
        assert_double_equal(q("SELECT count(*) FROM agents WHERE id = 'stranger' AND virt = 'unknown'"), 1, 0);
}

static void test_retention(void **state)
{
        _cleanup_(store_freep) Store *s = NULL;
        int64_t now = now_ms(), old = now - 20 * DAY, recent = now - DAY;
        old -= old % HOUR;
        recent -= recent % HOUR;
        int steps = 0, r, total = 0;
        TS t;

        assert_int_equal(store_open(dbpath, &s), 0);
        for (int a = 0; a < 3; a++) {
                char id[8];
                (void)snprintf(id, sizeof(id), "a%d", a);
                for (int i = 0; i < 30; i++) {
                        ts_init(&t, old + i * 60000LL, (uint64_t)i);
                        assert_int_equal(add_sample(s, id, &t.s, -1), 1);
                        ts_init(&t, recent + i * 60000LL, 100 + (uint64_t)i);
                        assert_int_equal(add_sample(s, id, &t.s, -1), 1);
                }
        }
        assert_int_equal(store_flush(s), 0);
        for (int i = 0; i < 10; i++)
                add_poll(s, "bbb1", old - 30 * DAY + i * 5000, true, i);
        add_poll(s, "bbb1", recent, true, 1);

        assert_double_equal(q("SELECT count(*) FROM samples"), 180, 0);
        assert_double_equal(q("SELECT count(*) FROM trends"), 6, 0);

        /* raw 14 days, trends 30 days; at most 25 rows per step */
        while ((r = store_retention_step(s, now, 14, 30, 25)) > 0) {
                assert_true(r <= 25);
                total += r;
                assert_true(++steps < 100);
        }
        assert_int_equal(r, 0);
        /* 90 old samples + 10 old polls; the old trends are within 30 days */
        assert_int_equal(total, 100);
        assert_int_equal(steps, 4);
        assert_double_equal(q("SELECT count(*) FROM samples"), 90, 0);
        assert_double_equal(qf("SELECT min(time_ms) >= %lld FROM samples", (long long)recent), 1, 0);
        assert_double_equal(q("SELECT count(*) FROM bbb_polls"), 1, 0);
        assert_double_equal(q("SELECT count(*) FROM trends"), 6, 0);

        /* Trends at 10 days: the old hours go, the curves stay. */
        assert_int_equal(store_retention_step(s, now, 14, 10, 1000), 3);
        assert_double_equal(q("SELECT count(*) FROM trends"), 3, 0);
        /* 0 days: keep forever */
        assert_int_equal(store_retention_step(s, now + 400 * DAY, 0, 0, 1000), 0);
        assert_double_equal(q("SELECT count(*) FROM samples"), 90, 0);
}

/* Fills the store until commit reports -ENOSPC; checks that what was committed is intact, that
 * nothing pending was lost, and that the store works again once there is room. */
static void fill_until_full(Store *s, int64_t t0, int *ret_committed, int *ret_added)
{
        int committed = 0, added = 0, r = 0;
        TS t;

        for (int batch = 0; batch < 10000; batch++) {
                for (int i = 0; i < 200; i++, added++) {
                        ts_init(&t, t0 + added * 1000LL, (uint64_t)added);
                        ts_cpu(&t, (uint64_t)added * 1000, (uint64_t)added, 0);
                        ts_mem(&t, 123456789, 98765432);
                        ts_io(&t, (uint64_t)added * 4096, 0);
                        assert_int_equal(add_sample(s, "a1", &t.s, added % 50), 1);
                }
                r = store_commit(s);
                if (r < 0)
                        break;
                committed = added;
        }
        assert_int_equal(r, -ENOSPC);
        assert_int_equal(store_pending(s), added - committed);
        *ret_committed = committed;
        *ret_added = added;
}

static void test_full_disk_size_limit(void **state)
{
        _cleanup_(store_freep) Store *s = NULL;
        int64_t t0 = base_time() - 2 * DAY;
        int committed, added;

        assert_int_equal(store_open(dbpath, &s), 0);
        store_set_aggregate_interval(s, 0); /* every commit carries its aggregates */
        assert_int_equal(store_set_size_limit(s, 512 * 1024), 0);
        fill_until_full(s, t0, &committed, &added);
        assert_true(committed > 0);

        assert_double_equal(q("SELECT count(*) FROM samples"), committed, 0);
        assert_double_equal(q("SELECT sum(n) FROM trends"), committed, 0);
        assert_double_equal(q("SELECT sum(n) FROM curves WHERE metric = 2"), committed, 0);
        assert_integrity();

        /* Still full: the same error, still nothing lost. */
        assert_int_equal(store_commit(s), -ENOSPC);
        assert_int_equal(store_pending(s), added - committed);

        /* Room again: the pending samples are written, once. */
        assert_int_equal(store_set_size_limit(s, 0), 0);
        assert_int_equal(store_commit(s), 0);
        s = store_free(s);
        assert_double_equal(q("SELECT count(*) FROM samples"), added, 0);
        assert_double_equal(q("SELECT sum(n) FROM trends"), added, 0);
        assert_double_equal(q("SELECT sum(n) FROM curves WHERE metric = 2"), added, 0);
        assert_double_equal(q("SELECT sum(n) FROM curves WHERE metric = 1"), added - 1, 0);
        assert_integrity();
}

/* The same on a real full file system: a small tmpfs, when we may mount one (root). */
static void test_full_disk_tmpfs(void **state)
{
        _cleanup_(store_freep) Store *s = NULL;
        char mnt[256];
        int64_t t0 = base_time() - 2 * DAY;
        int committed, added;

        (void)snprintf(mnt, sizeof(mnt), "%s/tmpfs", tmpdir);
        assert_int_equal(mkdir(mnt, 0700), 0);
        if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=384k") < 0) {
                (void)rmdir(mnt);
                printf("skipped: cannot mount a tmpfs here (%s)\n", strerror(errno));
                skip();
        }
        (void)snprintf(dbpath, sizeof(dbpath), "%s/full.sqlite", mnt);

        assert_int_equal(store_open(dbpath, &s), 0);
        store_set_aggregate_interval(s, 0);
        fill_until_full(s, t0, &committed, &added);
        assert_true(committed > 0);
        assert_double_equal(q("SELECT count(*) FROM samples"), committed, 0);
        assert_integrity();
        s = store_free(s); /* its final commit fails too, and says so */

        assert_double_equal(q("SELECT count(*) FROM samples"), committed, 0);
        assert_integrity();
        assert_int_equal(umount2(mnt, MNT_DETACH), 0);
        assert_int_equal(rmdir(mnt), 0);
}

/* A writer killed while its commits run (the kill lands inside a transaction most of the time, since
 * that is where the writer spends it): the database holds exactly the batches committed whole. */
static void test_killed_mid_transaction(void **state)
{
        const int BATCH = 5000;
        int64_t t0 = base_time() - 2 * DAY;
        int pfd[2], status;
        long reported = 0, got;
        pid_t pid;
        double rows;

        assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                Store *s = NULL;
                TS t;

                close(pfd[0]);
                if (store_open(dbpath, &s) < 0)
                        _exit(2);
                /* Some aggregate flushes happen, and the kill lands between two of them. */
                store_set_aggregate_interval(s, 100);
                for (long n = 0;; ) {
                        for (int i = 0; i < BATCH; i++, n++) {
                                ts_init(&t, t0 + n * 100, (uint64_t)n);
                                ts_cpu(&t, (uint64_t)n * 50000, 0, 0);
                                if (add_sample(s, n % 2 ? "k1" : "k2", &t.s, (int)(n % 20)) != 1)
                                        _exit(3);
                        }
                        if (store_commit(s) < 0)
                                _exit(4);
                        if (write(pfd[1], &n, sizeof(n)) != sizeof(n))
                                _exit(5);
                        if (n >= 100 * BATCH)
                                _exit(6); /* bounded: the parent kills long before */
                }
        }
        close(pfd[1]);

        /* Let it commit three batches, then kill it at a varying moment of the fourth. */
        for (int i = 0; i < 3; i++)
                assert_int_equal(read(pfd[0], &got, sizeof(got)), sizeof(got));
        reported = got;
        usleep((useconds_t)(now_usec(CLOCK_MONOTONIC) % 20000));
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        while (read(pfd[0], &got, sizeof(got)) == sizeof(got))
                reported = got;
        close(pfd[0]);

        rows = q("SELECT count(*) FROM samples");
        assert_true(rows >= reported);
        assert_double_equal(fmod(rows, BATCH), 0, 0);
        assert_true(rows <= reported + BATCH);
        assert_integrity();
        /* The aggregates lag by what came after the last aggregate flush, never more than that: */
        assert_true(!(q("SELECT sum(n) FROM trends") > rows));
        assert_double_equal(q("SELECT coalesce(sum(n), 0) FROM trends"),
                            q("SELECT count(*) FROM samples s JOIN agents a ON s.agent = a.num"
                              " AND s.time_ms <= a.agg_time_ms"),
                            0);
        /* and the next open folds the rest in. */
        {
                _cleanup_(store_freep) Store *s = NULL;
                assert_int_equal(store_open(dbpath, &s), 0);
        }
        assert_double_equal(q("SELECT sum(n) FROM trends"), rows, 0);
        assert_double_equal(q("SELECT sum(n) FROM curves WHERE metric = 1"), rows - 2, 0);
        assert_double_equal(q("SELECT max(last_time_ms) FROM agents"), q("SELECT max(time_ms) FROM samples"), 0);
        assert_double_equal(q("SELECT max(agg_time_ms) FROM agents"), q("SELECT max(time_ms) FROM samples"), 0);

        /* A raw transaction left open by a killed process (uncommitted frames in the WAL) is dropped at
         * the next open, and the store carries on from the committed state. */
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                sqlite3 *db = NULL;
                /* A tiny page cache, so the transaction spills into the WAL before it is killed. */
                if (sqlite3_open(dbpath, &db) != SQLITE_OK ||
                    sqlite3_exec(db,
                                 "PRAGMA cache_size = 10; BEGIN; INSERT INTO samples (agent, time_ms, seq)"
                                 " SELECT agent, time_ms + 1, 0 FROM samples",
                                 NULL, NULL, NULL) != SQLITE_OK)
                        _exit(2);
                raise(SIGKILL);
                _exit(3);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        {
                _cleanup_(store_freep) Store *s = NULL;
                TS t;

                assert_int_equal(store_open(dbpath, &s), 0);
                assert_double_equal(q("SELECT count(*) FROM samples"), rows, 0);
                /* And a writer whose samples were added but never committed leaves nothing. */
                auto_seq += 1u << 30; /* above what the forked writer used */
                ts_init(&t, t0 + (int64_t)rows * 100 + 100, 1);
                assert_int_equal(add_sample(s, "k1", &t.s, 1), 1);
                assert_int_equal(store_commit(s), 0);
        }
        assert_double_equal(q("SELECT count(*) FROM samples"), rows + 1, 0);
        assert_integrity();

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                Store *s = NULL;
                TS t;

                if (store_open(dbpath, &s) < 0)
                        _exit(2);
                for (int i = 0; i < 1000; i++) {
                        ts_init(&t, t0 + (int64_t)rows * 100 + 200 + i, 1);
                        (void)add_sample(s, "k1", &t.s, 1);
                }
                raise(SIGKILL);
                _exit(3);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status));
        assert_double_equal(q("SELECT count(*) FROM samples"), rows + 1, 0);
        assert_integrity();
}

/* Aggregates are written every STORE_AGG_INTERVAL_MS, with a watermark; a crash in between loses
 * nothing, and a late sample older than the watermark carries the flush into its own commit. */
static void test_aggregate_interval(void **state)
{
        _cleanup_(store_freep) Store *s = NULL;
        int64_t t0 = base_time();
        int status;
        pid_t pid;
        TS t;

        assert_int_equal(store_open(dbpath, &s), 0);
        hello(s, "a1", 1, NULL, NULL);
        for (int i = 0; i < 10; i++) {
                ts_init(&t, t0 + i * 1000, (uint64_t)i + 1);
                ts_cpu(&t, (uint64_t)i * 100000, 0, 0);
                ts_mem(&t, 1000, 500);
                ts_net(&t, "eth0", (uint64_t)i, 0);
                assert_int_equal(add_sample(s, "a1", &t.s, 5), 1);
        }
        assert_int_equal(store_commit(s), 0);
        assert_double_equal(q("SELECT count(*) FROM samples"), 10, 0);
        assert_double_equal(q("SELECT count(*) FROM trends"), 0, 0);
        assert_double_equal(q("SELECT count(*) FROM netdev"), 0, 0);
        assert_double_equal(q("SELECT agg_time_ms FROM agents"), 0, 0);

        assert_int_equal(store_flush(s), 0);
        assert_double_equal(q("SELECT n FROM trends"), 10, 0);
        assert_double_equal(q("SELECT n FROM curves WHERE metric = 1"), 9, 0);
        assert_double_equal(q("SELECT count(*) FROM netdev"), 1, 0);
        assert_double_equal(q("SELECT agg_time_ms - last_time_ms FROM agents"), 0, 0);
        assert_double_equal(qf("SELECT agg_time_ms FROM agents WHERE agg_time_ms = %lld", (long long)(t0 + 9000)),
                            (double)(t0 + 9000), 0);

        /* A gap filler older than the watermark: flushed with its commit. */
        ts_init(&t, t0 + 500, 100);
        ts_mem(&t, 1000, 500);
        assert_int_equal(add_sample(s, "a1", &t.s, 5), 1);
        assert_int_equal(store_commit(s), 0);
        assert_double_equal(q("SELECT n FROM trends"), 11, 0);
        s = store_free(s);

        /* A writer that commits samples and dies before its aggregate flush. */
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                Store *c = NULL;

                if (store_open(dbpath, &c) < 0)
                        _exit(2);
                store_set_aggregate_interval(c, STORE_AGG_INTERVAL_MAX_MS);
                for (int i = 10; i < 30; i++) {
                        ts_init(&t, t0 + i * 1000, (uint64_t)i + 1);
                        ts_cpu(&t, (uint64_t)i * 100000, 0, 0);
                        ts_mem(&t, 1000, 500);
                        if (add_sample(c, "a1", &t.s, 6) != 1)
                                _exit(3);
                }
                if (store_commit(c) < 0)
                        _exit(4);
                raise(SIGKILL);
                _exit(5);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        assert_double_equal(q("SELECT count(*) FROM samples"), 31, 0);
        assert_double_equal(q("SELECT sum(n) FROM trends"), 11, 0);
        assert_double_equal(q("SELECT count(*) FROM curves WHERE users = 6"), 0, 0);

        assert_int_equal(store_open(dbpath, &s), 0);
        assert_double_equal(q("SELECT sum(n) FROM trends"), 31, 0);
        assert_double_equal(q("SELECT n FROM curves WHERE metric = 1 AND users = 6"), 20, 0);
        assert_double_equal(q("SELECT sum FROM curves WHERE metric = 1 AND users = 6"), 20 * 0.1, 1e-9);
        assert_double_equal(q("SELECT n FROM curves WHERE metric = 2 AND users = 6"), 20, 0);
        assert_double_equal(qf("SELECT count(*) FROM agents WHERE last_time_ms = %lld AND agg_time_ms = %lld",
                               (long long)(t0 + 29000), (long long)(t0 + 29000)),
                            1, 0);
        s = store_free(s);
        /* Folded once: a second open adds nothing. */
        assert_int_equal(store_open(dbpath, &s), 0);
        s = store_free(s);
        assert_double_equal(q("SELECT sum(n) FROM trends"), 31, 0);
}

/* The batch is bounded: past STORE_PENDING_MAX samples the caller must commit first. */
static void test_pending_limit(void **state)
{
        _cleanup_(store_freep) Store *s = NULL;
        int64_t t0 = base_time() - 10 * DAY;
        TS t;

        assert_int_equal(store_open(dbpath, &s), 0);
        for (int i = 0; i < STORE_PENDING_MAX; i++) {
                ts_init(&t, t0 + i, (uint64_t)i);
                assert_int_equal(add_sample(s, "a1", &t.s, -1), 1);
        }
        ts_init(&t, t0 + STORE_PENDING_MAX, 1);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), -ENOBUFS);
        assert_int_equal(store_commit(s), 0);
        assert_int_equal(add_sample(s, "a1", &t.s, -1), 1);
        assert_int_equal(store_commit(s), 0);
        assert_double_equal(q("SELECT count(*) FROM samples"), STORE_PENDING_MAX + 1, 0);
}

static void test_errno(void **state)
{
        assert_int_equal(store_errno(SQLITE_OK), 0);
        assert_int_equal(store_errno(SQLITE_BUSY), -EBUSY);
        assert_int_equal(store_errno(SQLITE_BUSY_SNAPSHOT), -EBUSY);
        assert_int_equal(store_errno(SQLITE_CONSTRAINT_PRIMARYKEY), -EEXIST);
        assert_int_equal(store_errno(SQLITE_FULL), -ENOSPC);
        assert_int_equal(store_errno(SQLITE_IOERR_WRITE), -EIO);
        assert_int_equal(store_errno(SQLITE_READONLY), -EROFS);
}

/* Whether live holds for id exactly what the database answers for /latest (NULLs as NAN). */
static void assert_live_is_database(Live *live, const char *id)
{
        _cleanup_(query_freep) Query *qr = NULL;
        QuerySample l, d;
        int64_t num;
        bool has;
        int r;

        assert_int_equal(query_open(dbpath, &qr), 0);
        assert_int_equal(live_get(live, id, &num, &l, &has), 1);
        r = query_latest(qr, num, &d);
        assert_true(r >= 0);
        assert_int_equal(has, r > 0);
        if (!has)
                return;
        assert_int_equal(l.time_ms, d.time_ms);
        assert_int_equal(l.seq, d.seq);
        for (int c = 0; c < _QUERY_COLUMN_MAX; c++)
                if (!(isnan(l.v[c]) ? isnan(d.v[c]) : l.v[c] == d.v[c]))
                        fail_msg("%s of %s: live %.17g, database %.17g", query_column_to_string((QueryColumn)c),
                                 id, l.v[c], d.v[c]);
}

static void test_live(void **state)
{
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(live_freep) Live *live = NULL;
        int64_t t0 = base_time(), num;
        int committed, added;
        QuerySample l;
        bool has;
        TS t;

        assert_int_equal(live_new(&live), 0);
        assert_int_equal(store_open(dbpath, &s), 0);
        store_set_live(s, live);
        hello(s, "full", 2, NULL, NULL);
        hello(s, "bare", 2, NULL, NULL);

        /* Every column set, rates from a previous sample, then a backfill older than the newest. */
        for (int i = 0; i < 3; i++) {
                ts_init(&t, t0 + i * 1000, (uint64_t)i + 1);
                ts_cpu(&t, (uint64_t)i * 700000, (uint64_t)i * 10, (uint64_t)i);
                t.s.has_cpu_throttled_usec = true;
                t.s.cpu_throttled_usec = (uint64_t)i * 1000;
                ts_mem(&t, 1000000 + (uint64_t)i, 900000);
                t.s.has_memory_cache_bytes = t.s.has_memory_anon_bytes = t.s.has_memory_swap_bytes = true;
                t.s.memory_cache_bytes = 100;
                t.s.memory_anon_bytes = 200;
                t.s.memory_swap_bytes = 300;
                t.s.has_memory_oom_kills = true;
                t.s.memory_oom_kills = 1;
                ts_io(&t, (uint64_t)i * 4096, (uint64_t)i * 8192);
                ts_net(&t, "eth0", (uint64_t)i * 1500, (uint64_t)i * 3000);
                assert_int_equal(add_sample(s, "full", &t.s, 7 + i), 1);
        }
        /* Nothing is published before the commit. */
        assert_int_equal(live_get(live, "full", &num, &l, &has), 0);
        assert_int_equal(store_commit(s), 0);
        assert_live_is_database(live, "full");
        assert_int_equal(live_get(live, "full", &num, &l, &has), 1);
        assert_int_equal(l.time_ms, t0 + 2000);

        ts_init(&t, t0 - 5000, 0);
        assert_int_equal(add_sample(s, "full", &t.s, -1), 1);
        ts_init(&t, t0 + 5000, 9); /* only time and seq: every other column NULL */
        assert_int_equal(add_sample(s, "bare", &t.s, -1), 1);
        assert_int_equal(store_commit(s), 0);
        assert_live_is_database(live, "full"); /* still t0 + 2000 */
        assert_live_is_database(live, "bare");

        /* A commit that fails publishes nothing. */
        assert_int_equal(store_set_size_limit(s, 512 * 1024), 0);
        store_set_aggregate_interval(s, 0);
        fill_until_full(s, t0 + 10000, &committed, &added);
        assert_true(committed > 0 && added > committed);
        assert_int_equal(live_get(live, "a1", &num, &l, &has), 1);
        assert_int_equal(l.time_ms, t0 + 10000 + (committed - 1) * 1000LL);
        assert_live_is_database(live, "a1");
        assert_int_equal(store_set_size_limit(s, 0), 0);
        assert_int_equal(store_commit(s), 0);
        assert_live_is_database(live, "a1");

        /* Retention that empties an agent empties it here too, once every expired row is gone. */
        while (store_retention_step(s, t0 + 400 * DAY, 14, 0, 100000) > 0)
                ;
        assert_int_equal(live_get(live, "full", &num, &l, &has), 1);
        assert_false(has);
        assert_live_is_database(live, "full");
        assert_live_is_database(live, "a1");
}

static int group_setup(void **state)
{
        log_set_max_level(LOG_WARNING);
        if (!mkdtemp(tmpdir))
                return -1;
        return 0;
}

static int group_teardown(void **state)
{
        char cmd[300];

        /* A failed tmpfs test may have left its mount behind. */
        (void)snprintf(cmd, sizeof(cmd), "%s/tmpfs", tmpdir);
        (void)umount2(cmd, MNT_DETACH);
        /* Only our own mkdtemp() folder. */
        (void)snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", tmpdir);
        return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_migrate_and_reopen, setup),
                cmocka_unit_test_setup(test_refuse_foreign_and_newer, setup),
                cmocka_unit_test_setup(test_dedup, setup),
                cmocka_unit_test_setup(test_validation, setup),
                cmocka_unit_test_setup(test_rates, setup),
                cmocka_unit_test_setup(test_first_sample_after_restart, setup),
                cmocka_unit_test_setup(test_out_of_order, setup),
                cmocka_unit_test_setup(test_trends_hour_boundary, setup),
                cmocka_unit_test_setup(test_curves, setup),
                cmocka_unit_test_setup(test_epochs_hours_mix, setup),
                cmocka_unit_test_setup(test_daily_rollup, setup),
                cmocka_unit_test_setup(test_bbb, setup),
                cmocka_unit_test_setup(test_hello_and_limits, setup),
                cmocka_unit_test_setup(test_retention, setup),
                cmocka_unit_test_setup(test_full_disk_size_limit, setup),
                cmocka_unit_test_setup(test_full_disk_tmpfs, setup),
                cmocka_unit_test_setup(test_killed_mid_transaction, setup),
                cmocka_unit_test_setup(test_aggregate_interval, setup),
                cmocka_unit_test_setup(test_pending_limit, setup),
                cmocka_unit_test_setup(test_live, setup),
                cmocka_unit_test(test_errno),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
