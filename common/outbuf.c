/* See outbuf.h. */

#include <sys/socket.h>

#include "outbuf.h"
#include "util.h"

int outbuf_reserve(OutBuf *b, size_t size, size_t max, uint8_t **ret)
{
        size_t pending = outbuf_pending(b);
        int r;

        assert(ret);

        if (size > max || pending > max - size)
                return -ENOBUFS;
        if (b->allocated - b->end < size) {
                /* Sent bytes make room first; the buffer grows only when that is not enough. */
                if (b->start > 0 && pending > 0)
                        memmove(b->data, b->data + b->start, pending);
                b->start = 0;
                b->end = pending;
                r = GREEDY_REALLOC_CAPPED(b->data, b->allocated, pending + size, max);
                if (r < 0)
                        return r == -E2BIG ? -ENOBUFS : r;
        }
        *ret = b->data + b->end;
        return 0;
}

void outbuf_commit(OutBuf *b, size_t size)
{
        assert(size <= b->allocated - b->end);
        b->end += size;
}

int outbuf_flush(OutBuf *b, int fd)
{
        while (b->end > b->start) {
                ssize_t n = send(fd, b->data + b->start, b->end - b->start, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        return negative_errno();
                }
                b->start += (size_t)n;
        }
        b->start = b->end = 0;
        return 0;
}

void outbuf_clear(OutBuf *b)
{
        b->start = b->end = 0;
}

void outbuf_done(OutBuf *b)
{
        free(b->data);
        *b = (OutBuf){.data = NULL};
}
