"""Scenario 12: a soak. 5,000 long-lived connections, steady churn, 1% malformed frames and a
reload every minute for HOSTILE_SOAK_SECONDS (600 by default): the worker's RSS slope after
warm-up, fds and threads back to their baseline once the clients leave, no crash."""
import os
import struct
import subprocess
import threading
import time

from common import RELEASE, Gateway, check, connect, echo_backend, free_port, wait_for

SOAK = """[guard]
max_frame = "1KiB"
idle_timeout = "5m"

[[listener]]
name = "plain"
bind = "127.0.0.1:{plain}"
mode = "tcp"
backend = "echo"
backlog = 4096

[[listener]]
name = "framed"
bind = "127.0.0.1:{framed}"
mode = "tcp"
backend = "echo"
framing = "u16be"

[[backend]]
name = "echo"
servers = ["127.0.0.1:{backend}"]
"""


def malformed_traffic(port, stop_event, counts):
    """Frames of 64 bytes at about 200 a second; every 100th is a header over max_frame, after
    which the gateway must close the connection (and the client reconnects)."""
    frame = struct.pack(">H", 64) + b"f" * 64
    sent = 0
    while not stop_event.is_set():
        try:
            client = connect(port, "127.0.0.200")
            while not stop_event.is_set():
                sent += 1
                if sent % 100 == 0:
                    client.sendall(struct.pack(">H", 60000))
                    counts["malformed"] += 1
                    client.settimeout(2)
                    try:
                        counts["closed"] += client.recv(4096) == b""
                    except ConnectionResetError:
                        counts["closed"] += 1
                    break
                client.sendall(frame)
                received = b""
                while len(received) < len(frame):
                    chunk = client.recv(4096)
                    if not chunk:
                        raise ConnectionError("closed on a good frame")
                    received += chunk
                counts["good"] += received == frame
                time.sleep(0.005)
            client.close()
        except OSError:
            counts["errors"] += 1
            time.sleep(0.05)


def last_reload(gateway):
    for line in gateway.ask("show info").splitlines():
        if line.startswith("last_reload: "):
            return line[len("last_reload: "):]
    return ""


def slope_per_10_minutes(samples):
    """Least-squares slope of (seconds, bytes) samples, in bytes per 10 minutes."""
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    return 600 * sum((t - mean_t) * (v - mean_v) for t, v in samples) / var if var else 0.0


def soak(work):
    seconds = int(os.environ.get("HOSTILE_SOAK_SECONDS", "600"))
    backend_port, plain, framed = free_port(), free_port(), free_port()
    backend = echo_backend(backend_port)
    gateway = Gateway(work, "soak", SOAK.format(plain=plain, framed=framed, backend=backend_port))
    bench = os.path.join(RELEASE, "bulwark-bench")
    processes = []
    try:
        worker = gateway.worker()
        fds_baseline, threads_baseline = gateway.fds(), gateway.threads()
        ready = os.path.join(work, "idle-ready")
        processes.append(subprocess.Popen([bench, "idle", "--target", f"127.0.0.1:{plain}", "--connections", "5000",
                                           "--hold", str(seconds), "--ready-file", ready, "--json"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: os.path.exists(ready), 120, "5,000 idle connections")
        processes.append(subprocess.Popen([bench, "churn", "--target", f"127.0.0.1:{plain}", "--parallel", "2",
                                           "--duration", str(max(1, seconds - 10)), "--warmup", "0", "--json",
                                           "--sources", "127.0.0.201-127.0.0.250"],
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
        stop_event, counts = threading.Event(), {"good": 0, "malformed": 0, "closed": 0, "errors": 0}
        malformed = threading.Thread(target=malformed_traffic, args=(framed, stop_event, counts))
        malformed.start()
        started = time.monotonic()
        samples, reloads, next_reload = [], 0, 60
        while time.monotonic() - started < seconds - 10:
            elapsed = time.monotonic() - started
            samples.append((elapsed, gateway.rss()))
            if elapsed >= next_reload:
                # A limit changes each time, so every reload is applied live by the worker.
                with open(gateway.config) as f:
                    text = f.read()
                idle = "6m" if 'idle_timeout = "5m"' in text else "5m"
                with open(gateway.config, "w") as f:
                    f.write(text.replace('idle_timeout = "6m"', 'idle_timeout = "5m"') if idle == "5m"
                            else text.replace('idle_timeout = "5m"', 'idle_timeout = "6m"'))
                before = last_reload(gateway)
                answer = gateway.ask("reload", timeout=30)
                applied = "error" not in answer and wait_for(
                    lambda: (now := last_reload(gateway)) != before and now.startswith("applied"), 30, "the reload")
                reloads += bool(applied)
                next_reload += 60
            time.sleep(5)
        stop_event.set()
        malformed.join()
        churn_output = processes[1].communicate(timeout=60)[0]
        processes[0].wait(timeout=60)
        wait_for(lambda: gateway.fds() <= fds_baseline and gateway.threads() <= threads_baseline, 20,
                 "fds and threads to return to their baseline")
        warm = [s for s in samples if s[0] >= max(30, seconds * 0.25)]
        slope = slope_per_10_minutes(warm) if len(warm) >= 3 else 0.0
        check(gateway.worker() == worker and gateway.process.poll() is None, "the worker or the master died")
        if seconds >= 300:
            check(slope < 1 << 20, f"RSS grew {slope / 1024:.0f} KiB per 10 minutes after warm-up")
        else:  # too short for a slope to mean much: the growth itself must stay under 1 MiB
            growth = warm[-1][1] - warm[0][1] if warm else 0
            check(growth < 1 << 20, f"RSS grew {growth / 1024:.0f} KiB after warm-up in a {seconds} s soak")
        check(counts["malformed"] > 0 and counts["good"] > 0, f"the malformed-traffic client did nothing: {counts}")
        check(counts["closed"] == counts["malformed"], f"not every oversized frame closed its connection: {counts}")
        check(reloads == (seconds - 10) // 60 if seconds >= 70 else True, f"{reloads} reloads succeeded")
        return {"seconds": seconds, "rss_slope_kib_per_10_min": round(slope / 1024, 1),
                "rss_mib": {"first": round(samples[0][1] / 2**20, 1), "last": round(samples[-1][1] / 2**20, 1)},
                "reloads": reloads, "frames": counts, "churn": churn_output.strip()[:200],
                "fds_and_threads_back_to_baseline": True}
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        gateway.stop()
        backend.stop()
