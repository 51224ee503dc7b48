/* The output queue (common/outbuf.c) over a real unix socket pair: every byte arrives once and in order
 * while the socket fills and drains, the cap refuses a peer that does not read, and a vanished peer is
 * an error. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/socket.h>
#include <unistd.h>

#include "outbuf.h"

#define CHUNK 1000

/* Queues CHUNK bytes numbered from *next. */
static int queue_chunk(OutBuf *b, size_t max, uint32_t *next)
{
        uint8_t *p;
        int r;

        r = outbuf_reserve(b, CHUNK, max, &p);
        if (r < 0)
                return r;
        for (size_t i = 0; i < CHUNK; i++)
                p[i] = (uint8_t)((*next)++ % 251);
        outbuf_commit(b, CHUNK);
        return 0;
}

/* Reads what is there without blocking and checks it continues the numbering at *next. */
static size_t drain(int fd, uint32_t *next)
{
        uint8_t buf[4096];
        size_t total = 0;
        ssize_t n;

        while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
                for (ssize_t i = 0; i < n; i++)
                        assert_int_equal(buf[i], (*next)++ % 251);
                total += (size_t)n;
        }
        return total;
}

static void test_fill_and_drain(void **state)
{
        OutBuf b = {.data = NULL};
        uint32_t written = 0, read = 0;
        int sv[2], sndbuf = 4096;
        bool full = false;

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
        assert_int_equal(outbuf_pending(&b), 0);
        assert_int_equal(outbuf_flush(&b, sv[0]), 0); /* nothing to send */

        /* Until the socket is full, everything goes out at once. */
        for (int i = 0; i < 1000 && !full; i++) {
                assert_int_equal(queue_chunk(&b, 64 * 1024, &written), 0);
                assert_int_equal(outbuf_flush(&b, sv[0]), 0);
                full = outbuf_pending(&b) > 0;
        }
        assert_true(full);

        /* The peer does not read: the queue grows up to its cap, then refuses without changing. */
        for (;;) {
                size_t before = outbuf_pending(&b);
                int r = queue_chunk(&b, 64 * 1024, &written);

                if (r < 0) {
                        assert_int_equal(r, -ENOBUFS);
                        assert_int_equal(outbuf_pending(&b), before);
                        break;
                }
                assert_true(outbuf_pending(&b) <= 64 * 1024);
        }
        assert_true(b.allocated <= 64 * 1024);

        /* The peer reads: partial sends, then room again (sent bytes are reused, not grown into). */
        while (outbuf_pending(&b) > 0) {
                drain(sv[1], &read);
                assert_int_equal(outbuf_flush(&b, sv[0]), 0);
        }
        drain(sv[1], &read);
        assert_int_equal(read, written);
        assert_int_equal(b.start, 0);
        assert_int_equal(b.end, 0);

        /* An emptied queue takes more. */
        for (int i = 0; i < 2; i++)
                assert_int_equal(queue_chunk(&b, SIZE_MAX, &written), 0);
        assert_int_equal(outbuf_flush(&b, sv[0]), 0);
        drain(sv[1], &read);
        assert_int_equal(read, written);

        outbuf_clear(&b);
        assert_int_equal(outbuf_pending(&b), 0);
        outbuf_done(&b);
        assert_null(b.data);
        assert_int_equal(b.allocated, 0);
        close(sv[0]);
        close(sv[1]);
}

/* When sent bytes leave room at the front, the pending ones move there instead of the buffer growing,
 * and they still go out in order. */
static void test_compaction(void **state)
{
        OutBuf b = {.data = NULL};
        uint32_t written = 0, read = CHUNK;
        int sv[2];

        for (int i = 0; i < 3; i++)
                assert_int_equal(queue_chunk(&b, 3 * CHUNK, &written), 0);
        assert_int_equal(outbuf_pending(&b), 3 * CHUNK);
        assert_int_equal(b.allocated, 3 * CHUNK); /* grown to the cap, not past it */
        assert_int_equal(queue_chunk(&b, 3 * CHUNK, &written), -ENOBUFS);

        b.start += CHUNK; /* as a partial send leaves it: the first chunk went out */
        assert_int_equal(queue_chunk(&b, 3 * CHUNK, &written), 0);
        assert_int_equal(b.allocated, 3 * CHUNK);
        assert_int_equal(b.start, 0);
        assert_int_equal(outbuf_pending(&b), 3 * CHUNK);

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(outbuf_flush(&b, sv[0]), 0);
        assert_int_equal(outbuf_pending(&b), 0);
        drain(sv[1], &read);
        assert_int_equal(read, written);
        outbuf_done(&b);
        close(sv[0]);
        close(sv[1]);
}

static void test_peer_gone(void **state)
{
        OutBuf b = {.data = NULL};
        uint32_t written = 0;
        int sv[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        close(sv[1]);
        assert_int_equal(queue_chunk(&b, SIZE_MAX, &written), 0);
        assert_int_equal(outbuf_flush(&b, sv[0]), -EPIPE); /* and no SIGPIPE */
        assert_int_equal(outbuf_pending(&b), CHUNK);
        assert_int_equal(queue_chunk(&b, CHUNK, &written), -ENOBUFS);
        assert_int_equal(queue_chunk(&b, 0, &written), -ENOBUFS);
        outbuf_done(&b);
        close(sv[0]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fill_and_drain),
                cmocka_unit_test(test_compaction),
                cmocka_unit_test(test_peer_gone),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
