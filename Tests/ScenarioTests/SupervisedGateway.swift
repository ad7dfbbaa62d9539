import BulwarkSys
import BulwarkTestSupport
import Glibc
import Testing

/// The real binary, started from a copy of its own in a work directory (so a test may replace
/// the file an upgrade executes), on a small tcp relay config with an admin stats socket.
final class SupervisedGateway {
    let directory: String
    let binary: String
    let configPath: String
    let socket: String
    let port: UInt16
    let backend: ScriptedBackend
    private(set) var process: ChildProcess!

    /// `upgrade_probation`, in the config this gateway writes.
    let probation: String

    init(server: String = "", extra: String = "", probation: String = "1s", environment: [String] = [], configMode: mode_t = 0o644) throws {
        self.probation = probation
        directory = "/tmp/bulwark-supervised-\(getpid())-\(MonotonicClock.nanoseconds())"
        mkdir(directory, 0o755)
        binary = directory + "/bulwark"
        try Self.copy(PackagePaths.bulwarkBinary, to: binary, mode: 0o755)
        configPath = directory + "/bulwark.toml"
        socket = directory + "/admin.sock"
        port = try freeLoopbackPort()
        backend = try ScriptedBackend(script: ScriptedBackend.echo)
        write(config(server: server, extra: extra), mode: configMode)
        // Another test's fork may still hold the copy open for writing for a moment: retry ETXTBSY.
        for attempt in 1...20 {
            do {
                process = try ChildProcess(binary, ["run", "-c", configPath], environment: environment)
                break
            } catch let error as SystemError where error.errno == ETXTBSY && attempt < 20 {
                sleepMilliseconds(50)
            }
        }
        #expect(eventually(timeoutMilliseconds: 10_000) { self.workerPID != nil }, "the gateway serves")
    }

    /// A relay on `port` to the echo backend; `extra` goes after the first listener.
    func config(server: String = "", extra: String = "", port: UInt16? = nil) -> String {
        """
        [server]
        workers = 2
        drain_timeout = "1s"
        upgrade_probation = "\(probation)"
        \(server)
        [[listener]]
        name = "front"
        bind = "127.0.0.1:\(port ?? self.port)"
        mode = "tcp"
        backend = "echo"
        \(extra)
        [[backend]]
        name = "echo"
        servers = ["\(backend.address)"]
        [stats]
        socket = "\(socket)"
        level = "admin"
        """
    }

    /// Replaces the config file (written beside it, then renamed over it, as editors do).
    func write(_ text: String, mode: mode_t = 0o644) {
        let temporary = configPath + ".new"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        _ = Array(text.utf8).withUnsafeBytes { try? FileDescriptors.writeAll(fd, $0) }
        fchmod(fd, mode)
        close(fd)
        rename(temporary, configPath)
    }

    static func copy(_ source: String, to target: String, mode: mode_t) throws {
        let bytes = try Files.readAll(source)
        let temporary = target + ".copy"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        try bytes.withUnsafeBytes { try FileDescriptors.writeAll(fd, $0) }
        close(fd)
        rename(temporary, target)
    }

    /// Puts `script` (a shell script) where the binary was, keeping the real one as `bulwark.real`.
    func replaceBinary(withScript script: String) throws {
        if access(directory + "/bulwark.real", F_OK) != 0 { try Self.copy(binary, to: directory + "/bulwark.real", mode: 0o755) }
        let path = directory + "/script"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        _ = Array(script.replacingEvery("REAL", with: directory + "/bulwark.real").utf8).withUnsafeBytes { try? FileDescriptors.writeAll(fd, $0) }
        close(fd)
        rename(path, binary)
    }

    /// Puts the real binary back at the path.
    func restoreBinary() throws { try Self.copy(directory + "/bulwark.real", to: binary, mode: 0o755) }

    func ask(_ command: String) -> String {
        guard let client = try? BlockingSocket(fd: UnixSockets.connect(path: socket)) else { return "" }
        try? client.send(command + "\n")
        return String(decoding: (try? client.receiveToEnd()) ?? [], as: UTF8.self)
    }

    func info(_ field: String) -> String? {
        ask("show info").split(separator: "\n").first { $0.hasPrefix("\(field): ") }.map { String($0.dropFirst(field.count + 2)) }
    }

    /// The pid of the worker answering the stats socket (the serving one).
    var workerPID: Int32? { info("pid").flatMap { Int32($0) } }

    /// The master's child processes now.
    var children: [Int32] { Self.children(of: process.pid) }

    static func children(of parent: Int32) -> [Int32] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var found: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = Int32(name), let stat = try? Files.readText("/proc/\(pid)/stat"),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == parent { found.append(pid) }
        }
        return found
    }

    func connect(port: UInt16? = nil) -> BlockingSocket? { try? BlockingSocket.connect(to: loopback(port: port ?? self.port)) }

    var log: String { process.errorOutput }

    func stop() {
        process.signal(SIGTERM)
        _ = process.waitForExit(timeoutMilliseconds: 5000)
        process.cleanUp()
        backend.stop()
        for name in ["bulwark", "bulwark.real", "bulwark.toml", "bulwark.toml.new", "script"] { unlink(directory + "/" + name) }
        rmdir(directory)
    }
}

func echoes(_ connection: BlockingSocket?, _ text: String) -> Bool {
    guard let connection else { return false }
    return (try? connection.send(text)) != nil && (try? connection.receiveExactly(text.utf8.count)) == Array(text.utf8)
}

extension String {
    func replacingEvery(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
