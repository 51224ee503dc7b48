/* Unit tests of proto/frame.c: the delimited framing and the incremental decoder. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>

#include "proto/frame.h"
#include "util.h"

#ifndef WIRE_FIXTURES
#error "WIRE_FIXTURES must name tests/fixtures/wire"
#endif

/* A stream of one frame of each kind; returns the bytes (caller frees) and their size. */
static uint8_t *make_stream(size_t *ret_size)
{
        Seatmeter__Hello hello = SEATMETER__HELLO__INIT;
        Seatmeter__Sample s1 = SEATMETER__SAMPLE__INIT, s2 = SEATMETER__SAMPLE__INIT;
        Seatmeter__Sample *ss[] = {&s1, &s2};
        Seatmeter__SampleBatch batch = SEATMETER__SAMPLE_BATCH__INIT;
        Seatmeter__Welcome welcome = SEATMETER__WELCOME__INIT;
        Seatmeter__Ack ack = SEATMETER__ACK__INIT;
        Seatmeter__Frame frames[5];
        uint8_t *all = NULL;
        size_t size = 0;

        hello.agent_id = (char *)"a1";
        hello.has_protocol_version = true;
        hello.protocol_version = 1;
        s1.has_seq = s2.has_seq = true;
        s1.seq = 1;
        s2.seq = 2;
        s1.has_time_ms = s2.has_time_ms = true;
        s1.time_ms = 1000;
        s2.time_ms = 2000;
        batch.n_samples = 2;
        batch.samples = ss;
        welcome.has_accepted = true;
        welcome.accepted = true;
        ack.has_up_to_time_ms = true;
        ack.up_to_time_ms = 2000;

        for (size_t i = 0; i < 5; i++)
                seatmeter__frame__init(&frames[i]);
        frames[0].msg_case = SEATMETER__FRAME__MSG_HELLO, frames[0].hello = &hello;
        frames[1].msg_case = SEATMETER__FRAME__MSG_SAMPLE, frames[1].sample = &s1;
        frames[2].msg_case = SEATMETER__FRAME__MSG_BATCH, frames[2].batch = &batch;
        frames[3].msg_case = SEATMETER__FRAME__MSG_WELCOME, frames[3].welcome = &welcome;
        frames[4].msg_case = SEATMETER__FRAME__MSG_ACK, frames[4].ack = &ack;

        for (size_t i = 0; i < 5; i++) {
                _cleanup_free_ uint8_t *buf = NULL;
                size_t n;

                assert_int_equal(frame_encode(&frames[i], &buf, &n), 0);
                assert_int_equal(n, frame_encoded_size(&frames[i]));
                all = realloc(all, size + n);
                assert_non_null(all);
                memcpy(all + size, buf, n);
                size += n;
        }
        *ret_size = size;
        return all;
}

static const Seatmeter__Frame__MsgCase stream_kinds[] = {
        SEATMETER__FRAME__MSG_HELLO,   SEATMETER__FRAME__MSG_SAMPLE, SEATMETER__FRAME__MSG_BATCH,
        SEATMETER__FRAME__MSG_WELCOME, SEATMETER__FRAME__MSG_ACK,
};

/* Takes every frame out of d, checking the kinds in order from *k. */
static void drain(FrameDecoder *d, size_t *k)
{
        Seatmeter__Frame *f;
        int r;

        while ((r = frame_decoder_next(d, &f)) > 0) {
                assert_true(*k < ELEMENTSOF(stream_kinds));
                assert_int_equal(f->msg_case, stream_kinds[*k]);
                if (f->msg_case == SEATMETER__FRAME__MSG_BATCH) {
                        assert_int_equal(f->batch->n_samples, 2);
                        assert_int_equal(f->batch->samples[1]->seq, 2);
                }
                if (f->msg_case == SEATMETER__FRAME__MSG_HELLO)
                        assert_string_equal(f->hello->agent_id, "a1");
                seatmeter__frame__free_unpacked(f, NULL);
                (*k)++;
        }
        assert_int_equal(r, 0);
}

