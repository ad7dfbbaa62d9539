import BulwarkSys
import BulwarkTestSupport
import Glibc
import Testing

/// A datagram socket standing in for systemd's NOTIFY_SOCKET: collects what the master sends.
final class NotifyListener {
    let path = "/tmp/bulwark-test-notify-\(getpid())-\(MonotonicClock.nanoseconds()).sock"
    private let fd: Int32

    init() throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if status != 0 { throw SystemError("bind(\(path))", errno: errno) }
    }

    /// Every line received so far (a datagram may hold several "KEY=value" lines).
    private(set) var lines: [String] = []

    func collect() -> [String] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            lines += String(decoding: buffer[..<count], as: UTF8.self).split(separator: "\n").map(String.init)
        }
        return lines
    }

    /// How many WATCHDOG=1 pings arrived so far.
    var watchdogPings: Int { collect().filter { $0 == "WATCHDOG=1" }.count }

    /// The READY/RELOADING/STOPPING lines in order (STATUS and MAINPID left out).
    var states: [String] { collect().filter { ["READY=1", "RELOADING=1", "STOPPING=1"].contains($0) } }

    deinit {
        close(fd)
        unlink(path)
    }
}

@Suite(.serialized) struct LifecycleScenarioTests {
    let binary = PackagePaths.bulwarkBinary

    private func config(port: UInt16, backend: SocketAddress, socket: String, extra: String = "", backendName: String = "echo") -> String {
        """
        [server]
        workers = 2
        drain_timeout = "1s"
        [[listener]]
        name = "front"
        bind = "127.0.0.1:\(port)"
        mode = "tcp"
        backend = "\(backendName)"
        \(extra)
        [[backend]]
        name = "echo"
        servers = ["\(backend)"]
        [stats]
        socket = "\(socket)"
        level = "admin"
        """
    }

    private func write(_ text: String, to path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = Array(text.utf8).withUnsafeBytes { try? FileDescriptors.writeAll(fd, $0) }
        close(fd)
    }

    private func echoes(_ connection: BlockingSocket, _ text: String) -> Bool {
        (try? connection.send(text)) != nil && (try? connection.receiveExactly(text.utf8.count)) == Array(text.utf8)
    }

    private func ask(_ socket: String, _ command: String) -> String {
        guard let client = try? BlockingSocket(fd: UnixSockets.connect(path: socket)) else { return "" }
        try? client.send(command + "\n")
        return String(decoding: (try? client.receiveToEnd()) ?? [], as: UTF8.self)
    }

    /// Bad reloads (syntax, a missing backend, a port in use) are refused with file:line and
    /// change nothing; a valid one that adds a listener starts a new worker on the same sockets.
    /// systemd hears READY, RELOADING, READY ... STOPPING in order.
    @Test func reloadsAreValidatedFirstAndNotifySystemd() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let notify = try NotifyListener()
        let port = try freeLoopbackPort()
        let socket = "/tmp/bulwark-test-lifecycle-\(getpid()).sock"
        let path = PackagePaths.writeTemporary(config(port: port, backend: backend.address, socket: socket))
        defer { unlink(path) }
        let gateway = try ChildProcess(binary, ["run", "-c", path], environment: ["NOTIFY_SOCKET=\(notify.path)"])
        defer { gateway.cleanUp() }
        var client: BlockingSocket?
        #expect(eventually { client = try? BlockingSocket.connect(to: loopback(port: port)); return client != nil })
        let connection = try #require(client)
        #expect(echoes(connection, "first"))
        #expect(eventually { notify.states == ["READY=1"] })

        // A syntax error.
        write(config(port: port, backend: backend.address, socket: socket) + "\n[broken\n", to: path)
        gateway.signal(SIGHUP)
        #expect(eventually { ask(socket, "show info").contains("last_reload: refused") })
        #expect(gateway.errorOutput.contains("reload refused"))
        #expect(gateway.errorOutput.contains("\(path):16: expected \"]\""), "names the file and line")
        // A missing backend.
        write(config(port: port, backend: backend.address, socket: socket, backendName: "nowhere"), to: path)
        gateway.signal(SIGHUP)
        #expect(eventually { gateway.errorOutput.contains("\(path):8: listener[0].backend: backend \"nowhere\" is not defined") })
        // A port in use.
        let holder = try Sockets.listeningSocket(at: loopback(), backlog: 1)
        defer { FileDescriptors.close(holder) }
        let busy = try Sockets.localAddress(holder).port
        let taken = "[[listener]]\nname = \"taken\"\nbind = \"127.0.0.1:\(busy)\"\nmode = \"tcp\"\nbackend = \"echo\""
        write(config(port: port, backend: backend.address, socket: socket, extra: taken), to: path)
        gateway.signal(SIGHUP)
        #expect(eventually { gateway.errorOutput.contains("\(path):9: listener[1].bind: listener taken: cannot bind 127.0.0.1:\(busy)") })
        #expect(echoes(connection, "untouched"), "the running service is unchanged")
        #expect(ask(socket, "show stat").contains("front"))
        #expect(!ask(socket, "show stat").contains("taken"))

