import Buffers
import BulwarkSys
import Engine
import SysGuard

/// One client connection of a `mode = "tcp"` listener and its own backend connection.
///
/// Three fds share one engine registration: the client socket (source 0), the backend socket
/// (source 1 or 3: the source alternates between connect attempts so an event left over from a
/// closed attempt's socket is recognised and ignored), and a timerfd (source 2) for the connect
/// timeout, then for SysGuard's idle and frame timeouts and the end of a rate window. Every
/// event handler takes `lock`, so the pair's state has one writer at a time.
///
/// SysGuard (ConnectionGuard): bytes read from the client pass through the frame scanner and the
/// rate limits when the listener has any; what a soft limit holds back stays in `clientGuard`
/// and reading pauses until the window ends. The timer is re-armed lazily: activity only moves
/// a timestamp; the timer is armed again only when a deadline comes earlier than it is armed for.
///
/// The two sockets are edge-triggered for reading and writing from the start (Engine rule 1):
/// no epoll_ctl per event. In exchange the session must itself come back to a socket whose
/// data it left unread: a read that stopped at the high-water mark resumes when the queue
/// drains (from the other socket's write event), and a read that stopped at the per-event cap
/// asks the engine to `retrigger`. A short read means the socket was drained and more data makes
/// a new edge, unless the peer's FIN was already there (EPOLLRDHUP in the event, or a resumed
/// read whose edges were spent): then it reads on to end of stream or EAGAIN. The timerfd is
/// edge-triggered too.
///
/// Lifecycle: connecting --(backend writable, SO_ERROR 0)--> relaying --(both directions
/// finished, or an error)--> closed. A connect failure or timeout moves on to the next server;
/// when every server has failed the client is closed and the failure counted. With
/// `backend_connect = "first_data"` a session starts in awaitingData instead: the client is
/// read (through SysGuard, into `toBackend`) and the connect starts once some bytes passed; a
/// client that leaves or breaks a limit first never costs a backend socket and handshake.
final class RelaySession: EventHandler, TrackedSession, @unchecked Sendable {  // @unchecked: every var is read and written only while holding `lock`
    private enum Phase: UInt8 { case awaitingData, connecting, relaying, closed }

    /// What one turn of reading ended on: the socket drained, reading paused at high water, the
    /// per-turn cap, bytes held back by a rate limit, or the session failed or was closed.
    /// `closing`: a limit says close (done by the caller: the queue is still borrowed in pump).
    private enum PumpResult { case drained, paused, capped, held, failed, closing(SysGuard.CloseReason) }

    private static let clientSource = 0
    private static let timerSource = 2
    /// Read hang-up tells a short read apart from "data and FIN both arrived before we looked".
    private static let socketInterest: EpollEvents = [.readable, .writable, .readHangup]
    /// Event bits after which a read finds something (data, end of stream or an error); an
    /// edge with only EPOLLOUT (an ACK freed send space) skips the recv that would say EAGAIN.
    private static let readReadiness: EpollEvents = [.readable, .readHangup, .hangup, .error]
    /// Reads per event before yielding the thread (then `retrigger`): 4 x 64 KiB.
    private static let readsPerTurn = 4

