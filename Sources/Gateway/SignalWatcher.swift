import BulwarkSys
import Engine
import Synchronization

/// Delivers signals from a signalfd on the engine's epoll to a callback on a worker thread.
final class SignalWatcher: EventHandler, @unchecked Sendable {  // @unchecked: `registration` is written once in start(), before the fd is on the epoll
    private let signals: SignalFD
    private let engine: Engine
    private let onSignal: @Sendable (Int32) -> Void
    private var registration: Registration?
    private let closed = Atomic<Bool>(false)

    init(signals: SignalFD, engine: Engine, onSignal: @escaping @Sendable (Int32) -> Void) {
        self.signals = signals
        self.engine = engine
        self.onSignal = onSignal
    }

    func start() throws(SystemError) {
        let registration = engine.register(self)
        self.registration = registration
        try engine.add(fd: signals.fd, source: 0, of: registration, interest: .readable)
    }

    func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) {
        while let signal = signals.next() { onSignal(signal) }
        if let registration, !engine.isStopping {
            try? engine.rearm(fd: signals.fd, source: 0, of: registration, interest: .readable)
        }
    }

    func engineStopped() {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        if let registration { engine.unregister(registration) }
        signals.close()
    }
}
