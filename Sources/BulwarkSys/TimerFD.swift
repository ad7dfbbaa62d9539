import CBulwarkShims
import Glibc

/// timerfd on CLOCK_MONOTONIC: a timer that is an fd, so it sits on the shared epoll.
public enum TimerFD {
    public static func create() throws(SystemError) -> Int32 {
        let fd = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_NONBLOCK | TFD_CLOEXEC))
        if fd < 0 { throw SystemError.last("timerfd_create") }
        return fd
    }

    /// timerfd_settime: fire after `nanoseconds` (0 disarms), then every `repeating` if non-zero.
    @inline(__always)
    public static func arm(_ fd: Int32, afterNanoseconds nanoseconds: Int64, repeatingEveryNanoseconds repeating: Int64 = 0) {
        var value = itimerspec()
        value.it_value.tv_sec = Int(nanoseconds / 1_000_000_000)
        value.it_value.tv_nsec = Int(nanoseconds % 1_000_000_000)
        value.it_interval.tv_sec = Int(repeating / 1_000_000_000)
        value.it_interval.tv_nsec = Int(repeating % 1_000_000_000)
        _ = timerfd_settime(fd, 0, &value, nil)
    }

    public static func disarm(_ fd: Int32) { arm(fd, afterNanoseconds: 0) }

    /// Reads the expiry count (resets readiness); 0 when it had not fired.
    @discardableResult
    public static func acknowledge(_ fd: Int32) -> UInt64 {
        var expirations: UInt64 = 0
        return Glibc.read(fd, &expirations, 8) == 8 ? expirations : 0
    }
}
