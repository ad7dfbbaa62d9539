import BulwarkSys
import Synchronization

/// Counters of one listener. Each is striped per worker thread (summed when read), touched once
/// per connection (bytes are added when a connection closes), never per packet.
public final class ListenerStatistics: Sendable {
    public let accepted = StripedCounter()
    public let active = StripedCounter()
    /// Accepted, then closed at once by SysGuard (by reason in GuardCounters).
    public let refused = StripedCounter()
    /// accept4 failed for lack of fds or memory and accepting was paused.
    public let acceptPauses = StripedCounter()
    /// Connections closed because no backend server could be reached.
    public let backendUnavailable = StripedCounter()
    /// Connections closed because a peer reset or a socket error broke the pair.
    public let closedOnError = StripedCounter()
    public let closedNormally = StripedCounter()
    /// Bytes read from clients (relayed toward backends), added when a connection closes.
    public let bytesFromClients = StripedCounter()
    /// Bytes read from backends (relayed toward clients), added when a connection closes.
    public let bytesToClients = StripedCounter()

    public init() {}
}

/// Counters of one backend, striped per worker thread.
public final class BackendStatistics: Sendable {
    public let connectAttempts = StripedCounter()
    public let connectFailures = StripedCounter()
    public let connectTimeouts = StripedCounter()
    /// Client connections for which every server failed.
    public let exhausted = StripedCounter()

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
    public let live = StripedCounter()
    public let failures = StripedCounter()
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
