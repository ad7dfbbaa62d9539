import Buffers
import BulwarkSys
import Engine
import MuxProtocol
import Synchronization

/// One persistent connection to a backend server, carrying the messages of many sessions
/// (docs/protocol.md). States: down (waiting for its back-off) → connecting (asynchronous
/// connect, bounded by connect_timeout) → handshaking (HELLO sent) → live (HELLO_ACK received).
/// Its timerfd serves the connect timeout, the retry after a back-off, and the heartbeats.
///
/// Locking, two locks so that sending never waits for reading:
/// - `lock` (the handler's): the state machine, the socket's reading side, the timer. Handlers
///   take it, decode what arrived, and let go before acting on sessions.
/// - `sendLock`: the outbound queue, the sessions bound here, and the socket's writing side.
///   Sessions sending DATA (holding their own lock) take only this one; the handler takes it
///   inside `lock` (order: lock → sendLock; session → sendLock; never the other way). It is
///   let go during each send syscall (see `flush`): a sender appends and leaves its bytes to
///   the thread already sending, instead of waiting for that syscall on the lock.
/// - What handlers leave to do (messages for sessions) is settled outside `lock`, but in the
///   order it was read: the socket is edge-triggered, so while one thread settles a batch,
///   another may read the next; it queues that batch for the settling thread instead of
///   delivering it first (a session's frames from the backend stay in order).
/// The socket is closed only while holding both, so a sender never writes to a closed or
/// reused fd; `live` says, without a lock, whether sending is possible at all.
final class BackendLink: EventHandler, @unchecked Sendable {  // @unchecked: the state machine is only touched while holding `lock`, the send side while holding `sendLock` (see above)
    enum State: Equatable { case down, connecting, handshaking, live }
    enum SendResult { case sent, congested, down }

    /// What a handler leaves to do once the lock is released.
    struct Aftermath {
        var messages: [BackendMessage] = []
        /// Sessions that were bound to the connection that just died.
        var orphans: [UInt64] = []
        /// Sessions paused by this connection's high water, to resume.
        var resumable: [UInt64] = []
        var isEmpty: Bool { messages.isEmpty && orphans.isEmpty && resumable.isEmpty }
    }

    private static let timerSource = 2
    private static let socketInterest: EpollEvents = [.readable, .writable, .readHangup]

    unowned let pool: LinkPool
    let serverIndex: Int
    let server: BackendServer
    private let lock = PthreadLock()
    private let sendLock = PthreadLock()
    /// state == .live, readable without a lock (set under both locks).
    private let live = Atomic<Bool>(false)
    /// A send failed under `sendLock` only: the handler (or a scheduled job) takes it down.
    private var sendFailed = false
    /// A thread is in `flush`, sending from the queue's head with `sendLock` let go; under
    /// `sendLock`. Closing the socket or freeing the queue waits for it (`waitForFlusher`).
    private var flushing = false
    /// A write edge came while a thread was in `flush` (under `sendLock`): the flusher, if its
    /// send came back short, tries once more instead of waiting for an edge already spent.
    private var writableWhileFlushing = false
    /// A job is scheduled to resume the paused sessions (`resumePausedSessions`).
    private var resumeScheduled = false
    private(set) var state = State.down
    private var fd: Int32 = -1
    private var timerFD: Int32 = -1
    private var registration: Registration?
    /// 1 and 3 alternate per connection, so an event of a closed socket is recognised.
    private var socketSource = 3
    /// Connect failures in a row (the back-off grows with them); 0 once live.
    private var failures = 0
    private var retryAtNanoseconds: Int64 = 0
    private var deadlineNanoseconds: Int64 = 0
    private var outbound = ByteQueue()
    /// Where each queued message ends, in bytes ever queued: what is cut off when the
    /// connection dies is counted by message.
    private var messageEnds: [Int] = []
    private var messageEndsStart = 0
    private var queuedBytesTotal = 0
    private var sentBytesTotal = 0
    private var inbound = MessageBuffer()
    private var bound: Set<UInt64> = []
    private var paused: [UInt64] = []
    private var lastSentNanoseconds: Int64 = 0
    private var lastReceivedNanoseconds: Int64 = 0
    private var nonce: UInt64 = 0
    /// Where the current (or last) connect went (a host name may resolve elsewhere since);
    /// under `lock`.
    private var address: SocketAddress?
    /// Aftermaths read but not settled yet, oldest first, and whether a thread is settling
    /// them (see the locking note above); under `lock`.
    private var unsettled: [Aftermath] = []
    private var settling = false

