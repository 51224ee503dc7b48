/* daemon/live.c: the newest committed sample per agent, shared between the ingest loop and the HTTP
 * threads. What the store publishes is checked against the database in test-store.c; here the table's
 * own rules: newer wins, a database read never replaces a publish, growth, the size cap, retention, and
 * readers running against a writer. */

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>

#include <cmocka.h>

#include "daemon/live.h"

static QuerySample sample_at(int64_t time_ms)
{
        QuerySample s = {.time_ms = time_ms, .seq = time_ms};

        for (int c = 0; c < _QUERY_COLUMN_MAX; c++)
                s.v[c] = (double)time_ms + c;
        return s;
}

static int64_t newest(Live *l, const char *id)
{
        QuerySample s;
        int64_t num;
        bool has;

        if (live_get(l, id, &num, &s, &has) <= 0)
                return -2;
        return has ? s.time_ms : -1;
}

static void test_rules(void **state)
{
        _cleanup_(live_freep) Live *l = NULL;
        QuerySample s = sample_at(100), got;
        int64_t num;
        bool has;

        assert_int_equal(live_new(&l), 0);
        assert_int_equal(newest(l, "a"), -2); /* unknown */

        /* A database read of an agent without samples, then its first publish. */
        assert_int_equal(live_offer(l, "a", 7, NULL), 0);
        assert_int_equal(live_get(l, "a", &num, &got, &has), 1);
        assert_int_equal(num, 7);
        assert_false(has);
        assert_int_equal(live_publish(l, "a", 7, &s), 0);
        assert_int_equal(live_get(l, "a", &num, &got, &has), 1);
        assert_true(has);
        assert_memory_equal(&got, &s, sizeof(s));

        /* A late database read (older or not) never replaces what was published. */
        s = sample_at(50);
        assert_int_equal(live_offer(l, "a", 7, &s), 0);
        assert_int_equal(newest(l, "a"), 100);
        s = sample_at(500);
        assert_int_equal(live_offer(l, "a", 7, &s), 0);
        assert_int_equal(newest(l, "a"), 100);

        /* A backfill (older) publish keeps the newest; a newer one replaces it. */
        s = sample_at(90);
        assert_int_equal(live_publish(l, "a", 7, &s), 0);
        assert_int_equal(newest(l, "a"), 100);
        s = sample_at(101);
        assert_int_equal(live_publish(l, "a", 7, &s), 0);
        assert_int_equal(newest(l, "a"), 101);

        /* An offer for an agent not here yet is taken. */
        s = sample_at(42);
        assert_int_equal(live_offer(l, "b", 8, &s), 0);
        assert_int_equal(newest(l, "b"), 42);

        /* Retention: older samples go, the agents stay known. */
        live_forget_before(l, 100);
        assert_int_equal(newest(l, "b"), -1);
        assert_int_equal(newest(l, "a"), 101);

        assert_int_equal(live_offer(l, "x-too-long-x-too-long-x-too-long-x-too-long-x-too-long-x-too-long-x", 1,
                                    NULL),
                         -EINVAL);
}

static void test_many(void **state)
{
        _cleanup_(live_freep) Live *l = NULL;
        char id[32];
        int64_t num;
        QuerySample s;
        bool has;

        assert_int_equal(live_new(&l), 0);
        for (int i = 0; i < LIVE_AGENTS_MAX; i++) {
                (void)snprintf(id, sizeof(id), "agent-%d", i);
                s = sample_at(i);
                assert_int_equal(live_publish(l, id, i, &s), 0);
        }
        s = sample_at(0);
        assert_int_equal(live_publish(l, "one-too-many", 1, &s), -ENOSPC);
        assert_int_equal(newest(l, "one-too-many"), -2);
        for (int i = 0; i < LIVE_AGENTS_MAX; i += 997) {
                (void)snprintf(id, sizeof(id), "agent-%d", i);
                assert_int_equal(live_get(l, id, &num, &s, &has), 1);
                assert_int_equal(num, i);
                assert_int_equal(s.time_ms, i);
        }
}

/* One writer publishing ever newer samples to a few agents, two readers: every read is whole (all
 * columns from one sample) and never goes back in time. */
#define RACE_AGENTS 8
#define RACE_ROUNDS 20000

static void *reader(void *userdata)
{
        Live *l = userdata;
        int64_t last[RACE_AGENTS] = {0};
        char id[16];

        for (int round = 0; round < RACE_ROUNDS; round++) {
                int a = round % RACE_AGENTS;
                QuerySample s;
                int64_t num;
                bool has;

                (void)snprintf(id, sizeof(id), "r%d", a);
                if (live_get(l, id, &num, &s, &has) <= 0 || !has)
                        continue;
                if (s.time_ms < last[a] || s.seq != s.time_ms)
                        return (void *)1;
                for (int c = 0; c < _QUERY_COLUMN_MAX; c++)
                        if (s.v[c] != (double)s.time_ms + c)
                                return (void *)1;
                last[a] = s.time_ms;
        }
        return NULL;
}

static void test_readers_and_writer(void **state)
{
        _cleanup_(live_freep) Live *l = NULL;
        pthread_t t[2];
        void *ret;
        char id[16];

        assert_int_equal(live_new(&l), 0);
        for (int i = 0; i < 2; i++)
                assert_int_equal(pthread_create(&t[i], NULL, reader, l), 0);
        for (int round = 1; round <= RACE_ROUNDS; round++) {
                QuerySample s = sample_at(round);

                (void)snprintf(id, sizeof(id), "r%d", round % RACE_AGENTS);
                assert_int_equal(live_publish(l, id, round % RACE_AGENTS, &s), 0);
        }
        for (int i = 0; i < 2; i++) {
                assert_int_equal(pthread_join(t[i], &ret), 0);
                assert_null(ret);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rules),
                cmocka_unit_test(test_many),
                cmocka_unit_test(test_readers_and_writer),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
