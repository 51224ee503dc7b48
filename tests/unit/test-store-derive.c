/* Unit tests of daemon/store/store-derive.c alone (no SQLite): rates from the previous row, and the hourly
 * trend and per-participant curve deltas that the store's aggregate flush writes. */

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/store.h"
#include "daemon/store/store-derive.h"

/* cmocka's assert_near() lets NAN through (NAN > epsilon is false): a NAN here is a wrong rate. */
#define assert_near(a, b, eps) assert_true(fabs((double)(a) - (double)(b)) <= (eps))

#define HOUR_MS (3600LL * 1000)
#define T0 (1700000000000LL - 1700000000000LL % HOUR_MS) /* the start of an hour */

/* A row at time_ms with every value unknown, as the store builds one from a sample that says nothing. */
static Row row_at(int64_t time_ms)
{
        Row r = { .time_ms = time_ms, .users = -1, .listeners = -1, .voice = -1, .video = -1, .epoch = 1 };

        for (int i = 0; i < _R_MAX; i++)
                r.rate[i] = NAN;
        for (int i = 0; i < _G_MAX; i++)
                r.gauge[i] = -1;
        for (int i = 0; i < _C_MAX; i++)
                r.counter[i] = -1;
        return r;
}

static Prev prev_of(const Row *r, int n_net)
{
        Prev p = { .valid = true, .time_ms = r->time_ms, .n_net = n_net };

        memcpy(p.counter, r->counter, sizeof(p.counter));
        return p;
}

static void test_rates(void **state)
{
        Row a = row_at(T0), b = row_at(T0 + 2000);
        Prev p;

        (void)state;
        a.counter[C_CPU_USAGE] = 1000000;
        b.counter[C_CPU_USAGE] = 4000000; /* 3 s of CPU in 2 s: 1.5 cores */
        a.counter[C_IO_READ] = 100;
        b.counter[C_IO_READ] = 2100;
        a.counter[C_NET_RX] = 0;
        b.counter[C_NET_RX] = 4000;
        a.counter[C_NR_PERIODS] = b.counter[C_NR_PERIODS] = 50; /* no CFS period ran: not throttled */
        a.counter[C_NR_THROTTLED] = b.counter[C_NR_THROTTLED] = 7;
        p = prev_of(&a, 1);

        derive_rates(&b, &p, 1, 2.0);
        assert_near(b.rate[R_CPU_CORES], 1.5, 1e-9);
        assert_near(b.rate[R_CPU_RATIO], 0.75, 1e-9);
        assert_near(b.rate[R_IO_READ], 1000, 1e-9);
        assert_near(b.rate[R_NET_RX], 2000, 1e-9);
        assert_near(b.rate[R_THROTTLED_RATIO], 0, 0);
        assert_true(isnan(b.rate[R_IO_WRITE])); /* unknown on both sides */
        assert_true(isnan(b.rate[R_STEAL_RATIO]));

        /* Unknown CPUs: cores but no ratio. Another set of interfaces: no network rate. */
        derive_rates(&b, &p, 2, NAN);
        assert_near(b.rate[R_CPU_CORES], 1.5, 1e-9);
        assert_true(isnan(b.rate[R_CPU_RATIO]));
        assert_true(isnan(b.rate[R_NET_RX]));

        /* A counter that went back was reset: no rate for that interval. */
        b.counter[C_CPU_USAGE] = 10;
        derive_rates(&b, &p, 1, 2.0);
        assert_true(isnan(b.rate[R_CPU_CORES]));

        /* No rate over a gap longer than STORE_RATE_GAP_MAX_MS, nor without a previous row. */
        b = row_at(T0 + STORE_RATE_GAP_MAX_MS + 1);
        b.counter[C_IO_READ] = 200;
        derive_rates(&b, &p, 1, 2.0);
        assert_true(isnan(b.rate[R_IO_READ]));
        p.valid = false;
        b.time_ms = T0 + 1000;
        derive_rates(&b, &p, 1, 2.0);
        assert_true(isnan(b.rate[R_IO_READ]));
}

