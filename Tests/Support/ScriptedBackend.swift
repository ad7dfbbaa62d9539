import BulwarkSys
import Glibc
import Synchronization

/// A backend for tests: a listening socket on 127.0.0.1 (or ::1), port 0, whose every accepted
/// connection runs `script` on its own thread with a blocking socket.
public final class ScriptedBackend: Sendable {
    public let address: SocketAddress
    private let listenFD: Int32
    private let flags = BackendFlags()
    private let thread = Locked<NativeThread?>(nil)

    public init(ipv6: Bool = false, backlog: Int32 = 128, script: @escaping @Sendable (BlockingSocket) -> Void) throws {
        listenFD = try Sockets.listeningSocket(at: ipv6 ? loopbackIPv6() : loopback(), backlog: backlog)
        address = try Sockets.localAddress(listenFD)
        let listenFD = self.listenFD
        let flags = self.flags
        let acceptThread = try NativeThread.start(name: "test-backend") {
            while !flags.stopped.load(ordering: .relaxed) {
                var poller = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
                if poll(&poller, 1, 50) <= 0 { continue }
                guard case .accepted(let fd)? = try? Sockets.accept4(listenFD) else { continue }
                flags.accepted.add(1, ordering: .relaxed)
                let socket = BlockingSocket(fd: fd)
                if let thread = try? NativeThread.start(name: "test-conn", { script(socket) }) {
                    flags.lock.withLock { flags.connections.append((socket, thread)) }
                }
            }
        }
        thread.withLock { $0 = acceptThread }
    }

    /// Connections accepted so far.
    public var accepted: Int { flags.accepted.load(ordering: .relaxed) }

    /// Stops accepting, wakes every connection's script and waits for them all.
    public func stop() {
        guard !flags.stopped.exchange(true, ordering: .relaxed) else { return }
        thread.withLock { $0?.join() }
        Glibc.close(listenFD)
        let connections = flags.lock.withLock { flags.connections }
        for (socket, thread) in connections {
            socket.interrupt()
            thread.join()
        }
    }

    deinit { stop() }

    /// Echoes until end of stream, half-closes, and closes once the peer has closed too.
    public static let echo: @Sendable (BlockingSocket) -> Void = { socket in
        defer { socket.close() }
        while let chunk = try? socket.receive(), !chunk.isEmpty {
            if (try? socket.sendAll(chunk)) == nil { return }
        }
        socket.shutdownWrite()
        _ = try? socket.receive()
    }
}

/// A port on 127.0.0.1 where nothing listens (bound, then closed): connects are refused.
public func refusedLoopbackAddress() throws -> SocketAddress {
    let fd = try Sockets.socket(family: AF_INET)
    try Sockets.bind(fd, to: loopback())
    let address = try Sockets.localAddress(fd)
    Glibc.close(fd)
    return address
}

private final class BackendFlags: @unchecked Sendable {  // @unchecked: `connections` is guarded by `lock`
    let accepted = Atomic<Int>(0)
    let stopped = Atomic<Bool>(false)
    let lock = PthreadLock()
    var connections: [(BlockingSocket, NativeThread)] = []
}
