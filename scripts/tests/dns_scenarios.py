#!/usr/bin/env python3
"""Backend servers given by host name, on real processes (run by DnsScenarioTests, or by hand).

The script runs itself in a private mount namespace (unshare --mount, as root) and bind-mounts
its own /etc/hosts, /etc/resolv.conf and /etc/nsswitch.conf there, so the gateway's real
getaddrinfo_a answers from files this script rewrites; nothing outside the namespace changes.
Checked:
  1. `bulwark check` warns (exit 0) about a name that does not resolve, with file:line;
  2. a TCP relay and a mux backend given by name reach the address the name resolves to;
  3. a name that resolves to a new address is picked up within resolve_interval: new
     connections go there, an open one stays where it is;
  4. a name that did not resolve at start: its server starts down (the log says so) and comes
     up once the name resolves (the backend gets its HELLO);
  5. a lookup that fails keeps the last good address (show backends: address kept,
     lookup_error set);
  6. DNS that never answers does not stall the engine: round trips through the gateway during
     the hung lookup stay as fast as before it, and only one lookup per name is in flight.
Prints one JSON summary; exits 1 on the first failed check. Every wait is bounded.
Usage: dns_scenarios.py BULWARK_BINARY
"""
import json, os, socket, statistics, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proctools import free_port, stop, wait_for  # noqa: E402
from mux_scenarios import Backend, Client, ask, check  # noqa: E402

NAMESPACE_MARK = "BULWARK_DNS_SCENARIO_NAMESPACE"
FIRST, SECOND = "127.0.0.2", "127.0.0.3"
SILENT_DNS, REFUSING_DNS = "127.0.0.77", "127.0.0.78"


def enter_namespace():
    """Re-runs this script in a private mount namespace with the three files bind-mounted."""
    work = tempfile.mkdtemp(prefix="bulwark-dns-")
    files = {name: os.path.join(work, name) for name in ("hosts", "resolv.conf", "nsswitch.conf")}
    with open(files["hosts"], "w") as f:
        f.write("127.0.0.1 localhost\n")
    with open(files["resolv.conf"], "w") as f:
        f.write(f"nameserver {REFUSING_DNS}\noptions timeout:1 attempts:1\n")
    with open(files["nsswitch.conf"], "w") as f:
        f.write("hosts: files dns\n")
    mounts = " && ".join(f"mount --bind {files[name]} /etc/{name}" for name in files)
    command = f"{mounts} && exec \"$0\" \"$@\""
    environment = dict(os.environ, **{NAMESPACE_MARK: work})
    try:
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", command,
                               sys.executable, os.path.abspath(__file__)] + sys.argv[1:],
                              env=environment, timeout=150).returncode
    except subprocess.TimeoutExpired:
        print(json.dumps({"ok": False, "problem": "the scenario took longer than 150 s"}))
        return 1


def write_hosts(work, entries):
    # In place: the bind mount follows the inode, and glibc reads the file again on each lookup.
    with open(os.path.join(work, "hosts"), "w") as f:
        f.write("127.0.0.1 localhost\n" + "".join(f"{address} {name}\n" for name, address in entries.items()))


def write_resolver(work, nameserver):
    with open(os.path.join(work, "resolv.conf"), "w") as f:
        f.write(f"nameserver {nameserver}\noptions timeout:30 attempts:1\n")


class TaggedEcho:
    """A TCP server that answers every chunk with its tag and the chunk: who served a connection shows."""

    def __init__(self, host, port, tag):
        self.tag = tag.encode()
        self.server = socket.create_server((host, port), reuse_port=False)
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                sock, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(sock,), daemon=True).start()

    def serve(self, sock):
        with sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while data := sock.recv(4096):
                sock.sendall(self.tag + data)


class SilentDNS:
    """A nameserver that reads queries and never answers; counts queries per name."""

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 53))
        self.queries = {}
        threading.Thread(target=self.listen, daemon=True).start()

    def listen(self):
        while True:
            try:
                packet, _ = self.sock.recvfrom(4096)
            except OSError:
                return
            name = self.question(packet)
            self.queries[name] = self.queries.get(name, 0) + 1

    @staticmethod
    def question(packet):
        labels, offset = [], 12
        while offset < len(packet) and packet[offset] != 0:
            length = packet[offset]
            labels.append(packet[offset + 1:offset + 1 + length].decode(errors="replace"))
            offset += 1 + length
        return ".".join(labels)