    init(pool: LinkPool, serverIndex: Int, server: BackendServer) {
        self.pool = pool
        self.serverIndex = serverIndex
        self.server = server
    }

    /// Puts the timer on the engine and starts the first connect.
    func start() throws(SystemError) {
        try lock.withLock { () throws(SystemError) in
            timerFD = try TimerFD.create()
            let registration = pool.engine.register(self)
            self.registration = registration
            try pool.engine.add(fd: timerFD, source: Self.timerSource, of: registration, interest: .readable, triggering: .edge)
            startConnect()
        }
    }

    var isLive: Bool { live.load(ordering: .acquiring) }

    /// Down and past its back-off: a pick may start a connect now.
    func connectIfDue() {
        lock.withLock {
            if state == .down && MonotonicClock.nanoseconds() >= retryAtNanoseconds { startConnect() }
        }
    }

    /// The server's host name resolved to a new address: a connection waiting out its back-off
    /// (its failures were at the old address, or there was none) connects now.
    func serverAddressChanged() {
        lock.withLock {
            guard state == .down, registration != nil else { return }
            failures = 0
            startConnect()
        }
    }

    // MARK: sessions

    /// Binds a session here and sends its OPEN; false when this connection is not live.
    func open(_ session: UInt64, reattach: Bool, client: ClientEndpoint, listener: String) -> Bool {
        sendLock.withLock {
            guard live.load(ordering: .acquiring), !sendFailed else { return false }
            bound.insert(session)
            enqueue(.open(session: session, reattach: reattach, client: client, listener: listener))
            return true
        }
    }

    /// Unbinds a closed session; `reason` nil when the backend itself asked for the close.
    func close(_ session: UInt64, reason: SessionCloseReason?) {
        sendLock.withLock {
            bound.remove(session)
            if let reason, live.load(ordering: .acquiring), !sendFailed { enqueue(.close(session: session, reason: reason)) }
        }
    }

    /// One client frame as DATA. `.congested`: sent, but the queue is past high water: the
    /// session pauses reading until this connection resumes it.
    func sendData(_ session: UInt64, payload: UnsafeRawBufferPointer) -> SendResult {
        sendLock.withLock {
            guard live.load(ordering: .acquiring), !sendFailed, bound.contains(session) else { return .down }
            GatewayMessage.withDataHeader(session: session, payloadCount: payload.count) { outbound.append($0, pool: pool.buffers) }
            outbound.append(payload, pool: pool.buffers)
            noteMessageQueued(ProtocolLimits.dataHeaderBytes + payload.count)
            flush()
            guard !sendFailed else { return .down }
            if outbound.count > pool.highWaterBytes {
                pool.hub.counters.backendPauses.increment()
                paused.append(session)
                return .congested
            }
            return .sent
        }
    }

    /// Sessions bound here now.
    var boundCount: Int { sendLock.withLock { bound.count } }

    // MARK: events

