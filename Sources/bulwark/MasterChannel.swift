import BulwarkSys
import Config
import Control
import Engine
import Gateway
import Logging
import Supervisor

/// The worker's end of its channel to the master, on the engine. It says `ready VERSION` once
/// the engine runs (a standby worker then waits for `serve`, and answers `serving`); `alive`, the
/// session floor and a status line every second (the master's watchdog pings only while this
/// engine makes progress); passes on reload and upgrade requests; takes a config to apply live
/// (`apply N` with the sealed file: `applied N`, or `refused N REASON`); and records the
/// master's notes for `show info`. If the master goes away, the worker drains.
final class MasterChannel: EventHandler, @unchecked Sendable {  // @unchecked: `registration`, `timerFD` and `context` are only touched while holding `lock`
    private let fd: Int32
    private let runtime: GatewayRuntime
    private let logger: Logger
    private let lock = PthreadLock()
    private var registration: Registration?
    private var timerFD: Int32 = -1
    private var context: ControlContext?
    /// What a standby worker does on `serve`: start accepting and answering its stats sockets.
    private let promote: @Sendable () throws(StartError) -> Void
    private static let channelSource = 0
    private static let timerSource = 1

    init(fd: Int32, runtime: GatewayRuntime, logger: Logger, promote: @escaping @Sendable () throws(StartError) -> Void) {
        self.fd = fd
        self.runtime = runtime
        self.logger = logger
        self.promote = promote
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
        runtime.engine.schedule { [self] in send("ready \(VersionText.version)") }
    }

    func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) {
        var masterGone = false
        var received: [MessageChannel.Message] = []
        lock.withLock {
            guard let registration else { return }
            if source == Self.timerSource {
                TimerFD.acknowledge(timerFD)
                send("alive")
                send("floor \(runtime.sessionCounter)")
                send("status \(runtime.guardRuntime.connections) connections, worker \(ProcessFacts.processID())\(runtime.isDraining ? ", draining" : "")")
                rearm(timerFD, Self.timerSource, registration)
                return
            }
            let closed: Bool
            (received, closed) = MessageChannel.receive(fd)
            if closed {
                masterGone = true
                runtime.engine.unregister(registration)
                self.registration = nil
                FileDescriptors.close(timerFD)
            } else {
                rearm(fd, Self.channelSource, registration)
            }
        }
        for message in received { take(message) }
        if masterGone && !runtime.isDraining {
            logger.error("worker: the master process is gone; draining")
            runtime.drain(timeout: runtime.config.server.drainTimeout)
        }
    }

    /// A failed re-arm would leave the channel deaf: the master would take the worker for hung.
    private func rearm(_ fd: Int32, _ source: Int, _ registration: Registration) {
        do {
            try runtime.engine.rearm(fd: fd, source: source, of: registration, interest: .readable)
        } catch {
            logger.error("worker: the channel to the master cannot be watched any more (\(error)); draining")
            runtime.drain(timeout: runtime.config.server.drainTimeout)
        }
    }

    private func take(_ message: MessageChannel.Message) {
        if message.truncated && !message.text.hasPrefix("apply ") {
            if let file = message.file { FileDescriptors.close(file) }
            return logger.warning("worker: a message from the master was cut short; dropped")
        }
        let (verb, rest) = Master.split(message.text)
        switch verb {
        case "note":
            let (topic, text) = Master.split(rest)
            lock.withLock { context }?.note(topic, text)
        case "serve":
            do {
                try promote()
                send("serving")
            } catch {
                logger.critical("worker cannot start accepting: \(error)")
                runtime.stop()
            }
        case "apply":
            guard let file = message.file else {
                // The master waits for an answer: say why there is nothing to apply.
                send("refused \(rest) the config did not arrive with the message (out of fds?)")
                return
            }
            defer { FileDescriptors.close(file) }
            apply(number: rest, file: file)
        default:
            if let file = message.file { FileDescriptors.close(file) }
            logger.warning("worker: unknown message from the master: \(message.text.prefix(200))")
        }
    }

    /// Applies a config handed over by the master live, and says whether it could.
    private func apply(number: String, file: Int32) {
        guard let context = lock.withLock({ context }) else { return }
        runtime.engine.letAnotherThreadPoll()  // parsing takes milliseconds
        do {
            let text = String(decoding: try SealedFile.read(file), as: UTF8.self)
            let config = try ConfigFile.parse(text, path: context.configPath)
            try runtime.applyLive(config)
            context.reloaded(configText: text)
            logger.notice("worker: config reloaded live")
            send("applied \(number)")
        } catch {
            logger.error("worker: live reload refused, limits unchanged: \(error)")
            send("refused \(number) \(OutcomeText.summary("\(error)"))")
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
