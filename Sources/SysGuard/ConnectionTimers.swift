/// What to do when a connection's single timer fires.
public enum TimerVerdict: Equatable, Sendable {
    case close(CloseReason)
    case rearm(afterNanoseconds: Int64)
    /// No timeout applies any more (no idle timeout and no frame in progress).
    case disarm
}

/// The idle timeout and the frame timeout (first to last byte of one frame, against slowloris)
/// sharing the one timerfd a connection has. The frame start comes from
/// `FrameScanner.frameStartedAtNanoseconds`; pass nil while reading is paused by the gateway.
///
/// Arm the timer for `nextDeadlineNanoseconds`; when a frame starts and that moves the deadline
/// earlier than the timer is armed for, arm it again (only then: later deadlines are handled
/// lazily when the timer fires).
public struct ConnectionTimers: Equatable, Sendable {
    public private(set) var idle: IdleDeadline?
    public let frameTimeoutNanoseconds: Int64?

    public init(idleTimeoutNanoseconds: Int64?, frameTimeoutNanoseconds: Int64?, now: Int64) {
        idle = idleTimeoutNanoseconds.map { IdleDeadline(timeoutNanoseconds: $0, now: now) }
        self.frameTimeoutNanoseconds = frameTimeoutNanoseconds.map { max(0, $0) }
    }

    public mutating func touch(now: Int64) {
        idle?.touch(now: now)
    }

    /// The earliest deadline, nil when none applies.
    public func nextDeadlineNanoseconds(frameStartedAtNanoseconds: Int64?) -> Int64? {
        let frameDeadline = frameDeadlineNanoseconds(frameStartedAtNanoseconds: frameStartedAtNanoseconds)
        switch (idle?.deadlineNanoseconds, frameDeadline) {
        case let (idle?, frame?): return min(idle, frame)
        case let (idle?, nil): return idle
        case let (nil, frame?): return frame
        case (nil, nil): return nil
        }
    }

    /// The frame timeout wins a tie: a half-sent frame is the more telling reason.
    public func onTimerFired(now: Int64, frameStartedAtNanoseconds: Int64?) -> TimerVerdict {
        if let frameDeadline = frameDeadlineNanoseconds(frameStartedAtNanoseconds: frameStartedAtNanoseconds),
           IdleDeadline.verdict(deadlineNanoseconds: frameDeadline, now: now) == .expired {
            return .close(.frameTimeout)
        }
        if let idle, idle.onTimerFired(now: now) == .expired {
            return .close(.idleTimeout)
        }
        guard let next = nextDeadlineNanoseconds(frameStartedAtNanoseconds: frameStartedAtNanoseconds) else {
            return .disarm
        }
        return .rearm(afterNanoseconds: next - now)
    }

    private func frameDeadlineNanoseconds(frameStartedAtNanoseconds: Int64?) -> Int64? {
        guard let frameTimeoutNanoseconds, let frameStartedAtNanoseconds else { return nil }
        return frameStartedAtNanoseconds + frameTimeoutNanoseconds
    }
}
