#!/usr/bin/env python3
"""A Bulwark mux backend written from docs/protocol.md alone (stdlib only), for tests.

A chat service: a client frame "join ROOM", "leave ROOM", "say ROOM TEXT" (PUBLISH to the room),
"all TEXT" (BROADCAST), "bind USER", "kick" (the backend closes the session) or anything else
(echoed back to that session as "echo: ..."). Every message from the gateway is printed to
stdout as one JSON line (type, session, ...), so a test can check what arrived and in what order.

Usage: mux_backend.py PORT [HOST]  (HOST defaults to 127.0.0.1; prints "listening on HOST:PORT" once
bound; port 0 picks one)
"""
import json, socket, struct, sys, threading

VERSION = 1
print_lock = threading.Lock()


def log(event):
    with print_lock:
        print(json.dumps(event), flush=True)


def message(kind, body=b""):
    return struct.pack(">IB", 1 + len(body), kind) + body


def u16_string(text):
    data = text.encode()
    return struct.pack(">H", len(data)) + data


class Connection(threading.Thread):
    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock, self.buffer, self.send_lock = sock, b"", threading.Lock()

    def send(self, data):
        with self.send_lock:
            self.sock.sendall(data)

    def read_message(self):
        while True:
            if len(self.buffer) >= 4:
                (length,) = struct.unpack(">I", self.buffer[:4])
                if length < 1 or length > 16 * 1024 * 1024:
                    raise ValueError(f"bad length {length}")
                if len(self.buffer) >= 4 + length:
                    kind, body = self.buffer[4], self.buffer[5:4 + length]
                    self.buffer = self.buffer[4 + length:]
                    return kind, body
            chunk = self.sock.recv(65536)
            if not chunk:
                return None, None
            self.buffer += chunk

    def run(self):
        try:
            kind, body = self.read_message()
            if kind != 0x01:
                log({"type": "bad-hello", "kind": kind})
                return
            version, node, heartbeat, n = struct.unpack(">BHIB", body[:8])
            log({"type": "hello", "version": version, "node": node, "heartbeat_ms": heartbeat, "name": body[8:8 + n].decode()})
            self.send(message(0x81, bytes([VERSION])))
            while True:
                kind, body = self.read_message()
                if kind is None:
                    log({"type": "disconnected"})
                    return
                self.handle(kind, body)
        except (OSError, ValueError) as error:
            log({"type": "error", "text": str(error)})

    def handle(self, kind, body):
        if kind == 0x05:  # PING
            self.send(message(0x06, body[:8]))
            return
        if kind == 0x06:
            return
        (session,) = struct.unpack(">Q", body[:8])
        if kind == 0x02:  # OPEN
            flags, family = body[8], body[9]
            size = 4 if family == 4 else 16
            address = body[10:10 + size]
            (port,) = struct.unpack(">H", body[10 + size:12 + size])
            n = body[12 + size]
            listener = body[13 + size:13 + size + n].decode()
            host = socket.inet_ntop(socket.AF_INET if family == 4 else socket.AF_INET6, address)
            log({"type": "open", "session": session, "reattach": bool(flags & 1), "client": f"{host}:{port}", "listener": listener})
        elif kind == 0x04:  # CLOSE
            log({"type": "close", "session": session, "reason": body[8]})
        elif kind == 0x03:  # DATA
            text = body[8:].decode(errors="replace")
            log({"type": "data", "session": session, "text": text})
            self.command(session, text)
        else:
            log({"type": "unknown", "kind": kind})

    def command(self, session, text):
        words = text.split(" ", 2)
        verb = words[0]
        if verb == "join" and len(words) > 1:
            self.send(message(0x85, struct.pack(">Q", session) + u16_string(words[1])))
        elif verb == "leave" and len(words) > 1:
            self.send(message(0x86, struct.pack(">Q", session) + u16_string(words[1])))
        elif verb == "say" and len(words) > 2:
            self.send(message(0x87, u16_string(words[1]) + words[2].encode()))
        elif verb == "all":
            rest = text[4:].encode()
            self.send(message(0x88, bytes([0]) + rest))
        elif verb == "bind" and len(words) > 1:
            self.send(message(0x84, struct.pack(">Q", session) + u16_string(words[1])))
        elif verb == "kick":
            self.send(message(0x83, struct.pack(">QB", session, 8)))
        elif verb == "garbage":
            self.send(b"\x00\x00\x00\x01\x7f")  # an unknown type: the gateway must drop this connection
        else:
            self.send(message(0x82, struct.pack(">Q", session) + b"echo: " + text.encode()))


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((host, port))
    server.listen(128)
    log({"type": "listening", "address": "%s:%d" % (host, server.getsockname()[1])})
    while True:
        sock, _ = server.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        Connection(sock).start()


if __name__ == "__main__":
    main()
