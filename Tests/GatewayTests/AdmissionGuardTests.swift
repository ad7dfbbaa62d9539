import BulwarkSys
import BulwarkTestSupport
import Gateway
import Glibc
import SysGuard
import Testing

/// SysGuard's admission limits on real sockets: a refused client sees its connection closed
/// at once; an admitted one is relayed.
@Suite(.serialized) struct AdmissionGuardTests {
    /// True when the gateway relays an echo on `client`; false when it closed the connection.
    private func isServed(_ client: BlockingSocket) -> Bool {
        guard (try? client.send("ping")) != nil else { return false }
        return (try? client.receiveExactly(4)) == Array("ping".utf8)
    }

    @Test func perIPLimitRefusesTheNextConnectionFromThatAddressOnly() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address], guardSection: "max_connections_per_ip = 2")
        defer { gateway.stop() }
        let first = try gateway.connect(fromHost: 2)
        let second = try gateway.connect(fromHost: 2)
        #expect(isServed(first) && isServed(second))
        let third = try gateway.connect(fromHost: 2)
        #expect(!isServed(third))
        let other = try gateway.connect(fromHost: 3)
        #expect(isServed(other))
        #expect(gateway.guardCounters.refusals(.perIP) == 1)

        // A slot freed by a close is usable again at once.
        first.close()
        #expect(eventually(timeoutMilliseconds: 1000) {
            gateway.runtime.guardRuntime.connections(from: SocketAddress(addressBytes: [127, 0, 0, 2], port: 0)!) == 1
        })
        let again = try gateway.connect(fromHost: 2)
        #expect(isServed(again))
    }

    @Test func perIPPrefixAggregatesNeighbours() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address],
                                       guardSection: "max_connections_per_ip = 1\nper_ip_prefix_v4 = 24")
        defer { gateway.stop() }
        let first = try gateway.connect(fromHost: 10)
        #expect(isServed(first))
        let neighbour = try gateway.connect(fromHost: 11)  // same 127.0.0.0/24
        #expect(!isServed(neighbour))
    }

    @Test func globalAndListenerCapsCloseTheExcessAtOnce() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address], listenerKeys: "max_connections = 3")
        defer { gateway.stop() }
        let held = try (0..<3).map { _ in try gateway.connect() }
        #expect(held.allSatisfy(isServed))
        let excess = try gateway.connect()
        let started = MonotonicClock.nanoseconds()
        let answer = try? excess.receive()  // a reset throws, an orderly close reads nothing
        #expect(answer == nil || answer == [])
        // Closed at once, not by the client's 10 s timeout. The 200 ms goal is held against the
        // release build by hostile scenario 1; here, under ThreadSanitizer and parallel suites, 1 s.
        #expect((MonotonicClock.nanoseconds() - started) < 1_000_000_000, "the excess connection is closed within 1 s")
        #expect(gateway.guardCounters.refusals(.listenerMaxConnections) == 1)
        #expect(gateway.statistics.active.value == 3)
    }

    @Test func denyListRefusesAndAllowListBypassesPerIP() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address], guardSection: """
            max_connections_per_ip = 1
            deny = ["127.0.0.5"]
            allow = ["127.0.0.6/32"]
            """)
        defer { gateway.stop() }
        #expect(!isServed(try gateway.connect(fromHost: 5)))
        #expect(gateway.guardCounters.refusals(.denyList) == 1)
        let allowed = try (0..<3).map { _ in try gateway.connect(fromHost: 6) }
        #expect(allowed.allSatisfy(isServed))
        #expect(gateway.guardCounters.refusals(.perIP) == 0)
    }

    @Test func dryRunCountsWithoutRefusing() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address],
                                       guardSection: "max_connections_per_ip = 1\ndry_run = [\"per_ip\"]")
        defer { gateway.stop() }
        let clients = try (0..<3).map { _ in try gateway.connect(fromHost: 7) }
        #expect(clients.allSatisfy(isServed))
        #expect(gateway.guardCounters.refusals(.perIP) == 0)
        #expect(gateway.guardCounters.dryRunRefusals(.perIP) == 2)
    }
}
