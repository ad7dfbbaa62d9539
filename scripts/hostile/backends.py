"""Scenario 7: the backend down (refusing connects), closing every connection at once, hung
(SIGSTOP), black-holed (iptables DROP) and restarted, with the gateway and its mux backend in a
network namespace of their own."""
import os
import signal
import subprocess
import sys
import threading
import time

from common import ROOT, Gateway, check, free_port, wait_for
from frames import MUX

LINKS = 2
BACKEND = """[[backend]]
name = "logic"
servers = ["127.0.0.1:{port}"]
connections = {links}
heartbeat = "500ms"
connect_timeout = "1s"
reconnect_min = "100ms"
reconnect_max = "1600ms"
"""


class Namespace:
    """A network namespace with its loopback up; `wrap` runs a command inside it."""

    def __init__(self):
        self.name = f"bulwark-hostile-{os.getpid()}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.wrap = ["ip", "netns", "exec", self.name]
        subprocess.run(self.wrap + ["ip", "link", "set", "lo", "up"], check=True)

    def run(self, *command):
        subprocess.run(self.wrap + list(command), check=True)

    def delete(self):
        subprocess.run(["ip", "netns", "delete", self.name], check=False)


def start_backend(namespace, port):
    process = subprocess.Popen(namespace.wrap + [sys.executable, os.path.join(ROOT, "scripts", "tests", "mux_backend.py"),
                                                 str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    check("listening" in process.stdout.readline(), "the mux backend did not start")
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # keep its pipe drained
    return process


def start_refuser(namespace, port):
    """Accepts each connection and closes it at once, before any HELLO_ACK."""
    code = ("import socket,sys\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
            "s.bind(('127.0.0.1',int(sys.argv[1])))\ns.listen(64)\nprint('listening',flush=True)\n"
            "while True:\n c,_=s.accept()\n c.close()\n")
    process = subprocess.Popen(namespace.wrap + [sys.executable, "-c", code, str(port)], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    check("listening" in process.stdout.readline(), "the refusing backend did not start")
    return process


def kill(process):
    if process.poll() is None:
        process.kill()
    process.wait()


def backend_row(gateway):
    return gateway.json("show backends")[0]


def attempts(gateway):
    return gateway.json("show stat")["backends"][0]["connect_attempts"]


def live_links(gateway):
    return backend_row(gateway)["mux_connections"] or 0


def watch(gateway, seconds):
    """Connect attempts and gateway CPU over `seconds` of trouble."""
    attempts_before, cpu_before, started = attempts(gateway), gateway.cpu(), time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    return {"connect_attempts": attempts(gateway) - attempts_before,
            "cpu_percent": round(100 * (gateway.cpu() - cpu_before) / elapsed, 2)}


def back_in(gateway, cap_seconds):
    """Seconds until every link is live again; fails past the back-off cap plus a connect."""
    started = time.monotonic()
    wait_for(lambda: live_links(gateway) == LINKS, cap_seconds + 1.5, "the links to come back")
    return round(time.monotonic() - started, 2)


def backend_failures(work):
    """7. Each failure for 6 s: connect attempts back off (a handful, not a spin), gateway CPU under
    5%, no fd leak; once the backend is back, every link is live within the back-off cap."""
    if os.geteuid() != 0:
        return {"skipped": "needs root for a network namespace and iptables"}
    namespace = Namespace()
    backend_port, port = free_port(), free_port()
    backend = start_backend(namespace, backend_port)
    body = MUX.format(name="chat", port=port, framing="line", frame_timeout="5s") + BACKEND.format(port=backend_port, links=LINKS)
    gateway = Gateway(work, "backends", body, wrap=namespace.wrap)
    figures = {}
    # 100 ms doubling to 1.6 s: at most 8 attempts per link in 6 s (0.1+0.2+0.4+0.8+1.6+1.6+1.6).
    most_attempts = LINKS * 8 + 2
    try:
        wait_for(lambda: live_links(gateway) == LINKS, 10, "the links to come up")
        fds_baseline = gateway.fds()

        def trouble(name, start, end):
            start()
            figure = watch(gateway, 6)
            figure["fds_over_baseline"] = gateway.fds() - fds_baseline
            end()
            figure["back_after_s"] = back_in(gateway, 1.6)
            figures[name] = figure
            check(figure["connect_attempts"] <= most_attempts,
                  f"{name}: {figure['connect_attempts']} connect attempts in 6 s (back-off allows {most_attempts})")
            check(figure["cpu_percent"] < 5, f"{name}: gateway CPU {figure['cpu_percent']}% while the backend is out")
            check(figure["fds_over_baseline"] <= LINKS, f"{name}: {figure['fds_over_baseline']} fds over the baseline")

        state = {"backend": backend}

        def down():
            kill(state["backend"])

        def restart():
            state["backend"] = start_backend(namespace, backend_port)

        trouble("down (connects refused), then restarted", down, restart)

        def refusing():
            kill(state["backend"])
            state["refuser"] = start_refuser(namespace, backend_port)

        def refusing_ends():
            kill(state["refuser"])
            restart()

        trouble("accepting and closing at once", refusing, refusing_ends)
        trouble("hung (SIGSTOP)", lambda: state["backend"].send_signal(signal.SIGSTOP),
                lambda: state["backend"].send_signal(signal.SIGCONT))
        rule = ["INPUT", "-p", "tcp", "--dport", str(backend_port), "-j", "DROP"]

        def black_hole():
            # Dropping the backend's packets: live links die by heartbeat, new SYNs go unanswered.
            namespace.run("iptables", "-I", *rule)

        def black_hole_ends():
            namespace.run("iptables", "-D", *rule)

        trouble("black-holed (iptables DROP)", black_hole, black_hole_ends)
        return figures
    finally:
        gateway.stop()
        for process in (state.get("backend"), state.get("refuser")):
            if process:
                process.send_signal(signal.SIGCONT)
                kill(process)
        namespace.delete()
