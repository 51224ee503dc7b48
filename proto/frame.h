#pragma once
/* Framing of the wire protocol: each Frame is a varint length followed by that many bytes of protobuf
 * (the delimited convention). Pure functions over buffers; no sockets, so they can be unit-tested and
 * fuzzed. Contract used by agent/run.c and daemon/ingest.c. */

#include <sys/uio.h>

#include "macro.h"
#include "proto/seatmeter.pb-c.h"

#define FRAME_MAX_SIZE (1024 * 1024) /* larger frames are refused */
#define FRAME_PROTOCOL_VERSION 1
#define FRAME_VARINT_MAX 10 /* a 64-bit varint takes at most 10 bytes */

/* Incremental decoder for a non-blocking stream: feed it whatever read() returned, then take frames out
 * one at a time. */
typedef struct FrameDecoder FrameDecoder;

/* max_frame is the largest frame body accepted; 0 means FRAME_MAX_SIZE, and more than FRAME_MAX_SIZE is
 * -EINVAL. */
int frame_decoder_new(size_t max_frame, FrameDecoder **ret);
/* Changes the largest frame body accepted from now on (0: FRAME_MAX_SIZE): a small one until the peer
 * is known, the full size after. Returns 0 or -EINVAL above FRAME_MAX_SIZE. */
int frame_decoder_set_max(FrameDecoder *d, size_t max_frame);
FrameDecoder *frame_decoder_free(FrameDecoder *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(FrameDecoder *, frame_decoder_free)

/* Appends size bytes. Returns 0, or -ENOMEM; -ENOBUFS when more than about twice max_frame would be
 * pending (the caller feeds without taking frames out). A length prefix that announces an oversized
 * frame is noticed here already: the bytes are dropped rather than buffered, and the next call of
 * frame_decoder_next() reports -EMSGSIZE. */
int frame_decoder_feed(FrameDecoder *d, const void *data, size_t size);

/* Zero-copy alternative to frame_decoder_feed() for a reader: returns in *ret_space a writable area of
 * at least want bytes (*ret_size says how many exactly) at the end of the buffer; read() into it, then
 * call frame_decoder_advance() with what was read. Returns 0, -ENOMEM or -ENOBUFS as feed(). */
int frame_decoder_reserve(FrameDecoder *d, size_t want, void **ret_space, size_t *ret_size);
void frame_decoder_advance(FrameDecoder *d, size_t n);

/* Takes the next complete frame out. Returns 1 and a Frame the caller frees with
 * seatmeter__frame__free_unpacked(f, NULL); 0 when more bytes are needed; -EMSGSIZE when the length
 * prefix announces more than max_frame (the stream cannot be resynchronised: close it); -EBADMSG for a
 * malformed varint or protobuf, or a Frame with no message set (likewise). Errors are sticky: once
 * failed, the decoder keeps returning the same error. */
int frame_decoder_next(FrameDecoder *d, Seatmeter__Frame **ret);

/* Bytes buffered but not yet decoded. */
size_t frame_decoder_pending(const FrameDecoder *d);

/* Encodes f with its varint length prefix into a new buffer. Returns 0, -EMSGSIZE if over
 * FRAME_MAX_SIZE, -ENOMEM. */
int frame_encode(const Seatmeter__Frame *f, uint8_t **ret, size_t *ret_size);

/* Size of f on the wire, length prefix included. */
size_t frame_encoded_size(const Seatmeter__Frame *f);

/* Encodes f with its prefix into buf of size bytes (no allocation). Returns 0 and the bytes written;
 * -ENOBUFS when buf is too small; -EMSGSIZE if over FRAME_MAX_SIZE. */
int frame_encode_into(const Seatmeter__Frame *f, uint8_t *buf, size_t size, size_t *ret_size);

/* Decodes exactly one delimited frame from a complete buffer (tests, fuzzing). Returns the bytes
 * consumed (>0), 0 if incomplete, or a negative errno as frame_decoder_next(). */
ssize_t frame_decode_one(const uint8_t *buf, size_t size, size_t max_frame, Seatmeter__Frame **ret);

/* Writes v as a protobuf varint into buf (FRAME_VARINT_MAX bytes at least) and returns its length. */
size_t frame_varint_encode(uint64_t v, uint8_t *buf);
size_t frame_varint_size(uint64_t v);

/* Reads a varint from the start of buf. Returns 1 with the value and its length; 0 when buf ends
 * before the varint does; -EBADMSG for more than 10 bytes or a value over 64 bits. */
int frame_varint_decode(const uint8_t *buf, size_t size, uint64_t *ret_value, size_t *ret_len);

/* Frames made of already packed Sample messages (the agent spools samples packed): with n == 1 and
 * !as_batch a Sample frame, else a SampleBatch frame holding the n samples in order.
 * frame_samples_size() returns the size on the wire (prefix included); frame_samples_write() writes
 * exactly that many bytes to out. The caller keeps the total under FRAME_MAX_SIZE. */
size_t frame_samples_size(const struct iovec *samples, size_t n, bool as_batch);
void frame_samples_write(const struct iovec *samples, size_t n, bool as_batch, uint8_t *out);

/* Name of the message a frame carries ("hello", "sample", ...; "none" when not set). */
const char *frame_msg_name(const Seatmeter__Frame *f);
