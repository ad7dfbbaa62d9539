import BulwarkSys
import BulwarkTestSupport
import Control
import Foundation
import Gateway
import Testing

/// `set guard` changes what the gateway does on the next connection, and a refused change
/// changes nothing.
@Suite(.serialized) struct SetGuardTests {
    private func connectEchoing(_ harness: ControlHarness, from host: UInt8) throws -> BlockingSocket {
        let client = try BlockingSocket.connect(to: harness.address, from: SocketAddress(addressBytes: [127, 0, 0, host], port: 0)!)
        try client.send("x")
        _ = try client.receiveExactly(1)
        return client
    }

    /// Whether the gateway closed `client` (refused at accept, or closed by a limit).
    private func isClosedByGateway(_ client: BlockingSocket) -> Bool {
        try? client.send("y")
        return ((try? client.receive()) ?? []).isEmpty
    }

    @Test func aPerIPLimitSetLiveRefusesTheNextConnectionOnly() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let harness = try ControlHarness(backend: backend.address, guardSection: "max_connections_per_ip = 100")
        defer { harness.stop() }
        let first = try connectEchoing(harness, from: 2)
        let second = try connectEchoing(harness, from: 2)

        let refused = try harness.ask("set guard max_connections_per_ip 2", socket: harness.operatorSocket)
        #expect(refused.hasPrefix("error: permission denied: 'set guard' needs level admin"))
        #expect(try harness.ask("set guard max_connections_per_ip 2", socket: harness.adminSocket)
            == "guard.max_connections_per_ip = 2\n\n")

        let third = try BlockingSocket.connect(to: harness.address, from: SocketAddress(addressBytes: [127, 0, 0, 2], port: 0)!)
        #expect(isClosedByGateway(third), "a third connection from 127.0.0.2 is over the new limit")
        let other = try connectEchoing(harness, from: 3)
        for client in [first, second, other] {
            try client.send("z")
            #expect(try client.receiveExactly(1) == [UInt8(ascii: "z")], "established connections are untouched")
        }
        let guardJSON = try harness.ask("show guard json", socket: harness.userSocket)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(guardJSON.utf8)) as? [String: Any])
        let limits = try #require(report["limits"] as? [[String: Any]])
        let perIP = try #require(limits.first { $0["limit"] as? String == "max_connections_per_ip" })
        #expect(perIP["value"] as? Int == 2)
        #expect(perIP["count"] as? Int == 1)
        let live = try #require(report["set_live"] as? [[String: Any]])
        #expect(live.count == 1 && live.first?["key"] as? String == "max_connections_per_ip" && live.first?["value"] as? String == "2")
    }

    @Test func anIdleTimeoutSetLiveClosesNewConnectionsAndSparesOldOnes() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let harness = try ControlHarness(backend: backend.address)
        defer { harness.stop() }
        let old = try connectEchoing(harness, from: 2)
        #expect(try harness.ask("set guard idle_timeout 300ms", socket: harness.adminSocket) == "guard.idle_timeout = \"300ms\"\n\n")
        let new = try connectEchoing(harness, from: 2)
        sleepMilliseconds(900)
        #expect(isClosedByGateway(new), "accepted after the change: closed when idle for 300 ms")
        try old.send("o")
        #expect(try old.receiveExactly(1) == [UInt8(ascii: "o")], "accepted before: keeps the limits it started with")
        #expect(harness.runtime.guardRuntime.counters.closes(.idleTimeout) == 1)
    }

    @Test func invalidChangesAreRefusedWithTheReasonAndChangeNothing() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let harness = try ControlHarness(backend: backend.address, guardSection: "max_load = 50.0")
        defer { harness.stop() }
        let before = harness.runtime.guardRuntime.config
        let answers = try [
            "set guard no_such_key 1", "set guard max_connections lots", "set guard load_clear 60.0",
            "set guard max_files 100", "set guard idle_timeout",
        ].map { try harness.ask($0, socket: harness.adminSocket) }
        #expect(answers[0].hasPrefix("error: no_such_key: not a [guard] key; keys: "))
        #expect(answers[1].hasPrefix("error: guard.max_connections: "))
        #expect(answers[2].hasPrefix("error: guard.load_clear: must be at most max_load (50"))
        #expect(answers[3].hasPrefix("error: cannot change while running: guard.max_files"))
        #expect(answers[4] == "error: usage: set guard KEY VALUE\n\n")
        #expect(harness.runtime.guardRuntime.config == before)
        let guardText = try harness.ask("show guard json")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(guardText.utf8)) as? [String: Any])
        #expect((report["set_live"] as? [Any])?.isEmpty == true)
        _ = try connectEchoing(harness, from: 2)  // still serving
    }
}
