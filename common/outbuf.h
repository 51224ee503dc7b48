#pragma once
/* The output queue of a non-blocking stream socket: bytes are written into it (frames encoded in place),
 * then sent as far as the socket takes them; the rest waits for the next EPOLLOUT. Used by the agent's
 * link and by the daemon's ingest connections. A zeroed OutBuf is an empty queue. */

#include <stddef.h>
#include <stdint.h>

#include "macro.h"

typedef struct OutBuf {
        uint8_t *data;
        size_t start, end; /* what is pending: data[start..end) */
        size_t allocated;
} OutBuf;

/* Bytes queued and not yet sent. */
static inline size_t outbuf_pending(const OutBuf *b)
{
        return b->end - b->start;
}

/* Room for size more bytes after those pending, with at most max bytes pending then. Returns 0 and the
 * place in *ret (write there, then call outbuf_commit()); -ENOBUFS when more than max bytes would be
 * pending (a peer that does not read); -ENOMEM. Nothing changes on failure. */
int outbuf_reserve(OutBuf *b, size_t size, size_t max, uint8_t **ret);

/* Queues the size bytes written at the place outbuf_reserve() gave (size at most what was reserved). */
void outbuf_commit(OutBuf *b, size_t size);

/* Sends what is pending on fd until it is all sent or the socket would block. Returns 0 in both cases
 * (outbuf_pending() tells which), or the -errno of the failed send (-EPIPE, -ECONNRESET, ...). */
int outbuf_flush(OutBuf *b, int fd);

/* Drops what is pending (the connection it was for is gone); the memory is kept for the next one. */
void outbuf_clear(OutBuf *b);

/* Frees the memory; b is an empty queue afterwards. */
void outbuf_done(OutBuf *b);
