/// What the hard rate limit says about what just arrived.
public enum RateVerdict: Equatable, Sendable {
    case ok
    /// More units arrived in this window than the hard limit allows: close the connection.
    case overHard
}

/// A per-connection rate limit (frames or bytes per second) over fixed 1-second windows.
/// A window opens with the first use after the previous one ended.
///
/// Soft: at most `softPerSecond` units pass per window; the rest stay unprocessed and reading
/// pauses until `windowEndNanoseconds`. Hard: more than `hardPerSecond` units *arriving* in one
/// window closes the connection, whatever was let through.
///
/// 24 bytes: counts and limits are Int32 and saturate; a limit of Int32.max or more (or none)
/// never applies, so Int32.max stands for "no limit".
public struct RateLimiter: Sendable {
    public static let windowNanoseconds: Int64 = 1_000_000_000

    /// The end of the current window; `.min` before the first use.
    public private(set) var windowEndNanoseconds: Int64 = .min
    private var arrivedInWindow: Int32 = 0
    private var passedInWindow: Int32 = 0
    private let softPerSecond: Int32
    private let hardPerSecond: Int32

    /// Negative limits are taken as 0 (nothing may pass / anything closes); validate in Config.
    public init(softPerSecond: Int?, hardPerSecond: Int?) {
        self.softPerSecond = Self.clamped(softPerSecond)
        self.hardPerSecond = Self.clamped(hardPerSecond)
    }

    public var hasSoftLimit: Bool { softPerSecond != .max }
    public var hasHardLimit: Bool { hardPerSecond != .max }

    /// Units that may still pass in the current window; Int.max without a soft limit.
    public mutating func allowance(now: Int64) -> Int {
        openWindowIfEnded(now: now)
        guard hasSoftLimit else { return .max }
        return max(0, Int(softPerSecond) - Int(passedInWindow))
    }

    /// Counts units received (consumed or held back) and judges them against the hard limit.
    public mutating func recordArrived(_ count: Int, now: Int64) -> RateVerdict {
        openWindowIfEnded(now: now)
        arrivedInWindow = Self.saturatingAdd(arrivedInWindow, count)
        return arrivedInWindow > hardPerSecond ? .overHard : .ok
    }

    /// Counts units let through, against the soft limit.
    public mutating func recordPassed(_ count: Int, now: Int64) {
        openWindowIfEnded(now: now)
        passedInWindow = Self.saturatingAdd(passedInWindow, count)
    }

    /// Units that arrived in the current window, or in the last one if it ended under a window
    /// ago; 0 after a quiet window. What `show conns` reports as a rate, without a second counter.
    public func arrivedPerWindow(now: Int64) -> Int {
        now < windowEndNanoseconds + Self.windowNanoseconds ? Int(arrivedInWindow) : 0
    }

    private mutating func openWindowIfEnded(now: Int64) {
        guard now >= windowEndNanoseconds else { return }
        windowEndNanoseconds = now + Self.windowNanoseconds
        arrivedInWindow = 0
        passedInWindow = 0
    }

    private static func clamped(_ limit: Int?) -> Int32 {
        guard let limit else { return .max }
        return Int32(clamping: max(0, limit))
    }

    private static func saturatingAdd(_ value: Int32, _ count: Int) -> Int32 {
        Int32(clamping: Int(value) + min(max(0, count), Int(Int32.max)))
    }
}
