"""Helpers the bench and test scripts share: process trees and CPU time from /proc, free
loopback ports, and bounded waits. Stdlib only; imported by adding scripts/lib to sys.path."""
import os
import signal
import subprocess
import socket
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid):
    """pid and all its descendants (from /proc/*/stat parent pids): `bulwark run` is a master
    process, and the connections live in the worker process it starts."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    result, pending = [], [pid]
    while pending:
        current = pending.pop()
        result.append(current)
        pending.extend(children.get(current, []))
    return sorted(result)


def cpu_seconds(pids):
    """utime + stime of processes (all their threads), from /proc; a process gone counts 0."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                text = f.read()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def rss_bytes(pids):
    """Resident memory of processes, from /proc/PID/statm; a process gone counts 0."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
    return total


def free_port():
    """A loopback port that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, timeout, what):
    """Polls `condition` every 50 ms; its first true value, or AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def env_int(name, default):
    """An integer knob from the environment; unset or blank: `default`."""
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def env_float(name, default):
    value = os.environ.get(name, "")
    return float(value) if value.strip() else default


def stop(process, signal_number=signal.SIGINT, timeout=10):
    """Signals a process (a gateway master: SIGINT stops at once, SIGTERM drains), waits at most
    `timeout` s, then kills it."""
    if process.poll() is not None:
        return
    process.send_signal(signal_number)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
