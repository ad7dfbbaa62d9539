"""Scenarios 5-6: lying frame headers, and frames cut and fused every way, on a mux listener
whose backend (scripts/tests/mux_backend.py, written from docs/protocol.md) logs every message."""
import os
import random
import struct
import sys
import time

from common import ROOT, Gateway, check, closed_within, connect, free_port, wait_for

sys.path.insert(0, os.path.join(ROOT, "scripts", "tests"))
from mux_scenarios import Backend  # noqa: E402

MUX = """[[listener]]
name = "{name}"
bind = "127.0.0.1:{port}"
mode = "mux"
framing = "{framing}"
backend = "logic"
frame_timeout = "{frame_timeout}"
"""

LOGIC = """[[backend]]
name = "logic"
servers = ["127.0.0.1:{port}"]
connections = 2
"""


class MuxBackend(Backend):
    """The mux scenarios' backend on a free port, with look-ups by client port."""

    def __init__(self):
        super().__init__(free_port())

    def sessions_of(self, client_ports):
        wanted = {f"127.0.0.1:{port}" for port in client_ports}
        return {e["session"] for e in self.of("open") if e["client"] in wanted}

    def data_of(self, sessions):
        return [e for e in self.of("data") if e["session"] in sessions]


def mux_gateway(work, name, listeners):
    backend = MuxBackend()
    body = "".join(MUX.format(**listener) for listener in listeners) + LOGIC.format(port=backend.port)
    gateway = Gateway(work, name, body)
    wait_for(lambda: all((row["mux_connections"] or 0) >= 2 for row in gateway.json("show backends")),
             10, "the backend connections to come up")
    return gateway, backend


def lying_headers(work):
    """5. Oversized and lying length headers: closed within 100 ms, nothing forwarded, nothing of
    the announced size held, no crash."""
    tight, hold = free_port(), free_port()
    gateway, backend = mux_gateway(work, "headers", [
        {"name": "tight", "port": tight, "framing": "u32be", "frame_timeout": "50ms"},
        {"name": "hold", "port": hold, "framing": "u32be", "frame_timeout": "30s"}])
    try:
        worker = gateway.worker()
        cases = {"max+1": 64 * 1024 + 1, "0x7FFFFFFF": 0x7FFFFFFF, "0x80000000": 0x80000000, "0xFFFFFFFF": 0xFFFFFFFF}
        close_ms, ports = {}, []
        for name, announced in cases.items():
            client = connect(tight)
            ports.append(client.getsockname()[1])
            client.sendall(struct.pack(">I", announced) + b"abc")
            seconds = closed_within(client, 1.0)
            close_ms[name] = None if seconds is None else round(seconds * 1000, 1)
            client.close()
        # 60 KiB announced, 10 bytes sent: an incomplete frame, closed by the 50 ms frame timeout.
        client = connect(tight)
        ports.append(client.getsockname()[1])
        client.sendall(struct.pack(">I", 60 * 1024) + b"0123456789")
        seconds = closed_within(client, 1.0)
        close_ms["60KiB announced, 10 sent"] = None if seconds is None else round(seconds * 1000, 1)
        client.close()
        # Memory: 300 such clients held open (30 s frame timeout) cost far less than 60 KiB each.
        rss_before = gateway.rss()
        held = []
        for index in range(300):
            client = connect(hold, f"127.0.0.{2 + index % 250}")
            client.sendall(struct.pack(">I", 60 * 1024) + b"0123456789")
            held.append(client)
        time.sleep(0.5)
        per_client = (gateway.rss() - rss_before) / len(held)
        for client in held:
            client.close()
        time.sleep(0.3)
        sessions = backend.sessions_of(ports)
        forwarded = backend.data_of(sessions)
        check(all(ms is not None and ms <= 100 for ms in close_ms.values()), f"close times {close_ms}")
        check(not forwarded, f"{len(forwarded)} frames of lying clients reached the backend")
        check(per_client < 4096, f"{per_client:.0f} B per client holding a 60 KiB claim")
        check(gateway.worker() == worker and gateway.process.poll() is None, "the worker died")
        return {"close_ms": close_ms, "frames_forwarded": len(forwarded), "rss_bytes_per_lying_client": round(per_client)}
    finally:
        gateway.stop()
        backend.stop()


