/* The delimited framing of the wire protocol. See frame.h.
 *
 * The decoder keeps one contiguous buffer [start, end) of undecoded bytes. Frames are unpacked straight
 * out of it (protobuf-c copies what it keeps), so a complete frame costs no extra copy. The buffer is
 * compacted (moved to the front) before it would grow, and given back when a burst has passed, so a
 * stream of any length runs in memory bounded by the largest frame. */

#include "frame.h"

/* Frame field numbers of the oneof, and SampleBatch.samples: used to wrap packed samples by hand. */
#define TAG_LEN(field) ((uint8_t)(((field) << 3) | 2))
#define FRAME_FIELD_SAMPLE 2
#define FRAME_FIELD_BATCH 3
#define BATCH_FIELD_SAMPLES 1

#define DECODER_INITIAL_ALLOC (16 * 1024)
#define DECODER_KEEP_ALLOC (64 * 1024) /* a larger buffer is given back once it is empty */

struct FrameDecoder {
        uint8_t *buf;
        size_t start, end, alloc;
        size_t max_frame;
        size_t max_pending;
        int error; /* sticky: 0, -EMSGSIZE or -EBADMSG */
};

size_t frame_varint_size(uint64_t v)
{
        size_t n = 1;

        while (v >= 0x80) {
                v >>= 7;
                n++;
        }
        return n;
}

size_t frame_varint_encode(uint64_t v, uint8_t *buf)
{
        size_t n = 0;

        while (v >= 0x80) {
                buf[n++] = (uint8_t)(v | 0x80);
                v >>= 7;
        }
        buf[n++] = (uint8_t)v;
        return n;
}

int frame_varint_decode(const uint8_t *buf, size_t size, uint64_t *ret_value, size_t *ret_len)
{
        uint64_t v = 0;

        for (size_t i = 0; i < FRAME_VARINT_MAX; i++) {
                if (i >= size)
                        return 0;
                /* The tenth byte holds bit 63 only; anything more overflows 64 bits. */
                if (i == FRAME_VARINT_MAX - 1 && buf[i] > 1)
                        return -EBADMSG;
                v |= (uint64_t)(buf[i] & 0x7f) << (7 * i);
                if (!(buf[i] & 0x80)) {
                        *ret_value = v;
                        *ret_len = i + 1;
                        return 1;
                }
        }
        return -EBADMSG;
}

/* Unpacks one frame body. Returns 0 and the frame, or -EBADMSG. */
static int frame_unpack(const uint8_t *body, size_t size, Seatmeter__Frame **ret)
{
        Seatmeter__Frame *f;

        f = seatmeter__frame__unpack(NULL, size, body);
        if (!f)
                return -EBADMSG;
        /* C strings end at the first NUL: "agA\0x" would be read as "agA". What packs back to another
         * size was not read as sent (an embedded NUL, a field given twice, a padded varint): refused. */
        if (f->msg_case == SEATMETER__FRAME__MSG__NOT_SET || seatmeter__frame__get_packed_size(f) != size) {
                seatmeter__frame__free_unpacked(f, NULL);
                return -EBADMSG;
        }
        *ret = f;
        return 0;
}

/* Looks at the prefix at the start of buf. Returns 1 with the body length and prefix length when the
 * prefix is complete, 0 when more is needed, -EMSGSIZE or -EBADMSG. */
static int frame_prefix(const uint8_t *buf, size_t size, size_t max_frame, size_t *ret_body,
                        size_t *ret_prefix)
{
        uint64_t len;
        size_t plen;
        int r;

        r = frame_varint_decode(buf, size, &len, &plen);
        if (r <= 0)
                return r;
        if (len > max_frame)
                return -EMSGSIZE;
        *ret_body = (size_t)len;
        *ret_prefix = plen;
        return 1;
}

ssize_t frame_decode_one(const uint8_t *buf, size_t size, size_t max_frame, Seatmeter__Frame **ret)
{
        size_t body, plen;
        int r;

        assert(buf || size == 0);
        assert(ret);

        if (max_frame == 0 || max_frame > FRAME_MAX_SIZE)
                max_frame = FRAME_MAX_SIZE;
        r = frame_prefix(buf, size, max_frame, &body, &plen);
        if (r <= 0)
                return r;
        if (size - plen < body)
                return 0;
        r = frame_unpack(buf + plen, body, ret);
        if (r < 0)
                return r;
        return (ssize_t)(plen + body);
}

