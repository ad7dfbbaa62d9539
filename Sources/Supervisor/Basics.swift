// The values the supervisor's decisions are made of. Nothing here reads a clock or touches a
// process: the shell around the state machine (Sources/bulwark/Master*.swift) does that.

/// A point on the monotonic clock (CLOCK_MONOTONIC, which survives an exec), in nanoseconds.
public struct Instant: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.nanoseconds < rhs.nanoseconds }
    public static func + (lhs: Instant, rhs: Duration) -> Instant { Instant(nanoseconds: lhs.nanoseconds &+ rhs.nanoseconds) }
    public static func - (lhs: Instant, rhs: Instant) -> Duration { .nanoseconds(lhs.nanoseconds - rhs.nanoseconds) }
    public var description: String { "\(nanoseconds)ns" }
}

extension Duration {
    /// Whole nanoseconds (saturating; the durations here are at most days).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return scaled &+ attoseconds / 1_000_000_000
    }

    /// "0s", "1s", "1.5s", "250ms": how the log and `show info` write a delay.
    var shortText: String {
        let milliseconds = nanoseconds / 1_000_000
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        if milliseconds < 1000 { return "\(milliseconds)ms" }
        let tenths = milliseconds / 100
        return tenths % 10 == 0 ? "\(tenths / 10)s" : "\(tenths / 10).\(tenths % 10)s"
    }
}

/// One worker process as the supervisor knows it: numbered in start order, never reused. The
/// shell maps it to a pid and a message channel.
public struct WorkerID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let number: UInt64
    public init(_ number: UInt64) { self.number = number }
    public static func < (lhs: WorkerID, rhs: WorkerID) -> Bool { lhs.number < rhs.number }
    public var description: String { "w\(number)" }
}

/// The shell's handle on one validated config: its text, its parsed value and the listening
/// sockets bound for it. The supervisor only says which one is in force, tried, or dropped.
public struct ConfigID: Hashable, Sendable, CustomStringConvertible {
    public let number: UInt64
    public init(_ number: UInt64) { self.number = number }
    public var description: String { "c\(number)" }
}

/// A validated config as the supervisor sees it: the handle, and the durations of `[server]`
/// that its decisions use.
public struct SupervisedConfig: Equatable, Sendable {
    public var id: ConfigID
    /// How long a worker told to stop accepting may go on serving before it is killed.
    public var drainTimeout: Duration
    /// How long a new worker has to say it is ready (and, after an upgrade, that it serves).
    public var startTimeout: Duration
    /// How long an upgrade's worker must stay up, ready but not accepting, before it takes over.
    public var upgradeProbation: Duration

    public init(id: ConfigID, drainTimeout: Duration, startTimeout: Duration, upgradeProbation: Duration) {
        self.id = id
        self.drainTimeout = drainTimeout
        self.startTimeout = startTimeout
        self.upgradeProbation = upgradeProbation
    }
}

/// The fixed durations of the master's ladders (the config's are in `SupervisedConfig`).
public struct SupervisorTimings: Equatable, Sendable {
    /// Past a draining worker's deadline, this long before SIGKILL.
    public var killGrace: Duration
    /// The wait before the second start of a worker that keeps dying; it doubles after each
    /// further death, up to `maximumBackoff`. The first replacement starts at once.
    public var firstBackoff: Duration
    public var maximumBackoff: Duration
    /// A worker that served this long before dying starts the back-off over.
    public var stableAfter: Duration
    /// How long the new binary has to pass its upgrade check.
    public var binaryCheckTimeout: Duration
    /// How long a worker has to answer a config handed to it live.
    public var liveApplyTimeout: Duration
    /// Half of systemd's WatchdogSec (nil: no watchdog): how often WATCHDOG=1 is sent while a
    /// serving worker's engine reports progress.
    public var watchdogInterval: Duration?
    /// A worker whose last "alive" is older than this is not making progress (no WATCHDOG=1).
    public var aliveWithin: Duration

    public init(killGrace: Duration = .seconds(2), firstBackoff: Duration = .seconds(1), maximumBackoff: Duration = .seconds(30),
                stableAfter: Duration = .seconds(60), binaryCheckTimeout: Duration = .seconds(10),
                liveApplyTimeout: Duration = .seconds(10), watchdogInterval: Duration? = nil, aliveWithin: Duration = .seconds(3)) {
        self.liveApplyTimeout = liveApplyTimeout
        self.killGrace = killGrace
        self.firstBackoff = firstBackoff
        self.maximumBackoff = maximumBackoff
        self.stableAfter = stableAfter
        self.binaryCheckTimeout = binaryCheckTimeout
        self.watchdogInterval = watchdogInterval
        self.aliveWithin = aliveWithin
    }
}
