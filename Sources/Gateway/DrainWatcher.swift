import BulwarkSys
import Engine

/// While a worker drains: checks ten times a second whether any connection is left, and stops
/// the runtime when none is or when the drain deadline has passed.
final class DrainWatcher: EventHandler, @unchecked Sendable {  // @unchecked: `registration` and `timerFD` are only touched while holding `lock`
    static let checkIntervalNanoseconds: Int64 = 100_000_000
    private weak var runtime: GatewayRuntime?
    private let deadlineNanoseconds: Int64
    private let lock = PthreadLock()
    private var registration: Registration?
    private var timerFD: Int32 = -1
    private var engine: Engine?

    init(runtime: GatewayRuntime, deadlineNanoseconds: Int64) {
        self.runtime = runtime
        self.deadlineNanoseconds = deadlineNanoseconds
    }

    func start(engine: Engine) throws(SystemError) {
        try lock.withLock { () throws(SystemError) in
            self.engine = engine
            timerFD = try TimerFD.create()
            // The first check comes at once: a worker with no connections stops without waiting.
            TimerFD.arm(timerFD, afterNanoseconds: 1, repeatingEveryNanoseconds: Self.checkIntervalNanoseconds)
            let registration = engine.register(self)
            self.registration = registration
            try engine.add(fd: timerFD, source: 0, of: registration, interest: .readable)
        }
    }

    func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) {
        let verdict: Bool? = lock.withLock {
            guard let registration, let engine, let runtime else { return nil }
            TimerFD.acknowledge(timerFD)
            if runtime.sessions.count == 0 { return false }
            if MonotonicClock.nanoseconds() >= deadlineNanoseconds { return true }
            do {
                try engine.rearm(fd: timerFD, source: 0, of: registration, interest: .readable)
            } catch {
                runtime.logger.error("drain: the drain timer cannot be re-armed (\(error)); stopping now")
                return true
            }
            return nil
        }
        if let timedOut = verdict { runtime?.drainEnded(timedOut: timedOut) }
    }

    func engineStopped() {
        lock.withLock {
            guard let registration, let engine else { return }
            engine.unregister(registration)
            self.registration = nil
            FileDescriptors.close(timerFD)
        }
    }
}
