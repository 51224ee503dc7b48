/* The series bucket cache: exact-key hits, misses on any key change (the hour's sample count above
 * all), replacement, and no self-eviction within one series. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "daemon/series-cache.h"

static void test_get_put(void **state)
{
        _cleanup_(series_cache_freep) SeriesCache *c = NULL;
        SeriesKey k = {.agent_num = 1,
                       .step_ms = 60000,
                       .bucket_ms = 1700000040000LL,
                       .columns = 3,
                       .hour_n = 3600};
        SeriesBucket b = {.count = {60, 60}, .sum = {6, 120}}, got;
        uint64_t lookups, hits;

        assert_int_equal(series_cache_new(0, &c), -EINVAL);
        assert_int_equal(series_cache_new(64, &c), 0);
        assert_false(series_cache_get(c, &k, &got));
        series_cache_put(c, &k, &b);
        assert_true(series_cache_get(c, &k, &got));
        assert_memory_equal(&got, &b, sizeof(b));

        /* Any field of the key differs: a miss. A backfill in the hour changes hour_n. */
        SeriesKey k2 = k;
        k2.hour_n++;
        assert_false(series_cache_get(c, &k2, &got));
        k2 = k;
        k2.columns = 1;
        assert_false(series_cache_get(c, &k2, &got));
        k2 = k;
        k2.agent_num = 2;
        assert_false(series_cache_get(c, &k2, &got));
        series_cache_stats(c, &lookups, &hits);
        assert_int_equal(lookups, 5);
        assert_int_equal(hits, 1);

        /* Re-put with a new hour count replaces the old entry. */
        k2 = k;
        k2.hour_n = 3601;
        series_cache_put(c, &k2, &b);
        assert_true(series_cache_get(c, &k2, &got));
        assert_false(series_cache_get(c, &k, &got));

        /* NULL cache: nothing stored, nothing found. */
        series_cache_put(NULL, &k, &b);
        assert_false(series_cache_get(NULL, &k, &got));
}

static void test_one_series_fits(void **state)
{
        _cleanup_(series_cache_freep) SeriesCache *c = NULL;
        SeriesBucket b = {.count = {1}}, got;
        const int n = 720;

        assert_int_equal(series_cache_new(1024, &c), 0);
        for (int i = 0; i < n; i++) {
                SeriesKey k = {.agent_num = 7,
                               .step_ms = 120000,
                               .bucket_ms = 1699999200000LL + i * 120000LL,
                               .columns = 1,
                               .hour_n = 3600};
                b.sum[0] = i;
                series_cache_put(c, &k, &b);
        }
        for (int i = 0; i < n; i++) {
                SeriesKey k = {.agent_num = 7,
                               .step_ms = 120000,
                               .bucket_ms = 1699999200000LL + i * 120000LL,
                               .columns = 1,
                               .hour_n = 3600};
                assert_true(series_cache_get(c, &k, &got));
                assert_true(got.sum[0] == i);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_get_put),
                cmocka_unit_test(test_one_series_fits),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
