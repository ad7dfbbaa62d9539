#!/usr/bin/env python3
"""Mux listener scenarios on real processes (run by MuxScenarioTests, or by hand):
the gateway binary, and backends that are scripts/tests/mux_backend.py, a backend written from
docs/protocol.md alone. Checked:
  1. sessions open, exchange and close: the backend sees OPEN, DATA, CLOSE in order;
  2. DATA, JOIN/PUBLISH, BROADCAST and BIND reach exactly the right clients;
  3. a backend that kicks (CLOSE) closes that client only;
  4. a malformed backend message drops that backend connection (counted); clients stay;
  5. a killed backend server: its sessions are re-bound (OPEN with re-attach) to the other
     server and the clients keep working;
  6. while a server is down, connect attempts back off (far fewer than one per reconnect_min), and
     it is reconnected after it returns;
  7. after a hot upgrade, new session ids stay above every id the old worker gave out;
  8. SysGuard on mux sessions: half a frame held past frame_timeout, and more frames a second
     than packet_rate_hard, close that client (the backend sees CLOSE reason 3, a limit).
Prints one JSON summary; exits 1 on the first failed check. Every wait is bounded.
"""
import json, os, signal, socket, subprocess, sys, tempfile, threading, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from proctools import free_port, stop, wait_for  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class Backend:
    """mux_backend.py in a process; its JSON event lines collected."""

    def __init__(self, port, host="127.0.0.1"):
        self.port = port
        self.events = []
        self.process = subprocess.Popen([sys.executable, os.path.join(HERE, "mux_backend.py"), str(port), host],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=self.collect, daemon=True).start()
        wait_for(lambda: any(e["type"] == "listening" for e in self.events), 10, "the backend to listen")

    def collect(self):
        for line in self.process.stdout:
            self.events.append(json.loads(line))

    def of(self, kind, session=None):
        return [e for e in self.events if e["type"] == kind and (session is None or e.get("session") == session)]

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Client:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buffer = b""

    def send(self, line):
        self.sock.sendall(line.encode() + b"\n")

    def line(self, timeout=5):
        self.sock.settimeout(timeout)
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()

    def nothing_within(self, seconds):
        try:
            return self.line(timeout=seconds) is None and False
        except socket.timeout:
            return True