    private let lock = PthreadLock()
    private let context: RelayContext
    private let clientFD: Int32
    private var backendFD: Int32 = -1
    private var timerFD: Int32 = -1
    private var registration: Registration?
    private var phase = Phase.connecting
    /// Source of the current backend socket's events: 1 and 3 alternate with each socket put on
    /// the epoll (starts at 3 so the first is 1).
    private var backendSource = 3
    private var serversTried = 0
    private var firstServer = 0
    /// The server relayed to, once connected (its live count is released on close).
    private var connectedServer: Int32 = -1
    /// Bytes read from the client, waiting for the backend's socket to take them.
    private var toBackend = ByteQueue()
    /// Bytes read from the backend, waiting for the client's socket.
    private var toClient = ByteQueue()
    private var clientReadFinished = false
    private var backendReadFinished = false
    private var clientReadPaused = false
    private var backendReadPaused = false
    private var backendWriteShut = false
    private var clientWriteShut = false
    private var bytesFromClient = 0
    private var bytesToClient = 0
    private let admission: RelayAdmission
    private var clientGuard: ConnectionGuard
    /// When the timerfd will fire (monotonic ns); .max when disarmed.
    private var timerDeadline = Int64.max
    /// Set when the backend socket could not be made for lack of fds or memory.
    private var exhaustionErrno: Int32 = 0
    /// The client was on the epoll while connecting (first_data): edges that came meanwhile
    /// were passed over, so once connected its socket is read until it blocks.
    private var clientEdgesMissed = false
    /// In the session table (`show conns`, `kick`); 0 until registered.
    private var id: UInt64 = 0
    private let startedAtNanoseconds: Int64

    static func isExhaustion(_ error: SystemError) -> Bool { error.isResourceExhaustion }

    private init(clientFD: Int32, admission: RelayAdmission, context: RelayContext) {
        self.clientFD = clientFD
        self.admission = admission
        self.context = context
        let now = MonotonicClock.nanoseconds()
        startedAtNanoseconds = now
        clientGuard = ConnectionGuard(settings: context.limits, scansFrames: true, bypassRates: admission.bypassLimits, now: now)
    }

    /// Takes ownership of an accepted client socket (admitted by SysGuard) and starts connecting
    /// to the backend. Returns the error when the session could not get its own fds (the client
    /// is then closed; the listener pauses accepting on EMFILE/ENFILE as for accept4 itself).
    static func start(clientFD: Int32, admission: RelayAdmission, context: RelayContext) -> SystemError? {
        let session = RelaySession(clientFD: clientFD, admission: admission, context: context)
        return session.lock.withLock { session.begin() }
    }

    private func begin() -> SystemError? {
        context.statistics.active.increment()
        id = context.sessions.add(self)
        do {
            timerFD = try TimerFD.create()
            let registration = context.engine.register(self)
            self.registration = registration
            try context.engine.add(fd: timerFD, source: Self.timerSource, of: registration, interest: .readable,
                                   triggering: .edge)
        } catch {
            close(reason: .error)
            return error
        }
        firstServer = context.backend.nextFirstServer()
        if context.connectsOnFirstData {
            do {
                try awaitFirstData()
            } catch {
                close(reason: .error)
                return error
            }
            return nil
        }
        connectNextServer(lastError: nil)
        return exhaustionErrno == 0 ? nil : SystemError("socket", errno: exhaustionErrno)
    }

    // MARK: events

