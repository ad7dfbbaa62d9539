"""What the hostile scenarios share: a gateway process with an admin stats socket, echo and mux
backends, client sockets from chosen loopback addresses, and readings from /proc. Stdlib only."""
import json
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts", "lib"))
from proctools import cpu_seconds, free_port, process_tree, rss_bytes, stop, wait_for  # noqa: E402,F401

RELEASE = os.path.join(ROOT, ".build", "release")


class Failed(AssertionError):
    """A pass criterion not met: the scenario fails with this message."""


class LatencyFailed(Failed):
    """A latency percentile past its limit. On this shared 2-CPU host, where the attacking process
    shares the CPUs with the gateway, a p99 can double from noise alone: run.py runs such a
    scenario once more, and a real regression fails both times."""


def check(condition, message):
    if not condition:
        raise Failed(message)


def check_latency(condition, message):
    """`check` for a latency percentile; the last check of its scenario, so nothing else is skipped."""
    if not condition:
        raise LatencyFailed(message)


class Gateway:
    """`bulwark run` on a config made of `body` plus an admin stats socket. `wrap` prefixes the
    command (unshare, prlimit); `env` adds to the environment."""

    def __init__(self, work, name, body, wrap=(), env=None, workers=2, binary=None):
        self.work = work
        self.stats = os.path.join(work, f"{name}.sock")
        self.config = os.path.join(work, f"{name}.toml")
        with open(self.config, "w") as f:
            f.write(f"[server]\nworkers = {workers}\n\n{body}\n\n[[stats]]\nsocket = \"{self.stats}\"\nlevel = \"admin\"\n")
        self.log_path = os.path.join(work, f"{name}.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(list(wrap) + [binary or os.path.join(RELEASE, "bulwark"), "run", "-c", self.config],
                                        stdout=self.log, stderr=self.log, env={**os.environ, **(env or {})})
        wait_for(lambda: self.process.poll() is not None or self.answers(), 15, f"gateway {name} to answer")
        check(self.process.poll() is None, f"gateway {name} exited: {self.log_text()[-400:]}")

    def answers(self):
        try:
            return "version" in self.ask("show info")
        except OSError:
            return False

    def ask(self, command, timeout=5):
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(timeout)
            client.connect(self.stats)
            client.sendall(command.encode() + b"\n")
            chunks = []
            while True:
                chunk = client.recv(65536)
                if not chunk:
                    return b"".join(chunks).decode()
                chunks.append(chunk)

    def json(self, command):
        return json.loads(self.ask(command + " json"))

    def pids(self):
        return process_tree(self.process.pid)

    def worker(self):
        """The worker's pid (the master's only bulwark child)."""
        workers = [pid for pid in self.pids() if pid != self.process.pid and is_bulwark_worker(pid)]
        return workers[-1] if workers else None

    def cpu(self):
        return cpu_seconds(self.pids())

    def rss(self):
        return rss_bytes([self.worker()])

    def fds(self):
        return count_fds(self.worker())

    def threads(self):
        return count_threads(self.worker())

    def log_text(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        stop(self.process)
        self.log.close()


def is_bulwark_worker(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"\0worker\0" in f.read()
    except OSError:
        return False


def count_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def count_threads(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return None


class Process:
    """A helper process (an echo backend, a mux backend); its stdout lines collected by callers."""

    def __init__(self, command, ready=None, wrap=()):
        self.process = subprocess.Popen(list(wrap) + command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if ready:
            line = self.process.stdout.readline()
            check(ready in line, f"{command[0]} did not start: {line!r}")

    @property
    def pid(self):
        return self.process.pid

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def echo_backend(port, wrap=()):
    return Process([os.path.join(RELEASE, "bulwark-echo"), "--listen", f"127.0.0.1:{port}"], "listening", wrap)


def connect(port, source="127.0.0.1", timeout=5, host="127.0.0.1"):
    client = socket.socket()
    client.settimeout(timeout)
    client.bind((source, 0))
    client.connect((host, port))
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def echo_ok(client, payload=b"ping", timeout=2):
    """One round trip through a TCP relay to an echo backend."""
    client.settimeout(timeout)
    try:
        client.sendall(payload)
        received = b""
        while len(received) < len(payload):
            chunk = client.recv(65536)
            if not chunk:
                return False
            received += chunk
        return received == payload
    except OSError:
        return False


def closed_within(client, seconds):
    """Seconds until the peer closed (EOF or reset), or None if still open after `seconds`."""
    start = time.monotonic()
    client.settimeout(seconds)
    try:
        while True:
            chunk = client.recv(65536)
            if not chunk:
                return time.monotonic() - start
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - start
    except socket.timeout:
        return None


def pingpong(port, seconds, warmup=0.5, sources="127.0.0.1", connections=1):
    """bulwark-bench pingpong's JSON (p50_us, p99_us, rtt_per_sec, errors)."""
    return finish_pingpong(start_pingpong(port, seconds, warmup, sources, connections), timeout=seconds + warmup + 60)


def start_pingpong(port, seconds, warmup=0.5, sources="127.0.0.1", connections=1):
    """The same in the background: returns the Popen; `finish_pingpong` reads its JSON."""
    return subprocess.Popen([os.path.join(RELEASE, "bulwark-bench"), "pingpong", "--target", f"127.0.0.1:{port}",
                             "--sources", sources, "--connections", str(connections), "--duration", str(seconds),
                             "--warmup", str(warmup), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_pingpong(process, timeout=120):
    stdout, stderr = process.communicate(timeout=timeout)
    check(process.returncode == 0, f"pingpong failed: {stderr[-300:]}")
    return json.loads(stdout)


def quiet_p99_us(*quiet_runs):
    """The p99 a run under attack is held to: the larger of the quiet runs' p99s, measured before
    and after the attack. On a shared host one run's p99 swings 2-3x with no attack at all
    (300-860 us on an idle gateway, 2026-11-21), so one quiet run alone is not a baseline."""
    return max(run["p99_us"] for run in quiet_runs)


def flood(port, count, rate, sources, hold, payload=b"", timeout=60):
    """scripts/hostile/flood.py in its own process (so its CPU time is the attacker's): its JSON."""
    return finish_flood(start_flood(port, count, rate, sources, hold, payload), timeout=timeout)


def start_flood(port, count, rate, sources, hold, payload=b""):
    return subprocess.Popen([sys.executable, os.path.join(HERE, "flood.py"), str(port), str(count), str(rate),
                             sources, str(hold), payload.hex()], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_flood(process, timeout=120):
    stdout, stderr = process.communicate(timeout=timeout)
    check(process.returncode == 0, f"flood failed: {stderr[-300:]}")
    return json.loads(stdout)


def guard_closes(gateway):
    """Connections SysGuard closed so far, by reason (`show stat`'s closes table)."""
    return {row["reason"]: row["count"] for row in gateway.json("show stat")["closes"]}
