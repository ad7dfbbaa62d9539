#!/usr/bin/env python3
"""Side-by-side benchmark: Bulwark against HAProxy and nginx (stream), with the echo itself as
the ceiling. Started by scripts/bench/run.sh (which installs and builds first); stdlib only.

Phases, in order (docs/benchmarks.md says what each measures):
  rounds   per round, the targets in rotated order; per target: pingpong at each of
           PINGPONG_CONNECTIONS, the CONNECTIONS pingpong again while IDLE_DURING_PINGPONG idle
           connections are open, stream, churn (the bulwark-noguard and bulwark-guards variants:
           the CONNECTIONS pingpong and churn only)
  redis    redis-benchmark through each gateway to one redis-server, per REDIS_PIPELINES, ROUNDS
           rounds in rotated order
  memory   per gateway and per IDLE_CONNECTIONS count, a fresh start: RSS and kernel memory with
           the connections silent, then after each echoed one BURST
  mux      scripts/bench/mux_bench.py's figures

Environment (all optional):
  ROUNDS=3            rounds; the target order is rotated each round
  DURATION=5          measured seconds per pingpong and stream run
  WARMUP=2            unmeasured seconds before each pingpong, stream and churn window
  PINGPONG_CONNECTIONS="1 64 1000"  pingpong connection counts (CONNECTIONS is added if missing)
  CONNECTIONS=64      the pingpong the variants run, and the one repeated with idle connections
  SIZE=64             pingpong message bytes
  IDLE_DURING_PINGPONG=5000  idle connections held during the repeated pingpong (0 skips it)
  STREAM_CONNECTIONS=16  stream connections (0 skips stream)
  STREAM_PIPELINE=16  messages in flight per stream connection
  STREAM_SIZE=4096    stream message bytes
  CHURN_DURATION=3    measured seconds per churn run (0 skips churn)
  CHURN_PARALLEL=32   connections in progress at a time in churn
  REDIS_PIPELINES="1 16"  redis-benchmark -P values ("" skips redis)
  REDIS_REQUESTS=100000   redis-benchmark -n at -P 1; times the pipeline depth at the others
  REDIS_CLIENTS=50    redis-benchmark -c
  CLIENT_THREADS=1    bulwark-bench threads
  ECHO_THREADS=1      bulwark-echo threads
  WORKERS=2           gateway threads/processes (bulwark workers, haproxy nbthread, nginx workers)
  IDLE_CONNECTIONS="1000 2000 5000"  connection counts of the memory test ("0" or "" skips it)
  BURST=32768         bytes each held connection echoes once, for the second memory reading
  SETTLE=2            seconds to wait before each memory reading
  MUX=1               0 skips the mux figures
  MUX_SESSIONS=8000   idle mux sessions in the mux broadcast figure
  TARGETS="direct bulwark haproxy nginx bulwark-noguard bulwark-guards"
  PHASES="rounds redis memory mux"  the phases to run, in this order (e.g. PHASES=redis alone)
  BIN=.build/release  where bulwark, bulwark-echo and bulwark-bench are (relative to the repo,
                      or absolute)
  RESULTS_DIR=bench-results
  KEEP_TMP=1          keep the temporary directory (configs, logs) instead of removing it
Usage: bench.py [--print-configs]
"""

import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from proctools import cpu_seconds, env_float, env_int, process_tree, rss_bytes  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
GATEWAYS = ("bulwark", "bulwark-noguard", "bulwark-guards", "haproxy", "nginx")
BULWARK_VARIANTS = ("bulwark", "bulwark-noguard", "bulwark-guards")
# The variants only run the CONNECTIONS pingpong, churn, and the memory test at the largest
# count: what the guards cost shows there, and the other figures would add minutes to every run.
REDUCED = ("bulwark-noguard", "bulwark-guards")
PEERS = ("haproxy", "nginx")


def env_ints(name, default):
    """A list of integers from the environment ("1 64 1000" or "1,64,1000"); unset: `default`;
    set but blank, or "0": no values."""
    value = os.environ.get(name)
    if value is None:
        return list(default)
    return [int(v) for v in value.replace(",", " ").split() if int(v) > 0]


def pingpong_counts():
    counts = env_ints("PINGPONG_CONNECTIONS", [1, 64, 1000])
    reference = env_int("CONNECTIONS", 64)
    return sorted(set(counts) | {reference})


PHASES = ("rounds", "redis", "memory", "mux")  # run()'s phases, in their order
SETTINGS = {
    "rounds": env_int("ROUNDS", 3),
    "duration": env_float("DURATION", 5),
    "warmup": env_float("WARMUP", 2),
    "pingpong_connections": pingpong_counts(),
    "connections": env_int("CONNECTIONS", 64),
    "size": env_int("SIZE", 64),
    "idle_during_pingpong": env_int("IDLE_DURING_PINGPONG", 5000),
    "stream_connections": env_int("STREAM_CONNECTIONS", 16),
    "stream_pipeline": env_int("STREAM_PIPELINE", 16),
    "stream_size": env_int("STREAM_SIZE", 4096),
    "churn_duration": env_float("CHURN_DURATION", 3),
    "churn_parallel": env_int("CHURN_PARALLEL", 32),
    "redis_pipelines": env_ints("REDIS_PIPELINES", [1, 16]),
    "redis_requests": env_int("REDIS_REQUESTS", 100000),
    "redis_clients": env_int("REDIS_CLIENTS", 50),
    "client_threads": env_int("CLIENT_THREADS", 1),
    "echo_threads": env_int("ECHO_THREADS", 1),
    "workers": env_int("WORKERS", 2),
    "idle_connections": env_ints("IDLE_CONNECTIONS", [1000, 2000, 5000]),
    "burst": env_int("BURST", 32768),
    "settle": env_float("SETTLE", 2),
    "mux": env_int("MUX", 1),
    "mux_sessions": env_int("MUX_SESSIONS", 8000),
    "phases": os.environ.get("PHASES", " ".join(PHASES)).split(),
    "targets": os.environ.get("TARGETS", "direct bulwark haproxy nginx bulwark-noguard bulwark-guards").split(),
}
BIN = os.path.join(ROOT, os.environ.get("BIN", ".build/release"))
RESULTS_DIR = os.path.join(ROOT, os.environ.get("RESULTS_DIR", "bench-results"))
SOURCES = "127.0.0.2-127.0.0.254"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

# The goals the report marks met or missed (docs/benchmarks.md, "Goals").
GOAL_RATE_RATIO = 1.2          # pingpong 64 and 1000, churn: Bulwark's rate / the better peer's
GOAL_CPU_US_PER_RT = 9.5       # pingpong 64 and 1000: Bulwark's CPU per round trip
GOAL_BYTES_PER_CONN = 1024     # idle memory, user space, silent and after the burst
GOAL_IDLE_RATIO = 0.95         # pingpong with the idle connections open / without


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Configs (the exact text each gateway runs with; `--print-configs` shows them)

# SysGuard settings of the Bulwark variants. "bulwark" runs the shipped defaults (idle and frame
# timeouts on, like HAProxy's `timeout client`); "bulwark-noguard" switches every guard off;
# "bulwark-guards" switches every guard that applies to a byte stream on, with limits far
# above what the benchmark reaches, so they decide on every connection and read but never trip.
GUARD_SECTIONS = {
    "bulwark": "",
    "bulwark-noguard": """
[guard]
idle_timeout = "0s"
frame_timeout = "0s"
""",
    "bulwark-guards": """
[guard]
max_connections = 100000
max_connections_per_ip = 100000
sample_interval = "1s"
max_load = 1000.0
max_memory_used_percent = 99
min_memory_available = "1MiB"
max_swap_used_percent = 100
idle_timeout = "1h"
byte_rate_soft = "1GiB"
byte_rate_hard = "2GiB"
keepalive_idle = "60s"
deny = ["10.255.255.255"]
""",
}