static void test_trends(void **state)
{
        TrendDeltas t = { 0 };
        Row r;

        (void)state;
        for (int i = 0; i < 3; i++) {
                r = row_at(T0 + i * 1000);
                r.rate[R_CPU_RATIO] = 0.1 * (i + 1);
                r.gauge[G_MEMORY] = i == 1 ? -1 : 1000 * (i + 1); /* one unknown memory */
                assert_int_equal(derive_trend_add(&t, &r), 0);
        }
        r = row_at(T0 + HOUR_MS + 5);
        r.users = 4;
        assert_int_equal(derive_trend_add(&t, &r), 0);

        assert_int_equal(t.n, 2);
        assert_int_equal(t.d[0].hour_ms, T0);
        assert_int_equal(t.d[0].n, 3);
        assert_int_equal(t.d[0].col[T_CPU_RATIO].n, 3);
        assert_near(t.d[0].col[T_CPU_RATIO].min, 0.1, 1e-12);
        assert_near(t.d[0].col[T_CPU_RATIO].max, 0.3, 1e-12);
        assert_near(t.d[0].col[T_CPU_RATIO].sum, 0.6, 1e-12);
        assert_int_equal(t.d[0].col[T_MEMORY].n, 2);
        assert_near(t.d[0].col[T_MEMORY].sum, 4000, 0);
        assert_int_equal(t.d[0].col[T_USERS].n, 0);
        assert_int_equal(t.d[1].hour_ms, T0 + HOUR_MS);
        assert_int_equal(t.d[1].col[T_USERS].n, 1);
        assert_near(t.d[1].col[T_USERS].max, 4, 0);

        derive_trends_clear(&t);
        assert_int_equal(t.n, 0);
        derive_trends_free(&t);
        assert_null(t.d);
}

static void test_curves(void **state)
{
        CurveDeltas c = { 0 };
        Row r;

        (void)state;
        /* Without a participant count a row is in no curve. */
        r = row_at(T0);
        r.rate[R_CPU_RATIO] = 0.5;
        assert_int_equal(derive_curve_add(&c, &r), 0);
        assert_int_equal(c.n, 0);

        /* Same hour, epoch, count and mix: one delta. */
        r.users = 10;
        r.listeners = 6;
        r.voice = 3;
        r.video = 1;
        assert_int_equal(derive_curve_add(&c, &r), 0);
        r.time_ms += 1000;
        r.rate[R_CPU_RATIO] = 0.7;
        r.rate[R_STEAL_RATIO] = 0.05; /* steal is a curve of its own */
        assert_int_equal(derive_curve_add(&c, &r), 0);
        assert_int_equal(c.n, 1);
        assert_int_equal(c.d[0].m[CURVE_STEAL_RATIO].n, 1);
        assert_near(c.d[0].m[CURVE_STEAL_RATIO].sum, 0.05, 1e-12);
        assert_int_equal(c.d[0].m[CURVE_CPU_RATIO].n, 2);
        assert_near(c.d[0].m[CURVE_CPU_RATIO].sum, 1.2, 1e-12);
        assert_near(c.d[0].m[CURVE_CPU_RATIO].sumsq, 0.74, 1e-12);
        assert_near(c.d[0].m[CURVE_CPU_RATIO].max, 0.7, 1e-12);
        assert_int_equal(curve_hist_count(c.d[0].m[CURVE_CPU_RATIO].hist), 2);
        assert_int_equal(c.d[0].m[CURVE_CPU_CORES].n, 0); /* unknown values are not counted */

        /* A partly known mix is no mix; another epoch is another delta. */
        r.video = -1;
        assert_int_equal(derive_curve_add(&c, &r), 0);
        assert_int_equal(c.n, 2);
        assert_int_equal(c.d[1].listeners, -1);
        assert_int_equal(c.d[1].voice, -1);
        r.epoch = 2;
        assert_int_equal(derive_curve_add(&c, &r), 0);
        assert_int_equal(c.n, 3);
        assert_int_equal(c.d[2].epoch, 2);

        derive_curves_clear(&c);
        assert_int_equal(c.n, 0);
        derive_curves_free(&c);
        assert_null(c.d);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rates),
                cmocka_unit_test(test_trends),
                cmocka_unit_test(test_curves),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
