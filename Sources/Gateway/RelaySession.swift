import Buffers
import BulwarkSys
import Engine
import Glibc

/// One client connection of a `mode = "tcp"` listener and its own backend connection.
///
/// Three fds share one engine registration: the client socket (source 0), the backend socket
/// (source 1 or 3: the source alternates between connect attempts so an event left over from a
/// closed attempt's socket is recognised and ignored), and a timerfd (source 2) for the connect
/// timeout. Every event handler takes `lock`, so the pair's state has one writer at a time even
/// though its fds may fire on two threads; the thread holding it re-arms whichever fds need it.
///
/// Lifecycle: connecting --(backend writable, SO_ERROR 0)--> relaying --(both directions
/// finished, or an error)--> closed. A connect failure or timeout moves on to the next server;
/// when every server has failed the client is closed and the failure counted.
final class RelaySession: EventHandler, @unchecked Sendable {  // @unchecked: every var is read and written only while holding `lock`
    private enum Phase: UInt8 { case connecting, relaying, closed }

    private static let clientSource = 0
    private static let timerSource = 2

    private let lock = PthreadLock()
    private let context: RelayContext
    private let clientFD: Int32
    private var backendFD: Int32 = -1
    private var timerFD: Int32 = -1
    private var registration: Registration?
    private var phase = Phase.connecting
    private var backendSource = 1
    private var backendInEpoll = false
    private var serversTried = 0
    private var firstServer = 0
    /// Bytes read from the client, waiting for the backend's socket to take them.
    private var toBackend = ByteQueue()
    /// Bytes read from the backend, waiting for the client's socket.
    private var toClient = ByteQueue()
    private var clientReadFinished = false
    private var backendReadFinished = false
    private var backendWriteShut = false
    private var clientWriteShut = false
    private var clientArmed: EpollEvents = []
    private var backendArmed: EpollEvents = []
    private var bytesFromClient = 0
    private var bytesToClient = 0

    private init(clientFD: Int32, context: RelayContext) {
        self.clientFD = clientFD
        self.context = context
    }

    /// Takes ownership of an accepted client socket and starts connecting to the backend.
    /// Returns the error when the session could not get its own fds (the client is then closed;
    /// the listener pauses accepting on EMFILE/ENFILE as it does for accept4 itself).
    static func start(clientFD: Int32, context: RelayContext) -> SystemError? {
        let session = RelaySession(clientFD: clientFD, context: context)
        return session.lock.withLock { session.begin() }
    }

    private func begin() -> SystemError? {
        context.statistics.active.increment()
        do {
            timerFD = try TimerFD.create()
            let registration = context.engine.register(self)
            self.registration = registration
            try context.engine.add(fd: timerFD, source: Self.timerSource, of: registration, interest: .readable)
        } catch {
            close(reason: .error)
            return error
        }
        firstServer = context.backend.nextFirstServer()
        connectNextServer(lastError: nil)
        return nil
    }

    // MARK: events

