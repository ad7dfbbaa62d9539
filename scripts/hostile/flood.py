#!/usr/bin/env python3
"""A connection flood: opens COUNT connections to 127.0.0.1:PORT at up to RATE a second, each
from the next address of SOURCES (A-B over 127.0.0.x, or one address), sends PAYLOAD (hex) on
each, and watches them: the time from connect to the gateway's close, for each one closed
within HOLD seconds of its connect; the others count as held (accepted). Then closes all.

Usage: flood.py PORT COUNT RATE SOURCES HOLD [PAYLOAD_HEX]. Prints one JSON object: attempted,
connect_failures, closed, held, close_ms (p50, p99, max), attacker_cpu_seconds, seconds.
Bounded: COUNT connections, and COUNT / RATE + HOLD + 5 seconds at most.
"""
import json, os, resource, selectors, socket, sys, time


def sources_of(text):
    if "-" in text:
        first, last = text.split("-")
        prefix = first.rsplit(".", 1)[0]
        return [f"{prefix}.{n}" for n in range(int(first.rsplit(".", 1)[1]), int(last.rsplit(".", 1)[1]) + 1)]
    return [text]


def main():
    port, count, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    sources, hold = sources_of(sys.argv[4]), float(sys.argv[5])
    payload = bytes.fromhex(sys.argv[6]) if len(sys.argv) > 6 else b""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    selector = selectors.DefaultSelector()
    opened = {}  # socket -> connect time
    close_seconds, failures = [], 0
    start = time.monotonic()
    deadline = start + count / rate + hold + 5
    attempted = 0
    while time.monotonic() < deadline:
        now = time.monotonic()
        while attempted < count and attempted < (now - start) * rate + 1:
            client = socket.socket()
            client.bind((sources[attempted % len(sources)], 0))
            attempted += 1
            try:
                client.connect(("127.0.0.1", port))
                if payload:
                    client.sendall(payload)
            except OSError:
                failures += 1
                client.close()
                continue
            client.setblocking(False)
            opened[client] = time.monotonic()
            selector.register(client, selectors.EVENT_READ)
        for key, _ in selector.select(timeout=0.002):
            client = key.fileobj
            try:
                data = client.recv(65536)
            except OSError:
                data = b""
            if not data:
                close_seconds.append(time.monotonic() - opened.pop(client))
                selector.unregister(client)
                client.close()
        if attempted >= count and all(time.monotonic() - t > hold for t in opened.values()):
            break
    held = len(opened)
    for client in opened:
        client.close()
    times = sorted(close_seconds)
    pick = lambda f: round(times[min(len(times) - 1, int(f * len(times)))] * 1000, 2) if times else None
    usage = os.times()
    print(json.dumps({"attempted": attempted, "connect_failures": failures, "closed": len(times), "held": held,
                      "close_ms": {"p50": pick(0.5), "p99": pick(0.99), "max": pick(1.0)},
                      "attacker_cpu_seconds": round(usage.user + usage.system, 3),
                      "seconds": round(time.monotonic() - start, 3)}))


if __name__ == "__main__":
    main()
