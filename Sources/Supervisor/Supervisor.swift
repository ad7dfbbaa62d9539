// The master process's decisions as a pure state machine: `handle(event, now:)` returns the
// actions to perform, `nextDeadline` says when the clock matters next. No I/O, no clock: the
// shell (Sources/bulwark/Master*.swift) reads signals, channels and child exits, performs the
// actions and feeds their answers back. Tested without processes (Tests/SupervisorTests).
//
// One change at a time; a reload or upgrade that arrives meanwhile is queued once per kind
// (bursts coalesce: the queued reload reads the file as it is when it runs).
//
// | situation                     | event                         | actions                                              |
// |-------------------------------|-------------------------------|------------------------------------------------------|
// | a worker serves, no change    | reload                        | RELOADING, read config                               |
// | reading config                | invalid                       | record refused, READY                                |
// | reading config                | unchanged                     | record unchanged, READY                              |
// | reading config                | live                          | hand it to the serving worker                        |
// | reading config                | needs a new worker            | spawn a worker on it                                 |
// | applying live                 | applied / refused             | commit / release, record, READY                      |
// | reloading                     | its worker ready              | it serves, the others drain, commit, record, READY   |
// | reloading                     | its worker exits or times out | release, record failed, READY                        |
// | a worker serves, no change    | upgrade                       | RELOADING, check the new binary                      |
// | checking binary               | failed, or 10 s               | record refused, READY                                |
// | checking binary               | passed                        | spawn a standby worker from the new binary           |
// | upgrading, worker starting    | ready                         | standby until upgrade_probation has passed           |
// | upgrading, standby            | probation passed              | re-exec the master from the new binary               |
// | new image                     | restored                      | promote the standby worker                           |
// | previous image                | fell back                     | kill the standby worker, record failed, READY        |
// | upgrading, promoting          | serving                       | the others drain, record upgraded, READY             |
// | upgrading                     | exit, timeout, execve failed  | record failed, READY                                 |
// | the serving worker exits      | (none other serves)           | the change is abandoned and queued again; a worker   |
// |                               |                               | on the config in force starts at once, or after      |
// |                               |                               | 1, 2, 4 … 30 s when workers keep dying               |
// | respawn waiting (back-off)    | reload                        | the new config's worker replaces the respawn         |
// | replacing                     | ready / exit or timeout       | it serves, READY / the back-off goes on              |
// | draining                      | deadline + kill grace         | SIGKILL                                              |
// | running                       | SIGTERM                       | STOPPING, close listeners, abandon, all drain        |
// | stopping                      | SIGTERM, SIGINT               | SIGINT to all, SIGKILL after the grace               |
// | stopping                      | the last worker exits         | exit 0                                               |

/// The master's state and its transitions.
public struct Supervisor: Equatable, Sendable {
    /// The one validated config the workers run on (a respawn uses it, whatever is on disk).
    public internal(set) var configInForce: SupervisedConfig
    /// Every worker process not yet reaped, in start order.
    public internal(set) var workers: [WorkerRecord] = []
    public internal(set) var lifecycle: Lifecycle = .running
    public internal(set) var change: Change?
    /// Requests that arrived during a change, oldest first, at most one of each kind.
    public internal(set) var queued: [Request] = []
    /// When the next replacement worker starts (back-off after repeated deaths).
    public internal(set) var respawnAt: Instant?
    /// Deaths in a row of workers that served less than `stableAfter`, or never got ready.
    public internal(set) var crashStreak = 0
    /// What `show info` reports.
    public internal(set) var records: [OutcomeTopic: Outcome] = [:]
    /// The version of this image.
    public internal(set) var runningVersion: String
    /// Set by a restore after an upgrade's re-exec: the version before it.
    public internal(set) var upgradedFrom: String?
    public internal(set) var timings: SupervisorTimings
    var nextWorkerNumber: UInt64 = 1
    var lastWatchdog: Instant?
    /// The latest time seen.
    public internal(set) var now: Instant
    /// Filled while an event is handled.
    var actions: [SupervisorAction] = []

    init(configInForce: SupervisedConfig, runningVersion: String, timings: SupervisorTimings, now: Instant) {
        self.configInForce = configInForce
        self.runningVersion = runningVersion
        self.timings = timings
        self.now = now
    }

    /// A master starting afresh: the first worker starts on `config`.
    public static func start(config: SupervisedConfig, version: String, timings: SupervisorTimings,
                             now: Instant) -> (Supervisor, [SupervisorAction]) {
        var supervisor = Supervisor(configInForce: config, runningVersion: version, timings: timings, now: now)
        supervisor.startReplacement()
        let actions = supervisor.takeActions()
        return (supervisor, actions)
    }