    func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) {
        lock.withLock {
            guard phase != .closed else { return }
            switch source {
            case Self.timerSource:
                timerFired()
            case Self.clientSource:
                clientArmed = []
                clientEvent(events, worker: worker)
            default:
                guard source == backendSource else { return }  // left over from an earlier attempt
                backendArmed = []
                if phase == .connecting {
                    connectFinished()
                } else {
                    backendEvent(events, worker: worker)
                }
            }
            if phase == .relaying { finishIfDone() }
            if phase == .relaying { updateInterest() }
        }
    }

    func engineStopped() {
        lock.withLock {
            if phase != .closed { close(reason: .error) }
        }
    }

    private func clientEvent(_ events: EpollEvents, worker: WorkerContext) {
        if events.contains(.writable) || events.contains(.error) {
            guard flush(queue: &toClient, to: clientFD) else { return fail() }
            if toClient.isEmpty && backendReadFinished && !clientWriteShut {
                Sockets.shutdown(clientFD, .write)
                clientWriteShut = true
            }
        }
        if !clientReadFinished && toBackend.count < context.highWaterBytes {
            guard pump(from: clientFD, to: backendFD, queue: &toBackend, worker: worker, fromClient: true) else { return fail() }
        }
    }

    private func backendEvent(_ events: EpollEvents, worker: WorkerContext) {
        if events.contains(.writable) || events.contains(.error) {
            guard flush(queue: &toBackend, to: backendFD) else { return fail() }
            if toBackend.isEmpty && clientReadFinished && !backendWriteShut {
                Sockets.shutdown(backendFD, .write)
                backendWriteShut = true
            }
        }
        if !backendReadFinished && toClient.count < context.highWaterBytes {
            guard pump(from: backendFD, to: clientFD, queue: &toClient, worker: worker, fromClient: false) else { return fail() }
        }
    }

    // MARK: moving bytes

    /// Reads from `source` into the worker's scratch buffer and sends it straight on; what the
    /// target does not take is queued (behind anything already queued, keeping order). Returns
    /// false when either socket failed.
    private func pump(from source: Int32, to target: Int32, queue: inout ByteQueue,
                      worker: WorkerContext, fromClient: Bool) -> Bool {
        let scratch = worker.scratch
        // A few reads at most per event, so one busy connection cannot hold a thread.
        for _ in 0..<4 {
            let outcome: IOOutcome
            do { outcome = try Sockets.receive(source, into: scratch) } catch { return false }
            switch outcome {
            case .wouldBlock:
                return true
            case .endOfStream:
                if fromClient { clientReadFinished = true } else { backendReadFinished = true }
                if queue.isEmpty { shutdownWrite(target, fromClient: fromClient) }
                return true
            case .transferred(let count):
                if fromClient { bytesFromClient += count } else { bytesToClient += count }
                let bytes = UnsafeRawBufferPointer(rebasing: scratch[0..<count])
                guard send(bytes, to: target, queue: &queue) else { return false }
                // A short read means the socket was drained; the re-armed fd reports more.
                if count < scratch.count || queue.count >= context.highWaterBytes { return true }
            }
        }
        return true
    }

    /// Sends at once when nothing is queued; queues the rest.
    private func send(_ bytes: UnsafeRawBufferPointer, to target: Int32, queue: inout ByteQueue) -> Bool {
        var sent = 0
        if queue.isEmpty {
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
        while !queue.isEmpty {
            let region = queue.firstRegion()
            let outcome: IOOutcome
            do { outcome = try Sockets.send(target, from: region) } catch { return false }
            guard case .transferred(let count) = outcome else { return true }
            queue.consume(count, pool: context.pool)
            if count < region.count { return true }
        }
        return true
    }

    private func shutdownWrite(_ target: Int32, fromClient: Bool) {
        Sockets.shutdown(target, .write)
        if fromClient { backendWriteShut = true } else { clientWriteShut = true }
    }

    // MARK: interest

    /// Re-arms each fd whose wanted interest differs from what it is armed with. The fd whose
    /// event is being handled was disarmed by EPOLLONESHOT (its armed set was cleared on entry).
    private func updateInterest() {
        var clientWanted: EpollEvents = []
        if !clientReadFinished && toBackend.count < context.highWaterBytes { clientWanted.insert(.readable) }
        if !toClient.isEmpty { clientWanted.insert(.writable) }
        var backendWanted: EpollEvents = []
        if !backendReadFinished && toClient.count < context.highWaterBytes { backendWanted.insert(.readable) }
        if !toBackend.isEmpty { backendWanted.insert(.writable) }
        guard let registration else { return }
        do {
            if clientWanted != clientArmed && !clientWanted.isEmpty {
                try context.engine.rearm(fd: clientFD, source: Self.clientSource, of: registration, interest: clientWanted)
                clientArmed = clientWanted
            }
            if backendWanted != backendArmed && !backendWanted.isEmpty {
                try context.engine.rearm(fd: backendFD, source: backendSource, of: registration, interest: backendWanted)
                backendArmed = backendWanted
            }
        } catch {
            fail()
        }
    }

    /// Both directions have seen end of stream and everything was delivered: done.
    private func finishIfDone() {
        if clientReadFinished && backendReadFinished && toBackend.isEmpty && toClient.isEmpty {
            close(reason: .normal)
        }
    }

    // MARK: connecting

    private func connectNextServer(lastError: String?) {
        let backend = context.backend
        while serversTried < backend.servers.count {
            let address = backend.servers[(firstServer + serversTried) % backend.servers.count]
            serversTried += 1
            backendSource = serversTried % 2 == 1 ? 1 : 3
            backend.statistics.connectAttempts.increment()
            do {
                backendFD = try Sockets.socket(family: address.family)
                backendInEpoll = false
                switch try Sockets.connect(backendFD, to: address) {
                case .connected:
                    startRelaying()
                case .inProgress:
                    try context.engine.add(fd: backendFD, source: backendSource, of: registration!, interest: .writable)
                    backendInEpoll = true
                    backendArmed = .writable
                    TimerFD.arm(timerFD, afterNanoseconds: backend.connectTimeoutNanoseconds)
                }
                return
            } catch {
                backend.statistics.connectFailures.increment()
                closeBackendSocket()
                context.logger.debug("relay \(context.listenerName): connect to \(address) failed: \(error)")
                if serversTried == backend.servers.count {
                    return allServersFailed(lastError: "\(address): \(error)")
                }
            }
        }
        allServersFailed(lastError: lastError ?? "no server")
    }

    private func connectFinished() {
        let error = Sockets.pendingError(backendFD)
        if error == 0 {
            startRelaying()
            return
        }
        context.backend.statistics.connectFailures.increment()
        let address = currentServerAddress
        closeBackendSocket()
        let reason = "\(address): connect: \(Errno.describe(error))"
        context.logger.debug("relay \(context.listenerName): \(reason)")
        connectNextServer(lastError: reason)
    }

    private func timerFired() {
        TimerFD.acknowledge(timerFD)
        guard phase == .connecting else { return }  // a timer event that raced the connect
        context.backend.statistics.connectTimeouts.increment()
        let address = currentServerAddress
        closeBackendSocket()
        let timeout = Double(context.backend.connectTimeoutNanoseconds) / 1e9
        connectNextServer(lastError: "\(address): connect timed out after \(timeout)s")
    }

    private var currentServerAddress: SocketAddress {
        let servers = context.backend.servers
        return servers[(firstServer + serversTried - 1) % servers.count]
    }

    private func startRelaying() {
        phase = .relaying
        TimerFD.disarm(timerFD)
        Sockets.setNoDelay(backendFD)
        guard let registration else { return }
        do {
            try context.engine.add(fd: clientFD, source: Self.clientSource, of: registration, interest: .readable)
            clientArmed = .readable
            if backendInEpoll {
                try context.engine.rearm(fd: backendFD, source: backendSource, of: registration, interest: .readable)
            } else {
                try context.engine.add(fd: backendFD, source: backendSource, of: registration, interest: .readable)
                backendInEpoll = true
            }
            backendArmed = .readable
        } catch {
            fail()
        }
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
        backendInEpoll = false
        backendArmed = []
    }

    // MARK: closing

    private enum CloseReason { case normal, error, backendUnavailable }

    /// A socket failed or a peer reset: pass a reset on to the other side and close the pair.
    private func fail() {
        Sockets.setResetOnClose(clientFD)
        if backendFD >= 0 { Sockets.setResetOnClose(backendFD) }
        close(reason: .error)
    }

    private func close(reason: CloseReason) {
        phase = .closed
        if let registration { context.engine.unregister(registration) }
        registration = nil
        FileDescriptors.close(clientFD)
        closeBackendSocket()
        if timerFD >= 0 { FileDescriptors.close(timerFD) }
        timerFD = -1
        toBackend.release(to: context.pool)
        toClient.release(to: context.pool)
        let statistics = context.statistics
        statistics.active.decrement()
        statistics.bytesFromClients.add(bytesFromClient, ordering: .relaxed)
        statistics.bytesToClients.add(bytesToClient, ordering: .relaxed)
        switch reason {
        case .normal: statistics.closedNormally.increment()
        case .error: statistics.closedOnError.increment()
        case .backendUnavailable: break
        }
    }
}