static void test_split_every_boundary(void **state)
{
        _cleanup_free_ uint8_t *stream = NULL;
        size_t size;

        stream = make_stream(&size);
        for (size_t cut = 0; cut <= size; cut++) {
                _cleanup_(frame_decoder_freep) FrameDecoder *d = NULL;
                size_t k = 0;

                assert_int_equal(frame_decoder_new(0, &d), 0);
                assert_int_equal(frame_decoder_feed(d, stream, cut), 0);
                drain(d, &k);
                assert_int_equal(frame_decoder_feed(d, stream + cut, size - cut), 0);
                drain(d, &k);
                assert_int_equal(k, ELEMENTSOF(stream_kinds));
                assert_int_equal(frame_decoder_pending(d), 0);
        }
}

static void test_byte_by_byte(void **state)
{
        _cleanup_(frame_decoder_freep) FrameDecoder *d = NULL;
        _cleanup_free_ uint8_t *stream = NULL;
        size_t size, k = 0;

        stream = make_stream(&size);
        assert_int_equal(frame_decoder_new(0, &d), 0);
        for (size_t i = 0; i < size; i++) {
                assert_int_equal(frame_decoder_feed(d, stream + i, 1), 0);
                drain(d, &k);
        }
        assert_int_equal(k, ELEMENTSOF(stream_kinds));
}

static void test_many_in_one_feed(void **state)
{
        _cleanup_(frame_decoder_freep) FrameDecoder *d = NULL;
        _cleanup_free_ uint8_t *stream = NULL, *big = NULL;
        size_t size, rounds = 2000, frames = 0;
        Seatmeter__Frame *f;
        int r;

        stream = make_stream(&size);
        big = malloc(size * rounds);
        assert_non_null(big);
        for (size_t i = 0; i < rounds; i++)
                memcpy(big + i * size, stream, size);
        assert_int_equal(frame_decoder_new(0, &d), 0);
        assert_int_equal(frame_decoder_feed(d, big, size * rounds), 0);
        while ((r = frame_decoder_next(d, &f)) > 0) {
                assert_int_equal(f->msg_case, stream_kinds[frames % ELEMENTSOF(stream_kinds)]);
                seatmeter__frame__free_unpacked(f, NULL);
                frames++;
        }
        assert_int_equal(r, 0);
        assert_int_equal(frames, rounds * ELEMENTSOF(stream_kinds));
}

/* A long stream fed in odd chunks through reserve/advance: the buffer never holds more than a chunk
 * plus one frame, because it is compacted instead of grown. */
static void test_long_stream_bounded(void **state)
{
        _cleanup_(frame_decoder_freep) FrameDecoder *d = NULL;
        _cleanup_free_ uint8_t *stream = NULL;
        size_t size, frames = 0, pos = 0, total;
        Seatmeter__Frame *f;

        stream = make_stream(&size);
        total = size * 5000;
        assert_int_equal(frame_decoder_new(0, &d), 0);
        while (pos < total) {
                void *space;
                size_t avail, n = MIN((size_t)777, total - pos);

                assert_int_equal(frame_decoder_reserve(d, n, &space, &avail), 0);
                assert_true(avail >= n);
                for (size_t i = 0; i < n; i++)
                        ((uint8_t *)space)[i] = stream[(pos + i) % size];
                frame_decoder_advance(d, n);
                pos += n;
                while (frame_decoder_next(d, &f) > 0) {
                        seatmeter__frame__free_unpacked(f, NULL);
                        frames++;
                }
                assert_true(frame_decoder_pending(d) < 777 + size);
        }
        assert_int_equal(frames, 5000 * ELEMENTSOF(stream_kinds));
}

