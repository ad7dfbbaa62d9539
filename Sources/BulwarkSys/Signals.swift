import CBulwarkShims
import Glibc

/// Signals delivered through a signalfd on the epoll instead of asynchronous handlers.
public struct SignalFD: Sendable {
    public let fd: Int32

    /// Blocks `signals` in the calling thread (threads started afterwards inherit the mask) and
    /// opens a signalfd that reports them.
    public init(signals: [Int32]) throws(SystemError) {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        if pthread_sigmask(SIG_BLOCK, &set, nil) != 0 { throw SystemError("pthread_sigmask", errno: errno) }
        let fd = signalfd(-1, &set, Int32(SFD_NONBLOCK | SFD_CLOEXEC))
        if fd < 0 { throw SystemError.last("signalfd") }
        self.fd = fd
    }

    /// Reads one pending signal number, or nil when none is pending.
    public func next() -> Int32? {
        var info = signalfd_siginfo()
        let count = Glibc.read(fd, &info, MemoryLayout<signalfd_siginfo>.size)
        return count == MemoryLayout<signalfd_siginfo>.size ? Int32(info.ssi_signo) : nil
    }

    public func close() { Glibc.close(fd) }

    /// Ignores SIGPIPE process-wide (sends use MSG_NOSIGNAL; this covers everything else).
    public static func ignoreBrokenPipe() {
        signal(SIGPIPE, SIG_IGN)
    }

    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT"
        case SIGHUP: return "SIGHUP"
        case SIGUSR2: return "SIGUSR2"
        case SIGUSR1: return "SIGUSR1"
        case SIGQUIT: return "SIGQUIT"
        default: return "signal \(signal)"
        }
    }
}

/// Signal numbers, for modules that do not import Glibc.
public enum Signal {
    public static let hangup = SIGHUP
    public static let interrupt = SIGINT
    public static let terminate = SIGTERM
    public static let kill = SIGKILL
    public static let userDefined2 = SIGUSR2
    public static let child = SIGCHLD
    public static let segmentationFault = SIGSEGV
    public static let userDefined1 = SIGUSR1
}
