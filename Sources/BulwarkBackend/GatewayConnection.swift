import BulwarkSys
import MuxProtocol

/// One connection from a gateway. Its reading side belongs to the server's event loop; any
/// thread may send.
public final class GatewayConnection: @unchecked Sendable {  // @unchecked: `output`, `outputHead`, `corked`, `closed` and `lastSentNanoseconds` are only touched while holding `writeLock`; the rest belongs to the event loop
    /// Unsent bytes past this mean the gateway stopped reading: the connection is closed
    /// rather than buffered without bound.
    private static let maxPendingBytes = 64 << 20

    private let fd: Int32
    private let handler: any SessionHandler
    private let writeLock = PthreadLock()
    private var closed = false
    /// Encoded messages not yet written (from `outputHead` on); kept between writes so sending
    /// allocates nothing once warm.
    private var output: [UInt8] = []
    private var outputHead = 0
    /// The loop is handing one read's messages to the handler: what is sent meanwhile waits in
    /// `output` and goes out with one write when that batch is done (`uncork`).
    private var corked = false
    private var lastSentNanoseconds = MonotonicClock.nanoseconds()

    // The event loop's own state.
    private var buffer = MessageBuffer()
    private var sessions: [UInt64: Session] = [:]
    private var heartbeatNanoseconds: Int64 = 5_000_000_000
    private var lastReceivedNanoseconds = MonotonicClock.nanoseconds()
    private var greeted = false

    /// The gateway's name and node id, from its HELLO.
    public private(set) var gatewayName = ""
    public private(set) var nodeID: UInt16 = 0

    init(fd: Int32, handler: any SessionHandler) {
        self.fd = fd
        self.handler = handler
    }

    /// Sends one message (from any thread); dropped once the connection is closed. From a
    /// handler call it goes out with the other answers to the same read, in one write.
    public func send(_ message: BackendMessage) {
        writeLock.withLock {
            guard !closed else { return }
            message.encode(into: &output)
            if !corked { writeOutputLocked() }
        }
    }

    /// Sends several messages with one write, in order (from any thread): fewer syscalls on
    /// both sides, and consecutive pushes to the same recipients reach each client in one send.
    public func send(contentsOf messages: [BackendMessage]) {
        writeLock.withLock {
            guard !closed else { return }
            for message in messages { message.encode(into: &output) }
            if !corked { writeOutputLocked() }
        }
    }

    /// PUBLISH: a payload to every session in `channel` (on this gateway).
    public func publish(_ payload: [UInt8], to channel: String) { send(.publish(channel: channel, payload: payload)) }
    /// BROADCAST: a payload to every session of `listener` (empty: every mux listener).
    public func broadcast(_ payload: [UInt8], listener: String = "") { send(.broadcast(listener: listener, payload: payload)) }

    /// Writes `output` until it is empty or the socket is full (the loop's OUT edge goes on).
    /// A failed write, or a gateway so far behind that `maxPendingBytes` is passed, closes the
    /// connection: shut down here, so the loop hears of it and finishes it.
    private func writeOutputLocked() {
        while outputHead < output.count {
            let outcome = output[outputHead...].withUnsafeBytes { raw in Result { () throws(SystemError) in try Sockets.send(fd, from: raw) } }
            switch outcome {
            case .success(.transferred(let count)):
                outputHead += count
                lastSentNanoseconds = MonotonicClock.nanoseconds()
            case .success(.wouldBlock), .success(.endOfStream):
                if output.count - outputHead > Self.maxPendingBytes { fail() }
                else if outputHead > output.count / 2 {
                    output.removeFirst(outputHead)
                    outputHead = 0
                }
                return
            case .failure:
                return fail()
            }
        }
        output.removeAll(keepingCapacity: true)
        outputHead = 0
    }

    /// Under `writeLock`: nothing more is sent; the socket is shut down (still open: `finish`
    /// closes it), which raises an event for the loop.
    private func fail() {
        closed = true
        output = []
        outputHead = 0
        Sockets.shutdown(fd, .both)
    }

    // MARK: the event loop's side

    /// One epoll event; false once the connection is over (the loop then calls `finish`).
    func service(_ readiness: EpollEvents, scratch: UnsafeMutableRawBufferPointer) -> Bool {
        let failed: Bool = writeLock.withLock {
            if readiness.contains(.writable) && !closed { writeOutputLocked() }
            return closed
        }
        if failed { return false }
        if readiness.isDisjoint(with: [.readable, .readHangup, .hangup, .error]) { return true }
        // Edge-triggered: read until the socket is empty. A short read emptied it (later data
        // makes a new edge) unless the gateway's FIN came with this edge: then read on to the
        // end of stream, for which no edge would come.
        let readToEnd = readiness.contains(.readHangup) || readiness.contains(.hangup)
        while true {
            let outcome: IOOutcome
            do { outcome = try Sockets.receive(fd, into: scratch) } catch { return false }
            switch outcome {
            case .wouldBlock: return true
            case .endOfStream: return false
            case .transferred(let count):
                lastReceivedNanoseconds = MonotonicClock.nanoseconds()
                buffer.append(UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
                guard dispatch() else { return false }
                if count < scratch.count && !readToEnd { return true }
            }
        }
    }

    /// Hands every whole message received to the handler; the answers go out together at the
    /// end (see `corked`). False when the connection must close.
    private func dispatch() -> Bool {
        writeLock.withLock { corked = true }
        defer {
            writeLock.withLock {
                corked = false
                if !closed { writeOutputLocked() }
            }
        }
        do {
            while let message = try buffer.nextGatewayMessage() {
                switch message {
                case .hello(let version, let node, let heartbeat, let name):
                    guard version == ProtocolLimits.version else {
                        send(.error(text: "version \(version) is not supported; this backend speaks \(ProtocolLimits.version)"))
                        return false
                    }
                    gatewayName = name
                    nodeID = node
                    heartbeatNanoseconds = max(100_000_000, Int64(heartbeat) * 1_000_000)
                    greeted = true
                    send(.helloAck(version: ProtocolLimits.version))
                case _ where !greeted:
                    return false  // anything before HELLO: not a gateway
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
            return false
        }
        return true
    }

    /// Heartbeats, from the loop's sweep: a PING when nothing was sent for a heartbeat; false
    /// when the gateway has been silent for three.
    func keepAlive(now: Int64) -> Bool {
        guard greeted else { return true }
        if now - lastReceivedNanoseconds >= 3 * heartbeatNanoseconds { return false }  // the gateway is gone
        if writeLock.withLock({ now - lastSentNanoseconds }) >= heartbeatNanoseconds { send(.ping(nonce: UInt64(now))) }
        return true
    }

    /// Closes the socket and tells the handler every session is gone.
    func finish() {
        writeLock.withLock { closed = true }
        FileDescriptors.close(fd)
        for session in sessions.values { handler.closed(session, reason: .unspecified) }
        sessions.removeAll()
    }
}