def bulwark_config(port, echo_port, workers, variant="bulwark"):
    return f"""[server]
workers = {workers}

[log]
level = "warning"
{GUARD_SECTIONS[variant]}
[[listener]]
name = "bench"
bind = "127.0.0.1:{port}"
mode = "tcp"
backend = "echo"

[[backend]]
name = "echo"
servers = ["127.0.0.1:{echo_port}"]
connect_timeout = "3s"
"""


def haproxy_config(port, echo_port, workers):
    # No log lines at all; maxconn covers 5000+ relayed connections (each costs two fds).
    return f"""global
    nbthread {workers}
    maxconn 9000

defaults
    mode tcp
    timeout connect 3s
    timeout client 1h
    timeout server 1h

frontend bench
    bind 127.0.0.1:{port}
    default_backend echo

backend echo
    server echo1 127.0.0.1:{echo_port}
"""


def nginx_config(port, echo_port, workers, prefix):
    # worker_connections counts both sides of a relayed connection.
    return f"""load_module {NGINX_STREAM_MODULE};
daemon off;
master_process on;
worker_processes {workers};
worker_rlimit_nofile 20000;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;

events {{
    worker_connections 16384;
}}

stream {{
    server {{
        listen 127.0.0.1:{port} reuseport;
        proxy_pass 127.0.0.1:{echo_port};
        proxy_connect_timeout 3s;
        proxy_timeout 1h;
    }}
}}
"""


# ---------------------------------------------------------------------------------------------
# Processes

class Processes:
    """Everything this script starts, each in its own process group, killed on exit."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.started = []  # Popen objects
        # run.sh's EXIT trap kills the groups listed here, should this script die without cleaning up.
        self.pgid_file = os.environ.get("BENCH_PGIDS_FILE") or os.path.join(tmp, "pgids")

    def start(self, name, argv, stdout=None, env=None):
        log_path = os.path.join(self.tmp, f"{name}.log")
        err = open(log_path, "ab")
        process = subprocess.Popen(
            argv, stdout=stdout if stdout is not None else err, stderr=err,
            stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.tmp, env=env)
        err.close()
        self.started.append(process)
        with open(self.pgid_file, "a") as f:
            f.write(f"{process.pid}\n")
        return process

    def stop(self, process, timeout=5):
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:  # leftovers of the group (nginx workers, a bulwark worker)
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if process.poll() is None:
            process.wait(5)
        if process in self.started:
            self.started.remove(process)

    def stop_all(self):
        clean = True
        for process in list(reversed(self.started)):
            try:
                self.stop(process, timeout=3)
            except Exception as error:  # keep going: everything must be stopped
                clean = False
                log(f"could not stop pid {process.pid}: {error}")
        if clean:
            open(self.pgid_file, "w").close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def echo_works(port, timeout=10.0):
    """True once a connection to `port` echoes a few bytes (through a gateway: its backend too)."""
    payload = b"bulwark-bench-ready\n"
    return answers(port, payload, payload, timeout)


def redis_works(port, timeout=10.0):
    """True once a connection to `port` answers a PING (through a gateway: redis-server's)."""
    return answers(port, b"PING\r\n", b"+PONG\r\n", timeout)


def answers(port, request, expected, timeout):
    """True once a connection to `port` answers `request` with exactly `expected`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.settimeout(2)
                s.sendall(request)
                got = b""
                while len(got) < len(expected):
                    chunk = s.recv(64)
                    if not chunk:
                        break
                    got += chunk
                if got == expected:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def kernel_memory():
    """System-wide kernel memory that grows with sockets, in bytes: slab objects (the socket,
    inode, dentry, file, epoll and timerfd objects) and the pages charged to TCP socket buffers
    (/proc/net/sockstat "TCP: ... mem")."""
    slab, source = slab_bytes()
    tcp = None
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                fields = line.split()
                tcp = int(fields[fields.index("mem") + 1]) * PAGE_SIZE
    return {"slab": slab, "tcp_mem": tcp, "slab_source": source}


# TIME_WAIT and SYN_RECV socks: those of the churn and of earlier memory readings expire 60 s
# later, in the middle of some other reading, and would show there as noise.
SLAB_NOISE = ("tw_sock_", "request_sock_")


def slab_bytes():
    """Slab objects in use: /proc/slabinfo's active objects × object size over every cache but
    SLAB_NOISE; where /proc/slabinfo cannot be read (not root), /proc/meminfo's Slab (all of it,
    in whole pages). (bytes, source)."""
    try:
        with open("/proc/slabinfo") as f:
            total = 0
            for line in f.readlines()[2:]:
                fields = line.split()
                if not fields[0].startswith(SLAB_NOISE):
                    total += int(fields[1]) * int(fields[3])
            return total, "slabinfo"
    except (OSError, IndexError, ValueError):
        pass
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                return int(line.split()[1]) * 1024, "meminfo"
    return None, "none"


# ---------------------------------------------------------------------------------------------
# Targets

class Target:
    def __init__(self, name, port, process=None, available=True, reason=""):
        self.name = name
        self.port = port
        self.process = process
        self.available = available
        self.reason = reason
        self.pids = []

    def refresh_pids(self):
        self.pids = process_tree(self.process.pid) if self.process else []


class IdleClient:
    """`bulwark-bench idle` holding `count` connections open through a target while this script
    measures; it steps through marker files: "opened" (every connection open), then, with a
    burst, "burst" (this script lets the bursts start) and "ready" (bursts done), then
    "release" (this script ends the hold; the client checks each connection and exits)."""

    def __init__(self, bench, target, count, burst, tag, hold):
        self.bench = bench
        self.count = count
        self.marks = {k: os.path.join(bench.tmp, f"{tag}.{k}") for k in ("opened", "burst", "ready", "release")}
        for path in self.marks.values():
            if os.path.exists(path):
                os.remove(path)
        args = ["idle", "--target", f"127.0.0.1:{target.port}", "--connections", str(count),
                "--hold", str(hold), "--burst", str(burst), "--sources", SOURCES,
                "--connect-timeout", "60", "--burst-timeout", "60",
                "--opened-file", self.marks["opened"], "--ready-file", self.marks["ready"],
                "--hold-until-file", self.marks["release"], "--json"]
        if burst:
            args += ["--burst-when-file", self.marks["burst"]]
        self.process = bench.processes.start(tag, [os.path.join(BIN, "bulwark-bench")] + args,
                                             stdout=subprocess.PIPE)
        self.tag = tag

    def reached(self, mark, timeout=90):
        """Waits until the client wrote `mark` (False if it exited or `timeout` s passed first)."""
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.marks[mark]):
            if self.process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def allow(self, mark):
        open(self.marks[mark], "w").close()

    def finish(self, timeout=60):
        """Ends the hold, waits for the client's verdict; its JSON (opened, alive, ...)."""
        self.allow("burst")
        self.allow("release")
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            out = b""
        self.bench.processes.stop(self.process)
        data = {}
        for line in (out or b"").decode().splitlines():
            if line.startswith("{"):
                data = json.loads(line)
        if not data:
            data = {"failure": self.bench.log_tail(self.tag)}
        data["exit_status"] = self.process.returncode
        return data


