#!/usr/bin/env python3
"""Hot binary upgrade under load, on real processes (run by LifecycleUpgradeTests, or by hand).

While long-lived connections exchange sequence-numbered frames through Bulwark and new
connections arrive at a steady rate, the master is sent SIGUSR2 several times in a row. Checked:
no connect fails; no frame is lost, duplicated or reordered on a connection the gateway did
not close; the master keeps its pid and the listening socket its inode; every old worker is
gone within drain_timeout + 1 s of the upgrade that replaced it. Then an upgrade to a binary
that exits at start is refused while the old worker keeps serving, and a last good upgrade
and a SIGTERM end the run. Prints a JSON summary; exits 1 on any failure.

With --target haproxy the same load runs through HAProxy in master-worker mode (-W), and
SIGUSR2 makes its master reload (it re-executes itself and starts new workers; the old ones
finish their connections up to hard-stop-after = the same drain time): the side-by-side
figure for docs/benchmarks.md (`make bench-upgrade`). HAProxy has no binary check and no
readiness hand-over to compare, so the bad-binary step is Bulwark's only.

Bounded: every wait has a deadline, the load stops when the run ends.
"""
import argparse, json, os, selectors, shutil, signal, socket, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from proctools import free_port, wait_for  # noqa: E402

DRAIN_SECONDS = 4


def ask(stats_path, command):
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(5)
            client.connect(stats_path)
            client.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := client.recv(65536):
                chunks.append(chunk)
            return b"".join(chunks).decode()
    except OSError:
        return ""


