/// What to do when a connection's timer fires.
public enum DeadlineVerdict: Equatable, Sendable {
    /// The deadline has really passed: close.
    case expired
    /// Activity moved the deadline: arm the timer again for this long.
    case rearm(afterNanoseconds: Int64)
}

/// An idle timeout re-armed lazily: activity only records its time (no syscall per packet);
/// when the timer fires, the connection is closed only if it has really been idle that long,
/// otherwise the timer is armed again for the remainder. One timer syscall per idle period.
public struct IdleDeadline: Equatable, Sendable {
    public let timeoutNanoseconds: Int64
    public private(set) var lastActivityNanoseconds: Int64

    /// `now` is when the connection was accepted: the first period starts there.
    public init(timeoutNanoseconds: Int64, now: Int64) {
        self.timeoutNanoseconds = max(0, timeoutNanoseconds)
        lastActivityNanoseconds = now
    }

    public mutating func touch(now: Int64) {
        lastActivityNanoseconds = now
    }

    /// When the connection will be idle too long, unless touched before.
    public var deadlineNanoseconds: Int64 { lastActivityNanoseconds + timeoutNanoseconds }

    public func onTimerFired(now: Int64) -> DeadlineVerdict {
        Self.verdict(deadlineNanoseconds: deadlineNanoseconds, now: now)
    }

    static func verdict(deadlineNanoseconds: Int64, now: Int64) -> DeadlineVerdict {
        let remaining = deadlineNanoseconds - now
        return remaining <= 0 ? .expired : .rearm(afterNanoseconds: remaining)
    }
}
