/// One worker process and where it stands.
public struct WorkerRecord: Equatable, Sendable {
    public let id: WorkerID
    /// Known once the shell has started it.
    public var pid: Int32?
    public let binary: WorkerBinary
    /// The config it was started on, or last took live.
    public var config: ConfigID
    public var role: WorkerRole
    public let startedAt: Instant
    /// When it began to accept (start-up and promotion aside): a worker that served long
    /// enough before dying starts the back-off over.
    public var servingSince: Instant?
    /// Its engine's last sign of progress.
    public var aliveAt: Instant
    /// The version it reported when ready.
    public var version: String?

    public init(id: WorkerID, pid: Int32? = nil, binary: WorkerBinary, config: ConfigID, role: WorkerRole, startedAt: Instant,
                servingSince: Instant? = nil, aliveAt: Instant? = nil, version: String? = nil) {
        self.id = id
        self.pid = pid
        self.binary = binary
        self.config = config
        self.role = role
        self.startedAt = startedAt
        self.servingSince = servingSince
        self.aliveAt = aliveAt ?? startedAt
        self.version = version
    }

    /// "worker 1234", or "worker w3" before its pid is known.
    var name: String { "worker \(pid.map(String.init) ?? id.description)" }
}

/// A worker's place in its life. Every role but `serving` has a deadline the supervisor keeps.
public enum WorkerRole: Equatable, Sendable {
    /// Spawned, not ready yet; killed if not ready by the deadline.
    case starting(deadline: Instant)
    /// Ready but accepting nothing: an upgrade's worker on probation until `probationEnds`;
    /// nil once it passed, while the master re-executes the new binary.
    case standby(probationEnds: Instant?)
    /// Told to accept; killed if it does not say it serves by the deadline.
    case promoting(deadline: Instant)
    /// Accepting and serving.
    case serving
    /// Told to stop accepting and finish its connections; SIGKILL once the deadline plus the
    /// grace has passed (`killed` then).
    case draining(deadline: Instant, killed: Bool)
    /// Given up by the master and sent SIGKILL: its exit is expected and means nothing more.
    case abandoned

    public var isServing: Bool { self == .serving }
    public var isPromoting: Bool { if case .promoting = self { return true } else { return false } }
    public var isDraining: Bool { if case .draining = self { return true } else { return false } }
}

/// The one change the master carries out at a time. A request that arrives meanwhile waits
/// (`SupervisorState.queued`), once per kind.
public enum Change: Equatable, Sendable {
    /// No worker serves: `worker` is starting on the config in force to serve again.
    case replacing(worker: WorkerID)
    /// A reload asked the shell to read the file (`.readConfig`), answered at once.
    case readingConfig
    /// The serving worker was handed `config` to take live; its answer is due by the deadline.
    case applyingLive(SupervisedConfig, worker: WorkerID, deadline: Instant)
    /// A new worker is starting on `config`; once ready it serves and the others drain.
    case reloading(SupervisedConfig, worker: WorkerID, changes: [String])
    /// The new binary's upgrade check runs until the deadline.
    case checkingBinary(deadline: Instant)
    /// A worker of the new binary is on its way: starting, standby (probation; then the master
    /// re-executes), promoting (after the re-exec, in the new image).
    case upgrading(worker: WorkerID)
}

/// A reload or an upgrade that arrived while another change ran.
public enum Request: String, Equatable, Sendable {
    case reload, upgrade
}

/// Whether the master runs, or is stopping.
public enum Lifecycle: Equatable, Sendable {
    case running
    /// SIGTERM: every worker drains until the deadline.
    case stopping(deadline: Instant)
    /// SIGINT (or a second SIGTERM): every worker was told to stop now.
    case stoppingNow(deadline: Instant)

    public var isRunning: Bool { self == .running }
}
