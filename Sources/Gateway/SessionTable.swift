import BulwarkSys
import Synchronization
import SysGuard

/// What `show conns` shows of one relayed connection.
public struct SessionSnapshot: Sendable {
    public let id: UInt64
    public let listener: String
    /// The client's address as the per-IP table keys it, and its port.
    public let peer: AddressKey
    public let peerPort: UInt16
    public let ageNanoseconds: Int64
    /// nil when the listener has no idle timeout (activity is not tracked then).
    public let idleNanoseconds: Int64?
    public let bytesIn: Int
    public let bytesOut: Int
    /// Bytes queued toward either side or held back by a rate limit.
    public let bufferedBytes: Int
    /// Frames received in about the last second; nil on a listener without framing.
    public let framesPerSecond: Int?
    /// A mux session's id as its backend knows it; nil for a TCP relay.
    public var session: UInt64? = nil
}

/// A client connection `show conns` and `kick` can reach: a TCP relay or a mux session.
protocol TrackedSession: AnyObject, Sendable {
    func snapshot(now: Int64) -> SessionSnapshot?
    /// Closes the connection, counted as kicked; false if it had already closed.
    func kick() -> Bool
    func peerMatches(_ prefix: SysGuard.AddressPrefix) -> Bool
    var holdsTimer: Bool { get }
}

/// Every relayed connection of the process by id, for `show conns` and `kick`. Touched once
/// when a connection opens and once when it closes, never per packet; a walk copies the
/// sessions out in chunks so the lock is never held for long.
public final class SessionTable: @unchecked Sendable {  // @unchecked: `sessions` is only touched while holding `lock`
    private let lock = PthreadLock()
    private var sessions: [UInt64: any TrackedSession] = [:]
    private let nextID = Atomic<UInt64>(1)

    public init() {}

    func add(_ session: any TrackedSession) -> UInt64 {
        let id = nextID.add(1, ordering: .relaxed).newValue - 1
        lock.withLock { sessions[id] = session }
        return id
    }

    func remove(_ id: UInt64) { lock.withLock { _ = sessions.removeValue(forKey: id) } }

    public var count: Int { lock.withLock { sessions.count } }

    /// Snapshots of every connection, taken a chunk of sessions at a time (each under its own
    /// lock, briefly), so a walk over many connections never stalls the ones it passes.
    public func snapshots(now: Int64 = MonotonicClock.nanoseconds()) -> [SessionSnapshot] {
        let ids = lock.withLock { Array(sessions.keys) }
        var result: [SessionSnapshot] = []
        result.reserveCapacity(ids.count)
        for chunk in stride(from: 0, to: ids.count, by: 256) {
            let members = lock.withLock { ids[chunk..<min(chunk + 256, ids.count)].compactMap { sessions[$0] } }
            for session in members {
                if let snapshot = session.snapshot(now: now) { result.append(snapshot) }
            }
        }
        return result
    }

    /// Open connections that hold a timerfd now (the others released it once connected, having
    /// no timeout or rate window to wait for). For tests and diagnostics: walks every session.
    public var sessionsHoldingTimers: Int {
        let members = lock.withLock { Array(sessions.values) }
        return members.reduce(0) { $0 + ($1.holdsTimer ? 1 : 0) }
    }

    /// Closes the connection with this id (counted as `kicked`); false if there is none.
    public func kick(_ id: UInt64) -> Bool {
        guard let session = lock.withLock({ sessions[id] }) else { return false }
        return session.kick()
    }

    /// Closes every connection whose address falls in `prefix`; returns how many.
    public func kick(matching prefix: SysGuard.AddressPrefix) -> Int {
        let members = lock.withLock { Array(sessions.values) }
        var kicked = 0
        for session in members where session.peerMatches(prefix) {
            if session.kick() { kicked += 1 }
        }
        return kicked
    }
}
