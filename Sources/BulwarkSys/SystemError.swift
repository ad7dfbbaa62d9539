import Glibc

/// The one error type for a failed libc call: which call, and errno. EINTR never reaches callers
/// (the wrappers retry it) and EAGAIN is returned as a value, not thrown.
public struct SystemError: Error, CustomStringConvertible, Equatable, Sendable {
    public let call: String
    public let errno: Int32

    public init(_ call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    /// Captures the calling thread's errno right after a failed call.
    @inline(__always)
    static func last(_ call: String) -> SystemError { SystemError(call, errno: Glibc.errno) }

    public var description: String { "\(call): \(Errno.describe(errno))" }

    /// Out of fds (EMFILE, ENFILE) or of kernel memory (ENOBUFS, ENOMEM): not a peer's fault,
    /// and anything else tried now would fail the same way.
    public var isResourceExhaustion: Bool { errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM }
}

/// The errno values callers tell apart, by name (so that no module but this one needs Glibc).
public enum Errno {
    public static let invalidArgument = EINVAL
    public static let fileTooBig = EFBIG
    public static let wouldBlock = EAGAIN
    public static let protocolError = EPROTO
    public static let notPermitted = EPERM
    public static let accessDenied = EACCES
    public static let noSuchFile = ENOENT
    public static let connectionRefused = ECONNREFUSED
    public static let connectionReset = ECONNRESET
    public static let connectionAborted = ECONNABORTED
    public static let brokenPipe = EPIPE
    public static let timedOut = ETIMEDOUT
    public static let tooManyOpenFiles = EMFILE

    public static func describe(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }
}

/// Retries a libc call while it fails with EINTR; returns the call's result (negative on failure,
/// errno left set).
@inline(__always)
func retryingInterrupts<R: BinaryInteger>(_ body: () -> R) -> R {
    while true {
        let result = body()
        if result < 0 && errno == EINTR { continue }
        return result
    }
}
