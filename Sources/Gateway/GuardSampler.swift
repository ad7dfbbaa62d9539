import BulwarkSys
import Engine

/// Samples load and memory for SysGuard on a periodic timerfd on the engine's epoll.
final class GuardSampler: EventHandler, @unchecked Sendable {  // @unchecked: `registration` and `timerFD` are only touched while holding `lock`
    private let guardRuntime: GuardRuntime
    private let engine: Engine
    private let lock = PthreadLock()
    private var registration: Registration?
    private var timerFD: Int32 = -1

    init(guardRuntime: GuardRuntime, engine: Engine) {
        self.guardRuntime = guardRuntime
        self.engine = engine
    }

    /// Takes one sample now, then one every `sample_interval`.
    func start() throws(SystemError) {
        guardRuntime.sample()
        let interval = guardRuntime.config.sampleInterval.nanosecondCount
        try lock.withLock { () throws(SystemError) in
            timerFD = try TimerFD.create()
            TimerFD.arm(timerFD, afterNanoseconds: interval, repeatingEveryNanoseconds: interval)
            let registration = engine.register(self)
            self.registration = registration
            try engine.add(fd: timerFD, source: 0, of: registration, interest: .readable)
        }
    }

    func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) {
        lock.withLock {
            guard let registration else { return }
            TimerFD.acknowledge(timerFD)
            guardRuntime.sample()
            do {
                try engine.rearm(fd: timerFD, source: 0, of: registration, interest: .readable)
            } catch {
                guardRuntime.logger.error("guard: the sampling timer cannot be re-armed (\(error)); the sampled guards keep their last reading")
            }
        }
    }

    func engineStopped() {
        lock.withLock {
            guard let registration else { return }
            engine.unregister(registration)
            self.registration = nil
            FileDescriptors.close(timerFD)
        }
    }
}
