#pragma once
/* Framing of the wire protocol: each Frame is a varint length followed by that many bytes of protobuf
 * (the delimited convention). Pure functions over buffers; no sockets, so they can be unit-tested and
 * fuzzed. OWNER: wire helper. Contract used by agent/run.c and daemon/ingest.c. */

#include "macro.h"
#include "proto/seatmeter.pb-c.h"

#define FRAME_MAX_SIZE (1024 * 1024) /* larger frames are refused */
#define FRAME_PROTOCOL_VERSION 1

/* Incremental decoder for a non-blocking stream: feed it whatever read() returned, then take frames out
 * one at a time. */
typedef struct FrameDecoder FrameDecoder;

int frame_decoder_new(size_t max_frame, FrameDecoder **ret);
FrameDecoder *frame_decoder_free(FrameDecoder *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(FrameDecoder *, frame_decoder_free)

/* Appends size bytes. Returns 0, or -ENOMEM. */
int frame_decoder_feed(FrameDecoder *d, const void *data, size_t size);

/* Takes the next complete frame out. Returns 1 and a Frame the caller frees with
 * seatmeter__frame__free_unpacked(f, NULL); 0 when more bytes are needed; -EMSGSIZE when the length
 * prefix announces more than max_frame (the stream cannot be resynchronised: close it); -EBADMSG for a
 * malformed varint or protobuf (likewise). */
int frame_decoder_next(FrameDecoder *d, Seatmeter__Frame **ret);

/* Bytes buffered but not yet decoded. */
size_t frame_decoder_pending(const FrameDecoder *d);

/* Encodes f with its varint length prefix into a new buffer. Returns 0, -EMSGSIZE if over
 * FRAME_MAX_SIZE, -ENOMEM. */
int frame_encode(const Seatmeter__Frame *f, uint8_t **ret, size_t *ret_size);

/* Decodes exactly one delimited frame from a complete buffer (tests, fuzzing). Returns the bytes
 * consumed (>0), 0 if incomplete, or a negative errno as frame_decoder_next(). */
ssize_t frame_decode_one(const uint8_t *buf, size_t size, size_t max_frame, Seatmeter__Frame **ret);
