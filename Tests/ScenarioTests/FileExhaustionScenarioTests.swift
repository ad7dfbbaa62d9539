import BulwarkSys
import BulwarkTestSupport
import Glibc
import Testing

/// The real binary with a tiny open-file limit: accept4 fails with EMFILE, accepting pauses
/// (no spin, rate-limited log lines), and service resumes once fds are free again.
@Suite(.serialized) struct FileExhaustionScenarioTests {
    @Test func emfilePausesAcceptingWithoutSpinningAndRecovers() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let port = try freeLoopbackPort()
        let socket = "/tmp/bulwark-test-exhaustion-\(getpid()).sock"
        let path = PackagePaths.writeTemporary(echoRelayConfig(port: port, backend: backend.address, listener: "tight", server: "workers = 2",
                                                               rest: "[stats]\nsocket = \"\(socket)\"\nlevel = \"user\""))
        defer { unlink(path) }
        // Hard limit 40: about 10 fds for the process itself, 3 per relayed client.
        let gateway = try ChildProcess("/usr/bin/prlimit", ["--nofile=40:40", PackagePaths.bulwarkBinary, "run", "-c", path])
        defer { gateway.cleanUp() }
        let address = loopback(port: port)
        var probe: BlockingSocket?
        #expect(eventually { probe = try? BlockingSocket.connect(to: address); return probe != nil })
        probe?.close()

        // Far more clients than fit: each waits in the accept queue or is served.
        var clients: [BlockingSocket] = []
        for _ in 0..<40 { clients.append(try BlockingSocket.connect(to: address, timeoutMilliseconds: 2000)) }
        for client in clients { try? client.send("x") }
        #expect(eventually { gateway.errorOutput.contains("pausing accepts") })

        // While exhausted the gateway stays nearly idle: retries every 100 ms, not a spin.
        let cpuBefore = try #require(ProcessFacts.cpuNanoseconds(pid: gateway.pid))
        sleepMilliseconds(1000)
        let cpuAfter = try #require(ProcessFacts.cpuNanoseconds(pid: gateway.pid))
        #expect(cpuAfter - cpuBefore < 200_000_000, "gateway used \(cpuAfter - cpuBefore) ns of CPU in 1 s while out of fds")
        let pauseLines = gateway.errorOutput.split(separator: "\n").filter { $0.contains("pausing accepts") }
        #expect(pauseLines.count <= 4, "log lines are limited to about one a second")

        // Issue 17, case 11: out of fds, `show info` still counts them (no fd is opened to count).
        var openFiles: String?
        #expect(eventually(timeoutMilliseconds: 5000) {
            guard let client = try? BlockingSocket(fd: UnixSockets.connect(path: socket)), (try? client.send("show info\n")) != nil else { return false }
            let info = String(decoding: (try? client.receiveToEnd()) ?? [], as: UTF8.self)
            openFiles = info.split(separator: "\n").first { $0.hasPrefix("open_files: ") }.map { String($0.dropFirst(12)) }
            return openFiles != nil
        })
        let count = try #require(openFiles.flatMap { Int($0) }, "open_files: \(openFiles ?? "none")")
        #expect(count >= 30 && count <= 40, "the fd table is nearly full: \(count) of 40")

        // Free the fds: the gateway accepts and relays again.
        for client in clients { client.close() }
        var served = false
        #expect(eventually(timeoutMilliseconds: 5000) {
            guard let client = try? BlockingSocket.connect(to: address, timeoutMilliseconds: 500) else { return false }
            guard (try? client.send("again")) != nil else { return false }
            served = (try? client.receiveExactly(5)) == Array("again".utf8)
            return served
        })
        gateway.signal(SIGTERM)
        #expect(gateway.waitForExit() == 0)
    }
}
