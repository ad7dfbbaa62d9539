#!/usr/bin/env python3
"""Mux listener figures (issue 6), side by side with the TCP relay in the same run:

  pingpong: 64 connections x 64 B through the TCP relay (to bulwark-echo) and through a mux
            listener (u16be frames, to `bulwark-chat --echo`), ROUNDS rounds alternating, medians;
  memory: the gateway's RSS growth per idle mux session once SESSIONS sessions are open;
  broadcast: SESSIONS idle mux sessions (bulwark-bench fanout holds them) and one BROADCAST of a
            64-byte frame, max(5, ROUNDS) times: client frames delivered per second and the time
            until the last session has it (medians); then the same with bursts of BROADCASTS
            broadcasts (ROUNDS times).

Usage: python3 scripts/bench/mux_bench.py  (release binaries in .build/release; knobs below:
ROUNDS, SESSIONS, BROADCASTS, and DURATION and WARMUP, the pingpong's measured and unmeasured
seconds; scripts/bench/bench.py runs this with its own ROUNDS, DURATION and WARMUP)
Everything started is stopped on exit; every wait is bounded.
"""
import json, os, socket, subprocess, sys, tempfile, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from mux_gateway_config import mux_gateway_config  # noqa: E402
from proctools import env_float, env_int, free_port, rss_bytes  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("BIN", os.path.join(ROOT, ".build/release"))
ROUNDS = env_int("ROUNDS", 3)
SESSIONS = env_int("SESSIONS", 8000)
BROADCASTS = env_int("BROADCASTS", 10)
DURATION = env_float("DURATION", 5)
WARMUP = env_float("WARMUP", 1)


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"port {port} never opened")


def pingpong(port, framed, gateway_pids):
    argv = [os.path.join(BIN, "bulwark-bench"), "pingpong", "--target", f"127.0.0.1:{port}", "--connections", "64",
            "--size", "64", "--duration", str(DURATION), "--warmup", str(WARMUP), "--json", "--cpu-pids", ",".join(map(str, gateway_pids))]
    if framed:
        argv.append("--u16be-frames")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=DURATION + WARMUP + 60).stdout
    return json.loads(out.strip().splitlines()[-1])




def idle_memory(port, gateway_pids):
    """The gateway's RSS growth per idle mux session once SESSIONS sessions are open."""
    rss_before = rss_bytes(gateway_pids)
    sockets = []
    for index in range(SESSIONS):
        s = socket.socket()
        s.bind((f"127.0.0.{2 + index % 250}", 0))
        s.connect(("127.0.0.1", port))
        sockets.append(s)
    time.sleep(1.0)  # every session opened on the backend
    rss_idle = rss_bytes(gateway_pids)
    for s in sockets:
        s.close()
    time.sleep(1.0)  # the sessions closed before the broadcast opens its own
    return (rss_idle - rss_before) // SESSIONS


def broadcast(port, count, rounds):
    """`bulwark-bench fanout`: SESSIONS sessions wait; each of `rounds` rounds sends `count`
    triggers ("!all" + 64 bytes), each pushed to every session by the backend as a 66-byte frame,
    and waits until every session has them all; medians over the rounds. Read by one epoll loop,
    so the reader is not the bottleneck (a Python reader was)."""
    argv = [os.path.join(BIN, "bulwark-bench"), "fanout", "--target", f"127.0.0.1:{port}", "--connections", str(SESSIONS),
            "--count", str(count), "--rounds", str(rounds), "--frame-bytes", "66", "--json"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=180).stdout
    result = json.loads(out.strip().splitlines()[-1])
    return {"sessions": SESSIONS, "broadcasts": count, "rounds": result["rounds"], "frames_delivered": result["frames"],
            "seconds": result["seconds"], "frames_per_sec": int(result["frames_per_sec"]),
            "first_session_complete_seconds": result["first_complete_seconds"], "round_seconds": result["round_seconds"],
            "complete": result["complete"] == result["connections"]}


def main():
    work = tempfile.mkdtemp(prefix="bulwark-muxbench-")
    tcp_port, mux_port, echo_port, chat_port = free_port(), free_port(), free_port(), free_port()
    config = os.path.join(work, "bulwark.toml")
    with open(config, "w") as file:
        file.write(mux_gateway_config(mux_port, chat_port, tcp_port, echo_port))
    processes = [subprocess.Popen([os.path.join(BIN, "bulwark-echo"), "--listen", f"127.0.0.1:{echo_port}"], stdout=subprocess.DEVNULL),
                 subprocess.Popen([os.path.join(BIN, "bulwark-chat"), "--echo", "--listen", f"127.0.0.1:{chat_port}"], stdout=subprocess.DEVNULL)]
    try:
        wait_port(echo_port)
        wait_port(chat_port)
        gateway = subprocess.Popen([os.path.join(BIN, "bulwark"), "run", "-c", config], stderr=subprocess.DEVNULL)
        processes.append(gateway)
        wait_port(tcp_port)
        time.sleep(1)
        pids = [gateway.pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(gateway.pid)], capture_output=True, text=True).stdout.split()]
        results = {"tcp": [], "mux": []}
        for round_number in range(ROUNDS):
            order = [("tcp", tcp_port, False), ("mux", mux_port, True)]
            for name, port, framed in (order if round_number % 2 == 0 else order[::-1]):
                results[name].append(pingpong(port, framed, pids))
        def median(name, key):
            values = sorted(r[key] for r in results[name])
            return values[len(values) // 2]
        # The gateway's CPU (user + system, /proc/PID/stat) per round trip, through each listener.
        summary = {name: {"rtt_per_sec": median(name, "rtt_per_sec"), "p99_us": median(name, "p99_us"),
                          "gateway_cpu_us_per_rt": median(name, "watched_cpu_us_per_rt")} for name in results}
        summary["mux_over_tcp"] = round(summary["mux"]["rtt_per_sec"] / summary["tcp"]["rtt_per_sec"], 2)
        summary["idle_rss_bytes_per_session"] = idle_memory(mux_port, pids)
        # One BROADCAST (the figure: frames/s and the time until the last session has
        # it), then a burst of BROADCASTS, which the gateway sends to each client in one write.
        summary["broadcast"] = broadcast(mux_port, 1, max(5, ROUNDS))
        summary["broadcast_burst"] = broadcast(mux_port, BROADCASTS, ROUNDS)
        print(json.dumps(summary, indent=1))
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
