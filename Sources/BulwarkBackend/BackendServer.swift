import BulwarkSys
import Glibc
import MuxProtocol
import Synchronization

/// What a backend does with the sessions gateways open. Called on the thread of the gateway
/// connection the message came on; a session's calls come in its order.
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
/// its own threads and answers later with `Session.send`, which any thread may call.
public final class BackendServer: @unchecked Sendable {  // @unchecked: the loop's state belongs to the thread in run(); `stopping` is atomic; `epoll` and `listenFD` are set in init
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
    /// get `closed`) and the listening socket.
    public func run() {
        var connections: [Int32: GatewayConnection] = [:]
        let events = UnsafeMutablePointer<EpollEventRecord>.allocate(capacity: Int(Self.eventCapacity))
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.scratchBytes, alignment: 16)
        defer {
            for connection in connections.values { connection.finish() }
            FileDescriptors.close(listenFD)
            epoll.close()
            events.deallocate()
            scratch.deallocate()
        }
        var lastSweep = MonotonicClock.nanoseconds()
        while !stopping.load(ordering: .relaxed) {
            let count = (try? epoll.wait(into: events, capacity: Self.eventCapacity, timeoutMilliseconds: 100)) ?? 0
            for index in 0..<count {
                let token = events[index].token
                if token == Self.listenerToken {
                    acceptAll(into: &connections)
                    continue
                }
                let fd = Int32(truncatingIfNeeded: token)
                guard let connection = connections[fd] else { continue }
                if !connection.service(events[index].readiness, scratch: scratch) {
                    connections.removeValue(forKey: fd)
                    connection.finish()
                }
            }
            let now = MonotonicClock.nanoseconds()
            if now - lastSweep >= Self.sweepNanoseconds {
                lastSweep = now
                for (fd, connection) in connections where !connection.keepAlive(now: now) {
                    connections.removeValue(forKey: fd)
                    connection.finish()
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
                if error.errno == ECONNABORTED || error.errno == EPROTO { continue }
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
