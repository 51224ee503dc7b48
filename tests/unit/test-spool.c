/* Unit tests of agent/spool.c: bounds, order, acknowledgements, the file and its recovery. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "spool.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
        snprintf(dir, sizeof(dir), "/tmp/test-spool-XXXXXX");
        if (!mkdtemp(dir))
                return -1;
        snprintf(path, sizeof(path), "%s/a.spool", dir);
        return 0;
}

static int teardown(void **state)
{
        char p[160];

        snprintf(p, sizeof(p), "%s/a.spool", dir);
        (void)unlink(p);
        snprintf(p, sizeof(p), "%s/a.spool.lock", dir);
        (void)unlink(p);
        snprintf(p, sizeof(p), "%s/a.spool.tmp", dir);
        (void)unlink(p);
        return rmdir(dir);
}

/* A payload that says which sample it is. */
static void payload(uint64_t seq, char *buf, size_t size)
{
        snprintf(buf, size, "sample-%" PRIu64, seq);
}

static void append_n(Spool *s, uint64_t from, uint64_t to)
{
        for (uint64_t seq = from; seq <= to; seq++) {
                char buf[32];
                payload(seq, buf, sizeof(buf));
                assert_int_equal(spool_append(s, seq, (int64_t)seq * 1000, buf, strlen(buf)), 0);
        }
}

static void check_range(Spool *s, uint64_t first, uint64_t last)
{
        assert_int_equal(spool_count(s), last - first + 1);
        for (size_t i = 0; i < spool_count(s); i++) {
                SpoolEntry e;
                char buf[32];

                spool_get(s, i, &e);
                assert_int_equal(e.seq, first + i);
                assert_true(e.time_ms == (int64_t)(first + i) * 1000);
                payload(e.seq, buf, sizeof(buf));
                assert_int_equal(e.size, strlen(buf));
                assert_memory_equal(e.data, buf, e.size);
        }
}

static void test_memory_bounds(void **state)
{
        _cleanup_(spool_freep) Spool *s = NULL;
        char big[SPOOL_RECORD_MAX + 1] = {0};

        assert_int_equal(spool_open(NULL, 10, 0, &s), 0);
        append_n(s, 1, 25);
        check_range(s, 16, 25);
        assert_int_equal(spool_dropped(s), 15);
        assert_int_equal(spool_last_seq(s), 25);

        assert_int_equal(spool_append(s, 25, 0, "x", 1), -EINVAL); /* not increasing */
        assert_int_equal(spool_append(s, 26, 0, big, sizeof(big)), -EMSGSIZE);
        check_range(s, 16, 25);
        assert_int_equal(spool_find_after(s, 0), 0);
        assert_int_equal(spool_find_after(s, 17), 2);
        assert_int_equal(spool_find_after(s, 25), 10);
        assert_int_equal(spool_open(NULL, SPOOL_MAX_SAMPLES_LIMIT + 1, 0, &s), -ERANGE);
}

static void test_byte_bound(void **state)
{
        _cleanup_(spool_freep) Spool *s = NULL;
        static char blob[SPOOL_RECORD_MAX];

        /* Room for two full-size samples: the third pushes out the first. */
        assert_int_equal(spool_open(NULL, 100, 2 * SPOOL_RECORD_MAX, &s), 0);
        for (uint64_t seq = 1; seq <= 3; seq++)
                assert_int_equal(spool_append(s, seq, (int64_t)seq, blob, sizeof(blob)), 0);
        assert_int_equal(spool_count(s), 2);
        assert_int_equal(spool_dropped(s), 1);
        assert_true(spool_bytes(s) <= 2 * SPOOL_RECORD_MAX);
}

static void test_ack(void **state)
{
        _cleanup_(spool_freep) Spool *s = NULL;

        assert_int_equal(spool_open(NULL, 0, 0, &s), 0);
        append_n(s, 1, 10);
        assert_int_equal(spool_ack(s, 3), 3);
        check_range(s, 4, 10);
        assert_int_equal(spool_ack(s, 5), 2);
        check_range(s, 6, 10);
        assert_int_equal(spool_ack(s, 2), 0); /* already gone */
        assert_int_equal(spool_ack(s, 0), 0); /* says nothing */
        assert_int_equal(spool_ack(s, 100000), 5);
        assert_int_equal(spool_count(s), 0);
        assert_int_equal(spool_dropped(s), 0);
        append_n(s, 11, 12);
        check_range(s, 11, 12);
}

static void test_reload(void **state)
{
        _cleanup_(spool_freep) Spool *s = NULL;
        uint64_t stream;

        assert_int_equal(spool_open(path, 0, 0, &s), 0);

        append_n(s, 1, 100);
        stream = spool_stream(s);
        assert_true(stream != 0);
        assert_int_equal(spool_ack(s, 30), 30);
        assert_int_equal(spool_open(path, 0, 0, &s), -EBUSY); /* one process per spool */
        s = spool_free(s);

        assert_int_equal(spool_open(path, 0, 0, &s), 0);
        assert_int_equal(spool_stream(s), stream); /* the stream is the file's */
        check_range(s, 31, 100);
        assert_int_equal(spool_last_seq(s), 100);
        assert_int_equal(spool_torn_bytes(s), 0);
        assert_int_equal(spool_append(s, 100, 0, "x", 1), -EINVAL);
        append_n(s, 101, 110);
        /* Everything acknowledged: the sequence number must survive all the same. */
        assert_int_equal(spool_ack(s, 110), 80);
        s = spool_free(s);

        assert_int_equal(spool_open(path, 0, 0, &s), 0);
        assert_int_equal(spool_count(s), 0);
        assert_int_equal(spool_last_seq(s), 110);
        assert_int_equal(spool_bump_seq(s, 500), 0);
        s = spool_free(s);

        assert_int_equal(spool_open(path, 0, 0, &s), 0);
        assert_int_equal(spool_last_seq(s), 500);
        append_n(s, 501, 501);
        check_range(s, 501, 501);

        /* Reopened with a smaller bound: the newest survive, the rest count as dropped. */
        append_n(s, 502, 520);
        s = spool_free(s);
        assert_int_equal(spool_open(path, 5, 0, &s), 0);
        check_range(s, 516, 520);
        assert_int_equal(spool_dropped(s), 15);
}