class Bench:
    def __init__(self, tmp):
        self.tmp = tmp
        self.processes = Processes(tmp)
        self.echo_port = None
        self.echo = None
        self.targets = {}
        self.configs = {}

    # -- starting ---------------------------------------------------------------------------

    def spawn_echo(self, tag):
        """A bulwark-echo on a free port: (process, port)."""
        argv = [os.path.join(BIN, "bulwark-echo"), "--listen", "127.0.0.1:0",
                "--threads", str(SETTINGS["echo_threads"])]
        process = self.processes.start(tag, argv, stdout=subprocess.PIPE)
        line = process.stdout.readline().decode().strip()
        if not line.startswith("listening on "):
            raise SystemExit(f"bulwark-echo did not start: {line!r} (see {self.tmp}/{tag}.log)")
        return process, int(line.rsplit(":", 1)[1])

    def start_echo(self):
        self.echo, self.echo_port = self.spawn_echo("echo")
        log(f"echo on 127.0.0.1:{self.echo_port} (pid {self.echo.pid})")
        direct = Target("direct", self.echo_port, self.echo)
        direct.refresh_pids()
        self.targets["direct"] = direct

    def write_config(self, name, text, filename):
        path = os.path.join(self.tmp, filename)
        with open(path, "w") as f:
            f.write(text)
        self.configs[name] = text
        return path

    def start_gateway(self, name, backend_port=None, probe=echo_works, suffix=""):
        """Starts (or restarts) one gateway on a fresh port, relaying to `backend_port` (the
        echo when None); `probe` says when it relays. Returns its Target."""
        old = self.targets.get(name)
        if old and old.process:
            self.processes.stop(old.process)
        port = free_port()
        backend_port = backend_port or self.echo_port
        workers = SETTINGS["workers"]
        if name in BULWARK_VARIANTS:
            binary = os.path.join(BIN, "bulwark")
            if not os.access(binary, os.X_OK):
                return self.unavailable(name, f"{binary} is missing (build failed or not written yet)")
            path = self.write_config(name + suffix, bulwark_config(port, backend_port, workers, name), name + ".toml")
            argv = [binary, "run", "-c", path]
        elif name == "haproxy":
            binary = shutil.which("haproxy")
            if not binary:
                return self.unavailable(name, "haproxy is not installed")
            path = self.write_config(name + suffix, haproxy_config(port, backend_port, workers), "haproxy.cfg")
            argv = [binary, "-f", path, "-db"]
        elif name == "nginx":
            binary = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
            if not binary or not os.path.exists(NGINX_STREAM_MODULE):
                return self.unavailable(name, "nginx or its stream module is not installed")
            prefix = os.path.join(self.tmp, "nginx")
            os.makedirs(prefix, exist_ok=True)
            path = self.write_config(name + suffix, nginx_config(port, backend_port, workers, prefix), "nginx/nginx.conf")
            argv = [binary, "-p", prefix, "-c", path, "-e", os.path.join(prefix, "error.log")]
        else:
            raise ValueError(name)
        process = self.processes.start(name, argv)
        target = Target(name, port, process)
        self.targets[name] = target
        if not probe(port, timeout=10) or process.poll() is not None:
            tail = self.log_tail(name)
            self.processes.stop(process)
            return self.unavailable(name, f"{name} did not relay to its backend within 10 s. Log tail:\n{tail}")
        time.sleep(0.3)  # let worker processes settle before their pids are read
        target.refresh_pids()
        log(f"{name}{suffix} on 127.0.0.1:{port}, pids {target.pids}")
        return target

    def stop_gateways(self):
        for name in GATEWAYS:
            target = self.targets.get(name)
            if target and target.process:
                self.processes.stop(target.process)
                target.process = None

    def unavailable(self, name, reason):
        log(f"SKIPPING {name}: {reason}")
        target = Target(name, None, None, available=False, reason=reason)
        self.targets[name] = target
        return target

    def log_tail(self, name, lines=15):
        paths = [os.path.join(self.tmp, f"{name}.log")]
        if name == "nginx":
            paths.append(os.path.join(self.tmp, "nginx", "error.log"))
        out = []
        for path in paths:
            try:
                with open(path, errors="replace") as f:
                    out += f.read().splitlines()[-lines:]
            except OSError:
                pass
        return "\n".join("    " + line for line in out)

    # -- the figures of one round -----------------------------------------------------------

    def round_figures(self, name):
        """(figure, function) pairs one round runs against target `name`, in order."""
        s = SETTINGS
        counts = [s["connections"]] if name in REDUCED else s["pingpong_connections"]
        figures = [(f"pingpong {count}", lambda t, c=count: self.pingpong(t, c)) for count in counts]
        if name not in REDUCED:
            if s["idle_during_pingpong"] > 0:
                figures.append(("pingpong idle", self.pingpong_with_idle))
            if s["stream_connections"] > 0:
                figures.append(("stream", self.stream))
        if s["churn_duration"] > 0:
            figures.append(("churn", self.churn))
        return figures

    def bench(self, args, timeout):
        argv = [os.path.join(BIN, "bulwark-bench")] + args + ["--json"]
        try:
            result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"errors": -1, "failure": f"bulwark-bench did not finish within {timeout} s", "exit_status": -1}
        text = result.stdout.decode().strip().splitlines()
        data = None
        for line in reversed(text):
            if line.startswith("{"):
                data = json.loads(line)
                break
        if data is None:
            data = {"errors": -1, "failure": result.stderr.decode()[-2000:]}
        data["exit_status"] = result.returncode
        return data

    def timed_args(self, command, target, duration):
        return [command, "--target", f"127.0.0.1:{target.port}", "--duration", str(duration),
                "--warmup", str(SETTINGS["warmup"]), "--threads", str(SETTINGS["client_threads"]),
                "--sources", SOURCES, "--cpu-pids", ",".join(map(str, target.pids))]

    def pingpong(self, target, connections):
        s = SETTINGS
        args = self.timed_args("pingpong", target, s["duration"]) + [
            "--connections", str(connections), "--size", str(s["size"])]
        # 60 s on top: opening 1,000 connections and the client's own stall timeout fit easily.
        return self.bench(args, timeout=s["duration"] + s["warmup"] + 60)

    def pingpong_with_idle(self, target):
        """The CONNECTIONS pingpong while IDLE_DURING_PINGPONG idle connections are open through
        the same target: a gateway whose event loop walks every connection slows down here."""
        s = SETTINGS
        count = s["idle_during_pingpong"]
        idle = IdleClient(self, target, count, burst=0, tag=f"{target.name}.loaded",
                          hold=s["duration"] + s["warmup"] + 120)
        try:
            if idle.reached("opened"):
                time.sleep(0.5)  # the gateway's side of the last connects is done
                target.refresh_pids()
                data = self.pingpong(target, s["connections"])
            else:
                data = {"errors": -1, "exit_status": -1,
                        "failure": f"the {count} idle connections did not open within 90 s"}
        finally:
            held = idle.finish()
        data["idle_opened"], data["idle_alive"] = held.get("opened"), held.get("alive")
        if held["exit_status"] != 0 and data.get("exit_status") == 0:
            data["exit_status"] = held["exit_status"]
            data["failure"] = held.get("error_samples") or held.get("failure")
        return data

    def stream(self, target):
        """STREAM_CONNECTIONS connections, each keeping STREAM_PIPELINE messages in flight."""
        s = SETTINGS
        args = self.timed_args("stream", target, s["duration"]) + [
            "--connections", str(s["stream_connections"]), "--pipeline", str(s["stream_pipeline"]),
            "--size", str(s["stream_size"])]
        data = self.bench(args, timeout=s["duration"] + s["warmup"] + 60)
        # CPU seconds per 10^9 echoed payload bytes (the tool gives µs per 10^6).
        if data.get("watched_cpu_seconds") is not None and data.get("bytes"):
            data["cpu_s_per_gb"] = data["watched_cpu_seconds"] / (data["bytes"] / 1e9)
        elif data.get("watched_cpu_us_per_mb") is not None:
            data["cpu_s_per_gb"] = data["watched_cpu_us_per_mb"] / 1000
        return data

    def churn(self, target):
        """Connect, one 64-byte echo, close, `churn_parallel` at a time."""
        s = SETTINGS
        args = self.timed_args("churn", target, s["churn_duration"]) + ["--parallel", str(s["churn_parallel"])]
        return self.bench(args, timeout=s["churn_duration"] + s["warmup"] + 60)

    # -- redis ------------------------------------------------------------------------------

    def start_redis(self):
        """redis-server on a free loopback port, nothing persisted; its Target ("direct"), or
        the reason it cannot run."""
        server, client = shutil.which("redis-server"), shutil.which("redis-benchmark")
        if not server or not client:
            return None, "redis-server or redis-benchmark is not installed (Debian: redis-server, redis-tools)"
        port = free_port()
        argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--loglevel", "warning"]
        process = self.processes.start("redis", argv)
        if not redis_works(port, timeout=10):
            reason = f"redis-server did not answer PING within 10 s. Log tail:\n{self.log_tail('redis')}"
            self.processes.stop(process)
            return None, reason
        target = Target("direct", port, process)
        target.refresh_pids()
        log(f"redis-server on 127.0.0.1:{port} (pid {process.pid})")
        return target, ""

    def redis_benchmark(self, target, pipeline):
        """`redis-benchmark -t set,get` through `target`: requests/s of each test, and the
        target's CPU time per request over the whole run."""
        s = SETTINGS
        requests = s["redis_requests"] * pipeline  # deeper pipelines go faster: similar run times
        argv = [shutil.which("redis-benchmark"), "-h", "127.0.0.1", "-p", str(target.port), "-t", "set,get",
                "-c", str(s["redis_clients"]), "-n", str(requests), "-q"]
        if pipeline > 1:
            argv += ["-P", str(pipeline)]
        target.refresh_pids()
        cpu_before = cpu_seconds(target.pids)
        timeout = 120
        try:
            result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, timeout=timeout)
            text, status = result.stdout.decode(errors="replace"), result.returncode
        except subprocess.TimeoutExpired:
            text, status = f"redis-benchmark did not finish within {timeout} s", -1
        cpu = cpu_seconds(target.pids) - cpu_before
        # -q prints progress lines ended by \r, then "SET: 101010.10 requests per second, p50=...".
        data = {"pipeline": pipeline, "requests": requests, "clients": s["redis_clients"]}
        for test, rate in re.findall(r"(SET|GET): ([\d.,]+) requests per second", text):
            data[test] = float(rate.replace(",", ""))
        found = "SET" in data and "GET" in data
        data["cpu_seconds"] = round(cpu, 3)
        data["cpu_us_per_request"] = cpu * 1e6 / (2 * requests) if found else None
        data["errors"] = 0 if found else -1
        data["exit_status"] = status if found else (status or -1)
        if not found:
            data["failure"] = text.replace("\r", "\n")[-2000:]
        return data

    # -- memory -----------------------------------------------------------------------------

    def memory(self, name, count):
        """A freshly started gateway (for direct: a fresh echo): RSS and kernel memory empty,
        holding `count` idle relayed connections, and after each of those echoed one burst."""
        s = SETTINGS
        if name == "direct":
            process, port = self.spawn_echo("echo-memory")
            target = Target("direct", port, process)
        else:
            target = self.start_gateway(name)
            if not target.available:
                return None
        time.sleep(1)
        target.refresh_pids()
        base, kernel_base = rss_bytes(target.pids), kernel_memory()
        readings = {}
        idle = IdleClient(self, target, count, burst=s["burst"], tag=f"{name}.idle{count}", hold=120)
        try:
            for stage, mark, next_mark in (("idle", "opened", "burst"), ("burst", "ready", "release")):
                if idle.reached(mark):
                    time.sleep(s["settle"])
                    target.refresh_pids()
                    readings[stage] = rss_bytes(target.pids)
                    readings[stage + "_kernel"] = kernel_memory()
                    readings[stage + "_fds"] = sum(len(os.listdir(f"/proc/{p}/fd")) for p in target.pids)
                idle.allow(next_mark)
        finally:
            data = idle.finish()
            self.processes.stop(target.process)
            target.process = None
        data["connections"] = count
        data["rss_base"] = base
        data["slab_source"] = kernel_base["slab_source"]
        for stage in ("idle", "burst"):
            value = readings.get(stage)
            data[f"rss_{stage}"] = value
            data[f"fds_{stage}"] = readings.get(stage + "_fds")
            data[f"rss_grown_{stage}"] = value - base if value is not None else None
            data[f"bytes_per_conn_{stage}"] = (value - base) / count if value is not None else None
            kernel = readings.get(stage + "_kernel")
            for key in ("slab", "tcp_mem"):
                grown = kernel[key] - kernel_base[key] if kernel and kernel[key] is not None and kernel_base[key] is not None else None
                data[f"kernel_{key}_{stage}"] = grown
                data[f"kernel_{key}_per_conn_{stage}"] = grown / count if grown is not None else None
        return data

    # -- mux --------------------------------------------------------------------------------

    def mux(self):
        """scripts/bench/mux_bench.py's figures (its own gateway, echo and chat backend), run as
        a process group of its own so that everything it starts is stopped with it."""
        s = SETTINGS
        env = dict(os.environ, BIN=BIN, ROUNDS=str(s["rounds"]), SESSIONS=str(s["mux_sessions"]),
                   DURATION=str(s["duration"]), WARMUP=str(s["warmup"]))
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mux_bench.py")
        process = self.processes.start("mux", [sys.executable, script], stdout=subprocess.PIPE, env=env)
        timeout = s["rounds"] * 2 * (s["duration"] + s["warmup"] + 30) + 180
        try:
            out, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            out = b""
        self.processes.stop(process)
        try:
            data = json.loads(out.decode())
        except ValueError:
            data = {"failure": f"no JSON from mux_bench.py (exit {process.returncode}):\n{self.log_tail('mux')}"}
        data["exit_status"] = process.returncode if "failure" not in data else (process.returncode or -1)
        return data


