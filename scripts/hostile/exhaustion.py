"""Scenarios 8 and 10: out of file descriptors, out of ephemeral ports toward the backend, and a
resolver that fails or never answers."""
import json
import os
import subprocess
import sys
import time

import connections
from backends import Namespace
from common import RELEASE, ROOT, Gateway, check, connect, echo_backend, echo_ok, free_port, wait_for


def log_lines_per_second(gateway, needle, seconds):
    lines = [line for line in gateway.log_text().splitlines() if needle in line]
    return len(lines), round(len(lines) / seconds, 2)


def out_of_fds(work):
    """8a. Under `prlimit --nofile=256`, 300 clients: accepting pauses without a spin, at most
    one log line a second, the stats socket answers, service resumes once fds free up. Run with
    backend_connect "accept" and "first_data" (whose backend socket is made after accept)."""
    return {mode: out_of_fds_with(work, mode) for mode in ("accept", "first_data")}


def out_of_fds_with(work, backend_connect):
    backend_port, port = free_port(), free_port()
    backend = echo_backend(backend_port)
    gateway = Gateway(work, f"nofile-{backend_connect}",
                      connections.RELAY.format(port=port, backend=backend_port,
                                               listener_keys=f'backend_connect = "{backend_connect}"'),
                      wrap=["prlimit", "--nofile=256:256"])
    try:
        clients = []
        for index in range(300):
            try:
                client = connect(port, f"127.0.0.{2 + index % 250}", timeout=2)
                client.sendall(b"x")
                clients.append(client)
            except OSError:
                pass
        wait_for(lambda: "pausing accepts" in gateway.log_text(), 10, "accepting to pause")
        cpu_before, started = gateway.cpu(), time.monotonic()
        stats_answers = 0
        for _ in range(5):
            try:
                stats_answers += "version" in gateway.ask("show info", timeout=2)
            except OSError:
                pass
            time.sleep(0.6)
        elapsed = time.monotonic() - started
        cpu_percent = 100 * (gateway.cpu() - cpu_before) / elapsed
        lines, _ = log_lines_per_second(gateway, "pausing accepts", elapsed)
        for client in clients:
            client.close()
        recovered_at = time.monotonic()
        wait_for(lambda: echo_ok(connect(port), timeout=0.5), 5, "service to resume")
        recovery_s = time.monotonic() - recovered_at
        seconds_exhausted = time.monotonic() - started
        check(cpu_percent < 5, f"gateway CPU {cpu_percent:.1f}% while out of fds")
        check(lines <= seconds_exhausted + 2, f"{lines} 'pausing accepts' lines in {seconds_exhausted:.1f} s")
        check(stats_answers == 5, f"the stats socket answered {stats_answers} of 5 times while out of fds")
        return {"clients": len(clients), "cpu_percent": round(cpu_percent, 2), "log_lines": lines,
                "stats_answered": f"{stats_answers}/5", "recovery_s": round(recovery_s, 2)}
    finally:
        gateway.stop()
        backend.stop()


CLIENTS_IN_NAMESPACE = r"""
import json, socket, sys, time
port, count, first_source_port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
served, held = 0, []
for index in range(count):
    client = socket.socket()
    client.bind(("127.0.0.1", first_source_port + index))  # outside the tiny ephemeral range
    client.settimeout(2)
    try:
        client.connect(("127.0.0.1", port))
        client.sendall(b"ping")
        served += client.recv(16) == b"ping"
        held.append(client)
    except OSError:
        client.close()
print(json.dumps({"served": served}), flush=True)
sys.stdin.readline()  # hold until told
"""


def out_of_ports(work):
    """8b. Ten ephemeral ports toward the backend (a namespace's ip_local_port_range), 30 clients:
    ten are relayed, the rest refused without a spin or a log flood, the stats socket answers,
    and a freed port serves the next client."""
    if os.geteuid() != 0:
        return {"skipped": "needs root for a network namespace"}
    namespace = Namespace()
    try:
        namespace.run("sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=40000 40009")
        backend_port, port = 45000, 45001
        backend = echo_backend(backend_port, wrap=namespace.wrap)
        gateway = Gateway(work, "ports", connections.RELAY.format(port=port, backend=backend_port, listener_keys=""),
                          wrap=namespace.wrap)
        try:
            cpu_before, started = gateway.cpu(), time.monotonic()
            clients = subprocess.Popen(namespace.wrap + [sys.executable, "-c", CLIENTS_IN_NAMESPACE, str(port), "30", "50000"],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            served = json.loads(clients.stdout.readline())["served"]
            time.sleep(2)
            elapsed = time.monotonic() - started
            cpu_percent = 100 * (gateway.cpu() - cpu_before) / elapsed
            stats_ok = "version" in gateway.ask("show info")
            lines = sum("Cannot assign requested address" in line or "EADDRNOTAVAIL" in line
                        for line in gateway.log_text().splitlines())
            clients.stdin.write("\n")
            clients.stdin.flush()
            clients.wait(timeout=10)
            # The gateway closed first, so its ports sit in TIME_WAIT; loopback lets a new connect
            # reuse one after a second (net.ipv4.tcp_tw_reuse = 2, the default).
            time.sleep(1.5)
            again = subprocess.run(namespace.wrap + [sys.executable, "-c", CLIENTS_IN_NAMESPACE.replace(
                "sys.stdin.readline()", "pass"), str(port), "5", "51000"], capture_output=True, text=True, timeout=30)
            served_after = json.loads(again.stdout)["served"]
            check(served == 10, f"{served} of 30 clients relayed with 10 ports")
            check(cpu_percent < 5, f"gateway CPU {cpu_percent:.1f}% while out of ports")
            check(lines <= elapsed + 2, f"{lines} log lines about ports in {elapsed:.1f} s")
            check(stats_ok, "the stats socket did not answer")
            check(served_after == 5, f"{served_after} of 5 clients relayed once the ports were free")
            return {"relayed_of_30": served, "cpu_percent": round(cpu_percent, 2), "log_lines": lines,
                    "relayed_after_free": served_after}
        finally:
            gateway.stop()
            backend.stop()
    finally:
        namespace.delete()


def dns_trouble(work):
    """10. scripts/tests/dns_scenarios.py (a fake resolver in a mount namespace): a failed lookup
    keeps the last good address; a resolver that never answers does not stall the engine."""
    if os.geteuid() != 0:
        return {"skipped": "needs root for a mount namespace"}
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "tests", "dns_scenarios.py"),
                             os.path.join(RELEASE, "bulwark")], capture_output=True, text=True, timeout=300)
    check(result.returncode == 0, f"dns_scenarios.py failed: {result.stdout[-400:]} {result.stderr[-400:]}")
    return json.loads(result.stdout)
