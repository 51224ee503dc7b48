/* Fuzz target: unpacking a Frame body (no prefix) with protobuf-c, the way the decoder does, then
 * packing what was understood again: the second round must be stable. */

#include "proto/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_INPUT_MAX (256 * 1024)

/* Unknown fields anywhere in m. protobuf-c keeps them and packs them again, but it reads a tag of
 * field number 0 written in two bytes (0x85 0x00) and then refuses the one-byte form it writes back:
 * such input does not survive a round trip, through no fault of ours. */
static size_t unknown_fields(const ProtobufCMessage *m)
{
        const ProtobufCMessageDescriptor *desc = m->descriptor;
        size_t n = m->n_unknown_fields;

        for (unsigned i = 0; i < desc->n_fields; i++) {
                const ProtobufCFieldDescriptor *fd = &desc->fields[i];
                const uint8_t *base = (const uint8_t *)m;

                if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
                        continue;
                if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
                        size_t count = *(const size_t *)(base + fd->quantifier_offset);
                        ProtobufCMessage *const *arr =
                                *(ProtobufCMessage *const *const *)(base + fd->offset);
                        for (size_t k = 0; k < count; k++)
                                n += unknown_fields(arr[k]);
                } else {
                        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)(base + fd->offset);
                        if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                                uint32_t which = *(const uint32_t *)(base + fd->quantifier_offset);
                                if (which != fd->id)
                                        continue;
                        }
                        if (sub)
                                n += unknown_fields(sub);
                }
        }
        return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        Seatmeter__Frame *f, *g = NULL;
        Seatmeter__Frame__MsgCase kind;
        uint8_t *a = NULL, *b = NULL;
        size_t na, nb, unknown;
        ssize_t n;

        if (size > FUZZ_INPUT_MAX)
                return 0;
        f = seatmeter__frame__unpack(NULL, size, data);
        if (!f)
                return 0;
        kind = f->msg_case;
        unknown = unknown_fields(&f->base);
        (void)frame_msg_name(f);
        if (frame_encode(f, &a, &na) < 0) {
                seatmeter__frame__free_unpacked(f, NULL);
                return 0;
        }
        seatmeter__frame__free_unpacked(f, NULL);

        /* What we pack, we must read back (unless no message is set: refused on purpose), and it must
         * pack to the same bytes. */
        n = frame_decode_one(a, na, FRAME_MAX_SIZE, &g);
        if (kind == SEATMETER__FRAME__MSG__NOT_SET) {
                if (n != -EBADMSG)
                        abort();
                free(a);
                return 0;
        }
        if (n != (ssize_t)na) {
                if (n != -EBADMSG || unknown == 0)
                        abort();
                free(a);
                return 0;
        }
        if (frame_encode(g, &b, &nb) < 0 || nb != na || memcmp(a, b, na) != 0)
                abort();
        seatmeter__frame__free_unpacked(g, NULL);
        free(a);
        free(b);
        return 0;
}
