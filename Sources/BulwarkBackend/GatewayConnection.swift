import BulwarkSys
import MuxProtocol

/// One connection from a gateway. Its reading side belongs to the server's event loop; any
/// thread may send.
public final class GatewayConnection: @unchecked Sendable {  // @unchecked: `output`, `outputHead`, `corked`, `corkingThread`, `closed` and `lastSentNanoseconds` are only touched while holding `writeLock`; the rest belongs to the event loop
    /// Unsent bytes past this mean the gateway stopped reading: the connection is closed
    /// rather than buffered without bound.
    private static let maxPendingBytes = 64 << 20
    /// Unsent bytes past this pause reading from the gateway (its link queue then fills and it
    /// pauses the sessions bound to it); reading resumes once they are under `lowWaterBytes`.
    private static let highWaterBytes = 4 << 20
    private static let lowWaterBytes = 1 << 20
    /// Reads per event: a gateway that keeps a socket full cannot hold the loop from the others.
    static let readsPerTurn = 16

    private let fd: Int32
    private let handler: any SessionHandler
    private let writeLock = PthreadLock()
    private var closed = false
    /// Encoded messages not yet written (from `outputHead` on); kept between writes so sending
    /// allocates nothing once warm.
    private var output: [UInt8] = []
    private var outputHead = 0
    /// The loop is handing one read's messages to the handler: what the handler sends waits in
    /// `output` and goes out with one write when that batch is done. Only the loop's own sends
    /// wait; another thread's send writes at once (all of `output`, so order holds).
    private var corked = false
    private var corkingThread = ThreadIdentity.current()
    private var lastSentNanoseconds = MonotonicClock.nanoseconds()

    // The event loop's own state.
    private var buffer = MessageBuffer()
    private var sessions: [UInt64: Session] = [:]
    private var heartbeatNanoseconds: Int64 = 5_000_000_000
    private var lastReceivedNanoseconds = MonotonicClock.nanoseconds()
    private var greeted = false
    /// Reading stopped: `output` passed high water (see `highWaterBytes`).
    private(set) var readPaused = false

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
            if !heldByCork { writeOutputLocked() }
        }
    }

    /// Sends several messages with one write, in order (from any thread): fewer syscalls on
    /// both sides, and consecutive pushes to the same recipients reach each client in one send.
    public func send(contentsOf messages: [BackendMessage]) {
        writeLock.withLock {
            guard !closed else { return }
            for message in messages { message.encode(into: &output) }
            if !heldByCork { writeOutputLocked() }
        }
    }

    /// Under `writeLock`: this send is the loop's, made while it is corked.
    private var heldByCork: Bool { corked && corkingThread == ThreadIdentity.current() }

    /// Unsent bytes (from any thread).
    var pendingBytes: Int { writeLock.withLock { output.count - outputHead } }

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
        // Drained: keep the storage for the next answers, unless a burst left it large.
        if output.capacity > Self.lowWaterBytes { output = [] } else { output.removeAll(keepingCapacity: true) }
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

    enum ServiceOutcome { case done, moreToRead, closed }

    /// One epoll event (or another turn after `.moreToRead`). `.moreToRead`: the read cap was
    /// reached with data still there, so the loop serves the others and comes back.
    func service(_ readiness: EpollEvents, scratch: UnsafeMutableRawBufferPointer) -> ServiceOutcome {
        let (failed, pending): (Bool, Int) = writeLock.withLock {
            if readiness.contains(.writable) && !closed { writeOutputLocked() }
            return (closed, output.count - outputHead)
        }
        if failed { return .closed }
        var resuming = false
        if readPaused && pending <= Self.lowWaterBytes {
            readPaused = false
            resuming = true  // edge-triggered: what came while paused makes no new edge, so read now
        }
        if !resuming && readiness.isDisjoint(with: [.readable, .readHangup, .hangup, .error]) { return .done }
        // Edge-triggered: read until the socket is empty. A short read emptied it (later data
        // makes a new edge) unless the gateway's FIN came with this edge: then read on to the
        // end of stream, for which no edge would come.
        let readToEnd = readiness.contains(.readHangup) || readiness.contains(.hangup)
        for _ in 0..<Self.readsPerTurn {
            if readPaused { return .done }  // the OUT edge that drains `output` resumes reading
            let outcome: IOOutcome
            do { outcome = try Sockets.receive(fd, into: scratch) } catch { return .closed }
            switch outcome {
            case .wouldBlock: return .done
            case .endOfStream: return .closed
            case .transferred(let count):
                lastReceivedNanoseconds = MonotonicClock.nanoseconds()
                buffer.append(UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
                guard dispatch() else { return .closed }
                if pendingBytes > Self.highWaterBytes { readPaused = true }
                if count < scratch.count && !readToEnd { return .done }
            }
        }
        return readPaused ? .done : .moreToRead
    }

    /// Hands every whole message received to the handler; the answers go out together at the
    /// end (see `corked`). False when the connection must close.
    private func dispatch() -> Bool {
        writeLock.withLock {
            corked = true
            corkingThread = ThreadIdentity.current()
        }
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
    /// when the gateway has been silent for three. `judgeSilence` false: the loop itself was
    /// late (a handler blocked), so what the gateway sent may still be unread in the socket.
    func keepAlive(now: Int64, judgeSilence: Bool) -> Bool {
        guard greeted else { return true }
        if judgeSilence && now - lastReceivedNanoseconds >= 3 * heartbeatNanoseconds { return false }  // the gateway is gone
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