static void test_oversize_prefix(void **state)
{
        _cleanup_(frame_decoder_freep) FrameDecoder *d = NULL;
        uint8_t buf[64] = {0};
        size_t n;
        Seatmeter__Frame *f;

        /* 1 MiB + 1 announced: refused as soon as the prefix is complete, the body never buffered. */
        n = frame_varint_encode(FRAME_MAX_SIZE + 1, buf);
        assert_int_equal(frame_decoder_new(0, &d), 0);
        assert_int_equal(frame_decoder_feed(d, buf, n + 20), 0);
        assert_int_equal(frame_decoder_pending(d), 0);
        assert_int_equal(frame_decoder_feed(d, buf, sizeof(buf)), 0);
        assert_int_equal(frame_decoder_pending(d), 0);
        assert_int_equal(frame_decoder_next(d, &f), -EMSGSIZE);
        assert_int_equal(frame_decoder_next(d, &f), -EMSGSIZE); /* sticky */
        assert_int_equal(frame_decode_one(buf, n + 20, 0, &f), -EMSGSIZE);

        /* Exactly the limit is fine as far as the prefix goes: more bytes are awaited. */
        d = frame_decoder_free(d);
        n = frame_varint_encode(FRAME_MAX_SIZE, buf);
        assert_int_equal(frame_decoder_new(0, &d), 0);
        assert_int_equal(frame_decoder_feed(d, buf, n), 0);
        assert_int_equal(frame_decoder_next(d, &f), 0);

        /* A smaller limit of the caller's own. */
        d = frame_decoder_free(d);
        n = frame_varint_encode(101, buf);
        assert_int_equal(frame_decoder_new(100, &d), 0);
        assert_int_equal(frame_decoder_feed(d, buf, n), 0);
        assert_int_equal(frame_decoder_next(d, &f), -EMSGSIZE);
        assert_int_equal(frame_decoder_new(FRAME_MAX_SIZE + 1, &d), -EINVAL);
}

static void test_oversize_after_good_frame(void **state)
{
        _cleanup_(frame_decoder_freep) FrameDecoder *d = NULL;
        _cleanup_free_ uint8_t *stream = NULL;
        uint8_t prefix[FRAME_VARINT_MAX];
        size_t size, n;
        Seatmeter__Frame *f;

        stream = make_stream(&size);
        n = frame_varint_encode(10 * FRAME_MAX_SIZE, prefix);
        assert_int_equal(frame_decoder_new(0, &d), 0);
        assert_int_equal(frame_decoder_feed(d, stream, size), 0);
        assert_int_equal(frame_decoder_feed(d, prefix, n), 0);
        for (size_t i = 0; i < ELEMENTSOF(stream_kinds); i++) {
                assert_int_equal(frame_decoder_next(d, &f), 1);
                seatmeter__frame__free_unpacked(f, NULL);
        }
        assert_int_equal(frame_decoder_next(d, &f), -EMSGSIZE);
}

static void test_bad_varint(void **state)
{
        uint8_t eleven[11], tenth_big[10], nine[9];
        uint64_t v;
        size_t len;
        Seatmeter__Frame *f;

        memset(eleven, 0xff, sizeof(eleven));
        memset(tenth_big, 0x80, sizeof(tenth_big));
        tenth_big[9] = 0x02; /* bit 64: over 64 bits */
        memset(nine, 0x80, sizeof(nine));

        assert_int_equal(frame_varint_decode(eleven, sizeof(eleven), &v, &len), -EBADMSG);
        assert_int_equal(frame_varint_decode(tenth_big, sizeof(tenth_big), &v, &len), -EBADMSG);
        assert_int_equal(frame_varint_decode(nine, sizeof(nine), &v, &len), 0);
        assert_int_equal(frame_decode_one(eleven, sizeof(eleven), 0, &f), -EBADMSG);

        {
                _cleanup_(frame_decoder_freep) FrameDecoder *d = NULL;
                assert_int_equal(frame_decoder_new(0, &d), 0);
                assert_int_equal(frame_decoder_feed(d, nine, sizeof(nine)), 0);
                assert_int_equal(frame_decoder_next(d, &f), 0);
                assert_int_equal(frame_decoder_feed(d, eleven, 2), 0);
                assert_int_equal(frame_decoder_next(d, &f), -EBADMSG);
        }

        /* Round trip of the extremes. */
        {
                uint8_t buf[FRAME_VARINT_MAX];
                uint64_t vals[] = {0, 1, 127, 128, 16383, 16384, UINT32_MAX, UINT64_MAX};

                for (size_t i = 0; i < ELEMENTSOF(vals); i++) {
                        size_t n = frame_varint_encode(vals[i], buf);
                        assert_int_equal(n, frame_varint_size(vals[i]));
                        assert_int_equal(frame_varint_decode(buf, n, &v, &len), 1);
                        assert_int_equal(len, n);
                        assert_true(v == vals[i]);
                        assert_int_equal(frame_varint_decode(buf, n - 1, &v, &len), 0);
                }
                assert_int_equal(frame_varint_size(UINT64_MAX), 10);
        }
}