        // A valid reload adding a listener: a new worker, the old one drains.
        let second = try freeLoopbackPort()
        let added = "[[listener]]\nname = \"second\"\nbind = \"127.0.0.1:\(second)\"\nmode = \"tcp\"\nbackend = \"echo\""
        write(config(port: port, backend: backend.address, socket: socket, extra: added), to: path)
        gateway.signal(SIGHUP)
        #expect(eventually { ask(socket, "show info").contains("last_reload: applied") })
        #expect(echoes(connection, "old worker still serves"))
        let onSecond = try BlockingSocket.connect(to: loopback(port: second))
        #expect(echoes(onSecond, "new listener"))
        let onFirst = try BlockingSocket.connect(to: loopback(port: port))
        #expect(echoes(onFirst, "kept listener"))
        #expect(eventually { notify.states == ["READY=1", "RELOADING=1", "READY=1", "RELOADING=1", "READY=1",
                                               "RELOADING=1", "READY=1", "RELOADING=1", "READY=1"] },
                "\(notify.states)")

        gateway.signal(SIGTERM)
        #expect(gateway.waitForExit(timeoutMilliseconds: 5000) == 0)
        #expect(notify.states.last == "STOPPING=1")
        #expect(access(socket, F_OK) != 0, "the stats socket file is removed on exit")
    }

    /// 2,000 long-lived connections exchanging numbered frames and a steady stream of new ones,
    /// through 10 upgrades in a row and one to a binary that exits at start
    /// (scripts/tests/upgrade_under_load.py drives the real processes and says what it checks).
    @Test func hotUpgradeUnderLoadLosesNothing() throws {
        let directory = String(binary[..<binary.lastIndex(of: "/")!])
        let (code, output, errors) = try ChildProcess.run(
            "/usr/bin/env", ["python3", PackagePaths.root + "/scripts/tests/upgrade_under_load.py",
                             "--bulwark", binary, "--echo", directory + "/bulwark-echo",
                             "--connections", "2000", "--upgrades", "10"],
            timeoutMilliseconds: 240_000)
        #expect(code == 0, "\(output)\n\(errors)")
        #expect(output.contains("\"frames_bad\": 0"))
        #expect(output.contains("\"connect_failures\": 0"))
    }

    /// The worker is killed: the master logs why and starts another on the same sockets at
    /// once, then with a back-off when it happens again; clients that connect meanwhile wait in
    /// the listen queue (the master holds the socket) and are served by the new worker.
    @Test func aDeadWorkerIsReplacedWithBackoff() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let port = try freeLoopbackPort()
        let socket = "/tmp/bulwark-test-respawn-\(getpid()).sock"
        let path = PackagePaths.writeTemporary(config(port: port, backend: backend.address, socket: socket))
        defer { unlink(path) }
        let gateway = try ChildProcess(binary, ["run", "-c", path])
        defer { gateway.cleanUp() }
        func workerPID() -> Int32? {
            let info = ask(socket, "show info")
            return info.split(separator: "\n").first { $0.hasPrefix("pid: ") }.flatMap { Int32($0.dropFirst(5)) }
        }
        let first = try #require(eventually { workerPID() != nil } ? workerPID() : nil)
        kill(first, SIGKILL)
        let waiting = try BlockingSocket.connect(to: loopback(port: port))  // queued while no worker runs
        #expect(echoes(waiting, "served by the next worker"))
        let second = try #require(workerPID())
        #expect(second != first)
        kill(second, SIGKILL)
        #expect(eventually(timeoutMilliseconds: 8000) { (workerPID().map { $0 != second }) ?? false })
        let log = gateway.errorOutput
        #expect(log.contains("worker \(first) killed by signal 9 (SIGKILL) unexpectedly"))
        #expect(log.contains("starting a new worker now"))
        #expect(log.contains("starting a new worker in 1s"), "the back-off from the second death in a row")
        gateway.signal(SIGTERM)
        #expect(gateway.waitForExit(timeoutMilliseconds: 5000) == 0)
    }

    /// With WatchdogSec, the master pings systemd only while the worker's engine makes
    /// progress: a stopped (hung) worker stops the pings, so systemd would act.
    @Test func watchdogPingsOnlyWhileTheEngineRuns() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let notify = try NotifyListener()
        let port = try freeLoopbackPort()
        let socket = "/tmp/bulwark-test-watchdog-\(getpid()).sock"
        let path = PackagePaths.writeTemporary(config(port: port, backend: backend.address, socket: socket))
        defer { unlink(path) }
        let gateway = try ChildProcess(binary, ["run", "-c", path],
                                       environment: ["NOTIFY_SOCKET=\(notify.path)", "WATCHDOG_USEC=1000000"])
        defer { gateway.cleanUp() }
        #expect(eventually { notify.watchdogPings >= 2 }, "pinged every half WatchdogSec")
        let info = ask(socket, "show info")
        let worker = try #require(info.split(separator: "\n").first { $0.hasPrefix("pid: ") }.flatMap { Int32($0.dropFirst(5)) })
        kill(worker, SIGSTOP)
        sleepMilliseconds(3500)  // the last "alive" ages past 3 s
        let whileStopped = notify.watchdogPings
        sleepMilliseconds(1500)
        #expect(notify.watchdogPings == whileStopped, "no ping while the engine makes no progress")
        kill(worker, SIGCONT)
        #expect(eventually { notify.watchdogPings > whileStopped }, "pings resume")
        gateway.signal(SIGTERM)
        #expect(gateway.waitForExit(timeoutMilliseconds: 5000) == 0)
    }
}