class Relay:
    """One client connection through the gateway's TCP listener."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def round_trip(self, text):
        self.sock.sendall(text.encode())
        answer = b""
        while len(answer) < 2 + len(text):
            chunk = self.sock.recv(4096)
            if not chunk:
                return None
            answer += chunk
        return answer.decode()

    def served_by(self):
        answer = self.round_trip("x")
        return answer[:2] if answer else None

    def latencies(self, count):
        timings = []
        for index in range(count):
            started = time.perf_counter()
            check(self.round_trip(f"{index % 10}") is not None, "a round trip through the relay")
            timings.append(time.perf_counter() - started)
        return timings


def served_by_new_connection(port):
    try:
        relay = Relay(port)
    except OSError:
        return None
    try:
        return relay.served_by()
    finally:
        relay.sock.close()


def backends_json(stats):
    text = ask(stats, "show backends json")
    return {row["server"]: row for row in json.loads(text)}


def p99(timings):
    return sorted(timings)[int(len(timings) * 0.99) - 1]


def scenario(binary, work):
    relay_port, mux_port, logic_port, relay_echo_port = free_port(), free_port(), free_port(), free_port()
    write_hosts(work, {"relay.test": FIRST, "logic.test": FIRST})
    echoes = [TaggedEcho(FIRST, relay_echo_port, "A:"), TaggedEcho(SECOND, relay_echo_port, "B:")]
    first, second = Backend(logic_port, FIRST), Backend(logic_port, SECOND)
    stats = os.path.join(work, "admin.sock")
    config = os.path.join(work, "bulwark.toml")
    with open(config, "w") as file:
        file.write(f"""[server]
