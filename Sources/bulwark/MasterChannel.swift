import BulwarkSys
import Control
import Engine
import Gateway
import Logging

/// The worker's end of its channel to the master, on the engine: says "ready" once the engine
/// serves, "alive" and a status line every second (so the master's watchdog pings only while
/// this engine makes progress), passes on reload and upgrade requests, and records the
/// master's notes for `show info`. If the master goes away, the worker drains.
final class MasterChannel: EventHandler, @unchecked Sendable {  // @unchecked: `registration` and `timerFD` are only touched while holding `lock`
    private let fd: Int32
    private let runtime: GatewayRuntime
    private let logger: Logger
    private let lock = PthreadLock()
    private var registration: Registration?
    private var timerFD: Int32 = -1
    private weak var context: ControlContext?
    private static let channelSource = 0
    private static let timerSource = 1

    init(fd: Int32, runtime: GatewayRuntime, logger: Logger) {
        self.fd = fd
        self.runtime = runtime
        self.logger = logger
    }

    func attach(_ context: ControlContext) { lock.withLock { self.context = context } }

    /// Sends a message to the master; false if it is gone.
    @discardableResult
    func send(_ message: String) -> Bool { MessageChannel.send(fd, message) }

    func start() throws(SystemError) {
        try lock.withLock { () throws(SystemError) in
            timerFD = try TimerFD.create()
            TimerFD.arm(timerFD, afterNanoseconds: 1_000_000_000, repeatingEveryNanoseconds: 1_000_000_000)
            let registration = runtime.engine.register(self)
            self.registration = registration
            try runtime.engine.add(fd: fd, source: Self.channelSource, of: registration, interest: .readable)
            try runtime.engine.add(fd: timerFD, source: Self.timerSource, of: registration, interest: .readable)
        }
        // Runs once the engine's threads run, which is after the listeners are on the epoll.
        runtime.engine.schedule { [self] in send("ready") }
    }

    func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) {
        var masterGone = false
        lock.withLock {
            guard let registration else { return }
            if source == Self.timerSource {
                TimerFD.acknowledge(timerFD)
                send("alive")
                send("floor \(runtime.sessionCounter)")
                send("status \(runtime.guardRuntime.connections) connections, worker \(ProcessFacts.processID())\(runtime.isDraining ? ", draining" : "")")
                try? runtime.engine.rearm(fd: timerFD, source: Self.timerSource, of: registration, interest: .readable)
                return
            }
            let (messages, closed) = MessageChannel.receive(fd)
            for message in messages where message.hasPrefix("note ") {
                let body = message.dropFirst(5)
                guard let space = body.firstIndex(of: " ") else { continue }
                context?.note(String(body[..<space]), String(body[body.index(after: space)...]))
            }
            if closed {
                masterGone = true
                runtime.engine.unregister(registration)
                self.registration = nil
                FileDescriptors.close(timerFD)
            } else {
                try? runtime.engine.rearm(fd: fd, source: Self.channelSource, of: registration, interest: .readable)
            }
        }
        if masterGone && !runtime.isDraining {
            logger.error("worker: the master process is gone; draining")
            runtime.drain(timeout: runtime.config.server.drainTimeout)
        }
    }

    func engineStopped() {
        lock.withLock {
            guard let registration else { return }
            runtime.engine.unregister(registration)
            self.registration = nil
            FileDescriptors.close(timerFD)
        }
    }
}