int frame_decoder_new(size_t max_frame, FrameDecoder **ret)
{
        FrameDecoder *d;

        assert(ret);
        if (max_frame == 0)
                max_frame = FRAME_MAX_SIZE;
        if (max_frame > FRAME_MAX_SIZE)
                return -EINVAL;
        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->max_frame = max_frame;
        d->max_pending = 2 * (max_frame + FRAME_VARINT_MAX) + DECODER_KEEP_ALLOC;
        *ret = d;
        return 0;
}

int frame_decoder_set_max(FrameDecoder *d, size_t max_frame)
{
        assert(d);
        if (max_frame == 0)
                max_frame = FRAME_MAX_SIZE;
        if (max_frame > FRAME_MAX_SIZE)
                return -EINVAL;
        d->max_frame = max_frame;
        d->max_pending = 2 * (max_frame + FRAME_VARINT_MAX) + DECODER_KEEP_ALLOC;
        return 0;
}

FrameDecoder *frame_decoder_free(FrameDecoder *d)
{
        if (!d)
                return NULL;
        free(d->buf);
        free(d);
        return NULL;
}

size_t frame_decoder_pending(const FrameDecoder *d)
{
        assert(d);
        return d->end - d->start;
}

/* Marks the decoder failed and lets go of everything buffered: nothing after a bad prefix can be
 * trusted, and an oversized frame must not be collected. */
static void decoder_fail(FrameDecoder *d, int error)
{
        d->error = error;
        free(d->buf);
        d->buf = NULL;
        d->start = d->end = d->alloc = 0;
}

/* Checks the prefix of the frame at the head as soon as it is complete. */
static void decoder_check_head(FrameDecoder *d)
{
        size_t body, plen;
        int r;

        if (d->error)
                return;
        r = frame_prefix(d->buf + d->start, d->end - d->start, d->max_frame, &body, &plen);
        if (r < 0)
                decoder_fail(d, r);
}

int frame_decoder_reserve(FrameDecoder *d, size_t want, void **ret_space, size_t *ret_size)
{
        size_t pending;

        assert(d);
        assert(ret_space);
        assert(ret_size);

        if (want == 0)
                want = 1;
        pending = d->end - d->start;
        if (want > d->max_pending || pending > d->max_pending - want)
                return -ENOBUFS;

        if (d->alloc - d->end < want) {
                /* Compact first: moving the tail is cheap next to growing for ever. */
                if (d->start > 0) {
                        memmove(d->buf, d->buf + d->start, pending);
                        d->start = 0;
                        d->end = pending;
                }
                if (d->alloc - d->end < want) {
                        size_t n = MAX((size_t)DECODER_INITIAL_ALLOC, d->alloc);
                        uint8_t *p;

                        while (n - d->end < want)
                                n *= 2;
                        p = realloc(d->buf, n);
                        if (!p)
                                return -ENOMEM;
                        d->buf = p;
                        d->alloc = n;
                }
        }
        *ret_space = d->buf + d->end;
        *ret_size = d->alloc - d->end;
        return 0;
}

void frame_decoder_advance(FrameDecoder *d, size_t n)
{
        assert(d);
        assert(n <= d->alloc - d->end);

        if (d->error)
                return; /* already failed: drop */
        d->end += n;
        decoder_check_head(d);
}

int frame_decoder_feed(FrameDecoder *d, const void *data, size_t size)
{
        void *space;
        size_t avail;
        int r;

        assert(d);
        assert(data || size == 0);

        if (d->error || size == 0)
                return 0;
        r = frame_decoder_reserve(d, size, &space, &avail);
        if (r < 0)
                return r;
        memcpy(space, data, size);
        frame_decoder_advance(d, size);
        return 0;
}

int frame_decoder_next(FrameDecoder *d, Seatmeter__Frame **ret)
{
        size_t body, plen;
        int r;

        assert(d);
        assert(ret);

        if (d->error)
                return d->error;
        if (d->start == d->end) {
                d->start = d->end = 0;
                if (d->alloc > DECODER_KEEP_ALLOC) {
                        free(d->buf);
                        d->buf = NULL;
                        d->alloc = 0;
                }
                return 0;
        }

        r = frame_prefix(d->buf + d->start, d->end - d->start, d->max_frame, &body, &plen);
        if (r < 0) {
                decoder_fail(d, r);
                return r;
        }
        if (r == 0 || d->end - d->start - plen < body)
                return 0;

        r = frame_unpack(d->buf + d->start + plen, body, ret);
        if (r < 0) {
                decoder_fail(d, r);
                return r;
        }
        d->start += plen + body;
        if (d->start == d->end)
                d->start = d->end = 0;
        else
                decoder_check_head(d); /* an oversized next frame is refused before it arrives */
        return 1;
}