def listening_inode(port):
    """The inode of the socket listening on 127.0.0.1:port, from /proc/net/tcp."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if fields[1] == wanted and fields[3] == "0A":
                return int(fields[9])
    return None


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return found


class Load:
    """Long-lived connections ping-ponging "id seq" lines, checked for order; plus new short
    connections at a steady rate. One thread, one epoll."""

    def __init__(self, port, connections, frames_per_second, new_per_second):
        self.port, self.target, self.new_per_second = port, connections, new_per_second
        self.interval = 1.0 / frames_per_second
        self.selector = selectors.DefaultSelector()
        self.stop = threading.Event()
        self.next_id = 0
        self.stats = dict(connect_failures=0, frames_ok=0, frames_bad=0, closed_by_gateway=0,
                          cut_in_flight=0, new_connections=0, reconnects=0, failure_examples=[])
        self.thread = threading.Thread(target=self.run, daemon=True)

    def fail(self, what):
        self.stats["connect_failures"] += 1
        if len(self.stats["failure_examples"]) < 5:
            self.stats["failure_examples"].append(what)

    def open_long(self):
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except OSError as error:
            self.fail(f"long connect: {error}")
            return
        sock.setblocking(False)
        self.next_id += 1
        state = dict(id=self.next_id, seq=0, waiting=None, buffer=b"", due=time.monotonic())
        self.selector.register(sock, selectors.EVENT_READ, state)

    def short_connection(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
                sock.sendall(b"short\n")
                data = b""
                while not data.endswith(b"\n"):
                    chunk = sock.recv(64)
                    if not chunk:
                        raise OSError("closed before the echo")
                    data += chunk
                if data != b"short\n":
                    raise OSError(f"bad echo {data!r}")
            self.stats["new_connections"] += 1
        except OSError as error:
            self.fail(f"new connection: {error}")

    def run(self):
        for _ in range(self.target):
            self.open_long()
        next_short = time.monotonic()
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= next_short:
                self.short_connection()
                next_short = now + 1.0 / self.new_per_second
            for key, _ in self.selector.select(timeout=0.01):
                self.read(key)
            now = time.monotonic()
            for key in list(self.selector.get_map().values()):
                state = key.data
                if state["waiting"] is None and now >= state["due"]:
                    state["seq"] += 1
                    state["waiting"] = f"{state['id']} {state['seq']}\n".encode()
                    try:
                        key.fileobj.send(state["waiting"])
                    except OSError:
                        self.closed(key, cut=True)
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()

    def read(self, key):
        state, sock = key.data, key.fileobj
        try:
            chunk = sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.closed(key, cut=state["waiting"] is not None)
            return
        state["buffer"] += chunk
        while b"\n" in state["buffer"]:
            line, state["buffer"] = state["buffer"].split(b"\n", 1)
            if state["waiting"] == line + b"\n":
                self.stats["frames_ok"] += 1
                state["waiting"] = None
                state["due"] = time.monotonic() + self.interval
            else:
                self.stats["frames_bad"] += 1  # lost, duplicated or out of order

    def closed(self, key, cut):
        """The gateway closed a long connection (an old worker's drain_timeout): replace it."""
        self.selector.unregister(key.fileobj)
        key.fileobj.close()
        self.stats["closed_by_gateway"] += 1
        self.stats["cut_in_flight"] += 1 if cut else 0
        self.stats["reconnects"] += 1
        self.open_long()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bulwark", required=True)
    parser.add_argument("--echo", required=True)
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--upgrades", type=int, default=10)
    parser.add_argument("--new-per-second", type=int, default=20)
    parser.add_argument("--target", choices=["bulwark", "haproxy"], default="bulwark")
    arguments = parser.parse_args()
    if arguments.target == "haproxy":
        return run_haproxy(arguments)

    work = tempfile.mkdtemp(prefix="bulwark-upgrade-")
    binary = os.path.join(work, "bulwark")
    shutil.copy2(arguments.bulwark, binary)
    processes = []
    result = dict(ok=False)
    try:
        echo_port, port = free_port(), free_port()
        echo = subprocess.Popen([arguments.echo, "--listen", f"127.0.0.1:{echo_port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(echo)
        stats = os.path.join(work, "admin.sock")
        config = os.path.join(work, "bulwark.toml")
        with open(config, "w") as file:
            file.write(f"""[server]
workers = 2
drain_timeout = "{DRAIN_SECONDS}s"
upgrade_probation = "1s"
[guard]
max_files = 20000
idle_timeout = "0s"
[[listener]]
name = "front"
bind = "127.0.0.1:{port}"
mode = "tcp"
backend = "echo"
[[backend]]
name = "echo"
servers = ["127.0.0.1:{echo_port}"]
[stats]
socket = "{stats}"
level = "admin"
""")
        log = open(os.path.join(work, "bulwark.log"), "w")
        master = subprocess.Popen([binary, "run", "-c", config], stdout=log, stderr=log)
        processes.append(master)
        wait_for(lambda: listening_inode(port), 20, "the listener")
        wait_for(lambda: "master_pid" in ask(stats, "show info"), 20, "the stats socket")
        inode = listening_inode(port)

        load = Load(port, arguments.connections, frames_per_second=1, new_per_second=arguments.new_per_second)
        load.thread.start()
        wait_for(lambda: load.stats["frames_ok"] >= arguments.connections, 60, "every long connection to echo once")

        late_workers = []
        upgrade_seconds = []
        pending_old = []  # (pid, deadline)
        for number in range(1, arguments.upgrades + 1):
            before = last_upgrade(stats)
            old = children(master.pid)
            started = time.monotonic()
            master.send_signal(signal.SIGUSR2)
            wait_for(lambda: (now := last_upgrade(stats)) != before and now.startswith("upgraded") and now.endswith("serving"),
                     30, f"upgrade {number} to serve")
            upgrade_seconds.append(round(time.monotonic() - started, 3))
            deadline = time.monotonic() + DRAIN_SECONDS + 1
            pending_old += [(pid, deadline) for pid in old]
            assert master.poll() is None, "the master exited"
            assert listening_inode(port) == inode, "the listening socket changed (re-bound)"
            time.sleep(0.5)
            pending_old = check_old(pending_old, late_workers)
        while pending_old:
            time.sleep(0.1)
            pending_old = check_old(pending_old, late_workers)

        # A binary that exits at start: refused, the old worker keeps serving.
        shutil.copy2(binary, binary + ".good")
        with open(binary + ".bad", "w") as bad:
            bad.write("#!/bin/sh\nexit 1\n")
        os.chmod(binary + ".bad", 0o755)
        os.rename(binary + ".bad", binary)
        failures_before = load.stats["connect_failures"]
        # The serving worker answers the stats socket: its pid must not change. (The master's
        # children also include old workers still draining, and the `check` it runs.)
        worker_before = serving_worker(stats)
        master.send_signal(signal.SIGUSR2)
        wait_for(lambda: "last_upgrade: refused" in ask(stats, "show info"), 20, "the bad upgrade to be refused")
        time.sleep(1)
        bad_upgrade = dict(refused=True, worker_unchanged=serving_worker(stats) == worker_before != "",
                           failures_during=load.stats["connect_failures"] - failures_before)
        os.rename(binary + ".good", binary)

        load.stop.set()
        load.thread.join(timeout=30)
        master.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        code = master.wait(timeout=DRAIN_SECONDS + 5)
        result = dict(
            ok=True, upgrades=arguments.upgrades, connections=arguments.connections, upgrade_seconds=upgrade_seconds,
            master_pid_kept=True, listening_inode_kept=True, late_workers=late_workers, bad_upgrade=bad_upgrade,
            stop_exit_code=code, stop_seconds=round(time.monotonic() - stopped, 2), **load.stats)
        problems = []
        if load.stats["connect_failures"]:
            problems.append("connect failures")
        if load.stats["frames_bad"]:
            problems.append("lost, duplicated or reordered frames")
        if late_workers:
            problems.append("old workers outlived drain_timeout + 1 s")
        if not bad_upgrade["worker_unchanged"] or bad_upgrade["failures_during"]:
            problems.append("the bad upgrade disturbed the service")
        if code != 0:
            problems.append(f"exit code {code} on SIGTERM")
        result["problems"] = problems
        result["ok"] = not problems
    except AssertionError as error:
        result = dict(ok=False, problems=[str(error)])
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.kill()
                process.wait()
        log_path = os.path.join(work, "bulwark.log")
        if not result.get("ok") and os.path.exists(log_path):
            result["log_tail"] = open(log_path).read()[-3000:]
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=1))
    sys.exit(0 if result.get("ok") else 1)


def run_haproxy(arguments):
    """The same load and the same number of SIGUSR2 reloads through HAProxy -W."""
    work = tempfile.mkdtemp(prefix="haproxy-upgrade-")
    processes = []
    result = dict(ok=False, target="haproxy")
    try:
        echo_port, port = free_port(), free_port()
        echo = subprocess.Popen([arguments.echo, "--listen", f"127.0.0.1:{echo_port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        processes.append(echo)
        config = os.path.join(work, "haproxy.cfg")
        with open(config, "w") as file:
            file.write(f"""global
    maxconn 9000
    nbthread 2
    hard-stop-after {DRAIN_SECONDS}s
defaults
    mode tcp
    timeout connect 3s
    timeout client 1h
    timeout server 1h
frontend front
    bind 127.0.0.1:{port}
    default_backend echo
backend echo
    server echo 127.0.0.1:{echo_port}
""")
        log = open(os.path.join(work, "haproxy.log"), "w")
        master = subprocess.Popen(["haproxy", "-W", "-db", "-f", config], stdout=log, stderr=log)
        processes.append(master)
        wait_for(lambda: listening_inode(port), 20, "the listener")
        inode = listening_inode(port)
        load = Load(port, arguments.connections, frames_per_second=1, new_per_second=arguments.new_per_second)
        load.thread.start()
        wait_for(lambda: load.stats["frames_ok"] >= arguments.connections, 60, "every long connection to echo once")
        late_workers, upgrade_seconds, pending_old = [], [], []
        for number in range(1, arguments.upgrades + 1):
            old = set(children(master.pid))
            started = time.monotonic()
            master.send_signal(signal.SIGUSR2)
            wait_for(lambda: set(children(master.pid)) - old, 30, f"reload {number} to start a new worker")
            upgrade_seconds.append(round(time.monotonic() - started, 3))
            deadline = time.monotonic() + DRAIN_SECONDS + 1
            pending_old += [(pid, deadline) for pid in old]
            time.sleep(0.5)
            pending_old = check_old(pending_old, late_workers)
        while pending_old:
            time.sleep(0.1)
            pending_old = check_old(pending_old, late_workers)
        load.stop.set()
        load.thread.join(timeout=30)
        result = dict(ok=True, target="haproxy", upgrades=arguments.upgrades, connections=arguments.connections,
                      upgrade_seconds=upgrade_seconds, master_pid_kept=master.poll() is None,
                      listening_inode_kept=listening_inode(port) == inode, late_workers=late_workers, **load.stats)
    except AssertionError as error:
        result = dict(ok=False, target="haproxy", problems=[str(error)])
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.kill()
                process.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=1))
    sys.exit(0 if result.get("ok") else 1)


def serving_worker(stats):
    for line in ask(stats, "show info").splitlines():
        if line.startswith("pid: "):
            return line[5:]
    return ""


def last_upgrade(stats):
    for line in ask(stats, "show info").splitlines():
        if line.startswith("last_upgrade: "):
            return line[len("last_upgrade: "):]
    return ""


def check_old(pending, late):
    """Old workers must be gone by their deadline; returns those still to be watched."""
    still = []
    now = time.monotonic()
    for pid, deadline in pending:
        alive = os.path.exists(f"/proc/{pid}") and not open(f"/proc/{pid}/stat").read().split(") ")[1].startswith("Z")
        if not alive:
            continue
        if now > deadline:
            late.append(pid)
        else:
            still.append((pid, deadline))
    return still


if __name__ == "__main__":
    main()