    func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) {
        let toSettle: Aftermath? = lock.withLock {
            var aftermath = Aftermath()
            guard registration != nil else { return nil }
            let now = MonotonicClock.nanoseconds()
            if source == Self.timerSource {
                TimerFD.acknowledge(timerFD)
                timerFired(now: now, &aftermath)
            } else if source == socketSource && fd >= 0 {  // else: an event of an earlier socket
                switch state {
                case .connecting: connectFinished(events, now: now, scratch: worker.scratch, &aftermath)
                case .handshaking, .live: service(events, now: now, scratch: worker.scratch, &aftermath)
                case .down: break
                }
                if state != .down && sendLock.withLock({ sendFailed }) { die("send failed", &aftermath) }
            }
            return takeForSettling(aftermath)
        }
        if let toSettle { settleInOrder(first: toSettle, worker: worker) }
    }

    /// Called holding `lock`: the aftermath this thread must settle now, or nil when there is
    /// nothing to do or another thread is settling (it was queued for that thread).
    private func takeForSettling(_ aftermath: Aftermath) -> Aftermath? {
        guard !aftermath.isEmpty else { return nil }
        if settling {
            unsettled.append(aftermath)
            return nil
        }
        settling = true
        return aftermath
    }

    /// Settles `first`, then whatever other threads queued meanwhile, in order, with no lock
    /// held while settling.
    private func settleInOrder(first: Aftermath, worker: WorkerContext?) {
        pool.settle(first, from: self, worker: worker)
        var batch: [Aftermath] = []
        while true {
            lock.withLock {
                batch.removeAll(keepingCapacity: true)
                swap(&batch, &unsettled)
                if batch.isEmpty { settling = false }
            }
            if batch.isEmpty { return }
            for each in batch { pool.settle(each, from: self, worker: worker) }
        }
    }

    func engineStopped() {
        lock.withLock {
            guard let registration else { return }
            pool.engine.unregister(registration)
            self.registration = nil
            state = .down
            sendLock.withLock {
                live.store(false, ordering: .releasing)  // sessions closed after this send nothing
                waitForFlusher()
                if fd >= 0 { FileDescriptors.close(fd) }
                fd = -1
                outbound.release(to: pool.buffers)
            }
            FileDescriptors.close(timerFD)
        }
    }

    /// A send failed where only `sendLock` was held (a session's DATA): take the connection
    /// down from a handler-like context.
    private func failFromSend() {
        let toSettle: Aftermath? = lock.withLock {
            var aftermath = Aftermath()
            guard registration != nil, state != .down else { return nil }
            die("send failed", &aftermath)
            return takeForSettling(aftermath)
        }
        if let toSettle { settleInOrder(first: toSettle, worker: nil) }
    }

    // MARK: connecting (lock held)

    private func startConnect() {
        guard let registration else { return }
        guard let address = server.address else {
            // A host name not resolved yet: down until it resolves (serverAddressChanged) or
            // the back-off ends, whichever comes first.
            failures += 1
            pool.serverStatistics[serverIndex].failed("host name not resolved yet")
            return goDown(retryAfter: pool.backoffNanoseconds(failures: failures))
        }
        self.address = address
        pool.connectionStarted(self)
        pool.statistics.connectAttempts.increment()
        do {
            fd = try Sockets.socket(family: address.family)
            let outcome = try Sockets.connect(fd, to: address)
            socketSource = socketSource == 1 ? 3 : 1
            try pool.engine.add(fd: fd, source: socketSource, of: registration, interest: Self.socketInterest, triggering: .edge)
            state = .connecting
            deadlineNanoseconds = MonotonicClock.nanoseconds() + pool.connectTimeoutNanoseconds
            arm(at: deadlineNanoseconds)
            if case .connected = outcome { handshake(now: MonotonicClock.nanoseconds()) }
        } catch {
            connectFailed("\(error)")
        }
    }

    private func connectFinished(_ events: EpollEvents, now: Int64, scratch: UnsafeMutableRawBufferPointer,
                                 _ aftermath: inout Aftermath) {
        let error = Sockets.pendingError(fd)
        guard error == 0 else { return connectFailed("connect: \(Errno.describe(error))") }
        guard !events.isDisjoint(with: [.writable, .readable]), events.isDisjoint(with: [.error, .hangup]) else { return }
        handshake(now: now)
        if events.contains(.readable) { service([.readable], now: now, scratch: scratch, &aftermath) }
    }

    private func handshake(now: Int64) {
        Sockets.setNoDelay(fd)
        state = .handshaking
        lastReceivedNanoseconds = now
        sendLock.withLock {
            sendFailed = false
            enqueue(.hello(version: ProtocolLimits.version, nodeID: pool.nodeID, heartbeatMilliseconds: pool.heartbeatMilliseconds,
                           name: pool.gatewayName))
        }
        deadlineNanoseconds = now + pool.connectTimeoutNanoseconds
        arm(at: deadlineNanoseconds)
    }

    private func connectFailed(_ reason: String) {
        sendLock.withLock {
            waitForFlusher()
            if fd >= 0 { FileDescriptors.close(fd) }
            fd = -1
        }
        failures += 1
        pool.statistics.connectFailures.increment()
        pool.serverStatistics[serverIndex].failed(reason)
        pool.connectionEnded(self)
        goDown(retryAfter: pool.backoffNanoseconds(failures: failures))
    }

    // MARK: a connected socket (lock held)

    private func service(_ events: EpollEvents, now: Int64, scratch: UnsafeMutableRawBufferPointer, _ aftermath: inout Aftermath) {
        if events.contains(.error) && Sockets.pendingError(fd) != 0 { return die("socket error", &aftermath) }
        if events.contains(.writable) {
            let failed: Bool = sendLock.withLock {
                // A thread in `flush` is sending: leave it a note (its send may come back short,
                // and this edge is for what it left) rather than wait for it.
                if flushing { writableWhileFlushing = true } else if !outbound.isEmpty { flush() }
                if outbound.count <= pool.highWaterBytes / 2 && !paused.isEmpty {
                    aftermath.resumable = paused
                    paused.removeAll()
                }
                return sendFailed
            }
            if failed { return die("send failed", &aftermath) }
        }
        if events.isDisjoint(with: [.readable, .readHangup, .hangup, .error]) { return }
        // Edge-triggered: read until the socket is drained. A short read drained it (data that
        // comes later makes a new edge), unless the backend's FIN came with this edge: then read
        // on to the end of stream, for which no edge would come. No recv just to hear EAGAIN.
        let readToEnd = events.contains(.readHangup)
        while true {
            let outcome: IOOutcome
            do { outcome = try Sockets.receive(fd, into: scratch) } catch { return die("receive failed: \(error)", &aftermath) }
            switch outcome {
            case .wouldBlock: return decode(now: now, &aftermath)
            case .endOfStream:
                decode(now: now, &aftermath)
                return die("closed by the backend", &aftermath)
            case .transferred(let count):
                inbound.append(UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
                lastReceivedNanoseconds = now
                if count < scratch.count && !readToEnd { return decode(now: now, &aftermath) }
            }
        }
    }

    private func decode(now: Int64, _ aftermath: inout Aftermath) {
        do {
            while let message = try inbound.nextBackendMessage() {
                if state == .handshaking {
                    guard case .helloAck(let version) = message, version == ProtocolLimits.version else {
                        return die("bad handshake: expected HELLO_ACK version \(ProtocolLimits.version), got \(message)", &aftermath)
                    }
                    state = .live
                    live.store(true, ordering: .releasing)
                    failures = 0
                    pool.serverStatistics[serverIndex].connected()
                    arm(at: now + pool.heartbeatNanoseconds)
                    continue
                }
                if case .ping(let value) = message {
                    sendLock.withLock { enqueue(.pong(nonce: value)) }
                    continue
                }
                aftermath.messages.append(message)
            }
        } catch {
            pool.hub.counters.malformed.increment()
            die("malformed message: \(error)", &aftermath)
        }
    }

    private func timerFired(now: Int64, _ aftermath: inout Aftermath) {
        switch state {
        case .down:
            if now >= retryAtNanoseconds { startConnect() } else { arm(at: retryAtNanoseconds) }
        case .connecting, .handshaking:
            if now >= deadlineNanoseconds {
                pool.statistics.connectTimeouts.increment()
                if state == .handshaking {
                    die("no HELLO_ACK within connect_timeout", &aftermath)
                } else {
                    connectFailed("connect timed out")
                }
            } else {
                arm(at: deadlineNanoseconds)
            }
        case .live:
            if now - lastReceivedNanoseconds >= 3 * pool.heartbeatNanoseconds {
                return die("no message for 3 heartbeats", &aftermath)
            }
            let lastSent: Int64 = sendLock.withLock {
                if now - lastSentNanoseconds >= pool.heartbeatNanoseconds {
                    nonce &+= 1
                    enqueue(.ping(nonce: nonce))
                }
                return lastSentNanoseconds
            }
            arm(at: min(lastSent + pool.heartbeatNanoseconds, lastReceivedNanoseconds + 3 * pool.heartbeatNanoseconds))
        }
    }

    /// The connection is lost: its sessions are handed back to the pool to re-bind, what was
    /// queued for it is counted as lost, and it reconnects at once or after its back-off.
    private func die(_ reason: String, _ aftermath: inout Aftermath) {
        guard state != .down else { return }
        let wasLive = state == .live
        pool.logFailure("backend \(pool.name): connection to \(address.map { "\($0)" } ?? server.description) lost: \(reason)")
        pool.serverStatistics[serverIndex].failed(reason)
        sendLock.withLock {
            live.store(false, ordering: .releasing)
            waitForFlusher()
            pool.hub.counters.lostFrames.add(messageEnds.count - messageEndsStart)
            if fd >= 0 {
                Sockets.setResetOnClose(fd)
                FileDescriptors.close(fd)
            }
            fd = -1
            aftermath.orphans = Array(bound)
            aftermath.resumable += paused
            bound.removeAll()
            paused.removeAll()
        }
        inbound = MessageBuffer()
        if !wasLive { failures += 1 }
        pool.connectionEnded(self)
        // A live connection lost while fewer than half the server's connections are up or
        // coming up reconnects at once; otherwise (and after a failed connect) it waits.
        goDown(retryAfter: wasLive && pool.shouldReconnectAtOnce(serverIndex) ? 0 : pool.backoffNanoseconds(failures: max(1, failures)))
    }

    private func goDown(retryAfter delay: Int64) {
        state = .down
        sendLock.withLock {
            waitForFlusher()
            outbound.release(to: pool.buffers)
            messageEnds.removeAll()
            messageEndsStart = 0
            queuedBytesTotal = 0
            sentBytesTotal = 0
            sendFailed = false
        }
        retryAtNanoseconds = MonotonicClock.nanoseconds() + delay
        if delay == 0 {
            startConnect()
        } else {
            arm(at: retryAtNanoseconds)
        }
    }

    // MARK: output (sendLock held)

    private func enqueue(_ message: GatewayMessage) {
        var bytes: [UInt8] = []
        message.encode(into: &bytes)
        bytes.withUnsafeBytes { outbound.append($0, pool: pool.buffers) }
        noteMessageQueued(bytes.count)
        flush()
    }

    private func noteMessageQueued(_ byteCount: Int) {
        queuedBytesTotal += byteCount
        messageEnds.append(queuedBytesTotal)
        lastSentNanoseconds = MonotonicClock.nanoseconds()
    }

    /// Writes what is queued until the queue is empty or the socket is full. `sendLock` is let go
    /// during each send: the queue's head stays put (appends only write behind it, and only
    /// the flusher consumes), so other senders append meanwhile and this thread sends their
    /// bytes with the next syscall. One flusher at a time; a sender that finds one returns.
    /// A failed send is noted (`sendFailed`) and a job scheduled to take the connection down
    /// under `lock`, which a sender may not take.
    private func flush() {
        guard fd >= 0, !sendFailed, !flushing else { return }
        flushing = true
        writableWhileFlushing = false
        defer { flushing = false }
        let socket = fd  // closed only once this flush is over (waitForFlusher)
        while !outbound.isEmpty {
            let region = outbound.firstRegion()
            sendLock.unlock()
            let result = Result { () throws(SystemError) in try Sockets.send(socket, from: region) }
            sendLock.lock()
            guard case .success(let outcome) = result else {
                sendFailed = true
                pool.engine.schedule { [self] in failFromSend() }
                return
            }
            var written = 0
            if case .transferred(let count) = outcome { written = count }
            outbound.consume(written, pool: pool.buffers)
            sentBytesTotal += written
            if written < region.count {
                guard writableWhileFlushing else { break }  // full: its write edge flushes on and resumes sessions
                writableWhileFlushing = false  // room came back during that send: its edge is ours
            }
        }
        if outbound.isEmpty && !paused.isEmpty && !resumeScheduled {
            // Drained without the socket filling up (a sender paused while this thread was
            // sending): no write edge will come to resume them.
            resumeScheduled = true
            pool.engine.schedule { [self] in resumePausedSessions() }
        }
        while messageEndsStart < messageEnds.count && messageEnds[messageEndsStart] <= sentBytesTotal { messageEndsStart += 1 }
        if messageEndsStart > 1024 && messageEndsStart * 2 > messageEnds.count {
            messageEnds.removeFirst(messageEndsStart)
            messageEndsStart = 0
        }
    }

    /// Resumes the sessions paused by this connection's high water, if its queue is back under
    /// half of it (with no lock held while resuming, as `settle` does).
    private func resumePausedSessions() {
        let resumable: [UInt64] = sendLock.withLock {
            resumeScheduled = false
            guard outbound.count <= pool.highWaterBytes / 2 else { return [] }
            defer { paused.removeAll() }
            return paused
        }
        for id in resumable { pool.hub.session(id)?.resumeReading() }
    }

    /// Called holding `sendLock`, before closing the socket or freeing the queue: lets a thread
    /// that is in `flush` (in one non-blocking send) finish first.
    private func waitForFlusher() {
        while flushing {
            sendLock.unlock()
            ThreadIdentity.yield()
            sendLock.lock()
        }
    }

    private func arm(at deadline: Int64) {
        TimerFD.arm(timerFD, afterNanoseconds: max(1, deadline - MonotonicClock.nanoseconds()))
    }
}
