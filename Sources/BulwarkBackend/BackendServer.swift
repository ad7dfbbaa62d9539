import BulwarkSys
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
/// and the session messages, handed to `handler`. One thread per gateway connection (a backend
/// has a few: `connections` per gateway).
public final class BackendServer: @unchecked Sendable {  // @unchecked: `listenFD` is set in init and closed once in stop()
    private let handler: any SessionHandler
    private let listenFD: Int32
    public let address: SocketAddress
    private let stopping = Atomic<Bool>(false)

    /// Binds now (port 0: the kernel picks one; read `address`).
    public init(listen: SocketAddress, handler: any SessionHandler) throws(SystemError) {
        self.handler = handler
        listenFD = try Sockets.listeningSocket(at: listen, backlog: 128)
        address = (try? Sockets.localAddress(listenFD)) ?? listen
    }

    /// Accepts gateways until stop(); each gets its own thread.
    public func run() {
        while !stopping.load(ordering: .relaxed) {
            guard !Poll.readable([listenFD], timeoutMilliseconds: 200).isEmpty else { continue }
            while case .accepted(let fd)? = try? Sockets.accept4(listenFD) {
                let connection = GatewayConnection(fd: fd, handler: handler)
                (try? NativeThread.start(name: "gateway-conn") { connection.serve() })?.detach()
            }
        }
    }

    public func stop() {
        stopping.store(true, ordering: .relaxed)
    }
}

/// One connection from a gateway.
public final class GatewayConnection: @unchecked Sendable {  // @unchecked: `output` and `closed` are only touched while holding `writeLock`; the rest belongs to the serving thread
    private let fd: Int32
    private let handler: any SessionHandler
    private let writeLock = PthreadLock()
    private var closed = false
    private var lastSentNanoseconds = MonotonicClock.nanoseconds()
    /// The gateway's name and node id, from its HELLO.
    public private(set) var gatewayName = ""
    public private(set) var nodeID: UInt16 = 0

    init(fd: Int32, handler: any SessionHandler) {
        self.fd = fd
        self.handler = handler
    }

    /// Sends one message (from any thread); dropped once the connection is closed.
    public func send(_ message: BackendMessage) {
        var bytes: [UInt8] = []
        message.encode(into: &bytes)
        writeLock.withLock {
            guard !closed else { return }
            lastSentNanoseconds = MonotonicClock.nanoseconds()
            if !writeAll(bytes) { closed = true }
        }
    }

    /// Sends several messages with one write, in order (from any thread): fewer syscalls on
    /// both sides, and consecutive pushes to the same recipients reach each client in one send.
    public func send(contentsOf messages: [BackendMessage]) {
        var bytes: [UInt8] = []
        for message in messages { message.encode(into: &bytes) }
        writeLock.withLock {
            guard !closed else { return }
            lastSentNanoseconds = MonotonicClock.nanoseconds()
            if !writeAll(bytes) { closed = true }
        }
    }

    /// PUBLISH: a payload to every session in `channel` (on this gateway).
    public func publish(_ payload: [UInt8], to channel: String) { send(.publish(channel: channel, payload: payload)) }
    /// BROADCAST: a payload to every session of `listener` (empty: every mux listener).
    public func broadcast(_ payload: [UInt8], listener: String = "") { send(.broadcast(listener: listener, payload: payload)) }

    /// The non-blocking socket written to completion, waiting with poll when it is full.
    private func writeAll(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let outcome = bytes[offset...].withUnsafeBytes { raw in Result { () throws(SystemError) in try Sockets.send(fd, from: raw) } }
            switch outcome {
            case .success(.transferred(let count)): offset += count
            case .success(.wouldBlock): _ = Poll.writable([fd], timeoutMilliseconds: 1000)
            default: return false
            }
        }
        return true
    }

    func serve() {
        var buffer = MessageBuffer()
        var scratch = [UInt8](repeating: 0, count: 65_536)
        var sessions: [UInt64: Session] = [:]
        var heartbeatNanoseconds: Int64 = 5_000_000_000
        var lastReceived = MonotonicClock.nanoseconds()
        var greeted = false
        defer {
            writeLock.withLock { closed = true }
            FileDescriptors.close(fd)
            for session in sessions.values { handler.closed(session, reason: .unspecified) }
        }
        while true {
            let now = MonotonicClock.nanoseconds()
            if greeted && now - lastReceived >= 3 * heartbeatNanoseconds { return }  // the gateway is gone
            if greeted && writeLock.withLock({ now - lastSentNanoseconds }) >= heartbeatNanoseconds { send(.ping(nonce: UInt64(now))) }
            guard !Poll.readable([fd], timeoutMilliseconds: Int32(min(heartbeatNanoseconds / 2_000_000, 1000))).isEmpty else { continue }
            let outcome = scratch.withUnsafeMutableBytes { raw in Result { () throws(SystemError) in try Sockets.receive(fd, into: raw) } }
            guard case .success(let received) = outcome else { return }
            switch received {
            case .wouldBlock: continue
            case .endOfStream: return
            case .transferred(let count):
                lastReceived = MonotonicClock.nanoseconds()
                buffer.append(scratch[..<count])
            }
            do {
                while let message = try buffer.nextGatewayMessage() {
                    switch message {
                    case .hello(let version, let node, let heartbeat, let name):
                        guard version == ProtocolLimits.version else {
                            send(.error(text: "version \(version) is not supported; this backend speaks \(ProtocolLimits.version)"))
                            return
                        }
                        gatewayName = name
                        nodeID = node
                        heartbeatNanoseconds = max(100_000_000, Int64(heartbeat) * 1_000_000)
                        greeted = true
                        send(.helloAck(version: ProtocolLimits.version))
                    case _ where !greeted:
                        return  // anything before HELLO: not a gateway
                    case .open(let id, let reattach, let client, let listener):
                        let session = Session(id: id, gateway: self)
                        sessions[id] = session
                        handler.opened(session, client: client, listener: listener, reattached: reattach)
                    case .data(let id, let payload):
                        handler.received(payload, from: sessions[id] ?? Session(id: id, gateway: self))
                    case .close(let id, let reason):
                        let session = sessions.removeValue(forKey: id) ?? Session(id: id, gateway: self)
                        handler.closed(session, reason: reason)
                    case .ping(let nonce):
                        send(.pong(nonce: nonce))
                    case .pong:
                        break
                    }
                }
            } catch {
                send(.error(text: "malformed message: \(error)"))
                return
            }
        }
    }
}
