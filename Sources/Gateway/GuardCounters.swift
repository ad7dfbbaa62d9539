import BulwarkSys
import SysGuard

/// SysGuard's verdicts counted by reason: connections refused at accept, connections closed by
/// a limit, and what dry-run limits would have done. These counts are what the stats socket
/// shows. Updated once per refused or closed connection, never per packet.
public final class GuardCounters: @unchecked Sendable {  // @unchecked: the tables are only touched while holding `lock`
    private let lock = PthreadLock()
    private var refused = Dictionary(uniqueKeysWithValues: RefusalReason.allCases.map { ($0, 0) })
    private var wouldRefuse = Dictionary(uniqueKeysWithValues: RefusalReason.allCases.map { ($0, 0) })
    private var closed = Dictionary(uniqueKeysWithValues: CloseReason.allCases.map { ($0, 0) })
    private var wouldClose = Dictionary(uniqueKeysWithValues: CloseReason.allCases.map { ($0, 0) })

    public init() {}

    func countRefusal(_ reason: RefusalReason) { lock.withLock { refused[reason, default: 0] += 1 } }

    func countWouldRefuse(_ reasons: RefusalReasons) {
        guard !reasons.isEmpty else { return }
        lock.withLock { for reason in reasons.reasons { wouldRefuse[reason, default: 0] += 1 } }
    }

    func countClose(_ reason: CloseReason) { lock.withLock { closed[reason, default: 0] += 1 } }
    func countWouldClose(_ reason: CloseReason) { lock.withLock { wouldClose[reason, default: 0] += 1 } }

    public func refusals(_ reason: RefusalReason) -> Int { lock.withLock { refused[reason] ?? 0 } }
    public func dryRunRefusals(_ reason: RefusalReason) -> Int { lock.withLock { wouldRefuse[reason] ?? 0 } }
    public func closes(_ reason: CloseReason) -> Int { lock.withLock { closed[reason] ?? 0 } }
    public func dryRunCloses(_ reason: CloseReason) -> Int { lock.withLock { wouldClose[reason] ?? 0 } }
}
