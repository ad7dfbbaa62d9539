import BulwarkSys
import Engine

/// Delivers signals from a signalfd on the engine's epoll to a callback on a worker thread.
final class SignalWatcher: EventHandler, @unchecked Sendable {  // @unchecked: `registration` is only touched while holding `lock`
    private let signals: SignalFD
    private let engine: Engine
    private let onSignal: @Sendable (Int32) -> Void
    private let lock = PthreadLock()
    private var registration: Registration?

    init(signals: SignalFD, engine: Engine, onSignal: @escaping @Sendable (Int32) -> Void) {
        self.signals = signals
        self.engine = engine
        self.onSignal = onSignal
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
                try? engine.rearm(fd: signals.fd, source: 0, of: registration, interest: .readable)
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
