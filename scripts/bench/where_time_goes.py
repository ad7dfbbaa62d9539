#!/usr/bin/env python3
"""Where a relayed round trip's and a relayed connection's CPU goes, per target, in one run: the
evidence behind the CPU and rate goals (docs/benchmarks.md, "Where the time goes").

Per target (direct echo, bulwark, haproxy, nginx: the configs of scripts/bench/bench.py), ROUNDS
rounds in rotated order, and per load (pingpong: CONNECTIONS x 64 B; churn: connect, one 64 B
echo, close, CHURN_PARALLEL at a time), two runs each:
  1. plain: the rate, and the target's CPU per operation split into user and system time (utime
     and stime from /proc/PID/task/*/stat over the whole run, warm-up included, divided by every
     operation of the run), plus its context switches per operation;
  2. counted: the same load under `perf stat -e 'syscalls:sys_enter_*'` (tracepoints make
     syscalls dearer, so the CPU figures come from run 1): the target's syscalls per operation by
     kind, and the TCP segments the whole machine sent per operation (nstat TcpOutSegs: client,
     target and echo; `direct` shows what the load needs without a gateway).
Medians over the rounds, as markdown tables on stdout. Needs perf (Debian linux-perf) and nstat
(iproute2); run as root.

Usage: python3 scripts/bench/where_time_goes.py   (release binaries in .build/release)
Knobs: ROUNDS=3, DURATION=5, CHURN_DURATION=3, WARMUP=2, CONNECTIONS=64, CHURN_PARALLEL=32,
LOADS="pingpong churn", TARGETS="direct bulwark haproxy nginx", WORKERS=2 (as bench.py).
"""
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the targets, their configs and the bench client, as `make bench` runs them)
from proctools import CLOCK_TICKS  # noqa: E402  (scripts/lib, on the path once bench is imported)

ROUNDS = bench.env_int("ROUNDS", 3)
CONNECTIONS = bench.env_int("CONNECTIONS", 64)
TARGETS = os.environ.get("TARGETS", "direct bulwark haproxy nginx").split()
LOADS = os.environ.get("LOADS", "pingpong churn").split()
# Per load: the bench client run, its rate key, its every-operation count key, the operation's name.
LOAD_RUNS = {
    "pingpong": (lambda runner, target: runner.pingpong(target, CONNECTIONS), "rtt_per_sec", "total_round_trips", "rt"),
    "churn": (lambda runner, target: runner.churn(target), "conn_per_sec", "total_connections", "conn"),
}
# Syscall columns shown only when some target makes at least this many per operation.
SHOWN_SYSCALLS_PER_OPERATION = 0.005


def task_times(pids):
    """(user seconds, system seconds, context switches) summed over the processes' threads."""
    user = system = switches = 0
    for pid in pids:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/stat") as f:
                    text = f.read()
                with open(f"/proc/{pid}/task/{task}/status") as f:
                    status = f.read()
            except OSError:
                continue
            fields = text[text.rindex(")") + 2:].split()
            user += int(fields[11])
            system += int(fields[12])
            switches += sum(int(line.split()[1]) for line in status.splitlines() if "ctxt_switches" in line)
    return user / CLOCK_TICKS, system / CLOCK_TICKS, switches


def tcp_out_segments():
    out = subprocess.run(["nstat", "-az", "TcpOutSegs"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("TcpOutSegs"):
            return int(line.split()[1])
    raise SystemExit("nstat printed no TcpOutSegs")


def run_load(runner, target, load):
    """(rate, every operation of the run) of one bench client run; stops on any error."""
    run, rate_key, count_key, _ = LOAD_RUNS[load]
    data = run(runner, target)
    if data.get("errors") or not data.get(count_key):
        raise SystemExit(f"{target.name} {load} failed: {data}")
    return data[rate_key], data[count_key]


def plain_run(runner, target, load):
    user0, system0, switches0 = task_times(target.pids)
    rate, operations = run_load(runner, target, load)
    user1, system1, switches1 = task_times(target.pids)
    return {"rate": rate, "user µs": (user1 - user0) * 1e6 / operations,
            "system µs": (system1 - system0) * 1e6 / operations,
            "switches": (switches1 - switches0) / operations}


def counted_run(runner, target, load, tmp):
    output = os.path.join(tmp, f"perf-{target.name}-{load}.csv")
    perf = subprocess.Popen(["perf", "stat", "-x,", "-e", "syscalls:sys_enter_*", "-p",
                             ",".join(map(str, target.pids)), "-o", output],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        segments0 = tcp_out_segments()
        _, operations = run_load(runner, target, load)
        segments1 = tcp_out_segments()
    finally:
        perf.send_signal(signal.SIGINT)  # perf stat prints its counts and leaves
        perf.wait(30)
    counts = {"syscalls": 0.0}
    with open(output) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) > 2 and parts[0].isdigit() and parts[2].startswith("syscalls:sys_enter_"):
                per_operation = int(parts[0]) / operations
                counts[parts[2].removeprefix("syscalls:sys_enter_")] = per_operation
                counts["syscalls"] += per_operation
    counts["segments"] = (segments1 - segments0) / operations
    return counts


def main():
    for tool in ("perf", "nstat"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing (apt-get install linux-perf iproute2)")
    tmp = tempfile.mkdtemp(prefix="bulwark-where.")
    runner = bench.Bench(tmp)
    rows = {load: {name: [] for name in TARGETS} for load in LOADS}
    try:
        runner.start_echo()
        for name in TARGETS:
            if name != "direct" and not runner.start_gateway(name).available:
                raise SystemExit(f"{name} did not start")
        for round_index in range(ROUNDS):
            for name in bench.rotated(TARGETS, round_index):
                target = runner.targets[name]
                for load in LOADS:
                    figures = plain_run(runner, target, load)
                    figures.update(counted_run(runner, target, load, tmp))
                    rows[load][name].append(figures)
                    bench.log(f"round {round_index + 1} {name} {load}: rate {figures['rate']:,.0f}, "
                              f"user {figures['user µs']:.2f} µs, system {figures['system µs']:.2f} µs, "
                              f"{figures['syscalls']:.2f} syscalls")
    finally:
        runner.processes.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    for load in LOADS:
        print_table(load, rows[load])


def print_table(load, rows):
    """One markdown table: a row per target, medians over the rounds."""
    _, _, _, operation = LOAD_RUNS[load]

    def median(runs, column):
        return statistics.median(run.get(column, 0.0) for run in runs)

    fixed = ["user µs", "system µs", "switches", "syscalls"]
    kinds = sorted({key for runs in rows.values() for run in runs for key in run}
                   - set(fixed) - {"rate", "segments"})
    shown = [kind for kind in kinds if any(median(runs, kind) >= SHOWN_SYSCALLS_PER_OPERATION for runs in rows.values())]
    columns = ["rate"] + fixed + shown + ["segments"]
    title = f"{CONNECTIONS} connections x 64 B" if load == "pingpong" else f"{bench.SETTINGS['churn_parallel']} in parallel"
    print(f"\n{load} ({title}), medians of {ROUNDS} rounds; everything but the rate is per {operation}:\n")
    print("| target | " + " | ".join(f"{operation}/s" if c == "rate" else c for c in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name, runs in rows.items():
        cells = [f"{median(runs, c):,.0f}" if c == "rate" else f"{median(runs, c):.2f}" for c in columns]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
