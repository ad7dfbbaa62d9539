// What happens to the master (events in) and what it does about it (actions out).

/// Something the master heard: a signal, a message or exit of a worker, the result of an action
/// it asked for, or the clock.
public enum SupervisorEvent: Equatable, Sendable {
    /// SIGHUP, or `reload` on an admin stats socket.
    case reloadRequested
    /// SIGUSR2, or `upgrade` on an admin stats socket.
    case upgradeRequested
    /// SIGTERM: stop accepting, let the workers drain, exit.
    case stopRequested
    /// SIGINT, or SIGTERM while already stopping: close everything now.
    case stopNowRequested
    /// The answer to `.readConfig`.
    case configRead(ConfigReadOutcome)
    /// The answer to `.checkBinary`.
    case binaryChecked(BinaryCheckOutcome)
    /// The answer to `.spawnWorker`: the process runs.
    case workerSpawned(WorkerID, pid: Int32)
    /// The answer to `.spawnWorker`: no process could be started.
    case workerSpawnFailed(WorkerID, reason: String)
    /// The worker's engine runs on its config (a standby worker accepts nothing yet).
    case workerReady(WorkerID, version: String)
    /// A promoted worker accepts.
    case workerServing(WorkerID)
    /// The worker took the config live (the answer to `.applyLive`).
    case workerApplied(WorkerID, ConfigID)
    /// The worker could not take the config live; it runs on as it was.
    case workerRefused(WorkerID, ConfigID, reason: String)
    /// The worker's engine made progress (once a second).
    case workerAlive(WorkerID)
    /// The worker process ended ("exited with status 1", "killed by signal 9 (SIGKILL)").
    case workerExited(WorkerID, status: String)
    /// `.reexec` came back: execve failed, this image goes on.
    case reexecFailed(reason: String)
    /// The clock moved (the shell calls at `nextDeadline`, or sooner).
    case timer
}

/// What reading the config file gave, compared by value with the config in force.
public enum ConfigReadOutcome: Equatable, Sendable {
    /// Unreadable, not a regular file, invalid, or a socket it needs cannot be bound. Every
    /// line of the reason is kept; the record shows the first ones.
    case invalid(reason: String)
    /// The file holds the config in force (layout and comments aside).
    case unchanged
    /// Only limits and timeouts differ: a running worker can take it.
    case live(SupervisedConfig)
    /// Listeners, backends, stats sockets or process settings differ (`changes` names them):
    /// it needs a new worker.
    case needsNewWorker(SupervisedConfig, changes: [String])
}

public enum BinaryCheckOutcome: Equatable, Sendable {
    /// The binary at the path ran its upgrade check and passed.
    case passed
    /// Not there, not executable, or its check failed or did not finish.
    case failed(reason: String)
}

/// Which image a worker is started from.
public enum WorkerBinary: String, Equatable, Sendable {
    /// The master's own image (/proc/self/exe): the version that runs.
    case running
    /// The file at the binary path: an upgrade's new version.
    case candidate
}

public enum WorkerSignal: String, Equatable, Sendable {
    /// SIGTERM: stop accepting, finish open connections until drain_timeout.
    case drain
    /// SIGINT: close everything now.
    case stopNow
    /// SIGKILL.
    case kill
}

/// What systemd is told (sd_notify).
public enum SystemdNotice: Equatable, Sendable {
    case ready(status: String)
    case reloading
    case stopping
    case watchdog
}

/// The outcomes `show info` reports.
public enum OutcomeTopic: String, Equatable, Sendable, CaseIterable {
    case lastReload = "last_reload"
    case lastUpgrade = "last_upgrade"
}

/// One outcome: a word (`applied`, `refused`, `failed`, `unchanged`, `upgraded`) and one line
/// of detail. The shell writes it as "WORD at TIMESTAMP: DETAIL".
public struct Outcome: Equatable, Sendable {
    public var word: String
    public var detail: String

    public init(_ word: String, _ detail: String) {
        self.word = word
        self.detail = detail
    }
}

public enum SupervisorLogLevel: String, Equatable, Sendable {
    case info, notice, warning, error
}

/// Something the master must do. The shell performs them in order; those that have an answer
/// (`readConfig`, `checkBinary`, `spawnWorker`, `reexec` when it fails) come back as events.
public enum SupervisorAction: Equatable, Sendable {
    /// Start a worker process on `config`; a standby worker gets ready but accepts nothing
    /// until promoted.
    case spawnWorker(WorkerID, binary: WorkerBinary, config: ConfigID, standby: Bool)
    /// Tell a standby worker to accept.
    case promoteWorker(WorkerID)
    /// Hand a running worker a config to take live.
    case applyLive(WorkerID, ConfigID)
    case signalWorker(WorkerID, WorkerSignal)
    /// Read the config file, validate it, compare it with the config in force and bind what
    /// it adds; answer with `.configRead`.
    case readConfig
    /// Start the upgrade check of the binary at the path; answer with `.binaryChecked`.
    case checkBinary
    /// Kill an upgrade check still running.
    case cancelBinaryCheck
    /// Replace this image with the binary at the path, handing on `snapshot` (every worker,
    /// socket and the config in force); answer with `.reexecFailed` if execve fails.
    case reexec
    /// `config` is in force from now on: the sockets only the previous one used are closed.
    case commitConfig(ConfigID)
    /// `config` is dropped: the sockets only it used are closed.
    case releaseConfig(ConfigID)
    /// Stopping: close the master's copies of every listening socket.
    case closeListeners
    case notify(SystemdNotice)
    /// What `show info` says about a reload or an upgrade, for every worker from now on.
    case record(OutcomeTopic, Outcome)
    case log(SupervisorLogLevel, String)
    case exit(code: Int32)
}
