/* Fuzz target: the incremental frame decoder, fed the input in pseudo-random splits (the split sizes
 * come from the first two bytes). Checks that it agrees with frame_decode_one() applied to the whole
 * buffer: same frames, same error. */

#include "proto/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_INPUT_MAX (256 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        FrameDecoder *d = NULL;
        Seatmeter__Frame *f;
        uint32_t seed = 1;
        size_t pos, whole_frames = 0, fed_frames = 0;
        int whole_error = 0, fed_error = 0, r;

        if (size < 2 || size > FUZZ_INPUT_MAX)
                return 0;
        seed = (uint32_t)data[0] << 8 | data[1] | 1;
        data += 2;
        size -= 2;

        /* The reference: the whole buffer, one frame after another. */
        for (pos = 0; pos < size;) {
                ssize_t n = frame_decode_one(data + pos, size - pos, 4096, &f);
                if (n <= 0) {
                        whole_error = (int)n;
                        break;
                }
                seatmeter__frame__free_unpacked(f, NULL);
                whole_frames++;
                pos += (size_t)n;
        }

        if (frame_decoder_new(4096, &d) < 0)
                return 0;
        for (pos = 0; pos < size && fed_error == 0;) {
                size_t chunk;

                seed = seed * 1103515245u + 12345u;
                chunk = MIN((size_t)(seed >> 16) % 64 + 1, size - pos);
                if (frame_decoder_feed(d, data + pos, chunk) < 0)
                        abort();
                pos += chunk;
                while ((r = frame_decoder_next(d, &f)) > 0) {
                        seatmeter__frame__free_unpacked(f, NULL);
                        fed_frames++;
                }
                if (r < 0)
                        fed_error = r;
        }
        frame_decoder_free(d);

        if (fed_frames != whole_frames)
                abort();
        if (fed_error != whole_error)
                abort();
        return 0;
}
