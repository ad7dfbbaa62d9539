import Buffers
import BulwarkSys
import Config
import Engine
import MuxProtocol
import SysGuard

/// One client of a `mode = "mux"` listener: a session with a 64-bit id whose frames travel as
/// DATA messages over one of the backend's persistent connections (BackendLink), bound when it
/// opens so its frames stay in order. The client socket is edge-triggered; a timerfd exists
/// only when the listener has an idle or frame timeout (SysGuard's ConnectionTimers, re-armed
/// lazily). The hard packet and byte rates apply per session (soft ones are refused by the
/// config for mux listeners: a session cannot hold frames back yet). Reading pauses while the bound connection is past
/// its high-water mark or while no connection is live (the kernel holds what the client sends).
final class MuxSession: EventHandler, TrackedSession, @unchecked Sendable {  // @unchecked: every var is only touched while holding `lock`
    private static let clientSource = 0
    private static let timerSource = 2
    private static let socketInterest: EpollEvents = [.readable, .writable, .readHangup]
    private static let readsPerTurn = 4

    // Stored properties are laid out in this order: the small ones sit together so that an idle
    // session (a million of them on a big box) carries no padding between them.
    private let lock = PthreadLock()
    private let context: RelayContext
    private let mux: MuxContext
    private let clientFD: Int32
    private var timerFD: Int32 = -1
    private var closed = false
    /// Not reading the client: the bound connection is congested, or there is none.
    private var readPaused = false
    private var registration: Registration?
    private var id: UInt64 = 0
    private var tableID: UInt64 = 0
    private var link: BackendLink?
    private var splitter: FrameSplitter
    private var toClient = ByteQueue()
    /// Timeouts, hard rates (boxed, only on a listener that has them: an idle session's size is
    /// what a million of them cost), the send cap and dry runs.
    private var clientGuard: ConnectionGuard
    /// When the timerfd will fire; .max when disarmed.
    private var timerDeadline = Int64.max
    private var bytesIn = 0
    private var bytesOut = 0
    private let admission: RelayAdmission
    private let startedAtNanoseconds: Int64

    private init(clientFD: Int32, admission: RelayAdmission, context: RelayContext, mux: MuxContext) {
        self.clientFD = clientFD
        self.admission = admission
        self.context = context
        self.mux = mux
        let now = MonotonicClock.nanoseconds()
        startedAtNanoseconds = now
        splitter = FrameSplitter(framing: mux.framing, maxFrameBytes: context.limits.maxFrameBytes)
        clientGuard = ConnectionGuard(settings: context.limits, scansFrames: false, bypassRates: admission.bypassLimits, now: now)
    }

    /// Takes an admitted client: registers it, binds it to a live backend connection and sends
    /// OPEN; with none live the client is closed at once (counted). Returns an error when the
    /// session could not get its fds.
    static func start(clientFD: Int32, admission: RelayAdmission, context: RelayContext, mux: MuxContext) -> SystemError? {
        let session = MuxSession(clientFD: clientFD, admission: admission, context: context, mux: mux)
        return session.lock.withLock { session.begin() }
    }

    private func begin() -> SystemError? {
        context.statistics.active.increment()
        id = mux.hub.add(self)
        tableID = context.sessions.add(self)
        do {
            let registration = context.engine.register(self)
            self.registration = registration
            if clientGuard.hasTimers {
                timerFD = try TimerFD.create()
                try context.engine.add(fd: timerFD, source: Self.timerSource, of: registration, interest: .readable, triggering: .edge)
                scheduleTimer(now: startedAtNanoseconds)
            }
        } catch {
            close(.clientError, notifyBackend: false)
            return error
        }
        guard let chosen = mux.pool.pick(), chosen.open(id, reattach: false, client: clientEndpoint, listener: context.listenerName) else {
            mux.hub.counters.refusedNoBackend.increment()
            context.statistics.backendUnavailable.increment()
            close(.noBackend, notifyBackend: false)
            return nil
        }
        link = chosen
        do {
            try context.engine.add(fd: clientFD, source: Self.clientSource, of: registration!, interest: Self.socketInterest,
                                   triggering: .edge)
        } catch {
            close(.clientError, notifyBackend: true)
            return error
        }
        return nil
    }

    /// The listener's name (immutable: read without the lock, for BROADCAST).
    var listenerName: String { context.listenerName }

