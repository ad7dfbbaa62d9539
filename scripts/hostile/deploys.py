"""Scenario 14, bad deploys: upgrades (SIGUSR2) to binaries that cannot take over, while a client
load runs throughout: new connections at a steady rate, and long-lived ones exchanging a
numbered frame every 200 ms. After each bad binary the same master pid and the same worker
serve; then a good upgrade works. Checked: 0 failed connects, 0 broken long-lived connections."""
import os
import shutil
import signal
import socket
import threading
import time

from common import Failed, Gateway, check, echo_backend, free_port, wait_for

# Each: what is put at the binary's path, and what `show info` must say of it.
BAD_BINARIES = [
    ("exits", "#!/bin/sh\nexit 1\n", "refused", "upgrade check exited with status 1"),
    ("hangs", "#!/bin/sh\nexec sleep 600\n", "refused", "did not pass its upgrade check within 10s"),
    ("worker hangs", '#!/bin/sh\n[ "$1" = worker ] && exec sleep 600\nexec REAL "$@"\n', "failed",
     "not ready within start_timeout"),
    # Gets ready (standby, in a few hundred ms), then dies of SIGSEGV about 1 s later (without
    # Swift's backtracer, which would take seconds to print first).
    ("crashes 1 s after ready",
     '#!/bin/bash\nif [ "$1" = worker ]; then SWIFT_BACKTRACE=enable=no REAL "$@" & child=$!\n'
     '  sleep 1.3; kill -SEGV $child; wait $child; exit 139; fi\nexec REAL "$@"\n',
     # The master's child is the script, which passes on the worker's death as status 139.
     "failed", "exited with status 139 during its probation"),
]


class Load:
    """New connections at `rate` a second, each one round trip; `long_lived` connections each
    sending a numbered line every 200 ms and checking its echo. One thread each kind."""

    def __init__(self, port, rate=40, long_lived=50):
        self.port, self.rate = port, rate
        self.stop = threading.Event()
        # Set before a good upgrade: the old worker then closes its connections at drain_timeout,
        # as designed (moving them is issue 23's), so long-lived checking ends there.
        self.long_done = threading.Event()
        self.stats = dict(connects=0, connect_failures=0, round_trip_failures=0, long_lived_frames=0, long_lived_broken=0,
                          examples=[])
        self.long = []
        for index in range(long_lived):
            client = socket.create_connection(("127.0.0.1", port), timeout=5)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.long.append([client, index, 0])
        self.threads = [threading.Thread(target=self.churn, daemon=True), threading.Thread(target=self.ping, daemon=True)]
        for thread in self.threads:
            thread.start()

    def fail(self, kind, what):
        self.stats[kind] += 1
        if len(self.stats["examples"]) < 5:
            self.stats["examples"].append(what)

    def churn(self):
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self.stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=3) as client:
                    self.stats["connects"] += 1
                    client.sendall(b"hello\n")
                    received = b""
                    client.settimeout(3)
                    while len(received) < 6:
                        chunk = client.recv(64)
                        if not chunk:
                            break
                        received += chunk
                    if received != b"hello\n":
                        self.fail("round_trip_failures", f"short echo {received!r}")
            except OSError as error:
                self.fail("connect_failures", f"connect: {error}")
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def ping(self):
        while not self.stop.is_set() and not self.long_done.is_set():
            for entry in self.long:
                client, index, sequence = entry
                if client is None:
                    continue
                line = f"{index} {sequence}\n".encode()
                try:
                    client.sendall(line)
                    client.settimeout(3)
                    received = b""
                    while len(received) < len(line):
                        chunk = client.recv(64)
                        if not chunk:
                            raise OSError("closed by the gateway")
                        received += chunk
                    if received != line:
                        raise OSError(f"expected {line!r}, got {received!r}")
                    entry[2] += 1
                    self.stats["long_lived_frames"] += 1
                except OSError as error:
                    self.fail("long_lived_broken", f"long-lived {index}: {error}")
                    client.close()
                    entry[0] = None
            self.stop.wait(0.2)

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)
        for client, _, _ in self.long:
            if client:
                client.close()
        return self.stats


def bad_deploys(work):
    echo_port, port = free_port(), free_port()
    echo = echo_backend(echo_port)
    binary, real = os.path.join(work, "bulwark"), os.path.join(work, "bulwark.real")
    shutil.copy2(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".build", "release", "bulwark"), real)
    shutil.copy2(real, binary)
    body = f"""drain_timeout = "2s"
start_timeout = "5s"
upgrade_probation = "3s"
[guard]
idle_timeout = "0s"
[[listener]]
name = "front"
bind = "127.0.0.1:{port}"
mode = "tcp"
backend = "echo"
[[backend]]
name = "echo"
servers = ["127.0.0.1:{echo_port}"]"""
    gateway = Gateway(work, "deploys", body, binary=binary)
    figure = {}
    load = None
    try:
        master = gateway.process.pid
        worker = gateway.worker()
        load = Load(port)
        wait_for(lambda: load.stats["long_lived_frames"] >= 100, 20, "the load to run")
        for name, script, word, reason in BAD_BINARIES:
            text = script.replace("REAL", real)
            with open(binary + ".new", "w") as bad:
                bad.write(text)
            os.chmod(binary + ".new", 0o755)
            os.rename(binary + ".new", binary)
            before = info(gateway, "last_upgrade")
            started = time.monotonic()
            gateway.process.send_signal(signal.SIGUSR2)
            outcome = wait_for(lambda: (now := info(gateway, "last_upgrade")) != before and now, 30, f"the {name} binary's outcome")
            seconds = round(time.monotonic() - started, 2)
            check(outcome.startswith(word) and reason in outcome, f"{name}: {outcome}")
            check(gateway.process.poll() is None and info(gateway, "master_pid") == str(master), f"{name}: the master changed")
            check(gateway.worker() == worker and info(gateway, "pid") == str(worker), f"{name}: the serving worker changed")
            figure[name] = dict(outcome=word, seconds=seconds)
        load.long_done.set()
        load.threads[1].join(timeout=10)
        shutil.copy2(real, binary + ".new")
        os.rename(binary + ".new", binary)
        before = info(gateway, "last_upgrade")
        gateway.process.send_signal(signal.SIGUSR2)
        outcome = wait_for(lambda: (now := info(gateway, "last_upgrade")) != before and now, 30, "the good upgrade")
        check(outcome.startswith("upgraded"), f"the good upgrade: {outcome}")
        check(info(gateway, "master_pid") == str(master), "the good upgrade kept the master's pid")
        time.sleep(1)  # the load goes on across the take-over
        stats = load.finish()
        load = None
        figure.update(connects=stats["connects"], connect_failures=stats["connect_failures"],
                      round_trip_failures=stats["round_trip_failures"], long_lived_frames=stats["long_lived_frames"],
                      long_lived_broken=stats["long_lived_broken"], examples=stats["examples"])
        check(stats["connect_failures"] == 0 and stats["round_trip_failures"] == 0, f"failed connects: {figure}")
        check(stats["long_lived_broken"] == 0, f"broken long-lived connections: {figure}")
        return figure
    except Failed as failure:
        raise Failed(f"{failure}\n{gateway.log_text()[-2500:]}")
    finally:
        if load:
            load.finish()
        gateway.stop()
        echo.stop()


def info(gateway, field):
    for line in gateway.ask("show info").splitlines():
        if line.startswith(field + ": "):
            return line[len(field) + 2:]
    return ""
