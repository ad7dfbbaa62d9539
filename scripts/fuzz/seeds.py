#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzz targets to Fuzz/corpus/TARGET/seed-NAME.

The layout of each target's input is in its check (Sources/BulwarkFuzzChecks). Seeds are
the cases a reviewer would write by hand: every message type, every framing, the lying and
oversized headers of docs/reliability.md, reads of one byte and of a frame and a half. The
fuzzers grow the corpus from them (`make fuzz`); what they add is committed beside them.
"""
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
CORPUS = os.path.join(ROOT, "Fuzz", "corpus")
FRAMINGS = {"none": 0, "u16be": 1, "u32be": 2, "line": 3}  # Framing.allCases order


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(data)


def cuts_over(points, stream_length):
    """Cut choices (0...65535 scale) that land on these stream offsets."""
    if stream_length == 0:
        return b""
    return b"".join(struct.pack(">H", -(-p * 0xFFFF // stream_length)) for p in points)


def frames_input(framing, max_frame, stream, cut_points=(), frame_allowance=0, byte_allowance=0):
    cuts = cuts_over(cut_points, len(stream))
    return (bytes([FRAMINGS[framing]]) + struct.pack(">H", max_frame - 1) + bytes([len(cut_points)]) + cuts
            + bytes([frame_allowance, byte_allowance]) + stream)


def u16(payload):
    return struct.pack(">H", len(payload)) + payload


def u32(payload):
    return struct.pack(">I", len(payload)) + payload


def frame_seeds():
    hello = b"hello"
    write("frames", "u16-three", frames_input("u16be", 1024, u16(hello) + u16(b"") + u16(b"x" * 100)))
    write("frames", "u32-three", frames_input("u32be", 1024, u32(hello) + u32(b"") + u32(b"y" * 300)))
    write("frames", "line-three", frames_input("line", 64, b"one\n\ntwo three\n"))
    write("frames", "stream", frames_input("none", 16, b"anything at all, no frames"))
    stream = u16(b"a" * 10) + u16(b"b" * 20)
    write("frames", "u16-one-byte-reads", frames_input("u16be", 1024, stream, cut_points=list(range(1, 31))))
    stream = u32(b"c" * 40) * 2
    write("frames", "u32-frame-and-a-half", frames_input("u32be", 1024, stream, cut_points=[66]))
    write("frames", "u16-max", frames_input("u16be", 8, u16(b"z" * 8)))
    write("frames", "u16-max-plus-one", frames_input("u16be", 8, u16(b"z" * 9)))
    for name, value in [("7fffffff", 0x7FFFFFFF), ("80000000", 0x80000000), ("ffffffff", 0xFFFFFFFF)]:
        write("frames", "u32-header-" + name, frames_input("u32be", 65536, struct.pack(">I", value) + b"x"))
    # A header claiming 60 KiB followed by 10 bytes: incomplete, never an allocation of 60 KiB.
    write("frames", "u32-lying", frames_input("u32be", 65536, struct.pack(">I", 60 * 1024) + b"0123456789"))
    write("frames", "line-exactly-max", frames_input("line", 8, b"1234567\n"))
    write("frames", "line-max-plus-one", frames_input("line", 8, b"12345678\n"))
    write("frames", "line-unended-at-max", frames_input("line", 8, b"12345678"))
    stream = b"".join(u16(bytes([i]) * i) for i in range(12))
    write("frames", "u16-limited", frames_input("u16be", 256, stream, cut_points=[5, 40, 41], frame_allowance=2,
                                                byte_allowance=1))


def message(kind, body):
    return struct.pack(">I", len(body) + 1) + bytes([kind]) + body


def short(text):
    return bytes([len(text)]) + text


def string(text):
    return struct.pack(">H", len(text)) + text


def protocol_input(from_backend, stream, cut_points=(), limit_kib=0):
    cuts = cuts_over(cut_points, len(stream))
    return bytes([0 if from_backend else 1, limit_kib, len(cut_points)]) + cuts + stream


def protocol_seeds():
    session = struct.pack(">Q", 0x0001000000000002)
    backend = [
        message(0x81, b"\x01"),
        message(0x82, session + b"payload"),
        message(0x83, session + b"\x04"),
        message(0x84, session + string(b"user-42")),
        message(0x85, session + string(b"room")),
        message(0x86, session + string(b"room")),
        message(0x87, string(b"room") + b"to the room"),
        message(0x88, short(b"chat") + b"to everyone"),
        message(0x05, struct.pack(">Q", 7)),
        message(0x06, struct.pack(">Q", 7)),
        message(0x8F, string(b"something went wrong")),
    ]
    write("protocol", "backend-every-type", protocol_input(True, b"".join(backend)))
    write("protocol", "backend-one-byte-reads", protocol_input(True, b"".join(backend[:3]), cut_points=list(range(1, 31))))
    write("protocol", "backend-unknown-type", protocol_input(True, message(0x99, b"??")))
    write("protocol", "backend-zero-length", protocol_input(True, struct.pack(">I", 0)))
    write("protocol", "backend-over-limit", protocol_input(True, struct.pack(">I", 2048) + b"\x82", limit_kib=1))
    write("protocol", "backend-short-body", protocol_input(True, message(0x84, session + b"\x00\x10ab")))
    write("protocol", "backend-bad-utf8", protocol_input(True, message(0x88, short(b"\xff" * 200) + b"x")))
    gateway = [
        message(0x01, b"\x01" + struct.pack(">HI", 3, 5000) + short(b"gw-3")),
        message(0x02, session + b"\x00\x04" + bytes([127, 0, 0, 2]) + struct.pack(">H", 40000) + short(b"chat")),
        message(0x02, session + b"\x01\x06" + bytes(16) + struct.pack(">H", 1) + short(b"chat")),
        message(0x03, session + b"frame"),
        message(0x04, session + b"\x01"),
        message(0x05, struct.pack(">Q", 9)),
        message(0x06, struct.pack(">Q", 9)),
    ]
    write("protocol", "gateway-every-type", protocol_input(False, b"".join(gateway)))
    write("protocol", "gateway-bad-family", protocol_input(False, message(0x02, session + b"\x00\x05" + bytes(8))))
    write("protocol", "gateway-frame-and-a-half", protocol_input(False, b"".join(gateway[3:5]), cut_points=[20]))


def config_seeds():
    with open(os.path.join(ROOT, "etc", "bulwark.toml"), "rb") as f:
        write("config", "shipped", f.read())
    minimal = b'[[listener]]\nname = "front"\nbind = "127.0.0.1:7000"\nmode = "tcp"\nbackend = "pool"\n' \
              b'[[backend]]\nname = "pool"\nservers = ["127.0.0.1:7001"]\n'
    write("config", "minimal", minimal)
    write("config", "mux", minimal.replace(b'mode = "tcp"', b'mode = "mux"\nframing = "u16be"')
          + b'connections = 4\npick_tries = 3\nresolve_interval = "30s"\n')
    write("config", "guard", b'[guard]\nmax_connections = 100\nper_ip = 5\nmax_frame = "64KiB"\n'
          b'idle_timeout = "1m"\nframe_timeout = "250ms"\nmemory_low_mark = "10%"\ndry_run = ["per_ip"]\n' + minimal)
    write("config", "stats", minimal + b'[[stats]]\nsocket = "/tmp/x.sock"\nlevel = "admin"\nmode = "0660"\n')
    write("config", "syntax-error", b'[server\nworkers = 2\n')
    write("config", "unknown-key", b'[server]\nworkerz = 2\n' + minimal)
    write("config", "bad-values", b'[server]\nworkers = -1\n[guard]\nmax_frame = "12 parsecs"\n' + minimal)
    write("config", "strings", b'[server]\nuser = "\\u00e9t\\u00e9"\ngroup = \'literal\'\nnode_id = 0x10\n'
          b'a = """multi\nline"""\n' + minimal)
    write("config", "inline-tables", b'x = { a = 1, b = [1, 2, [3]] }\n[[listener]]\n[[listener]]\n')


def stats_seeds():
    commands = [
        b"help", b"show info", b"show info json", b"show stat json", b"show guard", b"show backends json",
        b"show ips limit 3", b"show conns limit 10 json", b"show channels", b"show metrics",
        b"set guard per_ip 10", b"set guard max_frame 1KiB", b"set guard nosuchkey 1", b"set guard",
        b"reload", b"upgrade", b"disable listener front", b"enable listener front", b"disable listener nope",
        b"kick conn 1", b"kick conn x", b"kick ip 127.0.0.0/8", b"kick ip ::1/200", b"kick user someone",
        b"prompt", b"quit", b"  show  info  \r", b"json", b"show json", b"\xff\xfe garbage \x00",
    ]
    for index, command in enumerate(commands):
        write("stats", "command-%02d" % index, command + b"\n")
    write("stats", "many-lines", b"\n".join(commands[:16]))
    write("stats", "http-get", b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    write("stats", "http-post", b"POST /metrics HTTP/1.0\r\n\r\n")
    write("stats", "http-bad", b"GET\r\n\r\n")


if __name__ == "__main__":
    frame_seeds()
    protocol_seeds()
    config_seeds()
    stats_seeds()
    for target in sorted(os.listdir(CORPUS)):
        print(target, len(os.listdir(os.path.join(CORPUS, target))), "inputs", file=sys.stderr)
