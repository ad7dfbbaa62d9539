import BulwarkSys
import BulwarkTestSupport
import Glibc
import Testing

/// The real binary on 127.0.0.1 with small configs.
@Suite(.serialized) struct BinaryScenarioTests {
    let binary = PackagePaths.bulwarkBinary

    @Test func versionNamesActiveJemalloc() throws {
        let (code, output, _) = try ChildProcess.run(binary, ["--version"])
        #expect(code == 0)
        #expect(output.contains("bulwark 0.1.0"))
        #expect(output.contains("allocator: jemalloc 5."))
        #expect(output.contains("(active)"))
    }

    @Test func checkAcceptsTheShippedConfig() throws {
        let (code, output, _) = try ChildProcess.run(binary, ["check", "-c", PackagePaths.root + "/etc/bulwark.toml"])
        #expect(code == 0)
        #expect(output.contains("valid"))
    }

    @Test func checkRejectsABadConfigNamingFileLineAndKey() throws {
        let path = PackagePaths.writeTemporary("""
            [server]
            workers = 2
            [[listener]]
            name = "front"
            bind = "127.0.0.1:99999"
            mode = "tcp"
            backend = "missing"
            colour = "blue"
            """)
        defer { unlink(path) }
        let (code, _, errors) = try ChildProcess.run(binary, ["check", "-c", path])
        #expect(code == 2)
        #expect(errors.contains("\(path):5: listener[0].bind:"))
        #expect(errors.contains("\(path):7: listener[0].backend:"))
        #expect(errors.contains("\(path):8: listener[0].colour:"))
    }

    @Test func checkRefusesConnectionLimitsThatCannotFitTheFileBudget() throws {
        let path = PackagePaths.writeTemporary("""
            [guard]
            max_files = 20000
            max_connections = 10000
            [[listener]]
            name = "a"
            bind = "127.0.0.1:9"
            mode = "tcp"
            backend = "b"
            [[backend]]
            name = "b"
            servers = ["127.0.0.1:10"]
            """)
        defer { unlink(path) }
        let (code, _, errors) = try ChildProcess.run(binary, ["check", "-c", path])
        #expect(code == 2)
        #expect(errors.contains("\(path):3: guard.max_connections: 10000 connections need 30035 open files"))
        #expect(errors.contains("guard.max_files (20000)"))
    }

    @Test func runWithABadConfigStartsNothing() throws {
        let path = PackagePaths.writeTemporary("[server]\nworkers = \"many\"\n")
        defer { unlink(path) }
        let (code, _, errors) = try ChildProcess.run(binary, ["run", "-c", path])
        #expect(code == 2)
        #expect(errors.contains("\(path):2: server.workers:"))
    }

    /// SIGTERM: the listener closes at once, open connections keep working until they end or
    /// drain_timeout passes, then the rest are closed and both processes exit 0.
    @Test func sigtermDrainsThenExitsZero() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let port = try freeLoopbackPort()
        let path = PackagePaths.writeTemporary(echoRelayConfig(
            port: port, backend: backend.address, server: "workers = 2\ndrain_timeout = \"2s\"", rest: "[log]\nlevel = \"info\""))
        defer { unlink(path) }
        let gateway = try ChildProcess(binary, ["run", "-c", path])
        defer { gateway.cleanUp() }
        let address = loopback(port: port)
        var client: BlockingSocket?
        #expect(eventually { client = try? BlockingSocket.connect(to: address); return client != nil })
        let connection = try #require(client)
        try connection.send("through the binary")
        #expect(try connection.receiveExactly(18) == Array("through the binary".utf8))

        // SIGHUP reloads (nothing changed: said so); the connection is untouched.
        gateway.signal(SIGHUP)
        #expect(eventually { gateway.errorOutput.contains("reload: the file holds the config in force") })
        try connection.send("still")
        #expect(try connection.receiveExactly(5) == Array("still".utf8))

        let stoppedAt = MonotonicClock.nanoseconds()
        gateway.signal(SIGTERM)
        // The master closes its copy at once and tells the worker, which closes its own.
        #expect(eventually(timeoutMilliseconds: 1000) { gateway.errorOutput.contains("stopped accepting") })
        #expect((try? BlockingSocket.connect(to: address)) == nil, "the listener is closed")
        try connection.send("draining")
        #expect(try connection.receiveExactly(8) == Array("draining".utf8), "open connections keep working while draining")
        #expect(gateway.waitForExit(timeoutMilliseconds: 6000) == 0)
        let elapsed = (MonotonicClock.nanoseconds() - stoppedAt) / 1_000_000
        #expect(elapsed >= 1500 && elapsed < 3000, "exit \(elapsed) ms after SIGTERM: within drain_timeout + 1 s")
        #expect(try connection.receive().isEmpty, "closed at drain_timeout")
        let log = gateway.errorOutput
        #expect(log.contains("SIGTERM received: stopped accepting; draining 1 connections"))
        #expect(log.contains("drain_timeout passed: closing the 1 connections still open"))
        #expect(log.contains("every worker has stopped; exiting"))
    }

    /// A second SIGTERM stops at once, without waiting for drain_timeout.
    @Test func aSecondSigtermStopsAtOnce() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let port = try freeLoopbackPort()
        let path = PackagePaths.writeTemporary(echoRelayConfig(port: port, backend: backend.address, server: "drain_timeout = \"60s\""))
        defer { unlink(path) }
        let gateway = try ChildProcess(binary, ["run", "-c", path])
        defer { gateway.cleanUp() }
        var client: BlockingSocket?
        #expect(eventually { client = try? BlockingSocket.connect(to: loopback(port: port)); return client != nil })
        let connection = try #require(client)
        try connection.send("x")
        _ = try connection.receiveExactly(1)
        gateway.signal(SIGTERM)
        #expect(eventually { gateway.errorOutput.contains("draining 1 connections") })
        gateway.signal(SIGTERM)
        #expect(gateway.waitForExit(timeoutMilliseconds: 3000) == 0)
        #expect(try connection.receive().isEmpty)
    }

    @Test func aBusyPortFailsStartUpWithTheListenerNamed() throws {
        let holder = try Sockets.listeningSocket(at: loopback(), backlog: 1)
        defer { FileDescriptors.close(holder) }
        let port = try Sockets.localAddress(holder).port
        let path = PackagePaths.writeTemporary("""
            [[listener]]
            name = "taken"
            bind = "127.0.0.1:\(port)"
            mode = "tcp"
            backend = "b"
            [[backend]]
            name = "b"
            servers = ["127.0.0.1:1"]
            """)
        defer { unlink(path) }
        let (code, _, errors) = try ChildProcess.run(binary, ["run", "-c", path])
        #expect(code == 1)
        #expect(errors.contains("\(path):1: listener[0].bind: listener taken: cannot bind"))
        #expect(errors.contains("Address already in use"))
    }
}

/// A port that was free a moment ago (bound to port 0, read back, closed).
func freeLoopbackPort() throws -> UInt16 {
    let fd = try Sockets.listeningSocket(at: loopback(), backlog: 1)
    defer { FileDescriptors.close(fd) }
    return try Sockets.localAddress(fd).port
}
