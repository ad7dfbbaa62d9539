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

    private static func withCStrings<Result>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> Result) -> Result {
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

    /// Sends one message; false if the peer is gone or its queue is full (messages are advisory).
    @discardableResult
    public static func send(_ fd: Int32, _ text: String) -> Bool {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) } >= 0
    }

    /// The messages waiting, and whether the peer has closed.
    public static func receive(_ fd: Int32) -> (messages: [String], closed: Bool) {
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if count > 0 {
                messages.append(String(decoding: buffer[..<count], as: UTF8.self))
                continue
            }
            if count == 0 { return (messages, true) }
            if errno == EINTR { continue }
            return (messages, errno != EAGAIN)
        }
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
