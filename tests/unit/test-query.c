/* The read side of the store (daemon/query.c) against a small database written by hand. */

#include "http-testdb.h"

#include "daemon/query.h"
#include "daemon/store.h"

static TestDb db;

static int setup(void **state)
{
        testdb_create(&db);
        return 0;
}

static int teardown(void **state)
{
        testdb_remove(&db);
        return 0;
}

typedef struct Count {
        size_t n;
        int64_t last;
        int stop_after;
} Count;

static int count_agent(const QueryAgent *a, const QuerySample *latest, void *userdata)
{
        Count *c = userdata;

        if (c->n == 0) {
                assert_string_equal(a->id, "kvm-2"); /* ordered by id */
                assert_null(latest);
                assert_true(isnan(a->effective_cpus));
                assert_int_equal(a->cpu_count, -1);
                assert_string_equal(a->hostname, "");
        } else {
                assert_string_equal(a->id, "lxc-1");
                assert_non_null(latest);
                assert_int_equal(latest->time_ms, TESTDB_T0 + 9000);
                assert_int_equal((int)latest->v[QUERY_USERS], 9);
                assert_true(a->connected);
                assert_int_equal(a->clock_offset_ms, -3);
                assert_string_equal(a->hostname, "host \"one\"");
        }
        c->n++;
        return 0;
}

static void test_agents(void **state)
{
        _cleanup_(query_freep) Query *q = NULL;
        Count c = {0};
        QueryAgent a;
        QuerySample s;

        assert_int_equal(query_open(db.path, &q), 0);
        assert_int_equal(query_agents(q, count_agent, &c), 0);
        assert_int_equal(c.n, 2);

        assert_int_equal(query_agent_find(q, "lxc-1", &a), 1);
        assert_int_equal(a.num, 1);
        assert_string_equal(a.virt, "lxc");
        assert_true(a.effective_cpus == 1.5);
        assert_int_equal(query_agent_find(q, "nobody", &a), 0);

        assert_int_equal(query_latest(q, 1, &s), 1);
        assert_int_equal(s.seq, 10);
        assert_true(fabs(s.v[QUERY_CPU_RATIO] - 0.19) < 1e-12);
        assert_true(isnan(s.v[QUERY_NET_RX_BPS])); /* NULL */
        assert_int_equal(query_latest(q, 2, &s), 0);
}

static int count_sample(const QuerySample *s, void *userdata)
{
        Count *c = userdata;

        if (c->n > 0)
                assert_true(s->time_ms > c->last);
        c->last = s->time_ms;
        c->n++;
        if (c->stop_after && (int)c->n == c->stop_after)
                return -ECANCELED;
        return 0;
}

static int count_trend(const QueryTrend *t, void *userdata)
{
        Count *c = userdata;

        if (c->n == 0) {
                assert_int_equal(t->count[QUERY_CPU_RATIO], 10);
                assert_true(fabs(t->sum[QUERY_CPU_RATIO] - 1.45) < 1e-12);
                assert_int_equal(t->count[QUERY_USERS], 10);
        } else {
                assert_int_equal(t->count[QUERY_USERS], 0);
                assert_int_equal(t->count[QUERY_MEMORY_BYTES], 0); /* NULL count */
        }
        c->n++;
        return 0;
}

static void test_samples_trends(void **state)
{
        _cleanup_(query_freep) Query *q = NULL;
        Count c = {0};

        assert_int_equal(query_open(db.path, &q), 0);
        assert_int_equal(
                query_samples(q, 1, TESTDB_T0, TESTDB_T0 + 4000, 0, QUERY_COLUMNS_ALL, count_sample, &c), 0);
        assert_int_equal(c.n, 5);
        c = (Count){0};
        assert_int_equal(query_samples(q, 1, 0, INT64_MAX, 3, QUERY_COLUMNS_ALL, count_sample, &c), 0);
        assert_int_equal(c.n, 3);
        c = (Count){.stop_after = 2};
        assert_int_equal(query_samples(q, 1, 0, INT64_MAX, 0, QUERY_COLUMNS_ALL, count_sample, &c),
                         -ECANCELED);
        c = (Count){0};
        assert_int_equal(query_samples(q, 2, 0, INT64_MAX, 0, QUERY_COLUMNS_ALL, count_sample, &c), 0);
        assert_int_equal(c.n, 0);

        c = (Count){0};
        assert_int_equal(query_trends(q, 1, 0, INT64_MAX, count_trend, &c), 0);
        assert_int_equal(c.n, 2);
}

