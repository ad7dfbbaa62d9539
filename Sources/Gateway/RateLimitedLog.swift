import BulwarkSys
import Logging

/// Logs at most one line per interval for a recurring condition (fd exhaustion, a dead backend)
/// and says how many were held back, so a flood of failures cannot flood the journal.
final class RateLimitedLog: @unchecked Sendable {  // @unchecked: `state` is only touched while holding `lock`
    private struct State {
        var lastLineNanoseconds: Int64 = .min
        var suppressed = 0
    }

    private let lock = PthreadLock()
    private var state = State()
    private let intervalNanoseconds: Int64

    init(intervalNanoseconds: Int64 = 1_000_000_000) {
        self.intervalNanoseconds = intervalNanoseconds
    }

    func log(_ logger: Logger, level: Logger.Level, _ message: @autoclosure () -> String) {
        let now = MonotonicClock.nanoseconds()
        let suppressed: Int? = lock.withLock {
            guard state.lastLineNanoseconds == .min || now - state.lastLineNanoseconds >= intervalNanoseconds else {
                state.suppressed += 1
                return nil
            }
            let held = state.suppressed
            state.lastLineNanoseconds = now
            state.suppressed = 0
            return held
        }
        guard let suppressed else { return }
        let suffix = suppressed > 0 ? " (\(suppressed) similar messages suppressed)" : ""
        logger.log(level: level, "\(message())\(suffix)")
    }
}
