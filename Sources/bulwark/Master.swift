import BulwarkSys
import Config
import Gateway
import Logging
import Supervisor

/// The master process of `bulwark run`: the shell around the `Supervisor` state machine. It
/// turns signals, worker messages and child exits into events, performs the actions that come
/// back (MasterActions.swift), and feeds their answers in. It binds every listening socket,
/// holds the one validated config in force, and never relays a byte. One thread: poll(2) over
/// a signalfd and the workers' channels, waking at the supervisor's next deadline.
final class Master {
    var supervisor: Supervisor
    let store: ConfigStore
    /// The path an upgrade checks and executes: whatever binary is there then.
    let binaryPath: String
    let logger: Logger
    let signals: SignalFD
    var processes: [WorkerID: WorkerProcess] = [:]
    /// The running upgrade check, and the identity of the binary it checks: the exec refuses
    /// a file that changed since.
    var binaryCheckPID: Int32?
    var checkedBinary: Files.Identity?
    /// The highest mux session counter a worker reported: the next worker starts above it.
    var sessionFloor: UInt64 = 0
    /// What `show info` says, as sent to the workers ("applied at ...: ...").
    var noteTexts: [OutcomeTopic: String] = [:]
    /// Answers of performed actions, fed back to the supervisor in order.
    private var answers: [SupervisorEvent] = []
    private var exitCode: Int32?

    static let signalsHandled = [Signal.terminate, Signal.interrupt, Signal.hangup, Signal.userDefined2, Signal.child]

    /// A master starting afresh on `store`'s config; its first worker starts in run().
    init(store: ConfigStore, binaryPath: String, logger: Logger, timings: SupervisorTimings) throws(SystemError) {
        self.store = store
        self.binaryPath = binaryPath
        self.logger = logger
        signals = try SignalFD(signals: Self.signalsHandled)
        let (supervisor, actions) = Supervisor.start(config: store.inForce.supervised, version: VersionText.version,
                                                     timings: timings, now: Self.now())
        self.supervisor = supervisor
        perform(actions)
    }

    /// The image after an upgrade's exec (or the previous one, back after a failed new one).
    init(restoring state: MasterState, supervisor restored: Supervisor, store: ConfigStore, logger: Logger,
         fallbackReason: String?) throws(SystemError) {
        self.store = store
        binaryPath = state.binaryPath
        self.logger = logger
        sessionFloor = state.sessionFloor
        signals = try SignalFD(signals: Self.signalsHandled)
        for worker in state.workers {
            let id = WorkerID(worker.number)
            processes[id] = WorkerProcess(id: id, pid: worker.pid, channel: worker.channel)
        }
        noteTexts = state.notes
        let (supervisor, actions) = Supervisor.restore(restored, version: VersionText.version, fallbackReason: fallbackReason,
                                                       now: Self.now())
        self.supervisor = supervisor
        perform(actions)
    }

    static func now() -> Instant { Instant(nanoseconds: MonotonicClock.nanoseconds()) }

    /// Loops until the supervisor says exit; returns the exit status.
    func run() -> Int32 {
        logger.notice("master \(ProcessFacts.processID()) running (version \(VersionText.version))")
        while exitCode == nil {
            let channels = processes.values.map(\.channel).filter { $0 >= 0 }
            let readable = Poll.readable([signals.fd] + channels, timeoutMilliseconds: pollTimeoutMilliseconds())
            if readable.contains(signals.fd) { readSignals() }
            for process in processes.values where process.channel >= 0 && readable.contains(process.channel) { readMessages(process) }
            reapChildren()
            handle(.timer)
        }
        return exitCode ?? 0
    }

    /// Until the supervisor's next deadline, at most a second (nothing is lost by waking early).
    private func pollTimeoutMilliseconds() -> Int32 {
        guard let deadline = supervisor.nextDeadline else { return 1000 }
        let milliseconds = (deadline.nanoseconds - MonotonicClock.nanoseconds() + 999_999) / 1_000_000
        return Int32(min(max(milliseconds, 0), 1000))
    }

