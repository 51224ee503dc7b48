/* greedy_realloc() and GREEDY_REALLOC(): how the allocation grows, that contents survive growth, and
 * that overflowing sizes fail cleanly and leave the array as it was. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "util.h"

static void test_grow_from_empty(void **state)
{
        _cleanup_free_ uint64_t *a = NULL;
        size_t allocated = 0;

        /* Nothing needed, nothing allocated. */
        assert_int_equal(GREEDY_REALLOC(a, allocated, 0), 0);
        assert_null(a);
        assert_int_equal(allocated, 0);

        /* At least 64 bytes' worth at once. */
        assert_int_equal(GREEDY_REALLOC(a, allocated, 1), 0);
        assert_non_null(a);
        assert_int_equal(allocated, 64 / sizeof(uint64_t));
}

static void test_doubling(void **state)
{
        _cleanup_free_ uint64_t *a = NULL;
        size_t n = 0, allocated = 0, reallocs = 0;

        /* Appending one at a time: contents are kept, the allocation doubles, reallocations are few. */
        for (uint64_t i = 0; i < 10000; i++) {
                size_t before = allocated;

                assert_int_equal(GREEDY_REALLOC(a, allocated, n + 1), 0);
                assert_true(allocated >= n + 1);
                if (allocated != before) {
                        reallocs++;
                        if (before > 0)
                                assert_int_equal(allocated, 2 * before);
                }
                a[n++] = i;
        }
        for (size_t i = 0; i < n; i++)
                assert_int_equal(a[i], i);
        assert_true(reallocs <= 12);
}

static void test_need_beyond_double(void **state)
{
        _cleanup_free_ char *b = NULL;
        size_t allocated = 0;

        assert_int_equal(GREEDY_REALLOC(b, allocated, 100), 0);
        assert_int_equal(allocated, 100);
        /* Less than twice: doubles. */
        assert_int_equal(GREEDY_REALLOC(b, allocated, 101), 0);
        assert_int_equal(allocated, 200);
        /* More than twice: exactly what is needed. */
        assert_int_equal(GREEDY_REALLOC(b, allocated, 1000), 0);
        assert_int_equal(allocated, 1000);
        /* Already fits: unchanged. */
        assert_int_equal(GREEDY_REALLOC(b, allocated, 1000), 0);
        assert_int_equal(GREEDY_REALLOC(b, allocated, 3), 0);
        assert_int_equal(allocated, 1000);
}

static void test_large_elements(void **state)
{
        struct {
                char x[100];
        } *a = NULL;
        size_t allocated = 0;

        /* Elements larger than 64 bytes: one at first, then doubling. */
        assert_int_equal(GREEDY_REALLOC(a, allocated, 1), 0);
        assert_int_equal(allocated, 1);
        assert_int_equal(GREEDY_REALLOC(a, allocated, 2), 0);
        assert_int_equal(allocated, 2);
        assert_int_equal(GREEDY_REALLOC(a, allocated, 3), 0);
        assert_int_equal(allocated, 4);
        free(a);
}

static void test_overflow(void **state)
{
        _cleanup_free_ uint64_t *a = NULL;
        uint64_t *old;
        size_t allocated = 0;
        void *p;

        assert_int_equal(GREEDY_REALLOC(a, allocated, 4), 0);
        a[3] = 42;
        old = a;

        /* need * size overflows: -ENOMEM, array and count unchanged. */
        assert_int_equal(GREEDY_REALLOC(a, allocated, SIZE_MAX / sizeof(uint64_t) + 1), -ENOMEM);
        assert_ptr_equal(a, old);
        assert_int_equal(allocated, 8);
        assert_int_equal(GREEDY_REALLOC(a, allocated, SIZE_MAX), -ENOMEM);
        assert_ptr_equal(a, old);
        assert_int_equal(allocated, 8);
        assert_int_equal(a[3], 42);

        /* The function itself, with a count whose double would overflow and a need that cannot be met. */
        p = NULL;
        allocated = SIZE_MAX / 2 + 1;
        assert_int_equal(greedy_realloc(&p, &allocated, SIZE_MAX, 2), -ENOMEM);
        assert_null(p);
        assert_int_equal(allocated, SIZE_MAX / 2 + 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_grow_from_empty),
                cmocka_unit_test(test_doubling),
                cmocka_unit_test(test_need_beyond_double),
                cmocka_unit_test(test_large_elements),
                cmocka_unit_test(test_overflow),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