static void test_garbage_and_empty(void **state)
{
        static const uint8_t garbage[] = {5, 0xff, 0xff, 0xff, 0xff, 0xff};
        static const uint8_t empty[] = {0};                    /* zero-length Frame: no oneof */
        static const uint8_t unknown_only[] = {2, 0x30, 0x01}; /* field 6 varint: not a message we know */
        static const uint8_t truncated_sub[] = {3, 0x0a, 0x05, 0x08}; /* hello announces 5, has 1 */
        Seatmeter__Frame *f;

        assert_int_equal(frame_decode_one(garbage, sizeof(garbage), 0, &f), -EBADMSG);
        assert_int_equal(frame_decode_one(empty, sizeof(empty), 0, &f), -EBADMSG);
        assert_int_equal(frame_decode_one(unknown_only, sizeof(unknown_only), 0, &f), -EBADMSG);
        assert_int_equal(frame_decode_one(truncated_sub, sizeof(truncated_sub), 0, &f), -EBADMSG);
        assert_int_equal(frame_decode_one(garbage, 3, 0, &f), 0);

        {
                _cleanup_(frame_decoder_freep) FrameDecoder *d = NULL;
                assert_int_equal(frame_decoder_new(0, &d), 0);
                assert_int_equal(frame_decoder_feed(d, empty, sizeof(empty)), 0);
                assert_int_equal(frame_decoder_next(d, &f), -EBADMSG);
                assert_int_equal(frame_decoder_next(d, &f), -EBADMSG);
        }
}

static void test_encode_limits(void **state)
{
        Seatmeter__Frame f = SEATMETER__FRAME__INIT;
        Seatmeter__Hello h = SEATMETER__HELLO__INIT;
        _cleanup_free_ char *big = NULL;
        _cleanup_free_ uint8_t *out = NULL;
        uint8_t small[4];
        size_t n;

        big = malloc(FRAME_MAX_SIZE + 1);
        assert_non_null(big);
        memset(big, 'x', FRAME_MAX_SIZE);
        big[FRAME_MAX_SIZE] = 0;
        h.hostname = big;
        f.msg_case = SEATMETER__FRAME__MSG_HELLO;
        f.hello = &h;
        assert_int_equal(frame_encode(&f, &out, &n), -EMSGSIZE);

        h.hostname = (char *)"host";
        assert_int_equal(frame_encode_into(&f, small, sizeof(small), &n), -ENOBUFS);
        assert_int_equal(frame_encode(&f, &out, &n), 0);
        assert_string_equal(frame_msg_name(&f), "hello");
}

/* Packed samples wrapped by hand decode as the Sample / SampleBatch frames protobuf-c would make. */
static void test_samples_wrap(void **state)
{
        Seatmeter__Sample s = SEATMETER__SAMPLE__INIT;
        uint8_t packed[3][64];
        struct iovec iov[3];
        Seatmeter__Frame *f;

        for (size_t i = 0; i < 3; i++) {
                s.has_seq = s.has_time_ms = s.has_cpu_usage_usec = true;
                s.seq = 10 + i;
                s.time_ms = 1000 * (int64_t)(i + 1);
                s.cpu_usage_usec = 12345678 * (i + 1);
                iov[i].iov_len = seatmeter__sample__pack(&s, packed[i]);
                iov[i].iov_base = packed[i];
        }

        for (size_t n = 1; n <= 3; n++)
                for (int as_batch = 0; as_batch <= 1; as_batch++) {
                        size_t size = frame_samples_size(iov, n, as_batch);
                        _cleanup_free_ uint8_t *buf = malloc(size);

                        assert_non_null(buf);
                        frame_samples_write(iov, n, as_batch, buf);
                        assert_int_equal(frame_decode_one(buf, size, 0, &f), (ssize_t)size);
                        if (n == 1 && !as_batch) {
                                assert_int_equal(f->msg_case, SEATMETER__FRAME__MSG_SAMPLE);
                                assert_int_equal(f->sample->seq, 10);
                        } else {
                                assert_int_equal(f->msg_case, SEATMETER__FRAME__MSG_BATCH);
                                assert_int_equal(f->batch->n_samples, n);
                                for (size_t i = 0; i < n; i++) {
                                        assert_int_equal(f->batch->samples[i]->seq, 10 + i);
                                        assert_int_equal(f->batch->samples[i]->cpu_usage_usec,
                                                         12345678 * (i + 1));
                                }
                        }
                        seatmeter__frame__free_unpacked(f, NULL);
                }
}