static int check_curve(const QueryCurveRow *r, void *userdata)
{
        Count *c = userdata;
        CurveAgg a;

        assert_int_equal(r->users, (int64_t)c->n);
        assert_int_equal(r->n, 20);
        assert_non_null(r->hist);
        assert_int_equal(
                curve_agg_from_row(r->users, r->n, r->sum, r->sumsq, r->max, r->hist, r->hist_size, &a), 0);
        curve_agg_done(&a);
        c->n++;
        return 0;
}

static int check_bbb(const QueryBbb *b, void *userdata)
{
        Count *c = userdata;

        if (c->n == 0) {
                assert_string_equal(b->name, "bbb1");
                assert_int_equal(b->up, 1);
                assert_true(b->participants == 40);
        } else {
                assert_string_equal(b->name, "bbb2");
                assert_int_equal(b->up, -1);
                assert_true(isnan(b->participants));
        }
        c->n++;
        return 0;
}

static int check_netdev(const QueryNetdev *d, void *userdata)
{
        Count *c = userdata;

        assert_int_equal(d->agent_num, 1);
        if (c->n == 0)
                assert_true(d->rx_bytes == 100);
        else
                assert_true(isnan(d->rx_packets));
        c->n++;
        return 0;
}

/* The curves of a window, planned as the HTTP side does. */
static int curves_in(Query *q, int64_t agent, int metric, int64_t from_ms, int64_t to_ms, Count *c)
{
        QueryWindow w;
        int r;

        r = query_window(q, agent, metric, from_ms, to_ms, &w);
        if (r < 0)
                return r;
        assert_true(w.exact);
        return query_curves(q, agent, metric, &w, check_curve, c);
}

static void test_curves_bbb_netdev(void **state)
{
        _cleanup_(query_freep) Query *q = NULL;
        Count c = {0};

        assert_int_equal(query_open(db.path, &q), 0);
        assert_int_equal(curves_in(q, 1, 0, 0, INT64_MAX, &c), 0);
        assert_int_equal(c.n, 5);
        /* The test rows are undated (hour 0): a window from the next hour on leaves them out. */
        c = (Count){0};
        assert_int_equal(curves_in(q, 1, 0, QUERY_HOUR_MS, INT64_MAX, &c), 0);
        assert_int_equal(c.n, 0);
        c = (Count){0};
        assert_int_equal(curves_in(q, 1, 3, 0, INT64_MAX, &c), 0);
        assert_int_equal(c.n, 0);
        c = (Count){0};
        assert_int_equal(query_bbb(q, check_bbb, &c), 0);
        assert_int_equal(c.n, 2);
        c = (Count){0};
        assert_int_equal(query_netdev(q, check_netdev, &c), 0);
        assert_int_equal(c.n, 2);
}

/* A window's plan: the days it covers whole come from the daily rows, the hours around them from the
 * hourly rows, a cut hour from the raw samples. */
