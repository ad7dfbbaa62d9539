#!/usr/bin/env python3
"""Stats query under load: does walking every connection stall the engine?

Requirement checked: a query that walks 9,000 connections answers completely, in pieces,
without stalling the engine: pingpong p99 latency measured during a loop of
`show conns limit 10000` stays within 2x of the same run without it.

Per run, with IDLE_CONNECTIONS idle relayed connections held open through one gateway:
  (a) pingpong alone                                          -> p99 baseline
  (b) the same pingpong while `bulwarkctl show conns limit N`
      runs back to back, each answer checked for completeness  -> p99 under query load
  (c) the same pingpong while `bulwarkctl CONTROL_QUERY` runs back to back (`help`: a stats
      client that costs the gateway next to nothing): a control. On 2 CPUs, starting one
      bulwarkctl process after another costs CPU the gateway, the echo and the client also
      need; (b) against (c) separates the cost of the walk from that contention.
      Informational: the verdict is (b) against (a).
RUNS runs, the phase order rotating each run; the verdict compares the medians.
`make bench-stats` builds (release) and runs this; stdlib only.

Environment (all optional):
  RUNS=3               runs of (a), (b) and (c)
  DURATION=5           measured seconds per pingpong
  WARMUP=1             unmeasured seconds before each pingpong window (the query loop runs then too)
  CONNECTIONS=64       pingpong connections
  SIZE=64              pingpong message bytes
  IDLE_CONNECTIONS=9000  idle relayed connections held during every run
  QUERY_LIMIT=10000    the `limit` of `show conns`
  MAX_QUERIES=100000   most queries in one (b) phase (it is also bounded by its duration)
  QUERY_TIMEOUT=15     seconds one query may take before it is killed (and counted as failed)
  QUERY_CLIENT=socket  "socket": every query on one persistent prompt-mode stats connection;
                       "bulwarkctl": one bulwarkctl process per query (a shell loop)
  CONTROL_QUERY=help   the control loop's command (phase c); empty: no phase (c). Not `show info`:
                       it counts the gateway's open files by reading /proc/self/fd (~18,000 entries)
  MAX_RATIO=2.0        the largest accepted p99(b) / p99(a), medians over the runs
  WORKERS=2            gateway worker threads
  QUIET_WAIT=120       seconds to wait, at most, for a build or test run on the machine to end
  BIN=.build/release   where bulwark, bulwarkctl, bulwark-echo and bulwark-bench are
  RESULTS_DIR=bench-results
  KEEP_TMP=1           keep the temporary directory (config, logs)
Exit status: 0 when the ratio is within MAX_RATIO and every answer was complete; 1 otherwise;
2 when the setup failed (a process did not start, the connections did not all open); 130 when
interrupted. Results: RESULTS_DIR/stats-under-load-STAMP.json; everything started is stopped
on every exit (and killed with this script, should it be killed).
"""

import ctypes
import datetime
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from proctools import CLOCK_TICKS, cpu_seconds, env_float, env_int, process_tree  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))




SETTINGS = {
    "runs": env_int("RUNS", 3),
    "duration": env_float("DURATION", 5),
    "warmup": env_float("WARMUP", 1),
    "connections": env_int("CONNECTIONS", 64),
    "size": env_int("SIZE", 64),
    "idle_connections": env_int("IDLE_CONNECTIONS", 9000),
    "query_limit": env_int("QUERY_LIMIT", 10000),
    "max_queries": env_int("MAX_QUERIES", 100000),
    "query_timeout": env_float("QUERY_TIMEOUT", 15),
    "control_query": os.environ.get("CONTROL_QUERY", "help").split(),
    # "socket": queries on one persistent prompt-mode stats connection (a monitoring agent);
    # "bulwarkctl": one bulwarkctl process per query (a shell loop; costs a process start each).
    "query_client": os.environ.get("QUERY_CLIENT", "socket"),
    "max_ratio": env_float("MAX_RATIO", 2.0),
    "workers": env_int("WORKERS", 2),
    "quiet_wait": env_float("QUIET_WAIT", 120),
}
BIN = os.path.join(ROOT, os.environ.get("BIN", ".build/release"))
RESULTS_DIR = os.path.join(ROOT, os.environ.get("RESULTS_DIR", "bench-results"))
# Client source addresses, as in bench.py: 9,000+ connections from one address to one port
# would crowd its ephemeral ports (the gateway's own connections to the echo use 127.0.0.1).
SOURCES = "127.0.0.2-127.0.0.254"
# The fd ceiling of this machine (hard limit); every process stays below it.
MAX_FILES = 20000
# The size the requirement names: fewer idle connections measure something smaller.
REQUIRED_CONNECTIONS = 9000


