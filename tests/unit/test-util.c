/* greedy_realloc(), GREEDY_REALLOC() and their capped forms: how the allocation grows, that contents
 * survive growth, that a cap is never passed, and that overflowing sizes fail cleanly and leave the array
 * as it was; read_full_file_at() at its size limit. */

#include <setjmp.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

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

static void test_capped(void **state)
{
        _cleanup_free_ uint32_t *a = NULL;
        size_t n = 0, allocated = 0;
        uint32_t *old;

        /* Grows as the uncapped form does, and to exactly the cap at the end, never above it. */
        for (uint32_t i = 0; i < 1000; i++) {
                assert_int_equal(GREEDY_REALLOC_CAPPED(a, allocated, n + 1, 1000), 0);
                assert_true(allocated >= n + 1);
                assert_true(allocated <= 1000);
                a[n++] = i;
        }
        assert_int_equal(allocated, 1000);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(a[i], i);

        /* One more than the cap: -E2BIG, array and count unchanged. */
        old = a;
        assert_int_equal(GREEDY_REALLOC_CAPPED(a, allocated, 1001, 1000), -E2BIG);
        assert_ptr_equal(a, old);
        assert_int_equal(allocated, 1000);
        assert_int_equal(a[999], 999);
        /* What is already there is enough, whatever the cap. */
        assert_int_equal(GREEDY_REALLOC_CAPPED(a, allocated, 10, 5), 0);
        assert_int_equal(allocated, 1000);
}

static void test_capped_small(void **state)
{
        _cleanup_free_ char *b = NULL;
        size_t allocated = 0;

        /* The 64-byte minimum gives way to a smaller cap. */
        assert_int_equal(GREEDY_REALLOC_CAPPED(b, allocated, 1, 3), 0);
        assert_int_equal(allocated, 3);
        assert_int_equal(GREEDY_REALLOC_CAPPED(b, allocated, 4, 3), -E2BIG);
        assert_int_equal(allocated, 3);
        /* Overflowing element counts still fail with -ENOMEM when the cap allows them. */
        assert_int_equal(greedy_realloc((void **)&b, &allocated, SIZE_MAX / 2 + 1, 2), -ENOMEM);
        assert_int_equal(allocated, 3);
}

/* A file of max bytes is read whole; one byte more is -EFBIG, also past the first 4 KiB buffer. */
static void test_read_limit(void **state)
{
        char dir[] = "/tmp/test-util-XXXXXX", path[64];
        static char data[10000];
        _cleanup_free_ char *got = NULL;
        size_t size = 0;
        int fd;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/f", dir);
        memset(data, 'x', sizeof(data));
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
        close(fd);

        for (size_t extra = 0; extra < 2; extra++) {
                assert_int_equal(read_full_file_at(AT_FDCWD, path, sizeof(data) + extra, &got, &size), 0);
                assert_int_equal(size, sizeof(data));
                assert_int_equal(strlen(got), sizeof(data));
                free(got);
                got = NULL;
        }
        assert_int_equal(read_full_file_at(AT_FDCWD, path, sizeof(data) - 1, &got, &size), -EFBIG);
        assert_null(got);
        assert_int_equal(read_full_file_at(AT_FDCWD, path, 100, &got, &size), -EFBIG);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_grow_from_empty),
                cmocka_unit_test(test_doubling),
                cmocka_unit_test(test_need_beyond_double),
                cmocka_unit_test(test_large_elements),
                cmocka_unit_test(test_overflow),
                cmocka_unit_test(test_capped),
                cmocka_unit_test(test_capped_small),
                cmocka_unit_test(test_read_limit),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
