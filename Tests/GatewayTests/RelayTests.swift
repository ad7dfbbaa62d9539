import Buffers
import BulwarkSys
import BulwarkTestSupport
import Gateway
import Glibc
import Synchronization
import Testing

@Suite(.serialized) struct RelayTests {
    @Test func echoesThroughTheRelay() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address])
        defer { gateway.stop() }
        let client = try gateway.connect()
        for round in 0..<20 {
            let message = patternBytes(count: 64 + round, seed: UInt32(round))
            try client.sendAll(message)
            #expect(try client.receiveExactly(message.count) == message)
        }
        client.close()
        #expect(eventually { gateway.statistics.active.value == 0 })
        #expect(gateway.statistics.accepted.value == 1)
        #expect(gateway.statistics.closedNormally.value == 1)
    }

    @Test func listensAndConnectsOverIPv6() throws {
        let backend = try ScriptedBackend(ipv6: true, script: ScriptedBackend.echo)
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address], bind: "[::1]:0")
        defer { gateway.stop() }
        #expect(gateway.address.family == AF_INET6)
        let client = try gateway.connect()
        try client.send("over six")
        #expect(try client.receiveExactly(8) == Array("over six".utf8))
    }

    @Test func halfCloseIsPassedOnBothWays() throws {
        // The backend reads to end of stream, then answers with the count and closes.
        let backend = try ScriptedBackend { socket in
            guard let received = try? socket.receiveToEnd() else { return }
            try? socket.send("got \(received.count)")
            socket.close()
        }
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address])
        defer { gateway.stop() }
        let client = try gateway.connect()
        try client.send("hello")
        client.shutdownWrite()
        #expect(try client.receiveToEnd() == Array("got 5".utf8))
        #expect(eventually { gateway.statistics.active.value == 0 })
    }

    @Test func bytesOfAClientThatSendsAndClosesAtOnceReachTheBackend() throws {
        let received = Locked<[UInt8]>([])
        let done = Atomic<Bool>(false)
        let backend = try ScriptedBackend { socket in
            let bytes = (try? socket.receiveToEnd()) ?? []
            received.withLock { $0 = bytes }
            done.store(true, ordering: .releasing)
        }
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address])
        defer { gateway.stop() }
        let payload = patternBytes(count: 200_000, seed: 7)
        let client = try gateway.connect()
        try client.sendAll(payload)
        client.close()
        #expect(eventually { done.load(ordering: .acquiring) })
        #expect(received.withLock { $0 } == payload)
    }

    @Test func roundRobinSpreadsConnectionsOverServers() throws {
        let first = try ScriptedBackend(script: ScriptedBackend.echo)
        let second = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { first.stop(); second.stop() }
        let gateway = try RelayHarness(servers: [first.address, second.address])
        defer { gateway.stop() }
        var clients: [BlockingSocket] = []
        for index in 0..<6 {
            let client = try gateway.connect()
            try client.send("n\(index)")
            #expect(try client.receiveExactly(2) == Array("n\(index)".utf8))
            clients.append(client)
        }
        #expect(first.accepted == 3)
        #expect(second.accepted == 3)
    }

    @Test func aPeerResetClosesOnlyThatPair() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address])
        defer { gateway.stop() }
        let survivor = try gateway.connect()
        let victim = try gateway.connect()
        try victim.sendAll(patternBytes(count: 5000))
        victim.reset()
        #expect(eventually { gateway.statistics.active.value == 1 })
        for round in 0..<5 {
            let message = patternBytes(count: 100, seed: UInt32(round))
            try survivor.sendAll(message)
            #expect(try survivor.receiveExactly(100) == message)
        }
        #expect(gateway.statistics.closedOnError.value + gateway.statistics.closedNormally.value == 1)
    }

    @Test func stopClosesListenersThenConnections() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address])
        let address = gateway.address
        let client = try gateway.connect()
        try client.send("x")
        #expect(try client.receiveExactly(1) == [UInt8(ascii: "x")])
        gateway.stop()
        #expect(throws: (any Error).self) { try BlockingSocket.connect(to: address) }
        #expect(try client.receive().isEmpty)  // end of stream: the gateway closed it
    }
}