workers = 2
[[listener]]
name = "relay"
bind = "127.0.0.1:{relay_port}"
mode = "tcp"
backend = "named-relay"
[[listener]]
name = "chat"
bind = "127.0.0.1:{mux_port}"
mode = "mux"
framing = "line"
backend = "named-logic"
[[backend]]
name = "named-relay"
servers = ["relay.test:{relay_echo_port}"]
resolve_interval = "1s"
[[backend]]
name = "named-logic"
servers = ["logic.test:{logic_port}", "late.test:{logic_port}"]
resolve_interval = "1s"
connections = 1
reconnect_min = "100ms"
reconnect_max = "1s"
[stats]
socket = "{stats}"
level = "admin"
""")
    # 1. check warns about late.test, names the file and line, and passes.
    checked = subprocess.run([binary, "check", "-c", config], capture_output=True, text=True, timeout=30)
    check(checked.returncode == 0, f"check passes with a warning: {checked.returncode} {checked.stderr}")
    warning = [line for line in checked.stderr.splitlines() if "late.test" in line]
    check(warning and warning[0].startswith(f"{config}:20: warning: backend[1].servers[1]: ") and "does not resolve now" in warning[0],
          f"the check warning: {checked.stderr!r}")
    check("relay.test" not in checked.stderr, "no warning for names that resolve")

    log_path = os.path.join(work, "bulwark.log")
    log = open(log_path, "w")
    gateway = subprocess.Popen([binary, "run", "-c", config], stdout=log, stderr=log)
    result = {}
    try:
        # 2. Both backends given by name are reached at FIRST.
        wait_for(lambda: first.of("hello"), 10, "the mux backend at the first address to get HELLO")
        check(not second.of("hello"), "nothing connects to the second address yet")
        check(wait_for(lambda: served_by_new_connection(relay_port), 10, "the relay") == "A:", "the relay goes to FIRST")
        chat = wait_for(lambda: _client(mux_port), 10, "the mux listener")
        chat.send("hi")
        check(chat.line() == "echo: hi", "a mux session through a backend given by name")
        # 4 (start): late.test did not resolve; the log says its server stays down.
        text = open(log_path).read()
        check("cannot resolve server late.test" in text and "the server stays down" in text, "the log says late.test is down")
        check(backends_json(stats)[f"late.test:{logic_port}"]["address"] is None, "late.test has no address yet")

        # 3. relay.test moves to SECOND: new connections follow within resolve_interval, an open one stays.
        held = Relay(relay_port)
        check(held.served_by() == "A:", "the held connection starts at FIRST")
        write_hosts(work, {"relay.test": SECOND, "logic.test": FIRST, "late.test": SECOND})
        moved_at = time.monotonic()
        wait_for(lambda: served_by_new_connection(relay_port) == "B:", 5, "new relay connections to reach SECOND")
        result["relay_moved_after_s"] = round(time.monotonic() - moved_at, 2)
        check(held.served_by() == "A:", "the open connection stays at FIRST")
        # 4. late.test now resolves: its server comes up (SECOND gets a HELLO).
        wait_for(lambda: second.of("hello"), 5, "late.test's server to connect once it resolves")
        result["late_up_after_s"] = round(time.monotonic() - moved_at, 2)
        rows = backends_json(stats)
        check(rows[f"relay.test:{relay_echo_port}"]["address"] == f"{SECOND}:{relay_echo_port}", f"show backends address: {rows}")
        check(rows[f"late.test:{logic_port}"]["address"] == f"{SECOND}:{logic_port}", "late.test's address")

        # 5. relay.test stops resolving (the nameserver refuses): the last good address stays.
        write_hosts(work, {"logic.test": FIRST, "late.test": SECOND})
        wait_for(lambda: backends_json(stats)[f"relay.test:{relay_echo_port}"]["lookup_error"], 5, "a failed lookup to show")
        row = backends_json(stats)[f"relay.test:{relay_echo_port}"]
        check(row["address"] == f"{SECOND}:{relay_echo_port}", f"the last good address stays: {row}")
        check(served_by_new_connection(relay_port) == "B:", "new connections still reach the last good address")
        check("bulwark_server_lookup_failures_total" in ask(stats, "show metrics"), "the failures metric")

        # 6. A nameserver that never answers: lookups hang for 30 s; the engine does not.
        before = held.latencies(300)
        dns = SilentDNS(SILENT_DNS)
        write_resolver(work, SILENT_DNS)
        wait_for(lambda: dns.queries.get("relay.test"), 5, "a lookup to reach the silent nameserver")
        hung_at = time.monotonic()
        during = held.latencies(300)
        chat.send("during the hang")
        check(chat.line() == "echo: during the hang", "mux sessions work while a lookup hangs")
        check(served_by_new_connection(relay_port) == "B:", "new relay connections work while a lookup hangs")
        time.sleep(max(0, 3.2 - (time.monotonic() - hung_at)))
        queries = dns.queries.get("relay.test", 0)
        # One lookup (an A and an AAAA query) in flight; a new one every second would be 6 or more.
        check(queries <= 2, f"one lookup per name in flight: {dns.queries}")
        result.update({
            "round_trip_p50_ms_before": round(statistics.median(before) * 1000, 3),
            "round_trip_p50_ms_during_hang": round(statistics.median(during) * 1000, 3),
            "round_trip_p99_ms_before": round(p99(before) * 1000, 3),
            "round_trip_p99_ms_during_hang": round(p99(during) * 1000, 3),
            "silent_dns_queries": dns.queries,
        })
        # Generous bounds for a shared 2-core machine: a stalled engine would add seconds.
        check(statistics.median(during) <= max(3 * statistics.median(before), 0.005), f"p50 during the hang: {result}")
        check(p99(during) <= max(5 * p99(before), 0.05), f"p99 during the hang: {result}")
        result["ok"] = True
    except AssertionError as error:
        result.update({"ok": False, "problem": str(error), "log_tail": open(log_path).read()[-3000:]})
    finally:
        stop(gateway)
        first.stop()
        second.stop()
    return result


def _client(port):
    try:
        return Client(port)
    except OSError:
        return None


def main():
    if os.environ.get(NAMESPACE_MARK) is None:
        return enter_namespace()
    result = scenario(sys.argv[1], os.environ[NAMESPACE_MARK])
    print(json.dumps(result, indent=1))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
