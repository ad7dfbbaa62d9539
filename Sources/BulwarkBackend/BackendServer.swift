import BulwarkSys
import MuxProtocol
import Synchronization

/// What a backend does with the sessions gateways open. Called on the server's event-loop
/// thread (the one in `BackendServer.run()`); a session's calls come in its order. A call that
/// blocks holds every gateway connection of the server: no reads, no heartbeats (the gateways
/// drop their connections after 3 missed heartbeats), so hand slow work to other threads.
public protocol SessionHandler: Sendable {
    func opened(_ session: Session, client: ClientEndpoint, listener: String, reattached: Bool)
    func received(_ payload: [UInt8], from session: Session)
    func closed(_ session: Session, reason: SessionCloseReason)
}

/// A client session held by a gateway: its id, and the gateway connection to answer on.
public struct Session: Sendable, Hashable {
    public let id: UInt64
    public let gateway: GatewayConnection

    public static func == (left: Session, right: Session) -> Bool { left.id == right.id }
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }

    /// DATA: one frame to this client.
    public func send(_ payload: [UInt8]) { gateway.send(.data(session: id, payload: payload)) }
    public func send(_ text: String) { send(Array(text.utf8)) }
    /// CLOSE: the gateway closes this client.
    public func close(reason: SessionCloseReason = .backendRequest) { gateway.send(.close(session: id, reason: reason)) }
    /// BIND: attach a user id (empty: detach).
    public func bind(user: String) { gateway.send(.bind(session: id, user: user)) }
    public func join(_ channel: String) { gateway.send(.join(session: id, channel: channel)) }
    public func leave(_ channel: String) { gateway.send(.leave(session: id, channel: channel)) }
}

/// Listens for gateways and speaks the backend side of docs/protocol.md: the handshake,
/// heartbeats (PING when idle, PONG to every PING, closing a gateway silent for 3 heartbeats),
/// and the session messages, handed to `handler`.
///
/// One event loop serves every gateway connection, on the thread that calls `run()`: one epoll,
/// edge-triggered, each socket read until it is empty, and the answers to one read written
/// together. A busy backend so never sleeps between messages, and a gateway's burst costs one
/// wake-up, not one per connection (a thread per connection costs a sleep and a wake-up for
/// nearly every message). Handlers run on that thread: one that would block hands the work to
/// its own threads and answers later with `Session.send`, which any thread may call. A gateway
/// that reads too slowly stops being read (see GatewayConnection's high water), and one that
/// keeps its socket full gets 16 reads per turn, so the others are served too.
public final class BackendServer: @unchecked Sendable {  // @unchecked: the loop's state belongs to the thread in run(); `stopping` and `started` are atomic; `epoll` and `listenFD` are set in init
    private static let listenerToken = UInt64.max
    private static let eventCapacity: Int32 = 64
    private static let scratchBytes = 65_536
    /// How often run() checks heartbeats (and retries accepts a full fd table refused).
    private static let sweepNanoseconds: Int64 = 100_000_000

    private let handler: any SessionHandler
    private let listenFD: Int32
    private let epoll: Epoll
    public let address: SocketAddress
    private let stopping = Atomic<Bool>(false)
    /// run() went: a second call would close the fds again, which may by then be others'.
    private let started = Atomic<Bool>(false)

    /// Binds now (port 0: the kernel picks one; read `address`).
    public init(listen: SocketAddress, handler: any SessionHandler) throws(SystemError) {
        self.handler = handler
        listenFD = try Sockets.listeningSocket(at: listen, backlog: 128)
        address = (try? Sockets.localAddress(listenFD)) ?? listen
        do {
            epoll = try Epoll()
            try epoll.add(listenFD, events: [.readable, .edgeTriggered], data: Self.listenerToken)
        } catch {
            FileDescriptors.close(listenFD)
            throw error
        }
    }

    /// Serves gateways until stop(), then closes every gateway connection (their sessions
    /// get `closed`) and the listening socket. Once per server: a second call returns at once.
    public func run() {
        guard !started.exchange(true, ordering: .relaxed) else { return }
        var connections: [Int32: GatewayConnection] = [:]
        /// Connections that hit the read cap with data left: served again before sleeping.
        var moreToRead: [Int32] = []
        let events = UnsafeMutablePointer<EpollEventRecord>.allocate(capacity: Int(Self.eventCapacity))
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.scratchBytes, alignment: 16)
        defer {
            for connection in connections.values { connection.finish() }
            FileDescriptors.close(listenFD)
            epoll.close()
            events.deallocate()
            scratch.deallocate()
        }
        func serve(_ fd: Int32, _ readiness: EpollEvents) {
            guard let connection = connections[fd] else { return }
            switch connection.service(readiness, scratch: scratch) {
            case .done: break
            case .moreToRead: if !moreToRead.contains(fd) { moreToRead.append(fd) }
            case .closed:
                connections.removeValue(forKey: fd)
                connection.finish()
            }
        }
        var lastSweep = MonotonicClock.nanoseconds()
        while !stopping.load(ordering: .relaxed) {
            let timeout: Int32 = moreToRead.isEmpty ? 100 : 0
            let count = (try? epoll.wait(into: events, capacity: Self.eventCapacity, timeoutMilliseconds: timeout)) ?? 0
            for index in 0..<count {
                let token = events[index].token
                if token == Self.listenerToken {
                    acceptAll(into: &connections)
                } else {
                    serve(Int32(truncatingIfNeeded: token), events[index].readiness)
                }
            }
            let again = moreToRead
            moreToRead.removeAll(keepingCapacity: true)
            for fd in again { serve(fd, .readable) }
            let now = MonotonicClock.nanoseconds()
            if now - lastSweep >= Self.sweepNanoseconds {
                // Much later than planned: a handler blocked the loop, and what the gateways
                // sent meanwhile may still be unread, so silence is not judged this round.
                let onTime = now - lastSweep < 3 * Self.sweepNanoseconds
                lastSweep = now
                for (fd, connection) in connections {
                    if !connection.keepAlive(now: now, judgeSilence: onTime) {
                        connections.removeValue(forKey: fd)
                        connection.finish()
                    } else if connection.readPaused {
                        serve(fd, .writable)  // resumes reading if its output drained without an edge
                    }
                }
                acceptAll(into: &connections)
            }
        }
    }

    /// Ends run() within about 100 ms.
    public func stop() {
        stopping.store(true, ordering: .relaxed)
    }

    private func acceptAll(into connections: inout [Int32: GatewayConnection]) {
        while true {
            let outcome: AcceptOutcome
            do { outcome = try Sockets.accept4(listenFD) } catch {
                if error.errno == Errno.connectionAborted || error.errno == Errno.protocolError { continue }
                return  // a full fd table, say: the sweep retries
            }
            guard case .accepted(let fd) = outcome else { return }
            Sockets.setNoDelay(fd)
            do {
                try epoll.add(fd, events: [.readable, .writable, .readHangup, .edgeTriggered], data: UInt64(UInt32(bitPattern: fd)))
            } catch {
                FileDescriptors.close(fd)
                continue
            }
            connections[fd] = GatewayConnection(fd: fd, handler: handler)
        }
    }
}
