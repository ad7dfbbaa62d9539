import CBulwarkShims
import Glibc

/// Starting, replacing, signalling and reaping processes: what the master process needs.
public enum Processes {
    /// posix_spawn of `path` with `arguments` (argv[1...]) and `environment` ("NAME=value").
    /// `keepFDs` stay open in the child (everything else the master opens is close-on-exec);
    /// the child starts with no signals blocked and default dispositions.
    /// `argv0`: the name the child shows in ps (default `path`).
    public static func spawn(path: String, argv0: String? = nil, arguments: [String], environment: [String],
                             keepFDs: [Int32]) throws(SystemError) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 onto itself clears FD_CLOEXEC in the child only (glibc 2.29 and later).
        for fd in keepFDs { posix_spawn_file_actions_adddup2(&actions, fd, fd) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGUSR2, SIGCHLD, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let status = withCStrings([argv0 ?? path] + arguments) { argv in
            withCStrings(environment) { envp in posix_spawn(&pid, path, &actions, &attributes, argv, envp) }
        }
        if status != 0 { throw SystemError("posix_spawn(\(path))", errno: status) }
        return pid
    }

    /// execve: replaces this process (same pid). Returns only on failure, with the error.
    public static func exec(path: String, arguments: [String], environment: [String]) -> SystemError {
        _ = withCStrings([path] + arguments) { argv in
            withCStrings(environment) { envp in execve(path, argv, envp) }
        }
        return SystemError.last("execve(\(path))")
    }

    /// A child that ended: its pid and how.
    public struct Exit: Sendable, Equatable {
        public let pid: Int32
        public let status: Int32

        public init(pid: Int32, status: Int32) {
            self.pid = pid
            self.status = status
        }

        /// "exited with status 1", "killed by signal 11 (SIGSEGV)".
        public var description: String {
            if status & 0x7f == 0 { return "exited with status \((status >> 8) & 0xff)" }
            let signal = status & 0x7f
            return "killed by signal \(signal)\(signal == SIGSEGV ? " (SIGSEGV)" : signal == SIGKILL ? " (SIGKILL)" : signal == SIGABRT ? " (SIGABRT)" : "")"
        }

        public var exitedCleanly: Bool { status == 0 }
    }

    /// Every child that has ended, without waiting.
    public static func reap() -> [Exit] {
        var exits: [Exit] = []
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            guard pid > 0 else { return exits }
            exits.append(Exit(pid: pid, status: status))
        }
    }

    public static func signal(_ pid: Int32, _ signal: Int32) { _ = kill(pid, signal) }

    /// An fd of this process's own executable (/proc/self/exe), close-on-exec: it stays valid
    /// when the file at the path is replaced or removed.
    public static func openOwnExecutable() throws(SystemError) -> Int32 {
        let fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw SystemError.last("open(/proc/self/exe)") }
        return fd
    }

    /// exit(3): atexit handlers run.
    public static func exit(_ code: Int32) -> Never { Glibc.exit(code) }

    /// Sleeps the calling thread (never on an engine thread).
    public static func sleep(milliseconds: Int) {
        var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }

    /// waitpid for one child, without waiting when `block` is false. Nil while it runs.
    public static func wait(_ pid: Int32, block: Bool) -> Exit? {
        var status: Int32 = 0
        let result = retryingInterrupts { waitpid(pid, &status, block ? 0 : WNOHANG) }
        return result == pid ? Exit(pid: pid, status: status) : nil
    }

    /// Whether `pid` exists (and may be signalled by us).
    public static func isAlive(_ pid: Int32) -> Bool { kill(pid, 0) == 0 }

    public static func parentID() -> Int32 { getppid() }

    /// The path this process was started from (/proc/self/exe), as it was when asked.
    public static func executablePath() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// An environment variable, or nil.
    public static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }

    /// The whole environment as "NAME=value" strings.
    public static func environment() -> [String] {
        var result: [String] = []
        var cursor = environ
        while let entry = cursor.pointee {
            result.append(String(cString: entry))
            cursor += 1
        }
        return result
    }

    static func withCStrings<Result>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> Result) -> Result {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// A connected pair of SOCK_SEQPACKET Unix sockets (message boundaries kept): the channel
/// between the master and one worker. Both ends are non-blocking and close-on-exec.
public enum MessageChannel {
    public static func pair() throws(SystemError) -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        let type = Int32(SOCK_SEQPACKET.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)
        if socketpair(AF_UNIX, type, 0, &fds) != 0 { throw SystemError.last("socketpair") }
        return (fds[0], fds[1])
    }

    /// The longest message either side sends (a record is at most 2 KiB; a config goes as a file).
    public static let maximumMessageBytes = 16 * 1024

    /// One message: its text, and the file that came with it (the receiver owns it).
    /// `truncated`: the text or the file did not fit (the file is then not there; a receiver
    /// out of fds gets the text without it).
    public struct Message: Sendable {
        public let text: String
        public let file: Int32?
        public let truncated: Bool
    }

    /// Sends one message, with `file` attached if given; false if the peer is gone, its queue
    /// is full or the text is longer than `maximumMessageBytes`.
    @discardableResult
    public static func send(_ fd: Int32, _ text: String, file: Int32? = nil) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count <= maximumMessageBytes else { return false }
        return bytes.withUnsafeBytes { bulwark_send_with_fd(fd, $0.baseAddress, $0.count, file ?? -1) } >= 0
    }

    /// The messages waiting, and whether the peer has closed; a message cut short comes marked.
    public static func receive(_ fd: Int32) -> (messages: [Message], closed: Bool) {
        var messages: [Message] = []
        var buffer = [UInt8](repeating: 0, count: maximumMessageBytes)
        while true {
            var file: Int32 = -1
            var truncated: Int32 = 0
            let count = buffer.withUnsafeMutableBytes { bulwark_receive_with_fd(fd, $0.baseAddress, $0.count, &file, &truncated) }
            if count > 0 {
                messages.append(Message(text: String(decoding: buffer[..<count], as: UTF8.self), file: file >= 0 ? file : nil,
                                        truncated: truncated != 0))
                continue
            }
            if count == 0 { return (messages, true) }
            return (messages, errno != EAGAIN)
        }
    }
}

