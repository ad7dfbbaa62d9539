#!/usr/bin/env python3
"""Side-by-side benchmark: Bulwark against HAProxy and nginx (stream), with the echo itself as
the ceiling. Started by scripts/bench/run.sh (which installs and builds first); stdlib only.

Environment (all optional):
  ROUNDS=3            rounds; the target order is rotated each round
  DURATION=5          measured seconds per pingpong run
  WARMUP=2            unmeasured seconds before each pingpong window
  CONNECTIONS=64      pingpong connections
  SIZE=64             pingpong message bytes
  CLIENT_THREADS=1    bulwark-bench threads
  ECHO_THREADS=1      bulwark-echo threads
  WORKERS=2           gateway threads/processes (bulwark workers, haproxy nbthread, nginx workers)
  IDLE_CONNECTIONS=5000  connections held in the memory test (0 skips the test)
  BURST=32768         bytes each held connection echoes once, for the second memory reading
  SETTLE=2            seconds to wait before each memory reading
  TARGETS="direct bulwark haproxy nginx"
  BIN=.build/release  where bulwark, bulwark-echo and bulwark-bench are
  RESULTS_DIR=bench-results
  KEEP_TMP=1          keep the temporary directory (configs, logs) instead of removing it
Usage: bench.py [--print-configs]
"""

import datetime
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from proctools import CLOCK_TICKS, cpu_seconds, env_float, env_int, process_tree, rss_bytes  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
GATEWAYS = ("bulwark", "bulwark-noguard", "bulwark-guards", "haproxy", "nginx")
BULWARK_VARIANTS = ("bulwark", "bulwark-noguard", "bulwark-guards")




SETTINGS = {
    "rounds": env_int("ROUNDS", 3),
    "duration": env_float("DURATION", 5),
    "warmup": env_float("WARMUP", 2),
    "connections": env_int("CONNECTIONS", 64),
    "size": env_int("SIZE", 64),
    "client_threads": env_int("CLIENT_THREADS", 1),
    "echo_threads": env_int("ECHO_THREADS", 1),
    "workers": env_int("WORKERS", 2),
    "idle_connections": env_int("IDLE_CONNECTIONS", 5000),
    "burst": env_int("BURST", 32768),
    "settle": env_float("SETTLE", 2),
    "churn_duration": env_float("CHURN_DURATION", 3),
    "churn_parallel": env_int("CHURN_PARALLEL", 32),
    "targets": os.environ.get("TARGETS", "direct bulwark haproxy nginx bulwark-noguard bulwark-guards").split(),
}
BIN = os.path.join(ROOT, os.environ.get("BIN", ".build/release"))
RESULTS_DIR = os.path.join(ROOT, os.environ.get("RESULTS_DIR", "bench-results"))
SOURCES = "127.0.0.2-127.0.0.254"


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

    def start(self, name, argv, stdout=None):
        log_path = os.path.join(self.tmp, f"{name}.log")
        err = open(log_path, "ab")
        process = subprocess.Popen(
            argv, stdout=stdout if stdout is not None else err, stderr=err,
            stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.tmp)
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
    deadline = time.monotonic() + timeout
    payload = b"bulwark-bench-ready\n"
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.settimeout(2)
                s.sendall(payload)
                got = b""
                while len(got) < len(payload):
                    chunk = s.recv(64)
                    if not chunk:
                        break
                    got += chunk
                if got == payload:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False




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