static uint8_t *read_fixture(const char *name, size_t *ret_size)
{
        char *buf = NULL;

        assert_int_equal(read_full_file_at(AT_FDCWD, name, 1024 * 1024, &buf, ret_size), 0);
        return (uint8_t *)buf;
}

/* Frames made by protoc (C++ protobuf) with tests/integration/encode_frame.py. */
static void test_protoc_fixtures(void **state)
{
        _cleanup_free_ uint8_t *hello = NULL, *batch = NULL;
        Seatmeter__Frame *f;
        size_t size;

        hello = read_fixture(WIRE_FIXTURES "/hello.bin", &size);
        assert_int_equal(frame_decode_one(hello, size, 0, &f), (ssize_t)size);
        assert_int_equal(f->msg_case, SEATMETER__FRAME__MSG_HELLO);
        assert_int_equal(f->hello->protocol_version, 1);
        assert_string_equal(f->hello->agent_id, "bbb1-lxc");
        assert_string_equal(f->hello->token, "s3cret");
        assert_int_equal(f->hello->virt, SEATMETER__VIRT__VIRT_LXC);
        assert_string_equal(f->hello->cgroup_mode, "hybrid");
        assert_true(f->hello->clock_ms == 1764000000000LL);
        assert_non_null(f->hello->limits);
        assert_true(f->hello->limits->effective_cpus == 1.5);
        assert_int_equal(f->hello->limits->memory_limit_bytes, 4294967296ULL);
        assert_false(f->hello->limits->has_swap_limit_bytes);
        seatmeter__frame__free_unpacked(f, NULL);

        batch = read_fixture(WIRE_FIXTURES "/batch.bin", &size);
        {
                _cleanup_(frame_decoder_freep) FrameDecoder *d = NULL;

                assert_int_equal(frame_decoder_new(0, &d), 0);
                for (size_t i = 0; i < size; i++)
                        assert_int_equal(frame_decoder_feed(d, batch + i, 1), 0);
                assert_int_equal(frame_decoder_next(d, &f), 1);
        }
        assert_int_equal(f->msg_case, SEATMETER__FRAME__MSG_BATCH);
        assert_int_equal(f->batch->n_samples, 2);
        assert_int_equal(f->batch->samples[0]->seq, 41);
        assert_int_equal(f->batch->samples[0]->n_net, 1);
        assert_string_equal(f->batch->samples[0]->net[0]->name, "eth0");
        assert_false(f->batch->samples[0]->has_io_read_bytes);
        assert_int_equal(f->batch->samples[1]->io_write_bytes, 8192);
        seatmeter__frame__free_unpacked(f, NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_split_every_boundary),
                cmocka_unit_test(test_byte_by_byte),
                cmocka_unit_test(test_many_in_one_feed),
                cmocka_unit_test(test_long_stream_bounded),
                cmocka_unit_test(test_oversize_prefix),
                cmocka_unit_test(test_oversize_after_good_frame),
                cmocka_unit_test(test_bad_varint),
                cmocka_unit_test(test_garbage_and_empty),
                cmocka_unit_test(test_encode_limits),
                cmocka_unit_test(test_samples_wrap),
                cmocka_unit_test(test_protoc_fixtures),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
