#!/usr/bin/env python3
"""A client of credlist's batch socket (SPEC §6, §8), Python 3 standard library only.

Sends FRAMES request frames, each with all the CODEs, in one write (so they
are in flight together), reads the answers in order and prints one JSON line
per answer:

    {"request_id": 7, "version": 1, "status": 0, "flags": [10, 0, 1]}
    {"request_id": 8, "version": 1, "status": 4, "message": "unknown matter \"x\""}

Flag bits: 1 UNANSWERED, 2 BLACK, 4 WATCH, 8 RED, 16 SUSPENDED, 32 MUST_APPLY,
64 MAY_APPLY, 128 REWARD. With `--version 2` the frames are of protocol
version 2, answered with one little-endian u16 of flags per code: the same
low byte, and 256 RELATED_BLACK, 512 RELATED_WATCH, 1024 RELATED_RED (a code
related to the subject, as this caller may see it, has that status).

    python3 tests/batch_client.py --socket ./credlist-demo/batch.sock \
        --matter gov_procurement 91350100MA2Y3K8L5G
"""

import argparse
import datetime
import json
import socket
import struct
import sys

OP_CHECK = 1
# Protocol version -> bytes of flags per code in a success answer.
FLAG_WIDTH = {1: 1, 2: 2}


def encode_request(request_id, as_of, matter, codes, version=1):
    """One request frame: u32 len | u8 version | u8 op | u64 request_id |
    u32 as_of | u16 matter_len | matter | u32 n | n x 18 code bytes."""
    if version not in FLAG_WIDTH:
        raise ValueError(f"unknown protocol version {version}")
    m = matter.encode("utf-8")
    body = struct.pack("<BBQIH", version, OP_CHECK, request_id, as_of, len(m))
    body += m + struct.pack("<I", len(codes))
    for c in codes:
        b = c.encode("ascii")
        if len(b) != 18:
            raise ValueError(f"a batch code has 18 characters: {c!r}")
        body += b
    return struct.pack("<I", len(body)) + body


def read_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def read_response(sock, expected_version=1):
    """One answer: u32 len | u8 version | u8 status | u64 request_id |
    u32 count | count flags (1 byte each in version 1, a little-endian u16
    in version 2) or, when status != 0, count bytes of message. A frame is
    answered in its own version."""
    (length,) = struct.unpack("<I", read_exact(sock, 4))
    if length < 14:
        raise ValueError(f"response frame of {length} bytes, shorter than its header")
    frame = read_exact(sock, length)
    version, status, request_id, count = struct.unpack("<BBQI", frame[:14])
    if version != expected_version:
        raise ValueError(f"answer of version {version}, expected {expected_version}")
    width = FLAG_WIDTH[version] if status == 0 else 1
    if length != 14 + count * width:
        raise ValueError("malformed response frame")
    rest = frame[14:]
    if status == 0:
        if width == 1:
            flags = list(rest)
        else:
            flags = list(struct.unpack(f"<{count}H", rest))
        return {"request_id": request_id, "version": version, "status": 0, "flags": flags}
    return {
        "request_id": request_id,
        "version": version,
        "status": status,
        "message": rest.decode("utf-8", "replace"),
    }


def days(as_of):
    if as_of in ("0", ""):
        return 0
    d = datetime.date.fromisoformat(as_of)
    return (d - datetime.date(1970, 1, 1)).days


def main():
    p = argparse.ArgumentParser(description="credlist batch socket client")
    p.add_argument("--socket", required=True, help="path of the batch socket")
    p.add_argument("--matter", default="", help="matter id (empty: lists only)")
    p.add_argument("--as-of", default="0", help="YYYY-MM-DD, or 0 for today")
    p.add_argument("--frames", type=int, default=1, help="frames sent together")
    p.add_argument("--request-id", type=int, default=1, help="id of the first frame")
    p.add_argument("--codes-file", help="codes, one per line (in addition to CODE arguments)")
    p.add_argument("--timeout", type=float, default=30.0, help="socket timeout in seconds")
    p.add_argument(
        "--version",
        type=int,
        choices=sorted(FLAG_WIDTH),
        default=1,
        help="protocol version of the frames (2: u16 flags with the RELATED bits)",
    )
    p.add_argument("codes", nargs="*", metavar="CODE")
    a = p.parse_args()

    codes = list(a.codes)
    if a.codes_file:
        with open(a.codes_file, encoding="ascii") as f:
            codes += [line.strip() for line in f if line.strip()]
    as_of = days(a.as_of)
    frames = b"".join(
        encode_request(a.request_id + i, as_of, a.matter, codes, a.version)
        for i in range(a.frames)
    )
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(a.timeout)
        s.connect(a.socket)
        s.sendall(frames)
        for _ in range(a.frames):
            r = read_response(s, a.version)
            print(json.dumps(r))
            if r["status"] in (1, 2):
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
