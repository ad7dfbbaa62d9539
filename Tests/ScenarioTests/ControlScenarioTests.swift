import BulwarkSys
import BulwarkTestSupport
import Glibc
import Testing

/// bulwarkctl against the real binary's stats socket.
@Suite(.serialized) struct ControlScenarioTests {
    let bulwarkctl = PackagePaths.root + "/.build/debug/bulwarkctl"

    @Test func bulwarkctlAsksTheRunningGatewayAndWatchesIt() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let port = try freeLoopbackPort()
        let socket = "/tmp/bulwark-test-ctl-\(getpid()).sock"
        let path = PackagePaths.writeTemporary(echoRelayConfig(
            port: port, backend: backend.address, server: "drain_timeout = \"0s\"",
            rest: "[[stats]]\nsocket = \"\(socket)\"\nlevel = \"operator\""))
        defer { unlink(path) }
        let gateway = try ChildProcess(PackagePaths.bulwarkBinary, ["run", "-c", path])
        defer { gateway.cleanUp() }
        var clients: [BlockingSocket] = []
        #expect(eventually {
            guard let client = try? BlockingSocket.connect(to: loopback(port: port)) else { return false }
            clients.append(client)
            return true
        })
        for _ in 0..<2 { clients.append(try BlockingSocket.connect(to: loopback(port: port))) }
        for client in clients {
            try client.send("w")
            _ = try client.receiveExactly(1)
        }

        let (code, output, _) = try ChildProcess.run(bulwarkctl, ["-s", socket, "show", "stat"])
        #expect(code == 0)
        let front = output.split(separator: "\n").first { $0.hasPrefix("front ") }.map(String.init) ?? ""
        #expect(front.contains("127.0.0.1:\(port)  accepting  3 "), "aligned columns: \(front)")

        let (watchCode, view, _) = try ChildProcess.run(bulwarkctl, ["-s", socket, "watch", "--count", "2"])
        #expect(watchCode == 0)
        #expect(view.contains("connections 3  accepts/s"))
        #expect(view.contains("guards: load ok"))

        let (errorCode, _, errors) = try ChildProcess.run(bulwarkctl, ["-s", socket, "show", "nothing"])
        #expect(errorCode == 1)
        #expect(errors.contains("error: unknown command 'show nothing'"))
        let (missingCode, _, missing) = try ChildProcess.run(bulwarkctl, ["-s", "/tmp/no-such-bulwark.sock", "help"])
        #expect(missingCode == 3)
        #expect(missing.contains("does not exist: is bulwark running"))

        gateway.signal(SIGTERM)
        #expect(gateway.waitForExit() == 0)
        #expect(access(socket, F_OK) != 0, "the socket file is removed on exit")
    }
}