size_t frame_encoded_size(const Seatmeter__Frame *f)
{
        size_t body;

        assert(f);
        body = seatmeter__frame__get_packed_size(f);
        return frame_varint_size(body) + body;
}

int frame_encode_into(const Seatmeter__Frame *f, uint8_t *buf, size_t size, size_t *ret_size)
{
        size_t body, plen;

        assert(f);
        assert(buf || size == 0);

        body = seatmeter__frame__get_packed_size(f);
        if (body > FRAME_MAX_SIZE)
                return -EMSGSIZE;
        plen = frame_varint_size(body);
        if (size < plen + body)
                return -ENOBUFS;
        frame_varint_encode(body, buf);
        if (seatmeter__frame__pack(f, buf + plen) != body)
                return -EIO; /* protobuf-c disagrees with itself: a bug, not an input problem */
        if (ret_size)
                *ret_size = plen + body;
        return 0;
}

int frame_encode(const Seatmeter__Frame *f, uint8_t **ret, size_t *ret_size)
{
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size, n;
        int r;

        assert(f);
        assert(ret);
        assert(ret_size);

        size = frame_encoded_size(f);
        if (size > FRAME_MAX_SIZE + FRAME_VARINT_MAX)
                return -EMSGSIZE;
        buf = malloc(size);
        if (!buf)
                return -ENOMEM;
        r = frame_encode_into(f, buf, size, &n);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(buf);
        *ret_size = n;
        return 0;
}

static size_t samples_body_size(const struct iovec *samples, size_t n, bool as_batch)
{
        size_t inner = 0;

        if (n == 1 && !as_batch)
                return 1 + frame_varint_size(samples[0].iov_len) + samples[0].iov_len;
        for (size_t i = 0; i < n; i++)
                inner += 1 + frame_varint_size(samples[i].iov_len) + samples[i].iov_len;
        return 1 + frame_varint_size(inner) + inner;
}

size_t frame_samples_size(const struct iovec *samples, size_t n, bool as_batch)
{
        size_t body;

        assert(samples || n == 0);
        body = samples_body_size(samples, n, as_batch);
        return frame_varint_size(body) + body;
}

void frame_samples_write(const struct iovec *samples, size_t n, bool as_batch, uint8_t *out)
{
        size_t body, inner;
        uint8_t *p = out;

        assert(samples || n == 0);
        assert(out);

        body = samples_body_size(samples, n, as_batch);
        p += frame_varint_encode(body, p);
        if (n == 1 && !as_batch) {
                *p++ = TAG_LEN(FRAME_FIELD_SAMPLE);
                p += frame_varint_encode(samples[0].iov_len, p);
                memcpy(p, samples[0].iov_base, samples[0].iov_len);
                return;
        }
        inner = 0;
        for (size_t i = 0; i < n; i++)
                inner += 1 + frame_varint_size(samples[i].iov_len) + samples[i].iov_len;
        *p++ = TAG_LEN(FRAME_FIELD_BATCH);
        p += frame_varint_encode(inner, p);
        for (size_t i = 0; i < n; i++) {
                *p++ = TAG_LEN(BATCH_FIELD_SAMPLES);
                p += frame_varint_encode(samples[i].iov_len, p);
                if (samples[i].iov_len > 0)
                        memcpy(p, samples[i].iov_base, samples[i].iov_len);
                p += samples[i].iov_len;
        }
}

const char *frame_msg_name(const Seatmeter__Frame *f)
{
        if (!f)
                return "none";
        switch (f->msg_case) {
        case SEATMETER__FRAME__MSG_HELLO:
                return "hello";
        case SEATMETER__FRAME__MSG_SAMPLE:
                return "sample";
        case SEATMETER__FRAME__MSG_BATCH:
                return "batch";
        case SEATMETER__FRAME__MSG_WELCOME:
                return "welcome";
        case SEATMETER__FRAME__MSG_ACK:
                return "ack";
        default:
                return "none";
        }
}
