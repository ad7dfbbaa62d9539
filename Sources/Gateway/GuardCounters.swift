import BulwarkSys
import SysGuard

/// SysGuard's verdicts counted by reason: connections refused at accept, connections closed by
/// a limit, and what dry-run limits would have done. These counts are what the stats socket
/// shows. Updated once per refused or closed connection, never per packet; each count is striped
/// per worker thread (the tables themselves never change after init, so no lock).
public final class GuardCounters: Sendable {
    private let refused = Dictionary(uniqueKeysWithValues: RefusalReason.allCases.map { ($0, StripedCounter()) })
    private let wouldRefuse = Dictionary(uniqueKeysWithValues: RefusalReason.allCases.map { ($0, StripedCounter()) })
    private let closed = Dictionary(uniqueKeysWithValues: CloseReason.allCases.map { ($0, StripedCounter()) })
    private let wouldClose = Dictionary(uniqueKeysWithValues: CloseReason.allCases.map { ($0, StripedCounter()) })

    public init() {}

    func countRefusal(_ reason: RefusalReason) { refused[reason]?.increment() }

    func countWouldRefuse(_ reasons: RefusalReasons) {
        guard !reasons.isEmpty else { return }
        for reason in reasons.reasons { wouldRefuse[reason]?.increment() }
    }

    func countClose(_ reason: CloseReason) { closed[reason]?.increment() }
    func countWouldClose(_ reason: CloseReason) { wouldClose[reason]?.increment() }

    public func refusals(_ reason: RefusalReason) -> Int { refused[reason]?.value ?? 0 }
    public func dryRunRefusals(_ reason: RefusalReason) -> Int { wouldRefuse[reason]?.value ?? 0 }
    public func closes(_ reason: CloseReason) -> Int { closed[reason]?.value ?? 0 }
    public func dryRunCloses(_ reason: CloseReason) -> Int { wouldClose[reason]?.value ?? 0 }
}