    /// One event, then every answer its actions produced.
    func handle(_ event: SupervisorEvent) {
        perform(supervisor.handle(event, now: Self.now()))
    }

    private func perform(_ actions: [SupervisorAction]) {
        var reexecAsked = false
        func run(_ actions: [SupervisorAction]) {
            for action in actions {
                // Last of all: nothing after an execve would be performed.
                if action == .reexec { reexecAsked = true; continue }
                if let code = perform(action) { exitCode = code }
            }
        }
        run(actions)
        while !answers.isEmpty {
            run(supervisor.handle(answers.removeFirst(), now: Self.now()))
        }
        if reexecAsked, case .upgrading? = supervisor.change, exitCode == nil {
            _ = perform(.reexec)
            while !answers.isEmpty { run(supervisor.handle(answers.removeFirst(), now: Self.now())) }
        }
    }

    /// An action's answer, handled once the current actions are performed.
    func answer(_ event: SupervisorEvent) { answers.append(event) }

    // MARK: event sources

    private func readSignals() {
        while let signal = signals.next() {
            switch signal {
            case Signal.hangup: handle(.reloadRequested)
            case Signal.userDefined2: handle(.upgradeRequested)
            case Signal.terminate: handle(.stopRequested)
            case Signal.interrupt: handle(.stopNowRequested)
            default: break  // Signal.child: children are reaped every turn
            }
        }
    }

    private func readMessages(_ process: WorkerProcess) {
        let (messages, closed) = MessageChannel.receive(process.channel)
        for message in messages {
            if let file = message.file { FileDescriptors.close(file) }  // workers send none
            if message.truncated { continue }  // workers send short messages only
            let (verb, rest) = Self.split(message.text)
            switch verb {
            case "ready":
                for (topic, text) in noteTexts { process.send("note \(topic.rawValue) \(text)") }
                handle(.workerReady(process.id, version: rest))
            case "serving": handle(.workerServing(process.id))
            case "alive": handle(.workerAlive(process.id))
            case "floor": sessionFloor = max(sessionFloor, UInt64(rest) ?? 0)
            case "status":
                if supervisor.worker(process.id)?.role.isServing == true { SystemdNotify.send("STATUS=\(rest)") }
            case "applied":
                if let number = UInt64(rest) { handle(.workerApplied(process.id, ConfigID(number))) }
            case "refused":
                let (number, reason) = Self.split(rest)
                if let number = UInt64(number) { handle(.workerRefused(process.id, ConfigID(number), reason: reason)) }
            case "request":
                logger.notice("master: \(rest) requested on the stats socket (worker \(process.pid))")
                if rest == "reload" { handle(.reloadRequested) } else if rest == "upgrade" { handle(.upgradeRequested) }
            default:
                logger.warning("master: unknown message from worker \(process.pid): \(message.text.prefix(200))")
            }
        }
        if closed { process.closeChannel() }
    }

    static func split(_ message: String) -> (String, String) {
        guard let space = message.firstIndex(of: " ") else { return (message, "") }
        return (String(message[..<space]), String(message[message.index(after: space)...]))
    }

    private func reapChildren() {
        for exit in Processes.reap() {
            if exit.pid == binaryCheckPID {
                binaryCheckPID = nil
                handle(.binaryChecked(exit.exitedCleanly ? .passed
                    : .failed(reason: "\(binaryPath): its upgrade check \(exit.description) (its errors are in the log above)")))
            } else if let process = processes.values.first(where: { $0.pid == exit.pid }) {
                if process.channel >= 0 { readMessages(process) }  // what it said just before it ended
                process.closeChannel()
                processes[process.id] = nil
                handle(.workerExited(process.id, status: exit.description))
            }
        }
    }
}