    private var clientEndpoint: ClientEndpoint {
        ClientEndpoint(addressBytes: admission.address.addressBytes, port: admission.peerPort)
    }

    // MARK: events

    func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) {
        lock.withLock {
            guard !closed else { return }
            if source == Self.timerSource {
                TimerFD.acknowledge(timerFD)
                return timerFired()
            }
            if events.contains(.error) && Sockets.pendingError(clientFD) != 0 { return close(.clientError, notifyBackend: true) }
            if events.contains(.writable) && !toClient.isEmpty {
                guard flushToClient() else { return close(.clientError, notifyBackend: true) }
            }
            if !readPaused && !events.isDisjoint(with: [.readable, .readHangup, .hangup, .error]) {
                readClient(scratch: worker.scratch, peerFinished: events.contains(.readHangup))
            }
        }
    }

    func engineStopped() {
        lock.withLock { if !closed { close(.gatewayStopping, notifyBackend: true) } }
    }

    /// Reads the client until EAGAIN (or the per-turn cap: then asks for another turn), cutting
    /// frames and sending each on as DATA. A short read ends the turn (new data makes a new
    /// edge) unless the client's FIN came with this edge (`peerFinished`, EPOLLRDHUP): then it
    /// reads on to the end of stream, for which no further edge would come.
    private func readClient(scratch: UnsafeMutableRawBufferPointer, peerFinished: Bool) {
        for _ in 0..<Self.readsPerTurn {
            guard let link, !readPaused else { return }
            let outcome: IOOutcome
            do { outcome = try Sockets.receive(clientFD, into: scratch) } catch { return close(.clientError, notifyBackend: true) }
            switch outcome {
            case .wouldBlock: return
            case .endOfStream: return close(.clientClosed, notifyBackend: true)
            case .transferred(let count):
                bytesIn += count
                let now = MonotonicClock.nanoseconds()
                clientGuard.touch(now: now)
                if case .close(let reason) = judge(.arrived(frames: 0, bytes: count), now: now) { return closeByLimit(reason) }
                var linkDown = false
                var framesRead = 0
                let outcome = splitter.feed(UnsafeRawBufferPointer(rebasing: scratch[0..<count]), now: now) { payload in
                    framesRead += 1
                    guard !linkDown else {
                        mux.hub.counters.lostFrames.increment()
                        return
                    }
                    switch link.sendData(id, payload: payload) {
                    case .sent: break
                    case .congested: readPaused = true
                    case .down:
                        linkDown = true
                        mux.hub.counters.lostFrames.increment()
                    }
                }
                // The splitter cannot follow frames past an oversized one: closed whatever the mode.
                if outcome == .tooLarge { return closeByLimit(.frameTooLarge) }
                if case .close(let reason) = judge(.arrived(frames: framesRead, bytes: 0), now: now) { return closeByLimit(reason) }
                scheduleTimer(now: now)  // a frame may have started: its timeout may come first
                if linkDown {
                    // The connection died under us; its handler re-binds this session.
                    readPaused = true
                    return
                }
                if count < scratch.count && !peerFinished { return }  // drained: the next data makes a new edge
            }
        }
        if !readPaused { retrigger() }
    }

    /// Asks for another event on the client socket; a failure closes the session (logged; the
    /// engine counts it): a socket that is not re-armed would never be read again.
    private func retrigger() {
        guard let registration else { return }
        do {
            try context.engine.retrigger(fd: clientFD, source: Self.clientSource, of: registration, interest: Self.socketInterest)
        } catch {
            context.guardRuntime.closeLog.log(context.logger, level: .error,
                                              "listener \(context.listenerName): epoll re-arm failed (\(error)); session closed")
            close(.clientError, notifyBackend: true)
        }
    }

    // MARK: from the backend (called with no other session's lock held)

    /// A payload for this client: framed and sent, or queued behind what waits; a client whose
    /// queue passes max_send_buffer is closed (SysGuard).
    func deliver(_ payload: [UInt8]) {
        lock.withLock { deliverLocked(payload) }
    }

    /// Consecutive pushes to this client (PushBatch), framed once for the listener's framing,
    /// in one send. A batch with a payload over max_frame goes payload by payload, so that only
    /// that one is refused.
    func deliver(_ batch: PushBatch) {
        lock.withLock {
            guard !closed else { return }
            guard batch.largestPayload <= maxPushedPayloadBytes else {
                for payload in batch.payloads { deliverLocked(payload) }
                return
            }
            bytesOut += batch.payloadBytes
            clientGuard.touch(now: MonotonicClock.nanoseconds())
            let empty = UnsafeRawBufferPointer(start: nil, count: 0)
            batch.bytes(framedBy: mux.framing).withUnsafeBytes { sendOrQueue(empty, $0, empty) }
        }
    }

    /// max_frame, and what the framing's header can say: with u16be and a max_frame over 64 KiB
    /// a 65,536-byte payload would otherwise go out behind a header that says 0.
    private var maxPushedPayloadBytes: Int { min(context.limits.maxFrameBytes, mux.framing.maxPayloadBytes) }

    private func deliverLocked(_ payload: [UInt8]) {
        guard !closed else { return }
        guard payload.count <= maxPushedPayloadBytes else {
            mux.hub.counters.oversizedPayloads.increment()
            return
        }
        bytesOut += payload.count
        clientGuard.touch(now: MonotonicClock.nanoseconds())  // traffic either way is activity
        // Framing before and after, the payload between: one sendmsg when nothing waits.
        payload.withUnsafeBytes { body in
            FrameSplitter.withFraming(mux.framing, payloadCount: payload.count) { before, after in
                sendOrQueue(before, body, after)
            }
        }
    }

    /// Sends the three parts with one sendmsg when nothing waits, and queues what the socket
    /// did not take, in order; closes the client on a send error or past max_send_buffer.
    private func sendOrQueue(_ before: UnsafeRawBufferPointer, _ body: UnsafeRawBufferPointer, _ after: UnsafeRawBufferPointer) {
        var written = 0
        if toClient.isEmpty {
            let outcome = Result { () throws(SystemError) in try Sockets.send(clientFD, before, body, after) }
            guard case .success(let sent) = outcome else { return close(.clientError, notifyBackend: true) }
            if case .transferred(let count) = sent { written = count }
        }
        func keep(_ part: UnsafeRawBufferPointer) {
            let skip = min(written, part.count)
            written -= skip
            if skip < part.count { toClient.append(UnsafeRawBufferPointer(rebasing: part[skip...]), pool: context.pool) }
        }
        keep(before)
        keep(body)
        keep(after)
        if !toClient.isEmpty, case .close(let reason) = judge(.queuedToClient(bytes: toClient.count), now: 0) {  // (no time needed)
            closeByLimit(reason)
        }
    }

    private func flushToClient() -> Bool {
        while !toClient.isEmpty {
            let region = toClient.firstRegion()
            let outcome: IOOutcome
            do { outcome = try Sockets.send(clientFD, from: region) } catch { return false }
            guard case .transferred(let count) = outcome else { return true }
            toClient.consume(count, pool: context.pool)
            if count < region.count { return true }
        }
        return true
    }

    /// The backend asked (CLOSE): close the client without answering with a CLOSE.
    func closeAtBackendRequest() {
        lock.withLock { if !closed { close(.backendRequest, notifyBackend: false) } }
    }

    /// The bound connection resumed after high water (or died): read the client again.
    func resumeReading() {
        lock.withLock {
            guard !closed, readPaused, link != nil else { return }
            readPaused = false
            retrigger()
        }
    }

    /// The connection this session was bound to died (`lost` nil: whichever it was): re-bind to
    /// a live one with a re-attach OPEN, or wait (not reading) for one up to backend_grace.
    func linkLost(_ lost: BackendLink?) {
        lock.withLock {
            guard !closed, lost == nil || link === lost else { return }
            link = nil
            readPaused = true
            bind(now: MonotonicClock.nanoseconds(), reattach: true)
        }
    }

    /// The pool's sweep, for a session waiting for a connection.
    func retryBinding(expired: Bool) {
        lock.withLock {
            guard !closed, link == nil else { return mux.pool.stopWaiting(id) }
            bind(now: MonotonicClock.nanoseconds(), reattach: true)
            if link == nil && expired {
                mux.hub.counters.closedNoBackend.increment()
                close(.noBackend, notifyBackend: false)
            }
        }
    }

    private func bind(now: Int64, reattach: Bool) {
        if let chosen = mux.pool.pick(), chosen.open(id, reattach: reattach, client: clientEndpoint, listener: context.listenerName) {
            link = chosen
            mux.hub.counters.rebinds.increment()
            mux.pool.stopWaiting(id)
            readPaused = false
            retrigger()
        } else {
            mux.pool.waitForLink(id, since: now)
        }
    }

    // MARK: SysGuard

    /// Arms the timer when SysGuard's next deadline comes before the one it is armed for; a
    /// later one is left to the timer firing early (lazy: no syscall per frame).
    private func scheduleTimer(now: Int64) {
        guard timerFD >= 0,
              let deadline = clientGuard.nextDeadline(readingPaused: readPaused, frameStartedAt: splitter.frameStartedAtNanoseconds),
              deadline < timerDeadline else { return }
        TimerFD.arm(timerFD, afterNanoseconds: max(1, deadline - now))
        timerDeadline = deadline
    }

    private func timerFired() {
        let now = MonotonicClock.nanoseconds()
        timerDeadline = .max
        let event = GuardEvent.timerFired(readingPaused: readPaused, frameStartedAt: splitter.frameStartedAtNanoseconds)
        if case .close(let reason) = judge(event, now: now) { return closeByLimit(reason) }
        scheduleTimer(now: now)
    }

    /// The guard's action on `event`, with the dry runs it noted counted (once per session each).
    private func judge(_ event: GuardEvent, now: Int64) -> GuardAction {
        let action = clientGuard.handle(event, settings: context.limits, now: now)
        if clientGuard.hasPendingDryRuns {
            for reason in clientGuard.takeDryRuns().reasons { context.guardRuntime.counters.countWouldClose(reason) }
        }
        return action
    }

    /// A SysGuard limit closes the client: counted by reason, logged at most once a second.
    private func closeByLimit(_ reason: SysGuard.CloseReason) {
        context.guardRuntime.counters.countClose(reason)
        context.guardRuntime.closeLog.log(context.logger, level: .notice,
                                          "listener \(context.listenerName): closed a mux session: \(reason.rawValue)")
        close(reason == .idleTimeout ? .idleTimeout : .limit, notifyBackend: true)
    }

    // MARK: stats socket

    func snapshot(now: Int64) -> SessionSnapshot? {
        lock.withLock {
            guard !closed else { return nil }
            return SessionSnapshot(
                id: tableID, listener: context.listenerName, peer: admission.address, peerPort: admission.peerPort,
                ageNanoseconds: max(0, now - startedAtNanoseconds),
                idleNanoseconds: clientGuard.lastActivityNanoseconds.map { max(0, now - $0) },
                bytesIn: bytesIn, bytesOut: bytesOut, bufferedBytes: toClient.count + splitter.pendingBytes,
                framesPerSecond: nil, session: id)
        }
    }

    var holdsTimer: Bool { lock.withLock { !closed && timerFD >= 0 } }

    func kick() -> Bool {
        lock.withLock {
            guard !closed else { return false }
            context.guardRuntime.counters.countClose(.kicked)
            close(.kicked, notifyBackend: true)
            return true
        }
    }

    func peerMatches(_ prefix: SysGuard.AddressPrefix) -> Bool { prefix.key.contains(admission.address) }

    // MARK: closing

    private func close(_ reason: SessionCloseReason, notifyBackend: Bool) {
        closed = true
        if let registration { context.engine.unregister(registration) }
        registration = nil
        FileDescriptors.close(clientFD)
        if timerFD >= 0 { FileDescriptors.close(timerFD) }
        timerFD = -1
        toClient.release(to: context.pool)
        link?.close(id, reason: notifyBackend ? reason : nil)
        link = nil
        mux.pool.stopWaiting(id)
        mux.hub.remove(id)
        context.sessions.remove(tableID)
        context.guardRuntime.release(admission.address, holdsAddressSlot: admission.holdsAddressSlot)
        let statistics = context.statistics
        statistics.active.decrement()
        statistics.bytesFromClients.add(bytesIn)
        statistics.bytesToClients.add(bytesOut)
        switch reason {
        case .clientClosed, .backendRequest: statistics.closedNormally.increment()
        case .clientError: statistics.closedOnError.increment()
        default: break
        }
    }
}

/// What every session of one mux listener shares besides its RelayContext.
final class MuxContext: Sendable {
    let hub: MuxHub
    let pool: LinkPool
    let framing: Framing

    init(hub: MuxHub, pool: LinkPool, framing: Framing) {
        self.hub = hub
        self.pool = pool
        self.framing = framing
    }
}