    /// Handles one event at `now` (earlier times than already seen count as the latest).
    public mutating func handle(_ event: SupervisorEvent, now: Instant) -> [SupervisorAction] {
        self.now = max(self.now, now)
        switch event {
        case .reloadRequested: request(.reload)
        case .upgradeRequested: request(.upgrade)
        case .stopRequested: stopGracefully()
        case .stopNowRequested: stopNow()
        case .configRead(let outcome): configRead(outcome)
        case .binaryChecked(let outcome): binaryChecked(outcome)
        case .workerSpawned(let id, let pid): update(id) { $0.pid = pid }
        case .workerSpawnFailed(let id, let reason): workerEnded(id, how: "could not be started (\(reason))")
        case .workerReady(let id, let version): workerReady(id, version: version)
        case .workerServing(let id): workerServing(id)
        case .workerApplied(let id, let config): workerApplied(id, config)
        case .workerRefused(let id, let config, let reason): workerRefused(id, config, reason: reason)
        case .workerAlive(let id): update(id) { [now = self.now] in $0.aliveAt = now }
        case .workerExited(let id, let status): workerEnded(id, how: status)
        case .reexecFailed(let reason): reexecFailed(reason)
        case .timer: break
        }
        checkDeadlines()
        pingWatchdog()
        return takeActions()
    }

    /// The earliest time at which `.timer` has something to do; nil: only events matter.
    public var nextDeadline: Instant? {
        var deadlines: [Instant] = []
        for worker in workers {
            switch worker.role {
            case .starting(let deadline), .promoting(let deadline): deadlines.append(deadline)
            case .standby(let ends?): deadlines.append(ends)
            case .draining(let deadline, killed: false): deadlines.append(deadline + timings.killGrace)
            case .standby(nil), .serving, .draining, .abandoned: break
            }
        }
        if case .checkingBinary(let deadline)? = change { deadlines.append(deadline) }
        if case .applyingLive(_, _, let deadline)? = change { deadlines.append(deadline) }
        if let respawnAt { deadlines.append(respawnAt) }
        // Only while a ping could be sent: a deadline left in the past would make the shell spin.
        if let interval = timings.watchdogInterval, hasProgressingServingWorker {
            deadlines.append(lastWatchdog.map { $0 + interval } ?? now)
        }
        return deadlines.min()
    }

    public func worker(_ id: WorkerID) -> WorkerRecord? { workers.first { $0.id == id } }

    /// The worker that accepts now, if any (two only for the moment a new one takes over).
    public var servingWorker: WorkerRecord? { workers.last { $0.role.isServing } }

    var hasServingWorker: Bool { workers.contains { $0.role.isServing } }

    // MARK: helpers for the transitions

    mutating func takeActions() -> [SupervisorAction] {
        defer { actions = [] }
        return actions
    }

    mutating func update(_ id: WorkerID, _ body: (inout WorkerRecord) -> Void) {
        guard let index = workers.firstIndex(where: { $0.id == id }) else { return }
        body(&workers[index])
    }

    mutating func log(_ level: SupervisorLogLevel, _ text: String) { actions.append(.log(level, "master: \(text)")) }

    mutating func record(_ topic: OutcomeTopic, _ word: String, _ detail: String) {
        let outcome = Outcome(word, OutcomeText.oneLine(detail))
        records[topic] = outcome
        actions.append(.record(topic, outcome))
    }

    mutating func notify(_ notice: SystemdNotice) { actions.append(.notify(notice)) }

    /// The end of a change that told systemd RELOADING.
    mutating func notifyReady() { notify(.ready(status: servingWorker.map { "serving (\($0.name))" } ?? "no worker serving")) }

    /// A new worker process; its deadline to be ready is `config`'s start_timeout.
    mutating func spawn(_ binary: WorkerBinary, config: SupervisedConfig, standby: Bool) -> WorkerID {
        let id = WorkerID(nextWorkerNumber)
        nextWorkerNumber += 1
        workers.append(WorkerRecord(id: id, binary: binary, config: config.id,
                                    role: .starting(deadline: now + config.startTimeout), startedAt: now))
        actions.append(.spawnWorker(id, binary: binary, config: config.id, standby: standby))
        return id
    }

    /// Gives a worker up: SIGKILL, and its exit is expected.
    mutating func abandon(_ id: WorkerID) {
        guard let worker = worker(id), worker.role != .abandoned, !worker.role.isDraining else { return }
        update(id) { $0.role = .abandoned }
        actions.append(.signalWorker(id, .kill))
    }

    /// Tells every serving worker but `kept` to stop accepting and finish within the drain timeout.
    mutating func drainServing(except kept: WorkerID) {
        let deadline = now + configInForce.drainTimeout
        for worker in workers where worker.id != kept && worker.role.isServing {
            update(worker.id) { $0.role = .draining(deadline: deadline, killed: false) }
            actions.append(.signalWorker(worker.id, .drain))
            log(.notice, "\(worker.name) draining (up to \(configInForce.drainTimeout.shortText))")
        }
    }

    mutating func commit(_ config: SupervisedConfig) {
        configInForce = config
        actions.append(.commitConfig(config.id))
    }

    mutating func becomeServing(_ id: WorkerID) {
        update(id) { [now] worker in
            worker.role = .serving
            worker.servingSince = now
        }
    }

    private mutating func pingWatchdog() {
        guard let interval = timings.watchdogInterval, lastWatchdog.map({ now - $0 >= interval }) ?? true else { return }
        // Only while a serving worker's engine makes progress: a hung engine lets systemd act.
        guard hasProgressingServingWorker else { return }
        lastWatchdog = now
        notify(.watchdog)
    }

    /// A serving worker whose engine reported progress lately.
    var hasProgressingServingWorker: Bool {
        workers.contains { $0.role.isServing && now - $0.aliveAt < timings.aliveWithin }
    }
}