# ---------------------------------------------------------------------------------------------
# Reporting

# (key in a run's JSON, column title, digits, the better direction)
PINGPONG_METRICS = (("rtt_per_sec", "round trips/s", 0, max), ("p50_us", "p50 µs", 1, min),
                    ("p99_us", "p99 µs", 1, min), ("p999_us", "p99.9 µs", 1, min),
                    ("watched_cpu_us_per_rt", "CPU µs/rt", 2, min))
STREAM_METRICS = (("mb_per_sec", "MB/s", 0, max), ("cpu_s_per_gb", "CPU s/GB", 2, min))
CHURN_METRICS = (("conn_per_sec", "connections/s", 0, max), ("watched_cpu_us_per_conn", "CPU µs/conn", 2, min))
REDIS_METRICS = (("SET", "SET requests/s", 0, max), ("GET", "GET requests/s", 0, max),
                 ("cpu_us_per_request", "CPU µs/request", 2, min))


def metrics_of(figure):
    kind = figure.split()[0]
    return {"pingpong": PINGPONG_METRICS, "stream": STREAM_METRICS, "churn": CHURN_METRICS,
            "redis": REDIS_METRICS}[kind]


def median_range(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt(value, digits=0):
    if value is None:
        return "–"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def fmt_range(summary, digits=0):
    if not summary:
        return "–"
    if summary["n"] == 1:
        return fmt(summary["median"], digits)
    return f"{fmt(summary['median'], digits)} ({fmt(summary['min'], digits)}–{fmt(summary['max'], digits)})"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def summarise(figures):
    """Per figure, per target: each metric's median and min–max over the successful runs, the
    errors, and the count of failed runs."""
    summary = {}
    for figure, by_target in figures.items():
        metrics = metrics_of(figure)
        for name, runs in by_target.items():
            good = [r for r in runs if r.get("exit_status") == 0]
            row = {key: median_range([r.get(key) for r in good]) for key, *_ in metrics}
            row["errors"] = sum(max(0, r.get("errors", 0) or 0) for r in runs)
            row["failed_runs"] = len(runs) - len(good)
            summary.setdefault(figure, {})[name] = row
    return summary


def median_of(summary, figure, name, key):
    cell = summary.get(figure, {}).get(name, {}).get(key)
    return cell["median"] if cell else None


def best_peer(summary, figure, key, better):
    """The better of HAProxy's and nginx's medians (`better`: max or min): (value, peer) or
    (None, None) when neither ran."""
    values = [(median_of(summary, figure, peer, key), peer) for peer in PEERS]
    values = [(value, peer) for value, peer in values if value is not None]
    if not values:
        return None, None
    return better(values, key=lambda pair: pair[0])


def figure_title(figure):
    s = SETTINGS
    rounds = f"{s['rounds']} round" + ("s" if s["rounds"] != 1 else "")
    if figure.startswith("pingpong idle"):
        return (f"Pingpong with idle connections: {s['connections']} connections × {s['size']} B while "
                f"{s['idle_during_pingpong']} idle connections are open through the same target, "
                f"{fmt(s['duration'], 1)} s measured per run, {rounds}")
    if figure.startswith("pingpong"):
        count = int(figure.split()[1])
        return (f"Pingpong: {count} connection{'s' if count != 1 else ''} × {s['size']} B, "
                f"{fmt(s['duration'], 1)} s measured per run, {rounds} (median, min–max over rounds)")
    if figure == "stream":
        return (f"Stream: {s['stream_connections']} connections × {s['stream_pipeline']} pipelined "
                f"{s['stream_size']} B messages, {fmt(s['duration'], 1)} s measured per run, {rounds} "
                f"(median, min–max over rounds)")
    if figure == "churn":
        return (f"Churn: connect, one 64 B echo, close; {s['churn_parallel']} in parallel, "
                f"{fmt(s['churn_duration'], 1)} s per run, {rounds} (median, min–max over rounds)")
    pipeline = int(figure.split()[1][1:])
    return (f"redis-benchmark -t set,get -c {s['redis_clients']} -n {s['redis_requests'] * pipeline} -P {pipeline} "
            f"to redis-server, {rounds} (median, min–max over rounds; direct: redis-server itself)")


def figure_tables(summary, figure, note=""):
    """The target table of one figure, then its ratio table."""
    s = SETTINGS
    metrics = metrics_of(figure)
    rows = summary.get(figure, {})
    lines = [f"### {figure_title(figure)}", ""]
    lines.append("| target | " + " | ".join(title for _, title, *_ in metrics) + " | errors |")
    lines.append("|---|" + "---:|" * (len(metrics) + 1))
    for name in s["targets"]:
        if name not in rows:
            continue
        row = rows[name]
        cells = [fmt_range(row[key], digits) for key, _, digits, _ in metrics]
        errors = f"{row['errors']}" + (f" ({row['failed_runs']} failed runs)" if row["failed_runs"] else "")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {errors} |")
    lines.append("")
    if note:
        lines += [note, ""]

    ratio_rows = []
    if "bulwark" in rows and any(peer in rows for peer in PEERS):
        cells = []
        for key, _, _, better in metrics:
            value = ratio(median_of(summary, figure, "bulwark", key), best_peer(summary, figure, key, better)[0])
            cells.append(fmt(value, 2))
        ratio_rows.append("| bulwark / best of haproxy, nginx | " + " | ".join(cells) + " |")
    if "bulwark-guards" in rows and "bulwark-noguard" in rows:
        cells = [fmt(ratio(median_of(summary, figure, "bulwark-guards", key),
                           median_of(summary, figure, "bulwark-noguard", key)), 2) for key, *_ in metrics]
        ratio_rows.append("| bulwark-guards / bulwark-noguard | " + " | ".join(cells) + " |")
    if "direct" in rows:
        for name in s["targets"]:
            if name == "direct" or name not in rows:
                continue
            cells = [fmt(ratio(median_of(summary, figure, name, key), median_of(summary, figure, "direct", key)), 2)
                     for key, *_ in metrics]
            ratio_rows.append(f"| {name} / direct | " + " | ".join(cells) + " |")
    if ratio_rows:
        lines.append("| ratio of medians | " + " | ".join(title for _, title, *_ in metrics) + " |")
        lines.append("|---|" + "---:|" * len(metrics))
        lines += ratio_rows + [""]
    return lines


def idle_pingpong_table(summary, results):
    """The CONNECTIONS pingpong with the idle connections open against the same pingpong
    without them, from the same rounds."""
    s = SETTINGS
    plain, loaded = f"pingpong {s['connections']}", "pingpong idle"
    lines = [f"### {figure_title(loaded)} (median, min–max over rounds)", ""]
    lines.append("| target | round trips/s without | round trips/s with idle | with / without "
                 "| p99 µs with idle | p99.9 µs with idle | CPU µs/rt with idle | idle alive/opened | errors |")
    lines.append("|---|" + "---:|" * 8)
    for name in s["targets"]:
        row = summary.get(loaded, {}).get(name)
        if not row:
            continue
        runs = results["figures"][loaded][name]
        alive = sum(r.get("idle_alive") or 0 for r in runs)
        opened = sum(r.get("idle_opened") or 0 for r in runs)
        errors = f"{row['errors']}" + (f" ({row['failed_runs']} failed runs)" if row["failed_runs"] else "")
        change = ratio(median_of(summary, loaded, name, "rtt_per_sec"), median_of(summary, plain, name, "rtt_per_sec"))
        lines.append(f"| {name} | {fmt_range(summary.get(plain, {}).get(name, {}).get('rtt_per_sec'))} "
                     f"| {fmt_range(row['rtt_per_sec'])} | {fmt(change, 2)} | {fmt_range(row['p99_us'], 1)} "
                     f"| {fmt_range(row['p999_us'], 1)} | {fmt_range(row['watched_cpu_us_per_rt'], 2)} "
                     f"| {alive}/{opened} | {errors} |")
    lines.append("")
    return lines


def fit_slope(points):
    """Least-squares slope of (x, y) points; one point: y / x (a line through the origin)."""
    points = [(x, y) for x, y in points if y is not None]
    if not points:
        return None
    if len(points) == 1:
        return points[0][1] / points[0][0]
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return mean_y / mean_x
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def memory_summary(levels):
    """Bytes per added connection, from a linear fit of the growth against the count."""
    def slope(key):
        return fit_slope([(level["connections"], level.get(key)) for level in levels])
    return {
        "rss_per_conn_idle": slope("rss_grown_idle"),
        "rss_per_conn_burst": slope("rss_grown_burst"),
        "kernel_slab_per_conn_idle": slope("kernel_slab_idle"),
        "kernel_slab_per_conn_burst": slope("kernel_slab_burst"),
        "kernel_tcp_mem_per_conn_idle": slope("kernel_tcp_mem_idle"),
        "kernel_tcp_mem_per_conn_burst": slope("kernel_tcp_mem_burst"),
    }


def memory_tables(results):
    s = SETTINGS
    memory = results["memory"]
    reduced = [n for n in REDUCED if n in memory]
    lines = [f"### Memory: idle relayed connections at {', '.join(map(str, s['idle_connections']))}"
             + (f" ({', '.join(reduced)}: {max(s['idle_connections'])} only)" if reduced else "")
             + f", silent, then after each echoed one {s['burst']} B burst (a fresh start per count)", ""]
    sources = {data.get("slab_source") for data in memory.values()}
    slab = {"slabinfo": "slab objects in use from /proc/slabinfo (without TIME_WAIT socks)",
            "meminfo": "Slab from /proc/meminfo"}.get(sources.pop() if len(sources) == 1 else "", "slab")
    lines.append("Bytes per added connection: the slope of a least-squares line through the growth at "
                 "each count (one count: growth / count). User space: RSS summed over the target's "
                 "processes. Kernel, system-wide, so it includes the client's and the echo's sockets "
                 f"(direct, a fresh echo, is that baseline): {slab}; TCP buffer pages from /proc/net/sockstat.")
    lines.append("")
    lines.append("| target | RSS B/conn silent | RSS B/conn after burst | kernel slab B/conn silent "
                 "| kernel slab B/conn after burst | TCP buffers B/conn silent | TCP buffers B/conn after burst |")
    lines.append("|---|" + "---:|" * 6)
    for name in ["direct"] + [n for n in s["targets"] if n != "direct"]:
        data = memory.get(name)
        if not data:
            continue
        fit = data["fit"]
        lines.append(f"| {name} | {fmt(fit['rss_per_conn_idle'])} | {fmt(fit['rss_per_conn_burst'])} "
                     f"| {fmt(fit['kernel_slab_per_conn_idle'])} | {fmt(fit['kernel_slab_per_conn_burst'])} "
                     f"| {fmt(fit['kernel_tcp_mem_per_conn_idle'])} | {fmt(fit['kernel_tcp_mem_per_conn_burst'])} |")
    lines.append("")
    lines.append("| target | connections | RSS empty MB | RSS silent MB | B/conn silent | RSS after burst MB "
                 "| B/conn after burst | kernel slab B/conn silent | fds held | alive/opened |")
    lines.append("|---|" + "---:|" * 9)
    mb = lambda v: fmt(v / 1e6, 1) if v is not None else "–"
    for name in ["direct"] + [n for n in s["targets"] if n != "direct"]:
        data = memory.get(name)
        if not data:
            continue
        for level in data["levels"]:
            lines.append(f"| {name} | {level['connections']} | {mb(level.get('rss_base'))} | {mb(level.get('rss_idle'))} "
                         f"| {fmt(level.get('bytes_per_conn_idle'))} | {mb(level.get('rss_burst'))} "
                         f"| {fmt(level.get('bytes_per_conn_burst'))} | {fmt(level.get('kernel_slab_per_conn_idle'))} "
                         f"| {fmt(level.get('fds_idle'))} | {level.get('alive', '–')}/{level.get('opened', '–')} |")
    lines.append("")
    return lines


def mux_table(mux):
    lines = ["### Mux listener (scripts/bench/mux_bench.py)", ""]
    if "failure" in mux:
        return lines + [f"- failed: {mux['failure'].splitlines()[0] if mux['failure'] else 'no output'}", ""]
    lines.append("| | round trips/s | p99 µs | gateway CPU µs/rt |")
    lines.append("|---|---:|---:|---:|")
    for name, title in (("tcp", "TCP relay"), ("mux", "mux listener")):
        row = mux.get(name, {})
        lines.append(f"| {title} | {fmt(row.get('rtt_per_sec'))} | {fmt(row.get('p99_us'), 1)} | {fmt(row.get('gateway_cpu_us_per_rt'), 2)} |")
    lines.append("")
    broadcast, burst = mux.get("broadcast", {}), mux.get("broadcast_burst", {})
    lines.append(f"Mux / TCP relay: {fmt(mux.get('mux_over_tcp'), 2)}. One broadcast to {broadcast.get('sessions')} "
                 f"sessions: {fmt(broadcast.get('frames_per_sec'))} frames/s "
                 f"({'complete' if broadcast.get('complete') else 'INCOMPLETE'}; the last session had it "
                 f"{fmt(broadcast.get('seconds'), 4)} s after the trigger, median of {broadcast.get('rounds')}); "
                 f"bursts of {burst.get('broadcasts')}: {fmt(burst.get('frames_per_sec'))} frames/s "
                 f"({'complete' if burst.get('complete') else 'INCOMPLETE'}, the last frame {fmt(burst.get('seconds'), 4)} s "
                 f"after the first trigger); "
                 f"idle RSS {fmt(mux.get('idle_rss_bytes_per_session'))} B per mux session.")
    lines.append("")
    return lines


def goals(summary, results):
    """Each goal: (what, Bulwark's figure, the reference, verdict). The verdict is None when a
    figure is missing (a target skipped, a phase off)."""
    s = SETTINGS
    rows = []

    def check(what, value, reference, met, digits=2, reference_text=None):
        verdict = None if value is None or reference is None else met(value, reference)
        rows.append((what, fmt(value, digits), reference_text or fmt(reference, digits), verdict))

    for count in (64, 1000):
        figure = f"pingpong {count}"
        if figure not in summary:
            continue
        rate = median_of(summary, figure, "bulwark", "rtt_per_sec")
        best, peer = best_peer(summary, figure, "rtt_per_sec", max)
        check(f"pingpong {count}: round trips/s ≥ {GOAL_RATE_RATIO}× the better peer", ratio(rate, best),
              GOAL_RATE_RATIO, lambda v, r: v >= r, reference_text=f"{GOAL_RATE_RATIO} ({peer} {fmt(best)})" if peer else None)
        check(f"pingpong {count}: CPU µs/rt ≤ {GOAL_CPU_US_PER_RT}",
              median_of(summary, figure, "bulwark", "watched_cpu_us_per_rt"),
              GOAL_CPU_US_PER_RT, lambda v, r: v <= r)
        for key, title in (("p99_us", "p99"), ("p999_us", "p99.9")):
            best, peer = best_peer(summary, figure, key, min)
            check(f"pingpong {count}: {title} µs below both peers", median_of(summary, figure, "bulwark", key),
                  best, lambda v, r: v < r, digits=1, reference_text=f"{fmt(best, 1)} ({peer})" if peer else None)
    if "churn" in summary:
        best, peer = best_peer(summary, "churn", "conn_per_sec", max)
        check(f"churn: connections/s ≥ {GOAL_RATE_RATIO}× the better peer",
              ratio(median_of(summary, "churn", "bulwark", "conn_per_sec"), best), GOAL_RATE_RATIO,
              lambda v, r: v >= r, reference_text=f"{GOAL_RATE_RATIO} ({peer} {fmt(best)})" if peer else None)
    if "stream" in summary:
        best, peer = best_peer(summary, "stream", "mb_per_sec", max)
        check("stream: MB/s ≥ the better peer", median_of(summary, "stream", "bulwark", "mb_per_sec"), best,
              lambda v, r: v >= r, digits=0, reference_text=f"{fmt(best)} ({peer})" if peer else None)
        best, peer = best_peer(summary, "stream", "cpu_s_per_gb", min)
        check("stream: CPU s/GB below both peers", median_of(summary, "stream", "bulwark", "cpu_s_per_gb"), best,
              lambda v, r: v < r, reference_text=f"{fmt(best, 2)} ({peer})" if peer else None)
    bulwark_memory = results["memory"].get("bulwark")
    if bulwark_memory:
        for stage, title in (("idle", "silent"), ("burst", "after the burst")):
            check(f"idle memory {title}: user-space B/conn ≤ {GOAL_BYTES_PER_CONN}",
                  bulwark_memory["fit"][f"rss_per_conn_{stage}"], GOAL_BYTES_PER_CONN, lambda v, r: v <= r, digits=0)
    if "pingpong idle" in summary:
        check(f"pingpong {s['connections']} with {s['idle_during_pingpong']} idle open: ≥ {GOAL_IDLE_RATIO}× without",
              ratio(median_of(summary, "pingpong idle", "bulwark", "rtt_per_sec"),
                    median_of(summary, f"pingpong {s['connections']}", "bulwark", "rtt_per_sec")),
              GOAL_IDLE_RATIO, lambda v, r: v >= r)
    for pipeline in s["redis_pipelines"]:
        figure = f"redis P{pipeline}"
        if figure not in summary:
            continue
        for test in ("SET", "GET"):
            best, peer = best_peer(summary, figure, test, max)
            check(f"redis-benchmark {test} -P {pipeline}: requests/s ≥ the better peer",
                  median_of(summary, figure, "bulwark", test), best, lambda v, r: v >= r, digits=0,
                  reference_text=f"{fmt(best)} ({peer})" if peer else None)
    return rows


def goals_table(rows):
    lines = ["### Goals (Bulwark's medians)", ""]
    lines.append("| goal | bulwark | goal or better peer | verdict |")
    lines.append("|---|---:|---:|---|")
    for what, value, reference, verdict in rows:
        text = "–" if verdict is None else ("met" if verdict else "**missed**")
        lines.append(f"| {what} | {value} | {reference} | {text} |")
    met = sum(1 for *_, verdict in rows if verdict)
    judged = sum(1 for *_, verdict in rows if verdict is not None)
    lines.append("")
    lines.append(f"{met} of {judged} goals met" + (f" ({len(rows) - judged} without figures)" if judged < len(rows) else "") + ".")
    lines.append("")
    return lines


def report(results):
    s = SETTINGS
    summary = summarise(results["figures"])
    results["summary"] = summary
    lines = []
    for count in s["pingpong_connections"]:
        figure = f"pingpong {count}"
        if figure in summary:
            note = ("CPU µs/rt is the CPU time (user+system) of the target's processes per round trip "
                    "(for direct: the echo's own).") if count == s["pingpong_connections"][0] else ""
            lines += figure_tables(summary, figure, note)
    if "pingpong idle" in summary:
        lines += idle_pingpong_table(summary, results)
    if "stream" in summary:
        lines += figure_tables(summary, "stream", "CPU s/GB: the target's CPU seconds per 10^9 echoed payload bytes.")
    if "churn" in summary:
        lines += figure_tables(summary, "churn")
    for pipeline in s["redis_pipelines"]:
        if f"redis P{pipeline}" in summary:
            lines += figure_tables(summary, f"redis P{pipeline}",
                                   "CPU µs/request: the target's CPU time over the whole redis-benchmark run "
                                   "(SET and GET) per request.")
    if results["memory"]:
        lines += memory_tables(results)
    if results.get("mux"):
        lines += mux_table(results["mux"])
    rows = goals(summary, results)
    results["goals"] = [{"goal": what, "bulwark": value, "reference": reference, "met": verdict}
                        for what, value, reference, verdict in rows]
    if rows:
        lines += goals_table(rows)
    if results.get("busy_before_start", 0) > 0.15:
        lines.append(f"- the machine was {results['busy_before_start']:.0%} busy before the run started: noisy figures")
    if results.get("interrupted"):
        lines.append("- the run was interrupted: figures are partial")
    for name, target_reason in results["skipped"].items():
        lines.append(f"- {name} skipped: {target_reason.splitlines()[0]}")
    return "\n".join(lines)


def busy_fraction(seconds=1.0):
    """Share of all CPUs that was busy over `seconds` (from /proc/stat), before anything starts."""
    def sample():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait
    total1, idle1 = sample()
    time.sleep(seconds)
    total2, idle2 = sample()
    return 1 - (idle2 - idle1) / max(1, total2 - total1)


def versions():
    def run(argv):
        try:
            out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
            return out.stdout.decode(errors="replace").strip().splitlines()[0]
        except Exception as error:
            return f"unavailable ({error.__class__.__name__})"
    return {
        "bulwark": run([os.path.join(BIN, "bulwark"), "--version"]),
        "haproxy": run(["haproxy", "-v"]),
        "nginx": run(["nginx", "-v"]),
        "redis": run(["redis-server", "--version"]),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
    }


# ---------------------------------------------------------------------------------------------

def print_configs():
    for variant in BULWARK_VARIANTS:
        print(f"# {variant} (bulwark run -c {variant}.toml)\n")
        print(bulwark_config("PORT", "ECHOPORT", SETTINGS["workers"], variant))
    print("# haproxy (haproxy -f haproxy.cfg -db)\n")
    print(haproxy_config("PORT", "ECHOPORT", SETTINGS["workers"]))
    print("# nginx (nginx -p TMP/nginx -c TMP/nginx/nginx.conf -e TMP/nginx/error.log)\n")
    print(nginx_config("PORT", "ECHOPORT", SETTINGS["workers"], "TMP/nginx"))


def fit_to_open_files():
    """Scales the idle-connection counts down to the open-file limit: a relayed connection costs
    Bulwark three descriptors (client socket, timerfd, backend socket)."""
    limit = subprocess.run(["sh", "-c", "ulimit -n"], stdout=subprocess.PIPE).stdout.decode().strip()
    if not limit.isdigit():
        return
    fitted = max(0, (int(limit) - 500) // 3)
    counts = SETTINGS["idle_connections"]
    if counts and max(counts) > fitted:
        kept = [c for c in counts if c <= fitted] or ([fitted] if fitted else [])
        log(f"open-file limit {limit} is too low for {max(counts)} idle connections; memory test at {kept}")
        SETTINGS["idle_connections"] = kept
    during = fitted - SETTINGS["connections"]
    if SETTINGS["idle_during_pingpong"] > during:
        log(f"open-file limit {limit} is too low for {SETTINGS['idle_during_pingpong']} idle connections "
            f"during the pingpong; using {max(0, during)}")
        SETTINGS["idle_during_pingpong"] = max(0, during)


def main():
    if "--print-configs" in sys.argv:
        print_configs()
        return 0
    for tool in ("bulwark-echo", "bulwark-bench"):
        if not os.access(os.path.join(BIN, tool), os.X_OK):
            raise SystemExit(f"{BIN}/{tool} is missing: build it first (swift build -c release)")
    unknown = set(SETTINGS["phases"]) - set(PHASES)
    if unknown:  # before anything starts: a typo should not cost a gateway start-up
        raise SystemExit(f"unknown phase(s) {sorted(unknown)} in PHASES (known: {' '.join(PHASES)})")
    fit_to_open_files()

    busy = busy_fraction()
    if busy > 0.15:
        log(f"WARNING: {busy:.0%} of the CPUs were busy before the benchmark started; "
            "the figures will be noisy (results record this as busy_before_start)")

    tmp = tempfile.mkdtemp(prefix="bulwark-bench.")
    try:
        return run(tmp, busy)
    finally:
        if os.environ.get("KEEP_TMP"):
            log(f"configs and logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def rotated(names, round_index):
    shift = round_index % len(names) if names else 0
    return names[shift:] + names[:shift]


def record(results, figure, name, data, round_index):
    """Keeps one run's figures and logs them; True when the run failed."""
    data["round"] = round_index + 1
    results["figures"].setdefault(figure, {}).setdefault(name, []).append(data)
    shown = "  ".join(f"{title} {fmt(data.get(key), digits)}" for key, title, digits, _ in metrics_of(figure))
    log(f"round {round_index + 1} {name:15} {figure:15} {shown}  errors {data.get('errors')}"
        + ("" if data.get("exit_status") == 0 else f"  EXIT {data.get('exit_status')}"))
    if data.get("exit_status") != 0:
        log(f"  {data.get('error_samples') or data.get('failure')}")
        return True
    return False


def run_rounds(bench, active, results):
    """Every target's figures, ROUNDS times, the target order rotated each round."""
    failed = False
    for round_index in range(SETTINGS["rounds"]):
        for name in rotated(active, round_index):
            target = bench.targets[name]
            for figure, measure in bench.round_figures(name):
                target.refresh_pids()
                failed |= record(results, figure, name, measure(target), round_index)
    return failed


def run_redis(bench, active, results):
    """redis-benchmark through each gateway (restarted with redis-server as the backend) and to
    redis-server directly, ROUNDS times in rotated order."""
    if not SETTINGS["redis_pipelines"]:
        return False
    redis, reason = bench.start_redis()
    if redis is None:
        log(f"SKIPPING redis: {reason}")
        results["skipped"]["redis"] = reason
        return False
    failed = False
    try:
        targets = {"direct": redis} if "direct" in active else {}
        for name in active:
            if name in GATEWAYS and name not in REDUCED:
                target = bench.start_gateway(name, redis.port, redis_works, suffix=" (redis)")
                if target.available:
                    targets[name] = target
                else:
                    results["skipped"][name + " (redis)"] = target.reason
        names = [n for n in active if n in targets]
        for round_index in range(SETTINGS["rounds"]):
            for name in rotated(names, round_index):
                for pipeline in SETTINGS["redis_pipelines"]:
                    data = bench.redis_benchmark(targets[name], pipeline)
                    failed |= record(results, f"redis P{pipeline}", name, data, round_index)
    finally:
        bench.stop_gateways()
        bench.processes.stop(redis.process)
    return failed


def run_memory(bench, active, results):
    """Per target and per IDLE_CONNECTIONS count, a fresh start, then the memory readings."""
    counts = SETTINGS["idle_connections"]
    if not counts:
        return False
    bench.stop_gateways()  # nothing else holds sockets while the kernel's memory is read
    failed = False
    for name in [n for n in active if n in GATEWAYS or n == "direct"]:
        levels = []
        for count in ([max(counts)] if name in REDUCED else counts):
            data = bench.memory(name, count)
            if data is None:
                results["skipped"][name + " (memory)"] = bench.targets[name].reason
                break
            levels.append(data)
            log(f"memory {name:15} {count:5} conns: base {fmt(data['rss_base'] and data['rss_base'] / 1e6, 1)} MB, "
                f"silent {fmt(data['bytes_per_conn_idle'])} B/conn, after burst {fmt(data['bytes_per_conn_burst'])} "
                f"B/conn, kernel slab {fmt(data['kernel_slab_per_conn_idle'])} B/conn, "
                f"alive {data.get('alive')}/{data.get('opened')}")
            if data["exit_status"] != 0:
                failed = True
                log(f"  {data.get('error_samples') or data.get('failure')}")
        if levels:
            results["memory"][name] = {"levels": levels, "fit": memory_summary(levels),
                                       "slab_source": levels[0].get("slab_source")}
    return failed


def run_mux(bench, results):
    if not SETTINGS["mux"] or "bulwark" not in SETTINGS["targets"]:
        return False
    if not all(os.access(os.path.join(BIN, tool), os.X_OK) for tool in ("bulwark", "bulwark-chat")):
        results["skipped"]["mux"] = f"{BIN}/bulwark or bulwark-chat is missing"
        return False
    bench.stop_gateways()
    log("mux figures: scripts/bench/mux_bench.py")
    data = bench.mux()
    results["mux"] = data
    if data["exit_status"] != 0 or "failure" in data:
        log(f"  mux_bench.py failed: {data.get('failure')}")
        return True
    log(f"mux: tcp {fmt(data['tcp']['rtt_per_sec'])} rt/s, mux {fmt(data['mux']['rtt_per_sec'])} rt/s, "
        f"broadcast {fmt(data['broadcast']['frames_per_sec'])} frames/s, bursts {fmt(data['broadcast_burst']['frames_per_sec'])} frames/s")
    return False


def run(tmp, busy):
    bench = Bench(tmp)
    results = {"settings": SETTINGS, "started": datetime.datetime.now().isoformat(timespec="seconds"),
               "versions": versions(), "busy_before_start": round(busy, 3), "figures": {}, "memory": {},
               "mux": None, "skipped": {}, "configs": {}}
    failed = False
    stopping = []

    def on_signal(number, frame):
        if stopping:  # already stopping: let the cleanup finish
            return
        stopping.append(number)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started_at = time.monotonic()
    try:
        bench.start_echo()
        for name in SETTINGS["targets"]:
            if name in GATEWAYS:
                bench.start_gateway(name)
            elif name != "direct":
                raise SystemExit(f"unknown target {name!r} in TARGETS")
        active = [n for n in SETTINGS["targets"] if bench.targets[n].available]
        for name in SETTINGS["targets"]:
            if not bench.targets[name].available:
                results["skipped"][name] = bench.targets[name].reason
        phases = (("rounds", lambda: run_rounds(bench, active, results)),
                  ("redis", lambda: run_redis(bench, active, results)),
                  ("memory", lambda: run_memory(bench, active, results)),
                  ("mux", lambda: run_mux(bench, results)))
        for phase, function in phases:
            if phase not in SETTINGS["phases"]:
                continue
            phase_started = time.monotonic()
            failed |= function()
            results.setdefault("phase_seconds", {})[phase] = round(time.monotonic() - phase_started, 1)
    except KeyboardInterrupt:
        log(f"interrupted (signal {stopping[0] if stopping else 'SIGINT'}): stopping everything")
        failed = True
        results["interrupted"] = True
    finally:
        bench.processes.stop_all()
        results["configs"] = bench.configs
        results["seconds"] = round(time.monotonic() - started_at, 1)

    table = report(results)
    os.makedirs(RESULTS_DIR, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = os.path.join(RESULTS_DIR, f"bench-{stamp}.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    with open(os.path.join(RESULTS_DIR, f"bench-{stamp}.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    phases = ", ".join(f"{phase} {seconds} s" for phase, seconds in results.get("phase_seconds", {}).items())
    print(f"\nraw results: {os.path.relpath(path, ROOT)}  ({results['seconds']} s"
          + (f": {phases}" if phases else "") + ")", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
