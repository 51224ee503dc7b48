#pragma once
/* A small database for the HTTP side's unit tests: the embedded schema (schema_files[]) plus a few rows
 * written here by hand, in a temporary folder. */

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/macro.h"
#include "daemon/curve.h"
#include "schema-files.h"

typedef struct TestDb {
        char dir[64];
        char path[128];
} TestDb;

static inline void testdb_exec(sqlite3 *db, const char *sql)
{
        char *err = NULL;

        if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
                fprintf(stderr, "SQL failed: %s\n%s\n", err, sql);
                fail();
        }
}

/* Two agents: "lxc-1" (num 1, 10 samples 1000 ms apart from T0, users = i, cpu_ratio = 0.1 + 0.01 i,
 * curves for metric 0 with users 0..4 and value 0.1 + 0.02 users, one netdev row) and "kvm-2" (num 2, no
 * samples, nothing known). One BBB server up ("bbb1") and one never polled ("bbb2"). */
#define TESTDB_T0 1700000000000LL

static inline void testdb_curve_row(sqlite3 *db, int64_t users, const double *vals, size_t n)
{
        _cleanup_(curve_hist_freep) CurveHist *h = NULL;
        _cleanup_free_ uint8_t *blob = NULL;
        sqlite3_stmt *s = NULL;
        double sum = 0, sumsq = 0, max = -INFINITY;
        size_t size;

        assert_int_equal(curve_hist_new(&h), 0);
        for (size_t i = 0; i < n; i++) {
                curve_hist_add(h, vals[i]);
                sum += vals[i];
                sumsq += vals[i] * vals[i];
                max = MAX(max, vals[i]);
        }
        assert_int_equal(curve_hist_serialize(h, &blob, &size), 0);
        /* Undated (hour 0), and its daily roll-up (day 0) as the daemon writes it beside. */
        for (unsigned i = 0; i < 2; i++) {
                assert_int_equal(sqlite3_prepare_v2(db,
                                                    i == 0 ? "INSERT INTO curves (agent, metric, users, n, sum, sumsq, max, hist)"
                                                             " VALUES (1, 0, ?, ?, ?, ?, ?, ?)"
                                                           : "INSERT INTO curves_day (agent, metric, day_ms, epoch, users, n, sum,"
                                                             " sumsq, max, hist) VALUES (1, 0, 0, 0, ?, ?, ?, ?, ?, ?)",
                                                    -1, &s, NULL),
                                 SQLITE_OK);
                sqlite3_bind_int64(s, 1, users);
                sqlite3_bind_int64(s, 2, (sqlite3_int64)n);
                sqlite3_bind_double(s, 3, sum);
                sqlite3_bind_double(s, 4, sumsq);
                sqlite3_bind_double(s, 5, max);
                sqlite3_bind_blob(s, 6, blob, (int)size, SQLITE_TRANSIENT);
                assert_int_equal(sqlite3_step(s), SQLITE_DONE);
                sqlite3_finalize(s);
        }
}

static inline void testdb_create(TestDb *t)
{
        sqlite3 *db = NULL;
        char sql[1024];

        snprintf(t->dir, sizeof(t->dir), "/tmp/seatmeter-unit-XXXXXX");
        assert_non_null(mkdtemp(t->dir));
        snprintf(t->path, sizeof(t->path), "%s/test.db", t->dir);
        assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
        testdb_exec(db, "PRAGMA journal_mode = WAL");
        for (const EmbeddedFile *f = schema_files; f->name; f++)
                testdb_exec(db, (const char *)f->data);
        testdb_exec(db, "BEGIN");
        testdb_exec(db,
                    "INSERT INTO agents (num, id, virt, hostname, effective_cpus, cpu_count, "
                    "memory_limit_bytes, "
                    "bbb, connected, last_seen_ms, clock_offset_ms) VALUES "
                    "(1, 'lxc-1', 'lxc', 'host \"one\"', 1.5, 2, 2147483648, 'bbb1', 1, 1700000009000, -3), "
                    "(2, 'kvm-2', 'kvm', NULL, NULL, NULL, NULL, NULL, 0, NULL, 0)");
        for (int i = 0; i < 10; i++) {
                snprintf(sql, sizeof(sql),
                         "INSERT INTO samples (agent, time_ms, seq, users, cpu_cores, cpu_ratio, "
                         "memory_bytes, "
                         "working_set_bytes, cpu_usage_usec, cpu_throttled_usec, io_read_bytes, oom_kills) "
                         "VALUES "
                         "(1, %lld, %d, %d, %.17g, %.17g, %d, %d, %d, 0, %d, 0)",
                         TESTDB_T0 + i * 1000LL, i + 1, i, 1.5 * (0.1 + 0.01 * i), 0.1 + 0.01 * i,
                         1000000 + i, 500000 + i, 1000000 * (i + 1), 4096 * i);
                testdb_exec(db, sql);
        }
        testdb_exec(db, "INSERT INTO trends (agent, hour_ms, n, cpu_ratio_n, cpu_ratio_min, cpu_ratio_sum, "
                        "cpu_ratio_max, users_n, users_min, users_sum, users_max) VALUES "
                        "(1, 1699999200000, 10, 10, 0.1, 1.45, 0.19, 10, 0, 45, 9), "
                        "(1, 1700002800000, 4, 2, 0.5, 1.0, 0.5, 0, NULL, NULL, NULL)");
        testdb_exec(db, "INSERT INTO netdev VALUES (1, 'eth0', 1700000009000, 100, 200, 1, 2, 0, 0, 0, 0), "
                        "(1, 'we\"ird\\if', 1700000009000, 5, 6, NULL, NULL, NULL, NULL, NULL, NULL)");
        testdb_exec(
                db,
                "INSERT INTO bbb_servers (num, name, up, last_poll_ms, meetings, participants, listeners, "
                "voice, video, moderators, breakouts) VALUES (1, 'bbb1', 1, 1700000009000, 2, 40, 10, 5, 3, "
                "2, 0), (2, 'bbb2', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)");
        for (int u = 0; u <= 4; u++) {
                double vals[20];

                for (size_t i = 0; i < ELEMENTSOF(vals); i++)
                        vals[i] = 0.1 + 0.02 * u + 0.001 * (double)i;
                testdb_curve_row(db, u, vals, ELEMENTSOF(vals));
        }
        testdb_exec(db, "COMMIT");
        sqlite3_close(db);
}

static inline void testdb_remove(TestDb *t)
{
        char p[160];

        unlink(t->path);
        snprintf(p, sizeof(p), "%s-wal", t->path);
        unlink(p);
        snprintf(p, sizeof(p), "%s-shm", t->path);
        unlink(p);
        rmdir(t->dir);
}
