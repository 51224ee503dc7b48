"""The protobuf wire format by hand, for the tests that speak seatmeter's protocol without protobuf-c:
varints, fields of wire types 0, 1 and 2, the varint-delimited frame, and a decoder of one message into
{field: [values]}. Standard library only, so encode_frame.py can use it as well."""

import struct

FRAME_MAX = 1024 * 1024  # as FRAME_MAX_SIZE in proto/frame.h


def varint(n):
    """n as a base-128 varint; negatives as their 64-bit two's complement (ten bytes, as int64 wants)."""
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(buf, i):
    """Decodes the varint at buf[i]; returns (value, index after it). ValueError when it is truncated or
    longer than ten bytes."""
    v = shift = 0
    for _ in range(10):
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i
    raise ValueError("varint too long")


def field_varint(no, v):
    return varint(no << 3) + varint(int(v))


def field_bytes(no, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(no << 3 | 2) + varint(len(b)) + b


def field_double(no, d):
    return varint(no << 3 | 1) + struct.pack("<d", d)


def frame(msg_field, body):
    """A wire frame: the varint length, then the Frame envelope holding body as field msg_field."""
    env = field_bytes(msg_field, body)
    return varint(len(env)) + env


def parse_fields(buf):
    """Decodes one message into {field: [values]} (ints for varints and fixed64, bytes otherwise)."""
    out = {}
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        no, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 1:
            v = struct.unpack_from("<q", buf, i)[0]
            i += 8
        elif wt == 2:
            n, i = read_varint(buf, i)
            v = bytes(buf[i:i + n])
            i += n
        elif wt == 5:
            v = struct.unpack_from("<i", buf, i)[0]
            i += 4
        else:
            raise ValueError(f"wire type {wt}")
        out.setdefault(no, []).append(v)
    return out