/// The master's way back to its previous image after an upgrade's exec (see CBulwarkShims.h):
/// armed while the new image restores its state.
public enum MasterFallback {
    /// The variable the previous image finds its reason in.
    public static let reasonVariable = "BULWARK_MASTER_FALLBACK"

    /// From now until `disarm`, a crash, `seconds` without progress, or an exit executes
    /// `executableFD` again with `arguments` (argv[0] first) and `environment`.
    public static func arm(executableFD: Int32, arguments: [String], environment: [String], seconds: UInt32) throws(SystemError) {
        let status = Processes.withCStrings(arguments) { argv in
            Processes.withCStrings(environment) { envp in
                bulwark_fallback_arm(executableFD, UnsafeMutablePointer(mutating: argv), UnsafeMutablePointer(mutating: envp), seconds)
            }
        }
        if status != 0 { throw SystemError.last("arming the master's fallback") }
    }

    public static func disarm() { bulwark_fallback_disarm() }

    /// Executes the previous image at once; returns only on failure.
    public static func now(reason: String) -> SystemError {
        _ = bulwark_fallback_now(reason)
        return SystemError.last("fexecve of the previous binary")
    }
}

/// poll(2) for readability, for the master's single-threaded loop.
public enum Poll {
    /// The fds of `fds` that can be written within `timeoutMilliseconds`.
    public static func writable(_ fds: [Int32], timeoutMilliseconds: Int32) -> [Int32] {
        var entries = fds.map { pollfd(fd: $0, events: Int16(POLLOUT), revents: 0) }
        let count = Glibc.poll(&entries, nfds_t(entries.count), timeoutMilliseconds)
        guard count > 0 else { return [] }
        return entries.filter { $0.revents != 0 }.map(\.fd)
    }

    /// The fds of `fds` that are readable (or hung up) within `timeoutMilliseconds` (-1: no limit).
    public static func readable(_ fds: [Int32], timeoutMilliseconds: Int32) -> [Int32] {
        var entries = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let count = Glibc.poll(&entries, nfds_t(entries.count), timeoutMilliseconds)
        guard count > 0 else { return [] }
        return entries.filter { $0.revents != 0 }.map(\.fd)
    }
}

/// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET ("@" means the abstract
/// namespace). Silently nothing when not started by systemd.
public enum SystemdNotify {
    public static var isEnabled: Bool { Processes.environment("NOTIFY_SOCKET") != nil }

    @discardableResult
    public static func send(_ state: String) -> Bool {
        guard let path = Processes.environment("NOTIFY_SOCKET"), !path.isEmpty, path.utf8.count < 108 else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count)
        let message = Array(state.utf8)
        let sent = message.withUnsafeBytes { body in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, body.baseAddress, body.count, Int32(MSG_NOSIGNAL), $0, length)
                }
            }
        }
        return sent >= 0
    }
}