class SetupError(Exception):
    """The benchmark could not be set up: nothing was measured (exit status 2)."""


def log(message):
    print(f"[bench-stats {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def gateway_config(port, echo_port, socket_path, workers):
    # max_files: as many fds as this machine allows (the hard limit). idle_timeout and
    # frame_timeout "0s": no timer should need a timerfd, so that a relayed connection costs two
    # fds (client + backend socket) and 9,000 fit under 20,000. As of this writing the gateway
    # still gives every connection a timerfd (its connect timeout), three fds each, so only
    # ~6,650 fit: verify_idle() then says so, with the count that would fit. drain_timeout "0s":
    # stopping the gateway (SIGTERM to the master) closes the connections at once.
    return f"""[server]
workers = {workers}
drain_timeout = "0s"

[log]
level = "warning"

[guard]
max_files = {MAX_FILES}
idle_timeout = "0s"
frame_timeout = "0s"

[[listener]]
name = "bench"
bind = "127.0.0.1:{port}"
mode = "tcp"
backend = "echo"

[[backend]]
name = "echo"
servers = ["127.0.0.1:{echo_port}"]
connect_timeout = "3s"

[[stats]]
socket = "{socket_path}"
level = "user"
"""


# ---------------------------------------------------------------------------------------------
# Processes

def _die_with_parent():
    """preexec_fn: the child gets SIGKILL if this script dies, even by SIGKILL (PR_SET_PDEATHSIG),
    so no gateway or echo holding 18,000 fds outlives it. Only used while no other thread runs."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1


class Processes:
    """The long-lived processes this script starts, each in its own process group."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.started = []

    def start(self, name, argv, stdout=None):
        err = open(os.path.join(self.tmp, f"{name}.log"), "ab")
        process = subprocess.Popen(
            argv, stdout=stdout if stdout is not None else err, stderr=err, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=self.tmp, preexec_fn=_die_with_parent)
        err.close()
        self.started.append(process)
        return process

    def stop(self, process, timeout=5):
        """SIGTERM, then SIGKILL to the whole group after `timeout` s."""
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(5)
        if process in self.started:
            self.started.remove(process)

    def stop_all(self):
        for process in list(reversed(self.started)):
            try:
                self.stop(process, timeout=3)
            except Exception as error:  # keep going: everything must be stopped
                log(f"could not stop pid {process.pid}: {error}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout, interval=0.1):
    """Polls `condition` until it returns something truthy or `timeout` s pass; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def echoes(port):
    """True when a connection to `port` echoes a few bytes (through the gateway: its backend too)."""
    payload = b"bulwark-bench-ready\n"
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
            return got == payload
    except OSError:
        return False


def others_cpu_seconds(own_pids):
    """CPU seconds of every process but ours and the kernel's threads (a build, a test run),
    from /proc/PID/stat: utime + stime, plus cutime + cstime so that short-lived children (a
    compiler job) count once their parent reaps them. Summed per process, not read off
    /proc/stat, because a process's stime holds softirq time (loopback traffic) that
    /proc/stat counts apart: the difference of the two would mostly be our own traffic."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in own_pids:
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue  # gone meanwhile
        fields = text[text.rindex(")") + 2:].split()
        if entry == "2" or fields[1] == "2":  # kthreadd and the kernel's threads (ksoftirqd: our traffic)
            continue
        total += sum(int(v) for v in fields[11:15])
    return total / CLOCK_TICKS


def open_fds(pids):
    return sum(len(os.listdir(f"/proc/{pid}/fd")) for pid in pids)


# ---------------------------------------------------------------------------------------------
# The setup: echo, gateway, idle connections

class Setup:
    def __init__(self, tmp):
        self.tmp = tmp
        self.processes = Processes(tmp)
        self.socket_path = os.path.join(tmp, "stats.sock")
        self.echo = self.gateway = self.holder = None
        self.port = None
        self.config = None
        self.release_file = os.path.join(tmp, "release")

    def start_echo(self):
        argv = [os.path.join(BIN, "bulwark-echo"), "--listen", "127.0.0.1:0", "--threads", "1"]
        self.echo = self.processes.start("echo", argv, stdout=subprocess.PIPE)
        line = self.echo.stdout.readline().decode().strip()  # bounded: the echo prints or exits
        if not line.startswith("listening on "):
            raise SetupError(f"bulwark-echo did not start: {line!r} (see {self.tmp}/echo.log)")
        self.echo_port = int(line.rsplit(":", 1)[1])
        log(f"echo on 127.0.0.1:{self.echo_port} (pid {self.echo.pid})")

    def start_gateway(self):
        self.port = free_port()
        self.config = gateway_config(self.port, self.echo_port, self.socket_path, SETTINGS["workers"])
        path = os.path.join(self.tmp, "bulwark.toml")
        with open(path, "w") as f:
            f.write(self.config)
        self.gateway = self.processes.start("bulwark", [os.path.join(BIN, "bulwark"), "run", "-c", path])
        relays = wait_for(lambda: self.gateway.poll() is not None or echoes(self.port), timeout=10)
        if not relays or self.gateway.poll() is not None:
            raise SetupError(f"bulwark did not relay to the echo within 10 s; log: {self.tmp}/bulwark.log\n"
                             + self.log_tail("bulwark"))
        if not wait_for(lambda: self.info() is not None, timeout=10):
            raise SetupError(f"the stats socket {self.socket_path} did not answer within 10 s")
        log(f"bulwark on 127.0.0.1:{self.port} (pids {self.gateway_pids()}: master and worker), "
            f"stats socket {self.socket_path}")

    def gateway_pids(self):
        """The master and its worker(s); read again before each phase (a worker may be replaced)."""
        return process_tree(self.gateway.pid)

    def info(self):
        """`show info` as a dict, or None if the gateway did not answer."""
        try:
            result = subprocess.run([os.path.join(BIN, "bulwarkctl"), "-s", self.socket_path, "--json", "show", "info"],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=15)
            return json.loads(result.stdout) if result.returncode == 0 else None
        except (subprocess.TimeoutExpired, ValueError):
            return None

    def open_idle(self, hold_seconds):
        """Opens IDLE_CONNECTIONS relayed connections with `bulwark-bench idle`, which holds them
        until the release file exists (at most `hold_seconds`), then checks each is still alive."""
        count = SETTINGS["idle_connections"]
        opened_file = os.path.join(self.tmp, "opened")
        argv = [os.path.join(BIN, "bulwark-bench"), "idle", "--target", f"127.0.0.1:{self.port}",
                "--connections", str(count), "--sources", SOURCES, "--connect-timeout", "60",
                "--hold", str(int(hold_seconds)), "--opened-file", opened_file,
                "--hold-until-file", self.release_file, "--json"]
        self.holder = self.processes.start("idle", argv, stdout=subprocess.PIPE)
        started = time.monotonic()
        if not wait_for(lambda: os.path.exists(opened_file) or self.holder.poll() is not None, timeout=90):
            raise SetupError("bulwark-bench idle did not open its connections within 90 s")
        if not os.path.exists(opened_file):
            raise SetupError(f"bulwark-bench idle exited early (status {self.holder.returncode}):\n"
                             + self.log_tail("idle"))
        log(f"{count} idle connections opened in {time.monotonic() - started:.1f} s (pid {self.holder.pid})")

    def verify_idle(self):
        """The gateway's own count: every idle connection accepted and relayed. When it falls
        short, says why in fds (the usual cause: the gateway ran out of them)."""
        count = SETTINGS["idle_connections"]

        def all_accepted():  # the holder has its sockets before the gateway has accepted them all
            info = self.info()
            return info if info and info.get("connections", 0) >= count else None

        info = wait_for(all_accepted, timeout=15, interval=0.5) or self.info() or {}
        # Counted here too: show info's open_files is -1 when the worker has no fd left to count with.
        gateway_fds = open_fds(self.gateway_pids())
        seen = {"connections": info.get("connections"), "open_files": info.get("open_files"),
                "gateway_fds": gateway_fds, "open_files_limit": info.get("open_files_limit"),
                "memory_rss_bytes": info.get("memory_rss_bytes"), "echo_fds": open_fds([self.echo.pid]),
                "gateway_pids": self.gateway_pids()}
        log(f"show info: connections {seen['connections']}, open_files {seen['open_files']}"
            f"/{seen['open_files_limit']}, rss {(seen['memory_rss_bytes'] or 0) / 1e6:.0f} MB; "
            f"gateway holds {gateway_fds} fds, echo {seen['echo_fds']}")
        connections = seen["connections"] or 0
        if connections < count:
            reason = f"the gateway reports {connections} connections, expected {count}"
            each = gateway_fds / connections if connections else 0
            if connections > 100 and round(each) > 0:
                fits = int((MAX_FILES - (gateway_fds - round(each) * connections)) / round(each))
                idle_fit = fits - SETTINGS["connections"]
                reason += (f"; it holds {gateway_fds} fds, {each:.2f} per connection, so at most ~{fits} fit "
                           f"under {MAX_FILES} fds, pingpong's {SETTINGS['connections']} included (a smaller run: "
                           f"IDLE_CONNECTIONS={idle_fit // 100 * 100}). Log tail:\n{self.log_tail('bulwark', 3)}")
            raise SetupError(reason)
        return seen

    def release_idle(self):
        """Ends the hold; the holder checks every connection echoes one byte and reports."""
        open(self.release_file, "w").close()
        try:
            out, _ = self.holder.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            return {"failure": "bulwark-bench idle did not finish within 60 s of the release"}
        data = last_json_line(out)
        data["exit_status"] = self.holder.returncode
        return data

    def log_tail(self, name, lines=15):
        try:
            with open(os.path.join(self.tmp, f"{name}.log"), errors="replace") as f:
                return "\n".join("    " + line for line in f.read().splitlines()[-lines:])
        except OSError:
            return ""


def last_json_line(out):
    for line in reversed(out.decode(errors="replace").splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {}


# ---------------------------------------------------------------------------------------------
# The measurements

def pingpong(setup, gateway_pids):
    """One pingpong run (bounded: its own duration, plus a timeout); its JSON as a dict."""
    s = SETTINGS
    argv = [os.path.join(BIN, "bulwark-bench"), "pingpong", "--target", f"127.0.0.1:{setup.port}",
            "--connections", str(s["connections"]), "--size", str(s["size"]),
            "--duration", str(s["duration"]), "--warmup", str(s["warmup"]),
            "--sources", SOURCES, "--cpu-pids", ",".join(map(str, gateway_pids)), "--json"]
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            timeout=s["duration"] + s["warmup"] + 60)
    data = last_json_line(result.stdout) or {"errors": -1, "failure": result.stderr.decode()[-2000:]}
    data["exit_status"] = result.returncode
    return data


class QueryLoop(threading.Thread):
    """Runs one bulwarkctl command back to back until stopped, MAX_QUERIES have run, or
    `seconds` have passed, and checks every answer with `check(lines, record)` (None when
    complete, else the problem). A thread, not a process: each query is its own bulwarkctl process, so the
    gateway sees one stats client after another, as from a shell loop.
    """

    def __init__(self, setup, words, check, seconds):
        super().__init__(daemon=True)
        self.argv = [os.path.join(BIN, "bulwarkctl"), "-s", setup.socket_path] + words
        self.socket_path, self.line = setup.socket_path, " ".join(words) + "\n"
        self.session = None  # QUERY_CLIENT=socket: one stats connection in prompt mode
        self.check = check
        self.seconds = seconds
        self.stopping = threading.Event()
        self.queries = []  # one dict per query: seconds, status, ctl_cpu, rows, problem
        self.elapsed = 0.0

    def run(self):
        started = time.monotonic()
        deadline = started + self.seconds
        while (not self.stopping.is_set() and time.monotonic() < deadline
               and len(self.queries) < SETTINGS["max_queries"]):
            self.queries.append(self.query())
        self.elapsed = time.monotonic() - started

    def query(self):
        if SETTINGS["query_client"] == "socket":
            return self.query_on_socket()
        return self.query_with_bulwarkctl()

    def query_on_socket(self):
        """One query on a persistent prompt-mode connection: what a monitoring agent does, and
        no process start per query competing for the 2 CPUs."""
        began, cpu_began = time.monotonic(), time.thread_time()
        record = {"rows": None, "status": 0}
        try:
            if self.session is None:
                self.session = socket.socket(socket.AF_UNIX)
                self.session.settimeout(SETTINGS["query_timeout"])
                self.session.connect(self.socket_path)
                self.session.sendall(b"prompt\n")
                self.read_until_prompt()
            self.session.sendall(self.line.encode())
            answer = self.read_until_prompt()
            lines = [line for line in answer.split("\n") if line.strip() and line.strip() != ">"]
            record["problem"] = self.check(lines, record)
        except OSError as error:
            record["status"], record["problem"] = 1, f"stats socket: {error}"
            if self.session:
                self.session.close()
            self.session = None
        record["seconds"] = time.monotonic() - began
        record["ctl_cpu"] = time.thread_time() - cpu_began
        return record

    def read_until_prompt(self):
        data = b""
        while not data.endswith(b"> "):
            chunk = self.session.recv(1 << 20)
            if not chunk:
                raise OSError("the gateway closed the stats connection")
            data += chunk
        return data[:-2].decode(errors="replace")

    def query_with_bulwarkctl(self):
        began = time.monotonic()
        process = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Bounded: a query still running after QUERY_TIMEOUT is killed (and counted as failed).
        killer = threading.Timer(SETTINGS["query_timeout"], process.kill)
        killer.start()
        try:
            out = process.stdout.read()
            err = process.stderr.read()
            # wait4, not wait: the rusage says what bulwarkctl itself cost (it shares the 2 CPUs).
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
        finally:
            killer.cancel()
            process.stdout.close()
            process.stderr.close()
        record = {"seconds": time.monotonic() - began, "status": process.returncode,
                  "ctl_cpu": usage.ru_utime + usage.ru_stime, "rows": None}
        if process.returncode != 0:
            # bulwarkctl exits 3 when the answer does not end with its empty line (or no answer).
            record["problem"] = f"exit {process.returncode}: {err.decode(errors='replace').strip()[:200]}"
        else:
            lines = [line for line in out.decode(errors="replace").split("\n") if line.strip()]
            record["problem"] = self.check(lines, record)
        return record


def check_conns(expected_rows):
    """`show conns` is complete when it has its header, then one row per connection (at least
    every idle one; pingpong's may come on top), each starting with its numeric id."""
    def check(lines, record):
        if not lines or lines[0].split()[0] != "id":
            return f"no header: {lines[:1]!r}"
        rows = lines[1:]
        record["rows"] = len(rows)
        bad = [row for row in rows if not row.split()[0].isdigit()]
        if bad:
            return f"{len(bad)} malformed rows, first {bad[0][:80]!r}"
        if len(rows) < expected_rows:
            return f"{len(rows)} rows, expected at least {expected_rows}"
        return None
    return check


def check_answered(lines, record):
    """The control query: any answer that is not an error."""
    return None if lines and not lines[0].startswith("error") else f"answer {lines[:1]!r}"


def phase_loop(setup, phase):
    """The query loop of a phase, or None for (a). Its own time bound: the pingpong's, plus 30 s."""
    s = SETTINGS
    seconds = s["warmup"] + s["duration"] + 30
    if phase == "b":
        words = ["show", "conns", "limit", str(s["query_limit"])]
        return QueryLoop(setup, words, check_conns(s["idle_connections"]), seconds)
    if phase == "c":
        return QueryLoop(setup, s["control_query"], check_answered, seconds)
    return None


def measure(setup, phase):
    """One pingpong; in (b) and (c) the query loop runs from before the pingpong's warmup to its
    end, so the whole measured window is under query load."""
    loop = phase_loop(setup, phase)
    gateway_pids = setup.gateway_pids()
    gateway_cpu = cpu_seconds(gateway_pids)
    own_pids = {os.getpid(), setup.echo.pid, setup.holder.pid, *gateway_pids}
    others = others_cpu_seconds(own_pids)
    started = time.monotonic()
    if loop:
        loop.start()
    try:
        data = pingpong(setup, gateway_pids)
    finally:
        if loop:
            loop.stopping.set()
            loop.join(SETTINGS["query_timeout"] + 5)
    data["gateway_pids"] = gateway_pids
    data["gateway_cpu_seconds"] = round(cpu_seconds(gateway_pids) - gateway_cpu, 3)
    data["phase_seconds"] = round(time.monotonic() - started, 3)
    # CPU the rest of the machine took meanwhile (a build, a test run): on 2 CPUs, more than a
    # few tenths of a second makes the phase's latencies noise.
    data["foreign_cpu_seconds"] = round(others_cpu_seconds(own_pids) - others, 2)
    if loop:
        data.update(summarize_queries(loop))
    return data


def summarize_queries(loop):
    queries = loop.queries
    rows = [q["rows"] for q in queries if q["rows"] is not None]
    times = sorted(q["seconds"] for q in queries)
    problems = [q["problem"] for q in queries if q["problem"]]
    return {
        "queries": len(queries),
        "queries_per_sec": len(queries) / loop.elapsed if loop.elapsed else None,
        "incomplete_answers": len(problems),
        "problem_samples": problems[:5],
        "rows_min": min(rows) if rows else None,
        "rows_median": statistics.median(rows) if rows else None,
        "rows_max": max(rows) if rows else None,
        "query_ms_median": statistics.median(times) * 1000 if times else None,
        "query_ms_max": times[-1] * 1000 if times else None,
        "bulwarkctl_cpu_seconds": round(sum(q["ctl_cpu"] for q in queries), 3),
    }


# ---------------------------------------------------------------------------------------------
# Reporting

def median_of(runs, key):
    values = [r.get(key) for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=0):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def p99_ratio(upper, lower):
    return upper / lower if upper and lower else None


def summarize(results):
    runs = results["runs"]
    summary = {"phases": {}}
    for phase, data in runs.items():
        row = {key: median_of(data, key) for key in
               ("rtt_per_sec", "p50_us", "p99_us", "p999_us", "max_us", "gateway_cpu_seconds",
                "queries_per_sec", "query_ms_median", "bulwarkctl_cpu_seconds", "foreign_cpu_seconds")}
        if phase != "a":
            row["queries"] = sum(r.get("queries", 0) for r in data)
            row["incomplete_answers"] = sum(r.get("incomplete_answers", 0) for r in data)
            row["query_ms_max"] = max((r["query_ms_max"] for r in data if r.get("query_ms_max") is not None), default=None)
            row["rows_min"] = min((r["rows_min"] for r in data if r.get("rows_min") is not None), default=None)
            row["rows_max"] = max((r["rows_max"] for r in data if r.get("rows_max") is not None), default=None)
        summary["phases"][phase] = row
    p99 = {phase: row["p99_us"] for phase, row in summary["phases"].items()}
    summary["ratio"] = p99_ratio(p99.get("b"), p99.get("a"))  # the verdict's figure
    summary["ratios_per_run"] = [p99_ratio(rb.get("p99_us"), ra.get("p99_us")) for ra, rb in zip(runs["a"], runs["b"])]
    summary["ratio_control"] = p99_ratio(p99.get("c"), p99.get("a"))
    summary["ratio_walk_over_control"] = p99_ratio(p99.get("b"), p99.get("c"))
    everything = [r for data in runs.values() for r in data]
    summary["pingpong_errors"] = sum(max(0, r.get("errors", 0)) for r in everything)
    summary["failed_pingpongs"] = sum(1 for r in everything if r.get("exit_status") != 0)
    b = summary["phases"]["b"]
    summary["complete"] = b["queries"] > 0 and b["incomplete_answers"] == 0
    summary["ratio_ok"] = summary["ratio"] is not None and summary["ratio"] <= SETTINGS["max_ratio"]
    summary["full_size"] = SETTINGS["idle_connections"] >= REQUIRED_CONNECTIONS
    summary["passed"] = summary["ratio_ok"] and summary["complete"] and summary["failed_pingpongs"] == 0
    return summary


def report(results):
    s, m = SETTINGS, results["summary"]
    titles = {"a": "(a) pingpong alone", "b": f"(b) + loop of show conns limit {s['query_limit']}",
              "c": f"(c) + loop of {' '.join(s['control_query'])} (control)"}
    lines = [
        f"Stats query under load: {s['idle_connections']} idle relayed connections; pingpong "
        f"{s['connections']} x {s['size']} B, {fmt(s['duration'], 1)} s measured; {s['runs']} runs (medians)",
        "",
        "| phase | round trips/s | p50 µs | p99 µs | p99.9 µs | max µs | queries/s | answer ms | gateway CPU s | bulwarkctl CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for phase, row in m["phases"].items():
        lines.append(f"| {titles[phase]} | {fmt(row['rtt_per_sec'])} | {fmt(row['p50_us'], 1)} "
                     f"| {fmt(row['p99_us'], 1)} | {fmt(row['p999_us'], 1)} | {fmt(row['max_us'], 1)} "
                     f"| {fmt(row['queries_per_sec'], 1)} | {fmt(row['query_ms_median'], 1)} "
                     f"| {fmt(row['gateway_cpu_seconds'], 2)} | {fmt(row['bulwarkctl_cpu_seconds'], 2)} |")
    b = m["phases"]["b"]
    per_run = ", ".join(fmt(r, 2) for r in m["ratios_per_run"])
    lines += [
        "",
        f"p99 (b)/(a): {fmt(m['ratio'], 2)} (limit {fmt(s['max_ratio'], 1)}; per run: {per_run})",
    ]
    if "c" in m["phases"]:
        lines.append(f"p99 (c)/(a): {fmt(m['ratio_control'], 2)}, (b)/(c): {fmt(m['ratio_walk_over_control'], 2)} "
                     "(the control's share: stats clients and bulwarkctl processes, not the walk)")
    lines += [
        f"show conns: {b['queries']} answers, {b['rows_min']}–{b['rows_max']} rows each (at least "
        f"{s['idle_connections']} needed), {b['incomplete_answers']} incomplete; slowest {fmt(b['query_ms_max'], 1)} ms",
        f"idle connections alive after the runs: {results['idle'].get('alive', '–')}/{results['idle'].get('opened', '–')}; "
        f"pingpong errors {m['pingpong_errors']}",
    ]
    foreign = max(r.get("foreign_cpu_seconds") or 0 for data in results["runs"].values() for r in data)
    if foreign > 0.5 or results.get("busy_before_start", 0) > 0.15:
        lines.append(f"NOTE: other processes took CPU during the runs (up to {fmt(foreign, 1)} s in one phase; "
                     f"{results.get('busy_before_start', 0):.0%} busy before the start): noisy figures")
    if not m["full_size"]:
        lines.append(f"NOTE: {s['idle_connections']} idle connections, not the {REQUIRED_CONNECTIONS} the requirement "
                     "names: this verdict is for the smaller table")
    lines.append(f"verdict: {'PASS' if m['passed'] else 'FAIL'}"
                 + ("" if m["ratio_ok"] else f" (p99 ratio above {fmt(s['max_ratio'], 1)})")
                 + ("" if m["complete"] else " (incomplete answers)")
                 + ("" if m["failed_pingpongs"] == 0 else f" ({m['failed_pingpongs']} pingpong runs failed)"))
    return "\n".join(lines)


def log_run(run, phase, data):
    line = (f"run {run} ({phase}) {fmt(data.get('rtt_per_sec'))} rt/s  p50 {fmt(data.get('p50_us'), 1)}  "
            f"p99 {fmt(data.get('p99_us'), 1)}  p99.9 {fmt(data.get('p999_us'), 1)}  max {fmt(data.get('max_us'), 1)} us  "
            f"gateway cpu {fmt(data.get('gateway_cpu_seconds'), 2)} s, foreign cpu {fmt(data.get('foreign_cpu_seconds'), 2)} s")
    if "queries" in data:
        rows = f", rows {data['rows_min']}–{data['rows_max']}" if data["rows_min"] is not None else ""
        line += (f"  | {data['queries']} queries ({fmt(data['queries_per_sec'], 1)}/s, median "
                 f"{fmt(data['query_ms_median'], 1)} ms){rows}, incomplete {data['incomplete_answers']}, "
                 f"bulwarkctl cpu {fmt(data['bulwarkctl_cpu_seconds'], 2)} s")
    if data.get("exit_status") != 0:
        line += f"  EXIT {data.get('exit_status')}: {data.get('error_samples') or data.get('failure')}"
    log(line)
    for problem in data.get("problem_samples", []):
        log(f"  incomplete answer: {problem}")


# ---------------------------------------------------------------------------------------------

def busy_fraction(seconds=1.0):
    """Share of all CPUs busy over `seconds` (/proc/stat) before anything starts: on 2 CPUs a
    concurrent build makes every latency figure noise, so the results record it."""
    def sample():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait
    total1, idle1 = sample()
    time.sleep(seconds)
    total2, idle2 = sample()
    return 1 - (idle2 - idle1) / max(1, total2 - total1)


def wait_until_quiet(seconds):
    """Waits (at most `seconds`) for a build or test run on the machine to finish: the last
    busy fraction measured, under 0.15 unless the wait ran out."""
    deadline = time.monotonic() + seconds
    busy = busy_fraction()
    if busy > 0.15 and seconds > 0:
        log(f"{busy:.0%} of the CPUs are busy: waiting up to {seconds:.0f} s for the machine to be quiet")
        while busy > 0.15 and time.monotonic() < deadline:
            busy = busy_fraction(2.0)
    return busy


def raise_fd_limit():
    """Children inherit the soft limit: the echo and the idle holder each need ~9,100 fds."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = MAX_FILES if hard == resource.RLIM_INFINITY else min(hard, MAX_FILES)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    needed = SETTINGS["idle_connections"] + SETTINGS["connections"] + 100  # the echo's and the holder's share
    if needed > target:
        raise SetupError(f"{SETTINGS['idle_connections']} connections need ~{needed} fds in the echo; "
                         f"the limit is {target}. Lower IDLE_CONNECTIONS.")


def run(tmp):
    s = SETTINGS
    setup = Setup(tmp)
    phases = ["a", "b"] + (["c"] if s["control_query"] else [])
    busy = wait_until_quiet(s["quiet_wait"])
    if busy > 0.15:
        log(f"WARNING: {busy:.0%} of the CPUs were busy before the start: the figures will be noisy")
    results = {"settings": s, "started": datetime.datetime.now().isoformat(timespec="seconds"),
               "busy_before_start": round(busy, 3), "cpus": os.cpu_count(),
               "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
               "runs": {phase: [] for phase in phases}, "idle": {}}
    # The idle holder's own bound: every phase, plus room to open the connections.
    hold = s["runs"] * len(phases) * (s["warmup"] + s["duration"] + 40) + 120
    try:
        setup.start_echo()
        setup.start_gateway()
        results["config"] = setup.config
        setup.open_idle(hold)
        results["setup"] = setup.verify_idle()
        for run_index in range(s["runs"]):
            # Rotate the order (with two phases: alternate), so a drift over time does not
            # favour one phase.
            shift = run_index % len(phases)
            for phase in phases[shift:] + phases[:shift]:
                time.sleep(1)  # let the previous phase's connections close
                data = measure(setup, phase)
                data["run"] = run_index + 1
                results["runs"][phase].append(data)
                log_run(run_index + 1, phase, data)
        results["idle"] = setup.release_idle()
    finally:
        setup.processes.stop_all()
    return results


def main():
    for tool in ("bulwark", "bulwarkctl", "bulwark-echo", "bulwark-bench"):
        if not os.access(os.path.join(BIN, tool), os.X_OK):
            log(f"{BIN}/{tool} is missing: build first (swift build -c release)")
            return 2

    def on_signal(number, frame):
        signal.signal(number, signal.SIG_IGN)  # one interruption is enough; let cleanup finish
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    tmp = tempfile.mkdtemp(prefix="bulwark-stats.")
    try:
        raise_fd_limit()
        results = run(tmp)
    except SetupError as error:
        log(f"setup failed: {error}")
        write_results({"settings": SETTINGS, "setup_error": str(error)})
        return 2
    except KeyboardInterrupt:
        log("interrupted: everything started was stopped")
        return 130
    finally:
        if os.environ.get("KEEP_TMP"):
            log(f"config and logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    results["summary"] = summarize(results)
    text = report(results)
    path = write_results(results)
    print(text)
    print(f"\nraw results: {os.path.relpath(path, ROOT)}", flush=True)
    return 0 if results["summary"]["passed"] else 1


def write_results(results):
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"stats-under-load-{time.strftime('%Y%m%d-%H%M%S')}.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    return path


if __name__ == "__main__":
    sys.exit(main())
