import BulwarkSys
import BulwarkTestSupport
import Gateway
import Glibc
import Testing

@Suite(.serialized) struct BackendFailureTests {
    @Test func aRefusingServerIsSkipped() throws {
        let good = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { good.stop() }
        let refused = try refusedLoopbackAddress()
        let gateway = try RelayHarness(servers: [refused, good.address])
        defer { gateway.stop() }
        for index in 0..<4 {  // both round-robin starting points
            let client = try gateway.connect()
            try client.send("r\(index)")
            #expect(try client.receiveExactly(2) == Array("r\(index)".utf8))
        }
        #expect(good.accepted == 4)
        #expect(gateway.backendStatistics.connectFailures.value == 2)
    }

    @Test func whenEveryServerFailsTheClientIsClosedAndCounted() throws {
        let gateway = try RelayHarness(servers: [try refusedLoopbackAddress(), try refusedLoopbackAddress()])
        defer { gateway.stop() }
        let client = try gateway.connect()
        #expect(try client.receive().isEmpty)
        #expect(eventually { gateway.statistics.backendUnavailable.value == 1 })
        #expect(gateway.backendStatistics.exhausted.value == 1)
        #expect(gateway.backendStatistics.connectFailures.value == 2)
        #expect(eventually { gateway.statistics.active.value == 0 })
    }

    /// A listener whose accept queue is full drops SYNs, so a connect to it hangs: the connect
    /// timeout fires and the next server serves the client.
    @Test func aConnectTimeoutMovesOnToTheNextServer() throws {
        let blackHole = try BlackHole()
        defer { blackHole.close() }
        let good = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { good.stop() }
        let gateway = try RelayHarness(servers: [blackHole.address, good.address], connectTimeout: "200ms")
        defer { gateway.stop() }
        let started = MonotonicClock.nanoseconds()
        let client = try gateway.connect()
        try client.send("late")
        #expect(try client.receiveExactly(4) == Array("late".utf8))
        let elapsedMilliseconds = (MonotonicClock.nanoseconds() - started) / 1_000_000
        #expect(gateway.backendStatistics.connectTimeouts.value == 1)
        #expect(elapsedMilliseconds >= 190)
        #expect(elapsedMilliseconds < 3000)
    }
}