static void test_window_plan(void **state)
{
        _cleanup_(query_freep) Query *q = NULL;
        const int64_t day = 24 * QUERY_HOUR_MS, d = 10 * day;
        QueryWindow w;

        assert_int_equal(query_open(db.path, &q), 0);

        /* All history: every day up to the last whole one, then its hours. */
        assert_int_equal(query_window(q, 1, 0, 0, INT64_MAX, &w), 0);
        assert_true(w.exact);
        assert_true(w.hours[0][0] > w.hours[0][1]);
        assert_true(w.days[0] == INT64_MIN);
        assert_true(w.days[1] % day == 0 && w.days[1] + 23 * QUERY_HOUR_MS <= INT64_MAX);
        assert_true(w.hours[1][0] == w.days[1] + day && w.hours[1][1] == INT64_MAX);
        assert_true(w.raw[0][0] > w.raw[0][1] && w.raw[1][0] > w.raw[1][1]);

        /* Cut 30 minutes into a day: that hour raw, the rest of the day hourly, two whole days, then hours. */
        assert_int_equal(query_window(q, 1, 0, d + 30 * 60000, d + 3 * day + 30 * 60000 - 1, &w), 0);
        assert_true(w.exact);
        assert_true(w.raw[0][0] == d + 30 * 60000);
        assert_true(w.hours[0][0] == d + QUERY_HOUR_MS && w.hours[0][1] == d + day - 1);
        assert_true(w.days[0] == d + day && w.days[1] == d + 2 * day);
        assert_true(w.hours[1][0] == d + 3 * day && w.hours[1][1] == d + 3 * day + 30 * 60000 - 1);

        /* Hours of one day: no daily rows. */
        assert_int_equal(query_window(q, 1, 0, d + QUERY_HOUR_MS, d + 5 * QUERY_HOUR_MS - 1, &w), 0);
        assert_true(w.days[0] > w.days[1]);
        assert_true(w.hours[0][0] == d + QUERY_HOUR_MS && w.hours[0][1] == d + 5 * QUERY_HOUR_MS - 1);
        assert_true(w.hours[1][0] > w.hours[1][1]);

        /* A day exactly: its daily row alone. */
        assert_int_equal(query_window(q, 1, 0, d, d + day - 1, &w), 0);
        assert_true(w.days[0] == d && w.days[1] == d);
        assert_true(w.hours[0][0] > w.hours[0][1] && w.hours[1][0] > w.hours[1][1]);
}

/* A reader must never keep a read transaction open after a call, or checkpoints could not finish. */
static void test_no_lingering_transaction(void **state)
{
        _cleanup_(query_freep) Query *q = NULL;
        sqlite3 *w = NULL;
        Count c = {.stop_after = 1};
        int log = -1, done = -1;

        assert_int_equal(query_open(db.path, &q), 0);
        assert_int_equal(query_samples(q, 1, 0, INT64_MAX, 0, QUERY_COLUMNS_ALL, count_sample, &c),
                         -ECANCELED);
        assert_int_equal(query_begin(q), 0);
        assert_int_equal(query_latest(q, 1, &(QuerySample){0}), 1);
        query_end(q);
        query_end(q); /* twice is fine */

        assert_int_equal(sqlite3_open(db.path, &w), SQLITE_OK);
        testdb_exec(w, "UPDATE agents SET connected = 0 WHERE num = 2");
        assert_int_equal(sqlite3_wal_checkpoint_v2(w, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done),
                         SQLITE_OK);
        assert_int_equal(log, 0);
        sqlite3_close(w);
}

static void test_open_errors(void **state)
{
        Query *q = NULL;
        QueryColumn col;

        assert_int_equal(query_open("/nonexistent/seatmeter.db", &q), -ENOENT);
        assert_null(q);
        assert_null(query_free(NULL));

        assert_int_equal(query_column_from_string("cpu_ratio", QUERY_SERIES_MAX, &col), 0);
        assert_int_equal(col, QUERY_CPU_RATIO);
        assert_int_equal(query_column_from_string("oom_kills", QUERY_SERIES_MAX, &col), -EINVAL);
        assert_int_equal(query_column_from_string("oom_kills", _QUERY_COLUMN_MAX, &col), 0);
        assert_int_equal(query_column_from_string(NULL, _QUERY_COLUMN_MAX, &col), -EINVAL);
        assert_true(query_column_is_integer(QUERY_USERS));
        assert_false(query_column_is_integer(QUERY_CPU_RATIO));
        assert_null(query_column_to_string(_QUERY_COLUMN_MAX));
        assert_int_equal(store_errno(SQLITE_BUSY), -EBUSY);
        assert_int_equal(store_errno(SQLITE_CORRUPT), -EBADMSG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_agents),
                cmocka_unit_test(test_samples_trends),
                cmocka_unit_test(test_curves_bbb_netdev),
                cmocka_unit_test(test_window_plan),
                cmocka_unit_test(test_no_lingering_transaction),
                cmocka_unit_test(test_open_errors),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