def ask(stats, command):
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(5)
        client.connect(stats)
        client.sendall(command.encode() + b"\n")
        data = b""
        while chunk := client.recv(65536):
            data += chunk
        return data.decode()


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def main():
    binary = sys.argv[1]
    work = tempfile.mkdtemp(prefix="bulwark-mux-")
    first, second = Backend(free_port()), Backend(free_port())
    port = free_port()
    stats = os.path.join(work, "admin.sock")
    config = os.path.join(work, "bulwark.toml")
    with open(config, "w") as file:
        file.write(f"""[server]
workers = 2
node_id = 7
[[listener]]
name = "chat"
bind = "127.0.0.1:{port}"
mode = "mux"
framing = "line"
backend = "logic"
frame_timeout = "1s"
packet_rate_hard = 100
[[backend]]
name = "logic"
servers = ["127.0.0.1:{first.port}", "127.0.0.1:{second.port}"]
connections = 1
heartbeat = "2s"
reconnect_min = "100ms"
reconnect_max = "1600ms"
backend_grace = "5s"
[stats]
socket = "{stats}"
level = "admin"
""")
    log = open(os.path.join(work, "bulwark.log"), "w")
    gateway = subprocess.Popen([binary, "run", "-c", config], stdout=log, stderr=log)
    result = {"ok": False}
    try:
        wait_for(lambda: first.of("hello") and second.of("hello"), 10, "both backends to get HELLO")
        hello = first.of("hello")[0]
        check(hello["version"] == 1 and hello["node"] == 7 and hello["heartbeat_ms"] == 2000, f"HELLO fields {hello}")

        # 1. OPEN, DATA, CLOSE in order.
        a = wait_for(lambda: _connect(port), 10, "the listener")
        a.send("hello")
        check(a.line() == "echo: hello", "echo")
        opened = wait_for(lambda: first.of("open") + second.of("open"), 5, "OPEN")[0]
        session = opened["session"]
        check(session >> 48 == 7, f"the session id carries node_id 7: {session:#x}")
        check(opened["listener"] == "chat" and opened["client"].startswith("127.0.0.1:") and not opened["reattach"], f"{opened}")
        owner = first if first.of("open", session) else second
        a.sock.close()
        wait_for(lambda: owner.of("close", session), 5, "CLOSE")
        kinds = [e["type"] for e in owner.events if e.get("session") == session]
        check(kinds == ["open", "data", "close"], f"order {kinds}")
        check(owner.of("close", session)[0]["reason"] == 1, "reason 1: the client closed")
        # A last frame and the client's FIN in one go: the frame arrives, then CLOSE, promptly
        # (the FIN shares the data's edge; nothing else would wake the session for it).
        quick = _connect(port)
        quick.sock.sendall(b"last words\n")
        quick.sock.shutdown(socket.SHUT_WR)
        last = wait_for(lambda: [e for b in (first, second) for e in b.of("data") if e["text"] == "last words"], 5, "the last frame")[0]
        wait_for(lambda: first.of("close", last["session"]) or second.of("close", last["session"]), 2, "CLOSE right after the FIN")

        # 2. Push to the right clients.
        clients = [_connect(port) for _ in range(4)]
        for client in clients[:3]:
            client.send("join lobby")
        clients[3].send("bind alice")
        time.sleep(0.3)
        clients[0].send("say lobby hi lobby")
        for client in clients[:3]:
            check(client.line() == "hi lobby", "PUBLISH reaches every member")
        check(clients[3].nothing_within(0.3), "PUBLISH does not reach a non-member")
        clients[1].send("leave lobby")
        time.sleep(0.2)
        clients[0].send("say lobby again")
        check(clients[0].line() == "again" and clients[2].line() == "again", "members after a LEAVE")
        check(clients[1].nothing_within(0.3), "a session that left gets nothing")
        clients[3].send("all to everyone")
        for client in clients:
            check(client.line() == "to everyone", "BROADCAST reaches every session of the listener")
        channels = ask(stats, "show channels")
        check("lobby\t2" in channels, f"show channels: {channels!r}")

        # 3. A backend kick closes that client only.
        clients[2].send("kick")
        check(clients[2].line() is None, "kicked by the backend")
        clients[0].send("still")
        check(clients[0].line() == "echo: still", "the others stay")

        # 4. A malformed backend message drops that backend connection; the client stays.
        clients[0].send("garbage")
        wait_for(lambda: "malformed" in ask(stats, "show stat") and _stat(stats, "mux_malformed") >= 1, 5, "the malformed count")
        wait_for(lambda: _echoes(clients[0], "after garbage"), 10, "the client to work again (re-bound)")

        # 5. Kill one backend server: its sessions are re-bound to the other.
        on_first = [e["session"] for e in first.of("open")]
        survivors = [c for c in clients if c is not clients[2]]
        first.stop()
        killed_at = time.monotonic()
        for client in survivors:
            check(wait_for(lambda: _echoes(client, "after kill"), 10, "a re-bound client to echo"), "re-bound")
        reattached = [e for e in second.of("open") if e["reattach"]]
        check(len(reattached) >= 1, "re-attach OPENs on the other server")
        check(_stat(stats, "mux_rebinds") >= len(reattached), "rebinds counted")

        # 6. Back-off while the server is down, then reconnect after it returns.
        attempts = []
        for _ in range(8):
            attempts.append(_connect_attempts(stats))
            time.sleep(0.5)
        # Retrying every reconnect_min (100 ms) would make about 40 attempts in these 4 s; the
        # back-off doubling to 1.6 s makes about 6. It keeps trying all the same.
        made = attempts[-1] - attempts[0]
        check(1 <= made <= 12, f"connect attempts back off while the server is down: {attempts}")
        revived = Backend(first.port)
        wait_for(lambda: revived.of("hello"), 10, "the revived server to be reconnected")
        # 7. Session ids keep growing across a hot upgrade.
        highest = max(e["session"] for b in (first, second, revived) for e in b.of("open"))
        gateway.send_signal(signal.SIGUSR2)
        wait_for(lambda: "last_upgrade: upgraded" in ask(stats, "show info"), 20, "the upgrade")
        fresh = wait_for(lambda: _connect(port), 10, "the listener after the upgrade")
        check(wait_for(lambda: _echoes(fresh, "new worker"), 10, "a session on the new worker"), "new worker echoes")
        # The backends' events arrive through a reader thread, possibly after the echo.
        def newest_open():
            return max(e["session"] for b in (second, revived) for e in b.of("open"))
        try:
            wait_for(lambda: newest_open() > highest, 5, "the new session's OPEN")
        except AssertionError:
            pass
        newest = newest_open()
        check(newest > highest, f"ids grow across the upgrade: {newest:#x} > {highest:#x}")
        # 8. The frame timeout and the hard packet rate close the offending client only.
        slow = _connect(port)
        slow.send("hello")
        check(slow.line() == "echo: hello", "the slow client works first")
        slow.sock.sendall(b"half a fra")
        started = time.monotonic()
        check(slow.line(timeout=5) is None, "half a frame past frame_timeout: closed")
        check(0.8 <= time.monotonic() - started < 3.5, f"closed about frame_timeout after: {time.monotonic() - started:.2f} s")
        flood = _connect(port)
        flood.sock.sendall(b"".join(b"f%d\n" % i for i in range(300)))
        closed = False
        try:
            while flood.line(timeout=5) is not None:
                pass
            closed = True
        except socket.timeout:
            pass
        check(closed, "more frames a second than packet_rate_hard: closed")
        wait_for(lambda: len([e for b in (second, revived) for e in b.of("close") if e["reason"] == 3]) >= 2, 5,
                 "the backend to be told why, twice (CLOSE reason 3)")
        check(_echoes(fresh, "others unaffected"), "other sessions keep working")
        result = {"ok": True, "session_example": hex(session), "connect_attempts_while_down": attempts,
                  "reattached": len(reattached), "down_seconds": round(time.monotonic() - killed_at, 2)}
        revived.stop()
    except AssertionError as error:
        result = {"ok": False, "problem": str(error)}
    finally:
        stop(gateway)
        first.stop()
        second.stop()
        if not result["ok"]:
            result["log_tail"] = open(os.path.join(work, "bulwark.log")).read()[-3000:]
    print(json.dumps(result, indent=1))
    sys.exit(0 if result["ok"] else 1)


def _connect(port):
    try:
        return Client(port)
    except OSError:
        return None


def _echoes(client, text):
    try:
        client.send(text)
        return client.line(timeout=1) == "echo: " + text
    except OSError:
        return False


def _stat(stats, name):
    for line in ask(stats, "show stat").splitlines():
        if line.startswith(name + "\t"):
            return int(line.split("\t")[1])
    return -1


def _connect_attempts(stats):
    for line in ask(stats, "show stat").splitlines():
        if line.startswith("logic\t"):
            return int(line.split("\t")[2])
    return -1


if __name__ == "__main__":
    main()
