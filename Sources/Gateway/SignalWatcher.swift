import BulwarkSys
import Engine
import Logging

/// Delivers signals from a signalfd on the engine's epoll to a callback on a worker thread.
final class SignalWatcher: EventHandler, @unchecked Sendable {  // @unchecked: `registration` is only touched while holding `lock`
    private let signals: SignalFD
    private let engine: Engine
    private let onSignal: @Sendable (Int32) -> Void
    private let logger: Logger
    private let lock = PthreadLock()
    private var registration: Registration?

    init(signals: SignalFD, engine: Engine, logger: Logger, onSignal: @escaping @Sendable (Int32) -> Void) {
        self.signals = signals
        self.engine = engine
        self.logger = logger
        self.onSignal = onSignal
    }

    private func rearmFailed(_ error: any Error) {
        logger.error("signals: the signalfd cannot be re-armed (\(error)); signals sent to this worker are not seen any more")
    }

    func start() throws(SystemError) {
        try lock.withLock { () throws(SystemError) in
            let registration = engine.register(self)
            self.registration = registration
            try engine.add(fd: signals.fd, source: 0, of: registration, interest: .readable)
        }
    }

    func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) {
        var received: [Int32] = []
        lock.withLock {
            guard let registration else { return }
            while let signal = signals.next() { received.append(signal) }
            if !engine.isStopping {
                do {
                    try engine.rearm(fd: signals.fd, source: 0, of: registration, interest: .readable)
                } catch {
                    // Deaf to signals from now on: the master's channel still reaches this worker.
                    rearmFailed(error)
                }
            }
        }
        // Outside the lock: stopping closes listeners and may call back into this watcher.
        for signal in received { onSignal(signal) }
    }

    func engineStopped() {
        lock.withLock {
            guard let registration else { return }
            engine.unregister(registration)
            self.registration = nil
            signals.close()
        }
    }
}
