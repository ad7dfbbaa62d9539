import Testing
@testable import Supervisor

/// A supervisor on a mock clock, with the shell's answers given by hand.
struct Harness {
    var supervisor: Supervisor
    var clock = Instant(nanoseconds: 1_000_000_000)
    /// Every action so far, and those of the last step.
    var history: [SupervisorAction] = []
    var last: [SupervisorAction] = []
    private var nextConfig: UInt64 = 2
    private var nextPID: Int32 = 100

    static let timings = SupervisorTimings(watchdogInterval: nil)

    static func config(_ number: UInt64, drain: Duration = .seconds(30), start: Duration = .seconds(30),
                       probation: Duration = .seconds(3)) -> SupervisedConfig {
        SupervisedConfig(id: ConfigID(number), drainTimeout: drain, startTimeout: start, upgradeProbation: probation)
    }

    /// Started on config c1, its first worker not yet ready.
    init(config: SupervisedConfig = Harness.config(1), timings: SupervisorTimings = Harness.timings) {
        let (supervisor, actions) = Supervisor.start(config: config, version: "1.0", timings: timings, now: clock)
        self.supervisor = supervisor
        last = actions
        history = actions
        answerSpawns()
    }

    /// Started, with its first worker serving.
    static func serving(config: SupervisedConfig = Harness.config(1), timings: SupervisorTimings = Harness.timings) -> Harness {
        var harness = Harness(config: config, timings: timings)
        harness.send(.workerReady(harness.newestWorker, version: "1.0"))
        return harness
    }

    @discardableResult
    mutating func send(_ event: SupervisorEvent) -> [SupervisorAction] {
        last = supervisor.handle(event, now: clock)
        history += last
        answerSpawns()
        // The shell polls until this deadline: one in the past would make it spin.
        if let deadline = supervisor.nextDeadline { #expect(deadline > clock, "a deadline already passed after \(event)") }
        return last
    }

    /// Moves the clock and delivers a timer event.
    @discardableResult
    mutating func advance(_ duration: Duration) -> [SupervisorAction] {
        clock = clock + duration
        return send(.timer)
    }

    /// The shell starts every spawned worker at once (with a made-up pid).
    private mutating func answerSpawns() {
        for case .spawnWorker(let id, _, _, _) in last where supervisor.worker(id)?.pid == nil {
            nextPID += 1
            let spawned = supervisor.handle(.workerSpawned(id, pid: nextPID), now: clock)
            last += spawned
            history += spawned
        }
    }

    mutating func freshConfig(probation: Duration = .seconds(3), start: Duration = .seconds(30)) -> SupervisedConfig {
        defer { nextConfig += 1 }
        return Harness.config(nextConfig, start: start, probation: probation)
    }

    var newestWorker: WorkerID { supervisor.workers.map(\.id).max()! }
    var servingWorker: WorkerID? { supervisor.servingWorker?.id }
    func role(_ id: WorkerID) -> WorkerRole? { supervisor.worker(id)?.role }

    /// Workers spawned in the last step.
    var spawned: [(WorkerID, WorkerBinary, ConfigID, Bool)] {
        last.compactMap { if case .spawnWorker(let id, let binary, let config, let standby) = $0 { return (id, binary, config, standby) } else { return nil } }
    }

    func signals(_ signal: WorkerSignal, in actions: [SupervisorAction]? = nil) -> [WorkerID] {
        (actions ?? last).compactMap { if case .signalWorker(let id, signal) = $0 { return id } else { return nil } }
    }

    func record(_ topic: OutcomeTopic) -> Outcome? { supervisor.records[topic] }

    func contains(_ action: SupervisorAction, in actions: [SupervisorAction]? = nil) -> Bool { (actions ?? last).contains(action) }

    var notices: [SystemdNotice] {
        history.compactMap { if case .notify(let notice) = $0 { return notice } else { return nil } }
    }

    var logs: [String] { history.compactMap { if case .log(_, let text) = $0 { return text } else { return nil } } }

    /// Takes a reload that reads `outcome` from the file.
    mutating func reload(reading outcome: ConfigReadOutcome) {
        send(.reloadRequested)
        #expect(contains(.readConfig), "a reload reads the config")
        send(.configRead(outcome))
    }

    /// An upgrade up to its standby worker being ready; returns it.
    mutating func upgradeToStandby() -> WorkerID {
        send(.upgradeRequested)
        #expect(contains(.checkBinary))
        send(.binaryChecked(.passed))
        let worker = newestWorker
        #expect(supervisor.worker(worker)?.binary == .candidate)
        send(.workerReady(worker, version: "2.0"))
        return worker
    }

    /// What the new image would start from: the state encoded at the re-exec, decoded.
    func reexecuted(version: String = "2.0", fallback: String? = nil) throws -> Harness {
        var copy = self
        let decoded = try Supervisor(encoded: supervisor.encoded)
        let (restored, actions) = Supervisor.restore(decoded, version: version, fallbackReason: fallback, now: clock)
        copy.supervisor = restored
        copy.last = actions
        copy.history += actions
        return copy
    }
}
