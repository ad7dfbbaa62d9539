import BulwarkSys
import Synchronization

/// Counters of one listener. Hot-path updates are relaxed atomics touched once per connection
/// (bytes are added when a connection closes), never per packet.
public final class ListenerStatistics: Sendable {
    public let accepted = Atomic<Int>(0)
    public let active = Atomic<Int>(0)
    /// Accepted, then closed at once by SysGuard (by reason in GuardCounters).
    public let refused = Atomic<Int>(0)
    /// accept4 failed for lack of fds or memory and accepting was paused.
    public let acceptPauses = Atomic<Int>(0)
    /// Connections closed because no backend server could be reached.
    public let backendUnavailable = Atomic<Int>(0)
    /// Connections closed because a peer reset or a socket error broke the pair.
    public let closedOnError = Atomic<Int>(0)
    public let closedNormally = Atomic<Int>(0)
    /// Bytes read from clients (relayed toward backends), added when a connection closes.
    public let bytesFromClients = Atomic<Int>(0)
    /// Bytes read from backends (relayed toward clients), added when a connection closes.
    public let bytesToClients = Atomic<Int>(0)

    public init() {}
}

/// Counters of one backend.
public final class BackendStatistics: Sendable {
    public let connectAttempts = Atomic<Int>(0)
    public let connectFailures = Atomic<Int>(0)
    public let connectTimeouts = Atomic<Int>(0)
    /// Client connections for which every server failed.
    public let exhausted = Atomic<Int>(0)

    public init() {}
}

extension Atomic where Value == Int {
    @inline(__always) func increment() { add(1, ordering: .relaxed) }
    @inline(__always) func decrement() { subtract(1, ordering: .relaxed) }
    public var value: Int { load(ordering: .relaxed) }
}

/// Counters of one backend server, for `show backends`.
public final class ServerStatistics: @unchecked Sendable {  // @unchecked: `lastErrorText` is only touched while holding `lock`
    public enum State: String, Sendable { case unknown, up, down }

    /// Relayed connections open to this server now.
    public let live = Atomic<Int>(0)
    public let failures = Atomic<Int>(0)
    /// 0 unknown (never tried), 1 up (the last connect succeeded), 2 down (it failed).
    private let stateCode = Atomic<Int>(0)
    private let lock = PthreadLock()
    private var lastErrorText: String?

    public init() {}

    public var state: State { [.unknown, .up, .down][stateCode.load(ordering: .relaxed)] }
    public var lastError: String? { lock.withLock { lastErrorText } }

    func connected() {
        live.increment()
        stateCode.store(1, ordering: .relaxed)
    }

    func failed(_ reason: String) {
        failures.increment()
        stateCode.store(2, ordering: .relaxed)
        lock.withLock { lastErrorText = reason }
    }
}