static void test_torn_tail(void **state)
{
        _cleanup_(spool_freep) Spool *s = NULL;
        struct stat st;
        int fd;

        assert_int_equal(spool_open(path, 0, 0, &s), 0);
        append_n(s, 1, 10);
        s = spool_free(s);

        /* A crash in the middle of the last write: the record is cut short. */
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(truncate(path, st.st_size - 5), 0);
        assert_int_equal(spool_open(path, 0, 0, &s), 0);
        check_range(s, 1, 9);
        assert_true(spool_torn_bytes(s) > 0);
        append_n(s, 10, 12); /* the file goes on cleanly after the cut */
        s = spool_free(s);

        assert_int_equal(spool_open(path, 0, 0, &s), 0);
        check_range(s, 1, 12);
        assert_int_equal(spool_torn_bytes(s), 0);
        s = spool_free(s);

        /* A flipped byte in the last record: its checksum fails, only it is lost. */
        assert_int_equal(stat(path, &st), 0);
        fd = open(path, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pwrite(fd, "#", 1, st.st_size - 2), 1);
        close(fd);
        assert_int_equal(spool_open(path, 0, 0, &s), 0);
        check_range(s, 1, 11);
        s = spool_free(s);

        /* Garbage length at the tail. */
        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "\xff\xff\xff\xff\0\0\0\0xyz", 11), 11);
        close(fd);
        assert_int_equal(spool_open(path, 0, 0, &s), 0);
        check_range(s, 1, 11);
        assert_int_equal(spool_torn_bytes(s), 11);
}

static void test_not_a_spool(void **state)
{
        _cleanup_(spool_freep) Spool *s = NULL;
        int fd;

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "hello world\n", 12), 12);
        close(fd);
        assert_int_equal(spool_open(path, 0, 0, &s), -EBADMSG);

        /* A header torn at creation is started afresh. */
        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "SMSP", 4), 4);
        close(fd);
        assert_int_equal(spool_open(path, 0, 0, &s), 0);
        assert_int_equal(spool_count(s), 0);
}

static void test_compaction(void **state)
{
        _cleanup_(spool_freep) Spool *s = NULL;
        static char blob[2000];
        uint64_t seq, stream;

        assert_int_equal(spool_open(path, 0, 0, &s), 0);
        stream = spool_stream(s);
        /* Streaming with acks: the file must not grow without bound. */
        for (seq = 1; seq <= 3000; seq++) {
                memset(blob, (int)(seq & 0xff), sizeof(blob));
                assert_int_equal(spool_append(s, seq, (int64_t)seq, blob, sizeof(blob)), 0);
                if (seq % 10 == 0)
                        assert_true(spool_ack(s, seq - 2) >= 0);
        }
        assert_true(spool_compactions(s) > 0);
        assert_true(spool_file_size(s) < 2 * SPOOL_COMPACT_MIN);
        assert_int_equal(spool_count(s), 2);
        s = spool_free(s);

        assert_int_equal(spool_open(path, 0, 0, &s), 0);
        assert_int_equal(spool_count(s), 2);
        assert_int_equal(spool_last_seq(s), 3000);
        assert_int_equal(spool_stream(s), stream); /* rewrites keep it */
        {
                SpoolEntry e;
                spool_get(s, 1, &e);
                assert_int_equal(e.seq, 3000);
                assert_int_equal(e.size, sizeof(blob));
                assert_int_equal(e.data[0], 3000 & 0xff);
        }

        /* A full spool (nothing acknowledged) keeps its file bounded too. */
        s = spool_free(s);
        assert_int_equal(spool_open(path, 100, 0, &s), 0);
        for (seq = 3001; seq <= 5000; seq++)
                assert_int_equal(spool_append(s, seq, (int64_t)seq, blob, sizeof(blob)), 0);
        assert_int_equal(spool_count(s), 100);
        assert_true(spool_file_size(s) < 2 * SPOOL_COMPACT_MIN + 100 * (sizeof(blob) + 64));
        s = spool_free(s);
        assert_int_equal(spool_open(path, 100, 0, &s), 0);
        assert_int_equal(spool_count(s), 100);
        {
                SpoolEntry e;
                spool_get(s, 0, &e);
                assert_int_equal(e.seq, 4901);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_memory_bounds),
                cmocka_unit_test(test_byte_bound),
                cmocka_unit_test(test_ack),
                cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
                cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_a_spool, setup, teardown),
                cmocka_unit_test_setup_teardown(test_compaction, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