    func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) {
        lock.withLock {
            guard phase != .closed else { return }  // an event that raced the close
            switch source {
            case Self.timerSource:
                guard timerFD >= 0 else { return }  // an edge from before the timer was released
                timerFired(worker: worker)
            case Self.clientSource:
                guard phase == .relaying || phase == .awaitingData else { return }  // connecting: see clientEdgesMissed
                serviceClient(events, worker: worker)
            default:
                guard source == backendSource else { return }  // left over from an earlier attempt
                if phase == .connecting {
                    connectFinished(events, worker: worker)
                } else {
                    serviceBackend(events, worker: worker)
                }
            }
            if phase == .awaitingData { connectIfDataPassed() }
            if phase == .relaying && clientEdgesMissed { catchUpClient(worker: worker) }
            if phase == .relaying { finishIfDone() }
            if phase != .closed { countDryRuns() }
        }
    }

    func engineStopped() {
        lock.withLock {
            if phase != .closed { close(reason: .shutdown) }
        }
    }

    /// The client socket is writable and/or readable (edge): flush what waits for it, resume the
    /// backend side if that flush took its queue under high water, then read the client.
    private func serviceClient(_ events: EpollEvents, worker: WorkerContext) {
        if events.contains(.error) && Sockets.pendingError(clientFD) != 0 { return fail() }
        if !toClient.isEmpty && events.contains(.writable) {
            guard flush(queue: &toClient, to: clientFD) else { return fail() }
            if toClient.isEmpty && backendReadFinished && !clientWriteShut {
                shutdownWrite(clientFD, fromClient: false)
            }
            if backendReadPaused && toClient.count < context.highWaterBytes {
                backendReadPaused = false
                guard readBackend(worker: worker, untilBlocked: true) else { return }
            }
        }
        if !clientReadFinished && !clientReadPaused && clientGuard.held.isEmpty
            && !events.isDisjoint(with: Self.readReadiness) {
            _ = readClient(worker: worker, untilBlocked: events.contains(.readHangup))
        }
    }

    private func serviceBackend(_ events: EpollEvents, worker: WorkerContext) {
        if events.contains(.error) && Sockets.pendingError(backendFD) != 0 { return fail() }
        if !toBackend.isEmpty && events.contains(.writable) {
            guard flushToBackend() else { return }
            if clientReadPaused && toBackend.count < context.highWaterBytes {
                clientReadPaused = false
                if clientGuard.held.isEmpty {
                    let now = MonotonicClock.nanoseconds()
                    clientGuard.readingResumed(now: now)
                    guard readClient(worker: worker, untilBlocked: true) else { return }
                    scheduleTimer(now: now)  // a frame timeout set aside during the pause applies again
                }
            }
        }
        if !backendReadFinished && !backendReadPaused && !events.isDisjoint(with: Self.readReadiness) {
            _ = readBackend(worker: worker, untilBlocked: events.contains(.readHangup))
        }
    }

    /// Reads the client toward the backend; false when the session failed (and is closed).
    /// `untilBlocked`: a short read does not end the turn (see the type's comment).
    private func readClient(worker: WorkerContext, untilBlocked: Bool) -> Bool {
        switch pump(from: clientFD, to: backendFD, queue: &toBackend, worker: worker, fromClient: true, untilBlocked: untilBlocked) {
        case .drained: return true
        case .paused:
            clientReadPaused = true
            clientGuard.readingPaused(now: MonotonicClock.nanoseconds())
            return true
        case .capped: return retrigger(clientFD, source: Self.clientSource)
        case .held:
            let now = MonotonicClock.nanoseconds()
            clientGuard.readingPaused(now: now)
            scheduleTimer(now: now)
            return true
        case .failed: fail(); return false
        case .closing(let reason): closeByGuard(reason); return false
        }
    }

    private func readBackend(worker: WorkerContext, untilBlocked: Bool) -> Bool {
        switch pump(from: backendFD, to: clientFD, queue: &toClient, worker: worker, fromClient: false, untilBlocked: untilBlocked) {
        case .drained: return true
        case .paused: backendReadPaused = true; return true
        case .capped: return retrigger(backendFD, source: backendSource)
        case .held: return true
        case .failed: fail(); return false
        case .closing(let reason): closeByGuard(reason); return false
        }
    }

    /// Asks for another event on a socket whose data this turn left unread.
    private func retrigger(_ fd: Int32, source: Int) -> Bool {
        guard let registration else { return false }
        do {
            try context.engine.retrigger(fd: fd, source: source, of: registration, interest: Self.socketInterest)
            return true
        } catch {
            // A socket not re-armed would never be read again: the pair closes (the engine counts it).
            context.guardRuntime.closeLog.log(context.logger, level: .error,
                                              "listener \(context.listenerName): epoll re-arm failed (\(error)); connection closed")
            fail()
            return false
        }
    }

    // MARK: moving bytes

    /// Reads from `source` into the worker's scratch buffer and sends it straight on; what the
    /// target does not take is queued (behind anything already queued, keeping order).
    private func pump(from source: Int32, to target: Int32, queue: inout ByteQueue,
                      worker: WorkerContext, fromClient: Bool, untilBlocked: Bool) -> PumpResult {
        let scratch = worker.scratch
        for _ in 0..<Self.readsPerTurn {
            if queue.count >= context.highWaterBytes { return .paused }
            let outcome: IOOutcome
            do { outcome = try Sockets.receive(source, into: scratch) } catch { return .failed }
            switch outcome {
            case .wouldBlock:
                return .drained
            case .endOfStream:
                if fromClient { clientReadFinished = true } else { backendReadFinished = true }
                if queue.isEmpty && target >= 0 { shutdownWrite(target, fromClient: fromClient) }
                return .drained
            case .transferred(let count):
                if fromClient { bytesFromClient += count } else { bytesToClient += count }
                let bytes = UnsafeRawBufferPointer(rebasing: scratch[0..<count])
                var forward = count
                if clientGuard.hasTimers || clientGuard.inspects {
                    let now = MonotonicClock.nanoseconds()
                    clientGuard.touch(now: now)
                    if fromClient && clientGuard.inspects {
                        switch clientGuard.handle(.bytesRead(bytes), settings: context.limits, now: now) {
                        case .close(let reason): return .closing(reason)
                        case .forward(let allowed): forward = allowed
                        case .proceed: break
                        }
                        countDryRuns()
                        scheduleTimer(now: now)  // a frame may have started: its timeout may come first
                    }
                }
                guard send(UnsafeRawBufferPointer(rebasing: bytes[0..<forward]), to: target, queue: &queue) else { return .failed }
                if forward < count {
                    let action = clientGuard.handle(.holding(UnsafeRawBufferPointer(rebasing: bytes[forward...])), settings: context.limits,
                                                    now: MonotonicClock.nanoseconds())
                    countDryRuns()
                    if case .close(let reason) = action { return .closing(reason) }
                    return .held
                }
                if !fromClient, case .close(let reason) = clientGuard.handle(.queuedToClient(bytes: queue.count), settings: context.limits,
                                                                             now: 0) {  // (this event does not look at the time)
                    return .closing(reason)
                }
                // A short read means the socket was drained: new data makes a new edge.
                if count < scratch.count && !untilBlocked {
                    return queue.count >= context.highWaterBytes ? .paused : .drained
                }
            }
        }
        return queue.count >= context.highWaterBytes ? .paused : .capped
    }

    /// Sends at once when nothing is queued; queues the rest (the target's write edge flushes it).
    /// Before the backend is connected (first_data) the target is -1 and everything is queued.
    private func send(_ bytes: UnsafeRawBufferPointer, to target: Int32, queue: inout ByteQueue) -> Bool {
        var sent = 0
        if queue.isEmpty && target >= 0 {
            do {
                if case .transferred(let count) = try Sockets.send(target, from: bytes) { sent = count }
            } catch {
                return false
            }
        }
        if sent < bytes.count {
            queue.append(UnsafeRawBufferPointer(rebasing: bytes[sent...]), pool: context.pool)
        }
        return true
    }

    /// Writes queued bytes until the queue is empty or the socket is full.
    private func flush(queue: inout ByteQueue, to target: Int32) -> Bool {
        var moved = false
        defer {
            // Bytes leaving a queue are activity too (a slow download, a held upload draining).
            if moved && clientGuard.hasTimers { clientGuard.touch(now: MonotonicClock.nanoseconds()) }
        }
        while !queue.isEmpty {
            let region = queue.firstRegion()
            let outcome: IOOutcome
            do { outcome = try Sockets.send(target, from: region) } catch { return false }
            guard case .transferred(let count) = outcome else { return true }
            queue.consume(count, pool: context.pool)
            moved = moved || count > 0
            if count < region.count { return true }
        }
        return true
    }

    /// Writes what waits for the backend; once all of it is out and the client has finished,
    /// passes the end of stream on. False when the session failed (and is closed).
    private func flushToBackend() -> Bool {
        guard flush(queue: &toBackend, to: backendFD) else {
            fail()
            return false
        }
        if toBackend.isEmpty && clientReadFinished && !backendWriteShut { shutdownWrite(backendFD, fromClient: true) }
        return true
    }

    /// Passes an end of stream on; the caller has emptied this direction's queue. When the other
    /// direction has ended too, the session closes at the end of this turn (finishIfDone) and
    /// close() sends the same FIN, so the shutdown call is left out: one syscall less per short
    /// connection. (Only the other direction's queue is read: pump holds this one inout.)
    private func shutdownWrite(_ target: Int32, fromClient: Bool) {
        let otherDirectionDone = fromClient ? backendReadFinished && toClient.isEmpty
                                            : clientReadFinished && toBackend.isEmpty
        if !otherDirectionDone { Sockets.shutdown(target, .write) }
        if fromClient { backendWriteShut = true } else { clientWriteShut = true }
    }

    /// Both directions have seen end of stream and everything was delivered.
    private var bothDirectionsDone: Bool {
        clientReadFinished && backendReadFinished && toBackend.isEmpty && toClient.isEmpty
    }

    /// Called at the end of every turn while relaying: a session with both directions done closes.
    private func finishIfDone() {
        if bothDirectionsDone { close(reason: .normal) }
    }

    // MARK: connecting

    /// first_data: the client joins the epoll now, and until its first bytes pass the timer
    /// serves SysGuard (idle and frame timeouts, rate windows).
    private func awaitFirstData() throws(SystemError) {
        phase = .awaitingData
        if let deadline = clientGuard.nextDeadline(readingPaused: false) {
            TimerFD.arm(timerFD, afterNanoseconds: max(1, deadline - MonotonicClock.nanoseconds()))
            timerDeadline = deadline
        }
        try watchClient()
    }

    /// After a first_data session's turn: bytes that passed SysGuard start the connect; a
    /// client that finished sending nothing is closed without one.
    private func connectIfDataPassed() {
        if !toBackend.isEmpty {
            phase = .connecting
            clientEdgesMissed = true
            // The client is not read while connecting: that time does not count against its frame.
            clientGuard.readingPaused(now: MonotonicClock.nanoseconds())
            connectNextServer(lastError: nil)
        } else if clientReadFinished && clientGuard.held.isEmpty {
            close(reason: .normal)
        }
    }

    /// Connected after first_data: what waited goes to the backend, and the client is read on
    /// (its edges while connecting were passed over).
    private func catchUpClient(worker: WorkerContext) {
        clientEdgesMissed = false
        guard flushToBackend() else { return }
        if clientReadPaused && toBackend.count < context.highWaterBytes { clientReadPaused = false }
        let now = MonotonicClock.nanoseconds()
        if !clientReadPaused && clientGuard.held.isEmpty { clientGuard.readingResumed(now: now) }
        if !clientReadFinished && !clientReadPaused && clientGuard.held.isEmpty {
            guard readClient(worker: worker, untilBlocked: true) else { return }
        }
        scheduleTimer(now: now)  // the frame timeout set aside while connecting applies again
    }

    private func connectNextServer(lastError: String?) {
        let backend = context.backend
        while serversTried < backend.servers.count {
            let server = backend.servers[(firstServer + serversTried) % backend.servers.count]
            serversTried += 1
            guard let address = server.address else {
                // A host name that has not resolved yet: that server is down, try the next.
                let reason = "\(server): host name not resolved yet"
                if serversTried == backend.servers.count { return allServersFailed(lastError: reason) }
                continue
            }
            backend.statistics.connectAttempts.increment()
            do {
                backendFD = try Sockets.socket(family: address.family)
                let outcome = try Sockets.connect(backendFD, to: address)
                backendSource = backendSource == 1 ? 3 : 1
                try context.engine.add(fd: backendFD, source: backendSource, of: registration!,
                                       interest: Self.socketInterest, triggering: .edge)
                switch outcome {
                case .connected: startRelaying()
                case .inProgress:
                    TimerFD.arm(timerFD, afterNanoseconds: backend.connectTimeoutNanoseconds)
                    timerDeadline = MonotonicClock.nanoseconds() + backend.connectTimeoutNanoseconds
                }
                return
            } catch {
                closeBackendSocket()
                if !Self.isExhaustion(error) {
                    backend.serverStatistics[(firstServer + serversTried - 1) % backend.servers.count].failed("\(error)")
                }
                if Self.isExhaustion(error) {
                    // Out of fds or memory here, not a backend failure: every server would fail
                    // the same way. The client is closed; at accept the listener pauses on this.
                    exhaustionErrno = error.errno
                    // first_data connects after accept has returned: the listener learns of it here.
                    if context.connectsOnFirstData { context.exhaustion.report(errno: error.errno) }
                    context.logger.debug("relay \(context.listenerName): no backend socket: \(error)")
                    return fail()
                }
                backend.statistics.connectFailures.increment()
                context.logger.debug("relay \(context.listenerName): connect to \(address) failed: \(error)")
                if serversTried == backend.servers.count {
                    return allServersFailed(lastError: "\(address): \(error)")
                }
            }
        }
        allServersFailed(lastError: lastError ?? "no server")
    }

    /// The backend socket reported readiness while connecting: SO_ERROR says how it went.
    private func connectFinished(_ events: EpollEvents, worker: WorkerContext) {
        let error = Sockets.pendingError(backendFD)
        if error == 0 {
            // A success reports writable without error or hang-up; an event that says otherwise
            // while this socket has no error belongs to an earlier attempt's socket.
            guard events.contains(.writable) || events.contains(.readable),
                  events.isDisjoint(with: [.error, .hangup]) else { return }
            startRelaying()
            // The edge that told us of the connection may also have carried the server's first
            // bytes (a greeting); no new edge will come for them.
            if phase == .relaying && events.contains(.readable) {
                _ = readBackend(worker: worker, untilBlocked: events.contains(.readHangup))
            }
            return
        }
        context.backend.statistics.connectFailures.increment()
        let address = currentServerAddress
        closeBackendSocket()
        let reason = "\(address): connect: \(Errno.describe(error))"
        context.backend.serverStatistics[currentServerIndex].failed("connect: \(Errno.describe(error))")
        context.logger.debug("relay \(context.listenerName): \(reason)")
        connectNextServer(lastError: reason)
    }

    private func timerFired(worker: WorkerContext) {
        let expirations = TimerFD.acknowledge(timerFD)
        let armedFor = timerDeadline
        timerDeadline = .max  // it fired; nothing repeats
        if phase == .relaying || phase == .awaitingData {
            guardTimerFired(worker: worker)
            return
        }
        // An expiry read by an event of an earlier attempt's timer: this attempt's is still armed.
        guard expirations > 0 || MonotonicClock.nanoseconds() >= armedFor else {
            timerDeadline = armedFor
            return
        }
        context.backend.statistics.connectTimeouts.increment()
        let address = currentServerAddress
        closeBackendSocket()
        let timeout = Double(context.backend.connectTimeoutNanoseconds) / 1e9
        context.backend.serverStatistics[currentServerIndex].failed("connect timed out after \(timeout)s")
        connectNextServer(lastError: "\(address): connect timed out after \(timeout)s")
    }

    private var currentServerIndex: Int { (firstServer + serversTried - 1) % context.backend.servers.count }
    /// For messages: the address being connected to (what the server resolves to now).
    private var currentServerAddress: String {
        let server = context.backend.servers[currentServerIndex]
        return server.address?.description ?? server.description
    }

    /// Connected: the client socket joins the epoll, unless it is there already (first_data).
    private func startRelaying() {
        phase = .relaying
        connectedServer = Int32(currentServerIndex)
        context.backend.serverStatistics[currentServerIndex].connected()
        // From now on the timer serves SysGuard (idle, frame, rate window). A connect timer still
        // armed is left to fire early and be re-armed then (lazy): a short connection never pays
        // a timerfd_settime for its idle deadline.
        if !context.limits.needsTimer {
            // No idle or frame timeout and no rate window to wait for: the timer served the
            // connect only. Closing it saves a file and its kernel memory for the connection's life.
            FileDescriptors.close(timerFD)
            timerFD = -1
            timerDeadline = .max
        } else if let deadline = clientGuard.nextDeadline(readingPaused: false), deadline < timerDeadline {
            TimerFD.arm(timerFD, afterNanoseconds: max(1, deadline - MonotonicClock.nanoseconds()))
            timerDeadline = deadline
        }
        Sockets.setNoDelay(backendFD)
        guard !clientEdgesMissed else { return }  // first_data: already on the epoll
        do { try watchClient() } catch { fail() }
    }

    /// The client socket joins the epoll (what it sent meanwhile is reported at once).
    private func watchClient() throws(SystemError) {
        guard let registration else { return }
        try context.engine.add(fd: clientFD, source: Self.clientSource, of: registration,
                               interest: Self.socketInterest, triggering: .edge)
    }

    private func allServersFailed(lastError: String) {
        let backend = context.backend
        backend.statistics.exhausted.increment()
        context.statistics.backendUnavailable.increment()
        backend.failureLog.log(context.logger, level: .warning,
            "listener \(context.listenerName): backend \(backend.name): all \(backend.servers.count) servers failed; client closed; last error: \(lastError)")
        close(reason: .backendUnavailable)
    }

    private func closeBackendSocket() {
        if backendFD >= 0 { FileDescriptors.close(backendFD) }
        backendFD = -1
    }

    // MARK: SysGuard

    /// Arms the timer if SysGuard's next deadline comes before the one it is armed for; a later
    /// deadline is left to the timer firing early (lazy re-arm: no syscall per packet).
    private func scheduleTimer(now: Int64) {
        guard let deadline = clientGuard.nextDeadline(readingPaused: clientReadPaused || !clientGuard.held.isEmpty),
              deadline < timerDeadline else { return }
        TimerFD.arm(timerFD, afterNanoseconds: max(1, deadline - now))
        timerDeadline = deadline
    }

    /// The timer fired while relaying: resume held bytes whose window has ended, close on a
    /// timeout that really expired, and arm for the next deadline.
    private func guardTimerFired(worker: WorkerContext) {
        let now = MonotonicClock.nanoseconds()
        if let resumeAt = clientGuard.resumeAtNanoseconds, now >= resumeAt {
            guard releaseHeld(now: now, worker: worker) else { return }
        }
        let readingPaused = clientReadPaused || !clientGuard.held.isEmpty
        if case .close(let reason) = clientGuard.handle(.timerFired(readingPaused: readingPaused, frameStartedAt: nil),
                                                        settings: context.limits, now: now) {
            return closeByGuard(reason)
        }
        countDryRuns()
        scheduleTimer(now: now)
    }

    /// A new rate window: forward what the held bytes may pass now; when none are left, read
    /// the client again (its data may have waited in the kernel). False when the session closed.
    private func releaseHeld(now: Int64, worker: WorkerContext) -> Bool {
        switch clientGuard.handle(.heldWindowEnded, settings: context.limits, now: now) {
        case .close(let reason):
            closeByGuard(reason)
            return false
        case .proceed:
            break
        case .forward(let count):
            countDryRuns()
            guard send(UnsafeRawBufferPointer(rebasing: clientGuard.held.bytes[0..<count]), to: backendFD,
                       queue: &toBackend) else {
                fail()
                return false
            }
            clientGuard.consumeHeld(count)
            if count > 0 { clientGuard.touch(now: now) }
        }
        if clientGuard.held.isEmpty { clientGuard.readingResumed(now: now) }
        if clientGuard.held.isEmpty && !clientReadPaused && !clientReadFinished {
            if toBackend.count >= context.highWaterBytes {
                clientReadPaused = true
                clientGuard.readingPaused(now: now)
            } else {
                return readClient(worker: worker, untilBlocked: true)
            }
        }
        return true
    }

    /// Counts what dry-run limits would have closed.
    private func countDryRuns() {
        guard clientGuard.hasPendingDryRuns else { return }
        for reason in clientGuard.takeDryRuns().reasons { context.guardRuntime.counters.countWouldClose(reason) }
    }

    /// A limit closes the client (and its backend connection); counted by reason.
    private func closeByGuard(_ reason: SysGuard.CloseReason) {
        countDryRuns()
        context.guardRuntime.counters.countClose(reason)
        context.guardRuntime.closeLog.log(context.logger, level: .notice,
            "listener \(context.listenerName): closed a client: \(reason.rawValue)")
        close(reason: .guarded)
    }

    // MARK: stats socket (called from a stats client's thread, under this session's lock)

    func snapshot(now: Int64) -> SessionSnapshot? {
        lock.withLock {
            guard phase != .closed else { return nil }
            return SessionSnapshot(
                id: id, listener: context.listenerName, peer: admission.address, peerPort: admission.peerPort,
                ageNanoseconds: max(0, now - startedAtNanoseconds),
                idleNanoseconds: clientGuard.lastActivityNanoseconds.map { max(0, now - $0) },
                bytesIn: bytesFromClient, bytesOut: bytesToClient,
                bufferedBytes: toBackend.count + toClient.count + clientGuard.held.count,
                framesPerSecond: clientGuard.framesPerSecond(now: now))
        }
    }

    /// Whether this session holds a timerfd now.
    var holdsTimer: Bool { lock.withLock { phase != .closed && timerFD >= 0 } }

    /// `kick`: closes this connection now, counted as `kicked`. False if it had already closed.
    func kick() -> Bool {
        lock.withLock {
            guard phase != .closed else { return false }
            closeByGuard(.kicked)
            return true
        }
    }

    /// Whether the client's address is in `prefix` (the address never changes: no lock).
    func peerMatches(_ prefix: SysGuard.AddressPrefix) -> Bool { prefix.key.contains(admission.address) }

    // MARK: closing

    /// How the session ended, for the listener's counters (SysGuard's own reasons are counted apart).
    private enum Ending { case normal, error, backendUnavailable, guarded, shutdown }

    /// A socket failed or a peer reset: pass a reset on to the other side and close the pair.
    private func fail() {
        Sockets.setResetOnClose(clientFD)
        if backendFD >= 0 { Sockets.setResetOnClose(backendFD) }
        close(reason: .error)
    }

    private func close(reason: Ending) {
        phase = .closed
        if let registration { context.engine.unregister(registration) }
        registration = nil
        FileDescriptors.close(clientFD)
        closeBackendSocket()
        if timerFD >= 0 { FileDescriptors.close(timerFD) }
        timerFD = -1
        toBackend.release(to: context.pool)
        toClient.release(to: context.pool)
        clientGuard.releaseHeld()
        context.sessions.remove(id)
        context.guardRuntime.release(admission.address, holdsAddressSlot: admission.holdsAddressSlot)
        if connectedServer >= 0 { context.backend.serverStatistics[Int(connectedServer)].live.decrement() }
        let statistics = context.statistics
        statistics.active.decrement()
        statistics.bytesFromClients.add(bytesFromClient)
        statistics.bytesToClients.add(bytesToClient)
        switch reason {
        case .normal: statistics.closedNormally.increment()
        case .error: statistics.closedOnError.increment()
        case .backendUnavailable, .guarded, .shutdown: break
        }
    }
}
