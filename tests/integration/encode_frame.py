#!/usr/bin/env python3
"""Builds a seatmeter wire frame with another protobuf implementation: `protoc --encode` turns a
text-format Frame into binary protobuf, and a varint length is written in front (the delimited
convention). Lets tests check that frames not made by protobuf-c are accepted.

  encode_frame.py [--proto-dir DIR] [--type seatmeter.Frame] [-o OUT] TEXTFILE
  encode_frame.py --check BIN TEXTFILE     exit 1 unless TEXTFILE encodes to exactly BIN's bytes

Exits 77 (skipped) when protoc is not installed."""

import argparse
import os
import shutil
import subprocess
import sys

from protowire import FRAME_MAX, varint

TEXT_MAX = 1024 * 1024  # a text-format message larger than this is refused


def default_proto_dir():
    root = os.environ.get("SEATMETER_SOURCE_ROOT")
    if root:
        return os.path.join(root, "proto")
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")


def encode(text, proto_dir, msg_type):
    protoc = shutil.which("protoc")
    if not protoc:
        print("skipped: protoc (Debian protobuf-compiler) is not installed")
        sys.exit(77)
    res = subprocess.run(
        [protoc, "--proto_path=" + proto_dir, "--encode=" + msg_type, "seatmeter.proto"],
        input=text,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=30,
        check=False,
    )
    if res.returncode != 0:
        sys.stderr.write(res.stderr.decode(errors="replace"))
        raise SystemExit("protoc --encode failed")
    body = res.stdout
    if len(body) > FRAME_MAX:
        raise SystemExit("frame of %d bytes is over the 1 MiB limit" % len(body))
    return varint(len(body)) + body


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("textfile")
    ap.add_argument("--proto-dir", default=default_proto_dir())
    ap.add_argument("--type", default="seatmeter.Frame")
    ap.add_argument("-o", "--output")
    ap.add_argument("--check", metavar="BIN")
    args = ap.parse_args()

    with open(args.textfile, "rb") as f:
        text = f.read(TEXT_MAX + 1)
    if len(text) > TEXT_MAX:
        raise SystemExit("%s: larger than %d bytes" % (args.textfile, TEXT_MAX))
    frame = encode(text, args.proto_dir, args.type)

    if args.check:
        with open(args.check, "rb") as f:
            want = f.read(FRAME_MAX + 16)
        if want != frame:
            print("%s does not match protoc's encoding of %s (%d vs %d bytes)"
                  % (args.check, args.textfile, len(want), len(frame)))
            return 1
        print("ok: %s matches (%d bytes)" % (args.check, len(frame)))
        return 0
    if args.output:
        with open(args.output, "wb") as f:
            f.write(frame)
    else:
        sys.stdout.buffer.write(frame)
    return 0


if __name__ == "__main__":
    sys.exit(main())
