import BulwarkSys
import Glibc

/// Starts the listeners and the event-loop threads, prints the bound address, and waits.
/// (Thread bodies live here, not in the @main file: closures there are main-actor isolated.)
enum EchoServer {
    static func run(address: SocketAddress, threads: Int, signals: SignalFD) throws {
        let reusePort = threads > 1
        var listeners: [Int32] = []
        var bound = address
        for _ in 0..<threads {
            let fd = try Sockets.listeningSocket(at: bound, backlog: 4096, reusePort: reusePort)
            if listeners.isEmpty { bound = try Sockets.localAddress(fd) }  // port 0 -> the real port
            listeners.append(fd)
        }
        let workers = try listeners.map { listenFD throws(SystemError) in
            try EchoWorker(listenFD: listenFD, signalFD: signals.fd)
        }
        StandardStreams.writeOutput("listening on \(bound)")
        var started: [NativeThread] = []
        for (index, worker) in workers.enumerated() {
            started.append(try NativeThread.start(name: "echo-\(index)") { worker.run() })
        }
        for thread in started { thread.join() }
    }
}

/// One connection's unsent echo. Empty (no storage) while the peer keeps up.
final class EchoConnection {
    var pending: [UInt8] = []
    var head = 0
    var readClosed = false

    @inline(__always) var pendingCount: Int { pending.count - head }

    func append(_ bytes: UnsafeRawBufferPointer) {
        if head > 0 && head >= pending.count / 2 {
            pending.removeFirst(head)
            head = 0
        }
        pending.append(contentsOf: bytes)
    }
}

/// One event loop: its own epoll, its own listener, the connections it accepted.
/// Every fd is registered once, edge-triggered, for IN|OUT|RDHUP: no epoll_ctl after accept.
final class EchoWorker: @unchecked Sendable {  // @unchecked: after start, only its own thread touches it
    static let listenerToken = UInt64.max
    static let signalToken = UInt64.max - 1
    static let highWaterBytes = 1 << 20
    static let scratchBytes = 65536
    static let eventCapacity: Int32 = 256

    private let epoll: Epoll
    private let listenFD: Int32
    private var connections: [EchoConnection?] = []
    private let scratch: UnsafeMutableRawBufferPointer
    private let events: UnsafeMutablePointer<EpollEventRecord>
    private var lastAcceptError: Int32 = 0

    init(listenFD: Int32, signalFD: Int32) throws(SystemError) {
        epoll = try Epoll()
        self.listenFD = listenFD
        scratch = .allocate(byteCount: Self.scratchBytes, alignment: 16)
        events = .allocate(capacity: Int(Self.eventCapacity))
        try epoll.add(listenFD, events: [.readable, .edgeTriggered], data: Self.listenerToken)
        try epoll.add(signalFD, events: [.readable], data: Self.signalToken)
    }

    func run() {
        while true {
            let count: Int
            do {
                count = try epoll.wait(into: events, capacity: Self.eventCapacity, timeoutMilliseconds: -1)
            } catch {
                StandardStreams.writeError("bulwark-echo: \(error)")
                exit(1)
            }
            for index in 0..<count {
                let event = events[index]
                let token = event.token
                if token == Self.listenerToken {
                    acceptAll()
                } else if token == Self.signalToken {
                    exit(0)
                } else {
                    service(Int32(truncatingIfNeeded: token), peerFinished: event.readiness.contains(.readHangup))
                }
            }
        }
    }

    private func acceptAll() {
        while true {
            do {
                switch try Sockets.accept4(listenFD) {
                case .wouldBlock:
                    return
                case .accepted(let fd):
                    Sockets.setNoDelay(fd)
                    let slot = Int(fd)
                    if slot >= connections.count {
                        connections.append(contentsOf: repeatElement(nil, count: max(slot + 1 - connections.count, 1024)))
                    }
                    connections[slot] = EchoConnection()
                    do {
                        try epoll.add(fd, events: [.readable, .writable, .readHangup, .edgeTriggered], data: UInt64(slot))
                    } catch {
                        connections[slot] = nil
                        FileDescriptors.close(fd)
                    }
                }
            } catch {
                if error.errno == ECONNABORTED || error.errno == EPROTO { continue }
                // EMFILE and the like: the queued connections wait for the next edge (a new
                // connection). Good enough for a test backend; the gateway does better.
                if error.errno != lastAcceptError {  // say it once per kind, not once per event
                    lastAcceptError = error.errno
                    StandardStreams.writeError("bulwark-echo: \(error)")
                }
                return
            }
        }
    }

    private func close(_ fd: Int32) {
        connections[Int(fd)] = nil
        FileDescriptors.close(fd)
    }

    private enum FlushResult { case drained, blocked, failed }

    /// Sends pending bytes until they are gone or the socket is full (EAGAIN arms the OUT edge).
    private func flush(_ fd: Int32, _ connection: EchoConnection) -> FlushResult {
        while connection.pendingCount > 0 {
            let outcome: IOOutcome? = connection.pending.withUnsafeBytes { all in
                try? Sockets.send(fd, from: UnsafeRawBufferPointer(rebasing: all[connection.head...]))
            }
            switch outcome {
            case .transferred(let count)?: connection.head += count
            case .wouldBlock?: return .blocked
            case .endOfStream?, nil: return .failed
            }
        }
        connection.pending = []  // give the storage back: idle connections hold no buffer
        connection.head = 0
        return .drained
    }

    /// `peerFinished`: the event carried EPOLLRDHUP, so the client's FIN is there (maybe behind
    /// the data): read on to end of stream rather than stop at a short read, since no further
    /// edge will come for it.
    private func service(_ fd: Int32, peerFinished: Bool) {
        guard Int(fd) < connections.count, let connection = connections[Int(fd)] else { return }
        if connection.pendingCount > 0, flush(fd, connection) == .failed {
            close(fd)
            return
        }
        // Read while the unsent echo is under the high-water mark. A read shorter than the
        // scratch buffer drained the socket; later data raises a new edge.
        while !connection.readClosed && connection.pendingCount <= Self.highWaterBytes {
            let outcome: IOOutcome
            do {
                outcome = try Sockets.receive(fd, into: scratch)
            } catch {
                close(fd)
                return
            }
            guard case .transferred(let count) = outcome else {
                if outcome == .endOfStream { connection.readClosed = true }
                break
            }
            let chunk = UnsafeRawBufferPointer(rebasing: scratch[0..<count])
            if connection.pendingCount == 0 {
                let sent: Int
                do {
                    switch try Sockets.send(fd, from: chunk) {
                    case .transferred(let written): sent = written
                    case .wouldBlock, .endOfStream: sent = 0
                    }
                } catch {
                    close(fd)
                    return
                }
                if sent < count {
                    connection.append(UnsafeRawBufferPointer(rebasing: chunk[sent...]))
                    if flush(fd, connection) == .failed {
                        close(fd)
                        return
                    }
                }
            } else {
                connection.append(chunk)
            }
            if count < Self.scratchBytes && !peerFinished { break }
        }
        if connection.readClosed && connection.pendingCount == 0 {
            Sockets.shutdown(fd, .write)  // pass the half-close on, then we are done
            close(fd)
        }
    }
}