def pieces(frames, style, rng):
    """The bytes of `frames` cut for sending: one byte a write, a frame and a half a write, all
    fused in one write, or at random points."""
    stream = b"".join(frames)
    if style == "bytes":
        return [stream[i:i + 1] for i in range(len(stream))]
    if style == "fused":
        return [stream]
    if style == "frame-and-a-half":
        step = max(1, len(frames[0]) * 3 // 2)
        return [stream[i:i + step] for i in range(0, len(stream), step)]
    cuts = sorted(rng.sample(range(1, len(stream)), min(len(stream) - 1, 6)))
    return [stream[a:b] for a, b in zip([0] + cuts, cuts + [len(stream)])]


def read_frames(client, count, timeout=5):
    """`count` u16be frames from the client socket."""
    client.settimeout(timeout)
    buffer, frames = b"", []
    while len(frames) < count:
        chunk = client.recv(65536)
        if not chunk:
            break
        buffer += chunk
        while len(buffer) >= 2 and len(buffer) >= 2 + struct.unpack(">H", buffer[:2])[0]:
            length = struct.unpack(">H", buffer[:2])[0]
            frames.append(buffer[2:2 + length])
            buffer = buffer[2 + length:]
    return frames


def split_and_fused(work, runs=1000):
    """6. Frames written a byte at a time, a frame and a half at a time, fused, or cut at random:
    the backend sees exactly the frames sent, byte for byte, in every run."""
    port = free_port()
    gateway, backend = mux_gateway(work, "split", [{"name": "split", "port": port, "framing": "u16be",
                                                    "frame_timeout": "5s"}])
    rng = random.Random(8)
    styles = ["bytes", "frame-and-a-half", "fused", "random"]
    exact, ports, sent_payloads, mismatch = 0, [], [], None
    try:
        for run in range(runs):
            payloads = [("m%d-%d-" % (run, i) + "".join(rng.choice("abcdefghij") for _ in range(rng.randrange(1, 300)))).encode()
                        for i in range(5)]
            frames = [struct.pack(">H", len(p)) + p for p in payloads]
            client = connect(port)
            ports.append(client.getsockname()[1])
            for piece in pieces(frames, styles[run % len(styles)], rng):
                client.sendall(piece)
                if run % 40 == 0:
                    time.sleep(0.0005)  # now and then, make each piece its own read
            replies = read_frames(client, len(payloads))
            client.close()
            if replies == [b"echo: " + p for p in payloads]:
                exact += 1
            elif not mismatch:
                mismatch = {"run": run, "style": styles[run % len(styles)], "sent": [len(p) for p in payloads],
                            "got": [r[:24].decode(errors="replace") for r in replies], "port": ports[-1]}
            sent_payloads.extend(p.decode() for p in payloads)
        wait_for(lambda: len(backend.data_of(backend.sessions_of(ports))) >= len(sent_payloads), 10, "the backend's log")
        seen = [e["text"] for e in backend.data_of(backend.sessions_of(ports))]
        if mismatch:
            time.sleep(0.5)
            mismatch["backend_saw"] = [e["text"][:12] for e in backend.data_of(backend.sessions_of([mismatch["port"]]))]
        check(exact == runs, f"{runs - exact} of {runs} runs got other echoes than the frames sent, first: {mismatch}")
        check(sorted(seen) == sorted(sent_payloads), "the backend saw other frames than the clients sent")
        return {"runs": runs, "exact_runs": exact, "frames": len(sent_payloads)}
    finally:
        gateway.stop()
        backend.stop()