class Bench:
    def __init__(self, tmp):
        self.tmp = tmp
        self.processes = Processes(tmp)
        self.echo_port = None
        self.echo = None
        self.targets = {}
        self.configs = {}

    # -- starting ---------------------------------------------------------------------------

    def start_echo(self):
        argv = [os.path.join(BIN, "bulwark-echo"), "--listen", "127.0.0.1:0",
                "--threads", str(SETTINGS["echo_threads"])]
        self.echo = self.processes.start("echo", argv, stdout=subprocess.PIPE)
        line = self.echo.stdout.readline().decode().strip()
        if not line.startswith("listening on "):
            raise SystemExit(f"bulwark-echo did not start: {line!r} (see {self.tmp}/echo.log)")
        self.echo_port = int(line.rsplit(":", 1)[1])
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

    def start_gateway(self, name):
        """Starts (or restarts) one gateway on a fresh port; returns its Target."""
        old = self.targets.get(name)
        if old and old.process:
            self.processes.stop(old.process)
        port = free_port()
        workers = SETTINGS["workers"]
        if name in BULWARK_VARIANTS:
            binary = os.path.join(BIN, "bulwark")
            if not os.access(binary, os.X_OK):
                return self.unavailable(name, f"{binary} is missing (build failed or not written yet)")
            path = self.write_config(name, bulwark_config(port, self.echo_port, workers, name), name + ".toml")
            argv = [binary, "run", "-c", path]
        elif name == "haproxy":
            binary = shutil.which("haproxy")
            if not binary:
                return self.unavailable(name, "haproxy is not installed")
            path = self.write_config(name, haproxy_config(port, self.echo_port, workers), "haproxy.cfg")
            argv = [binary, "-f", path, "-db"]
        elif name == "nginx":
            binary = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
            if not binary or not os.path.exists(NGINX_STREAM_MODULE):
                return self.unavailable(name, "nginx or its stream module is not installed")
            prefix = os.path.join(self.tmp, "nginx")
            os.makedirs(prefix, exist_ok=True)
            path = self.write_config(name, nginx_config(port, self.echo_port, workers, prefix), "nginx/nginx.conf")
            argv = [binary, "-p", prefix, "-c", path, "-e", os.path.join(prefix, "error.log")]
        else:
            raise ValueError(name)
        process = self.processes.start(name, argv)
        target = Target(name, port, process)
        self.targets[name] = target
        if not echo_works(port, timeout=10) or process.poll() is not None:
            tail = self.log_tail(name)
            self.processes.stop(process)
            return self.unavailable(name, f"{name} did not relay to the echo within 10 s. Log tail:\n{tail}")
        time.sleep(0.3)  # let worker processes settle before their pids are read
        target.refresh_pids()
        log(f"{name} on 127.0.0.1:{port}, pids {target.pids}")
        return target

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

    # -- running the client -----------------------------------------------------------------

    def bench(self, args, timeout):
        argv = [os.path.join(BIN, "bulwark-bench")] + args + ["--json"]
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
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

    def pingpong(self, target):
        s = SETTINGS
        args = ["pingpong", "--target", f"127.0.0.1:{target.port}",
                "--connections", str(s["connections"]), "--size", str(s["size"]),
                "--duration", str(s["duration"]), "--warmup", str(s["warmup"]),
                "--threads", str(s["client_threads"]), "--sources", SOURCES,
                "--cpu-pids", ",".join(map(str, target.pids))]
        return self.bench(args, timeout=s["duration"] + s["warmup"] + 60)

    def churn(self, target):
        """Connect, one 64-byte echo, close, `churn_parallel` at a time (0 s duration skips)."""
        s = SETTINGS
        args = ["churn", "--target", f"127.0.0.1:{target.port}", "--parallel", str(s["churn_parallel"]),
                "--duration", str(s["churn_duration"]), "--sources", SOURCES,
                "--cpu-pids", ",".join(map(str, target.pids))]
        return self.bench(args, timeout=s["churn_duration"] + 60)

    def memory(self, name):
        """RSS of a freshly started gateway: empty, holding N idle relayed connections, and
        after each of those echoed one burst."""
        s = SETTINGS
        count = s["idle_connections"]
        target = self.start_gateway(name)
        if not target.available:
            return None
        time.sleep(1)
        target.refresh_pids()
        base = rss_bytes(target.pids)
        marks = {k: os.path.join(self.tmp, f"{name}.{k}") for k in ("opened", "burst", "ready", "release")}
        for path in marks.values():
            if os.path.exists(path):
                os.remove(path)
        hold = 120
        args = ["idle", "--target", f"127.0.0.1:{target.port}", "--connections", str(count),
                "--hold", str(hold), "--burst", str(s["burst"]), "--sources", SOURCES,
                "--connect-timeout", "60", "--burst-timeout", "60",
                "--opened-file", marks["opened"], "--burst-when-file", marks["burst"],
                "--ready-file", marks["ready"], "--hold-until-file", marks["release"], "--json"]
        client = subprocess.Popen([os.path.join(BIN, "bulwark-bench")] + args,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        readings = {"base": base}
        try:
            for stage, mark, next_mark in (("idle", "opened", "burst"), ("burst", "ready", "release")):
                deadline = time.monotonic() + 90
                while not os.path.exists(marks[mark]):
                    if client.poll() is not None or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                if os.path.exists(marks[mark]):
                    time.sleep(s["settle"])
                    target.refresh_pids()
                    readings[stage] = rss_bytes(target.pids)
                    readings[stage + "_fds"] = sum(len(os.listdir(f"/proc/{p}/fd")) for p in target.pids)
                open(marks[next_mark], "w").close()
            out, err = client.communicate(timeout=60)
        finally:
            if client.poll() is None:
                os.killpg(client.pid, signal.SIGKILL)
                client.wait()
        data = {}
        for line in out.decode().splitlines():
            if line.startswith("{"):
                data = json.loads(line)
        if not data:
            data = {"failure": err.decode()[-2000:]}
        data["exit_status"] = client.returncode
        data["connections"] = count
        data["rss_base"] = readings.get("base")
        for stage in ("idle", "burst"):
            value = readings.get(stage)
            data[f"rss_{stage}"] = value
            data[f"fds_{stage}"] = readings.get(stage + "_fds")
            data[f"bytes_per_conn_{stage}"] = (value - base) / count if value is not None else None
        self.processes.stop(target.process)
        return data


# ---------------------------------------------------------------------------------------------
# Reporting

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


def report(results):
    metrics = (("rtt_per_sec", "round trips/s", 0, max), ("p50_us", "p50 µs", 1, min),
               ("p99_us", "p99 µs", 1, min), ("p999_us", "p99.9 µs", 1, min),
               ("watched_cpu_us_per_rt", "CPU µs/rt", 2, min))
    summaries = {}
    for name, runs in results["pingpong"].items():
        summaries[name] = {key: median_range([r.get(key) for r in runs if r.get("exit_status") == 0])
                           for key, *_ in metrics}
        summaries[name]["errors"] = sum(max(0, r.get("errors", 0)) for r in runs)
        summaries[name]["failed_runs"] = sum(1 for r in runs if r.get("exit_status") != 0)
    results["summary"] = summaries

    s = SETTINGS
    lines = []
    rounds = f"{s['rounds']} round" + ("s" if s["rounds"] != 1 else "")
    lines.append(f"### Pingpong: {s['connections']} connections × {s['size']} B, "
                 f"{fmt(s['duration'], 1)} s measured per run, {rounds} "
                 f"(median, min–max over rounds)")
    lines.append("")
    lines.append("| target | " + " | ".join(title for _, title, *_ in metrics) + " | errors |")
    lines.append("|---|" + "---:|" * (len(metrics) + 1))
    for name in s["targets"]:
        if name not in summaries:
            continue
        row = summaries[name]
        cells = [fmt_range(row[key], digits) for key, _, digits, _ in metrics]
        errors = f"{row['errors']}" + (f" ({row['failed_runs']} failed runs)" if row["failed_runs"] else "")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {errors} |")
    lines.append("")
    lines.append("CPU µs/rt is the CPU time (user+system) of the target's processes per round trip "
                 "(for direct: the echo's own). Ratios of medians:")
    lines.append("")

    def med(name, key):
        row = summaries.get(name, {}).get(key)
        return row["median"] if row else None

    lines.append("| ratio | " + " | ".join(title for _, title, *_ in metrics) + " |")
    lines.append("|---|" + "---:|" * len(metrics))
    competitors = [n for n in ("haproxy", "nginx") if n in summaries]
    if "bulwark" in summaries and competitors:
        cells = []
        for key, _, _, better in metrics:
            values = [med(n, key) for n in competitors if med(n, key) is not None]
            best = better(values) if values else None
            value = ratio(med("bulwark", key), best)
            cells.append(fmt(value, 2) if value is not None else "–")
        lines.append("| bulwark / best of haproxy, nginx | " + " | ".join(cells) + " |")
    if "bulwark-guards" in summaries and "bulwark-noguard" in summaries:
        cells = []
        for key, *_ in metrics:
            value = ratio(med("bulwark-guards", key), med("bulwark-noguard", key))
            cells.append(fmt(value, 2) if value is not None else "–")
        lines.append("| bulwark-guards / bulwark-noguard | " + " | ".join(cells) + " |")
    for name in s["targets"]:
        if name == "direct" or name not in summaries or "direct" not in summaries:
            continue
        cells = []
        for key, *_ in metrics:
            value = ratio(med(name, key), med("direct", key))
            cells.append(fmt(value, 2) if value is not None else "–")
        lines.append(f"| {name} / direct | " + " | ".join(cells) + " |")
    lines.append("")

    if results.get("churn"):
        churn_metrics = (("conn_per_sec", "connections/s", 0, max), ("watched_cpu_us_per_conn", "CPU µs/conn", 2, min))
        churn_summaries = {name: {key: median_range([r.get(key) for r in runs if r.get("exit_status") == 0])
                                  for key, *_ in churn_metrics}
                           for name, runs in results["churn"].items()}
        results["churn_summary"] = churn_summaries
        lines.append(f"### Churn: connect, one 64 B echo, close; {s['churn_parallel']} in parallel, "
                     f"{fmt(s['churn_duration'], 1)} s per run (median, min–max over rounds)")
        lines.append("")
        lines.append("| target | " + " | ".join(title for _, title, *_ in churn_metrics) + " |")
        lines.append("|---|" + "---:|" * len(churn_metrics))
        for name in s["targets"]:
            if name in churn_summaries:
                row = churn_summaries[name]
                lines.append(f"| {name} | " + " | ".join(fmt_range(row[key], digits) for key, _, digits, _ in churn_metrics) + " |")
        lines.append("")

        def churn_median(name, key):
            row = churn_summaries.get(name, {}).get(key)
            return row["median"] if row else None

        pairs = []
        peers = [n for n in ("haproxy", "nginx") if n in churn_summaries]
        if "bulwark" in churn_summaries and peers:
            pairs.append(("bulwark / best of haproxy, nginx", "bulwark", peers))
        if "bulwark-guards" in churn_summaries and "bulwark-noguard" in churn_summaries:
            pairs.append(("bulwark-guards / bulwark-noguard", "bulwark-guards", ["bulwark-noguard"]))
        if pairs:
            lines.append("| ratio | " + " | ".join(title for _, title, *_ in churn_metrics) + " |")
            lines.append("|---|" + "---:|" * len(churn_metrics))
            for title, name, others in pairs:
                cells = []
                for key, _, _, better in churn_metrics:
                    values = [churn_median(n, key) for n in others if churn_median(n, key) is not None]
                    value = ratio(churn_median(name, key), better(values) if values else None)
                    cells.append(fmt(value, 2) if value is not None else "–")
                lines.append(f"| {title} | " + " | ".join(cells) + " |")
            lines.append("")

    if results["memory"]:
        count = s["idle_connections"]
        lines.append(f"### Memory: {count} idle relayed connections, then after each echoed "
                     f"one {s['burst']} B burst (RSS summed over the gateway's processes)")
        lines.append("")
        lines.append("| gateway | RSS empty MB | RSS idle MB | bytes/conn idle | RSS after burst MB "
                     "| bytes/conn after burst | fds held | alive/opened |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, data in results["memory"].items():
            if data is None:
                continue
            mb = lambda v: fmt(v / 1e6, 1) if v is not None else "–"
            lines.append(f"| {name} | {mb(data.get('rss_base'))} | {mb(data.get('rss_idle'))} "
                         f"| {fmt(data.get('bytes_per_conn_idle'))} | {mb(data.get('rss_burst'))} "
                         f"| {fmt(data.get('bytes_per_conn_burst'))} | {fmt(data.get('fds_idle'))} "
                         f"| {data.get('alive', '–')}/{data.get('opened', '–')} |")
        lines.append("")
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


def main():
    if "--print-configs" in sys.argv:
        print_configs()
        return 0
    for tool in ("bulwark-echo", "bulwark-bench"):
        if not os.access(os.path.join(BIN, tool), os.X_OK):
            raise SystemExit(f"{BIN}/{tool} is missing: build it first (swift build -c release)")
    limit = subprocess.run(["sh", "-c", "ulimit -n"], stdout=subprocess.PIPE).stdout.decode().strip()
    needed = SETTINGS["idle_connections"] * 3 + 500  # bulwark: client socket, timerfd, backend socket
    if limit.isdigit() and int(limit) < needed:
        fitted = max(0, (int(limit) - 500) // 3)
        log(f"open-file limit {limit} is too low for {SETTINGS['idle_connections']} idle connections; using {fitted}")
        SETTINGS["idle_connections"] = fitted

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


def run(tmp, busy):
    bench = Bench(tmp)
    results = {"settings": SETTINGS, "started": datetime.datetime.now().isoformat(timespec="seconds"),
               "versions": versions(), "busy_before_start": round(busy, 3), "pingpong": {}, "churn": {}, "memory": {}, "skipped": {}, "configs": {}}
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

        for round_index in range(SETTINGS["rounds"]):
            order = active[round_index % len(active):] + active[:round_index % len(active)]
            for name in order:
                target = bench.targets[name]
                data = bench.pingpong(target)
                data["round"] = round_index + 1
                results["pingpong"].setdefault(name, []).append(data)
                log(f"round {round_index + 1} {name:8} {fmt(data.get('rtt_per_sec'))} rt/s  "
                    f"p50 {fmt(data.get('p50_us'), 1)} p99 {fmt(data.get('p99_us'), 1)} "
                    f"p99.9 {fmt(data.get('p999_us'), 1)} us  cpu {fmt(data.get('watched_cpu_us_per_rt'), 2)} us/rt  "
                    f"errors {data.get('errors')}" + ("" if data["exit_status"] == 0 else f"  EXIT {data['exit_status']}"))
                if data["exit_status"] != 0:
                    failed = True
                    log(f"  {data.get('error_samples') or data.get('failure')}")
                if SETTINGS["churn_duration"] > 0:
                    target.refresh_pids()
                    churn = bench.churn(target)
                    churn["round"] = round_index + 1
                    results["churn"].setdefault(name, []).append(churn)
                    log(f"round {round_index + 1} {name:8} churn {fmt(churn.get('conn_per_sec'))} conn/s  "
                        f"cpu {fmt(churn.get('watched_cpu_us_per_conn'), 2)} us/conn  errors {churn.get('errors')}")
                    if churn["exit_status"] != 0:
                        failed = True
                        log(f"  {churn.get('error_samples') or churn.get('failure')}")

        if SETTINGS["idle_connections"] > 0:
            for name in [n for n in active if n in GATEWAYS]:
                data = bench.memory(name)
                results["memory"][name] = data
                if data is None:
                    results["skipped"][name + " (memory)"] = bench.targets[name].reason
                    continue
                log(f"memory {name:8} base {fmt(data['rss_base'] and data['rss_base'] / 1e6, 1)} MB, "
                    f"idle {fmt(data['bytes_per_conn_idle'])} B/conn, after burst "
                    f"{fmt(data['bytes_per_conn_burst'])} B/conn, alive {data.get('alive')}/{data.get('opened')}")
                if data["exit_status"] != 0:
                    failed = True
                    log(f"  {data.get('error_samples') or data.get('failure')}")
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
    print(f"\nraw results: {os.path.relpath(path, ROOT)}  ({results['seconds']} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
