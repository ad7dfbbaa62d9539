import BulwarkSys
import BulwarkTestSupport
import Gateway
import Glibc
import Testing

/// `backend_connect`: when a tcp listener opens the backend connection of a new client.
@Suite(.serialized) struct FirstDataConnectTests {
    private static let firstData = "framing = \"u16be\"\npacket_rate_hard = 100\nbackend_connect = \"first_data\""

    @Test func clientsThatSendNothingOrBreakALimitAtOnceNeverReachTheBackend() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address], listenerKeys: Self.firstData)
        defer { gateway.stop() }
        let silent = try gateway.connect()
        silent.shutdownWrite()
        #expect(try silent.receiveToEnd() == [], "a client that leaves without a byte is closed")
        let flooder = try gateway.connect()
        try? flooder.sendAll((0..<500).flatMap { _ in [UInt8(0), 1, 7] })  // 500 frames: over the hard rate
        #expect(closedByPeer(flooder))
        #expect(eventually(timeoutMilliseconds: 2000) { gateway.statistics.active.value == 0 })
        #expect(gateway.guardCounters.closes(.packetRate) == 1)
        #expect(gateway.backendStatistics.connectAttempts.value == 0)
        #expect(backend.accepted == 0, "neither client cost a backend connection")
    }

    @Test func theFirstFramesAndAHalfCloseArriveOnceConnected() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address], listenerKeys: Self.firstData)
        defer { gateway.stop() }
        let frames = (0..<50).flatMap { index -> [UInt8] in [0, 2, UInt8(index), 0xEE] }
        let client = try gateway.connect()
        try client.sendAll(frames)
        client.shutdownWrite()  // the end of stream may arrive before the backend connect is done
        #expect(try client.receiveToEnd() == frames, "echoed byte for byte, then the backend's end of stream")
        #expect(backend.accepted == 1)
    }

    @Test func anUploadOverHighWaterBeforeTheConnectArrivesWhole() throws {
        let received = Locked<[UInt8]>([])
        let backend = try ScriptedBackend { socket in
            defer { socket.close() }
            received.withLock { $0 = (try? socket.receiveToEnd()) ?? [] }
            try? socket.send("done")
        }
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address], highWater: "16KiB",
                                       listenerKeys: "backend_connect = \"first_data\"")
        defer { gateway.stop() }
        let upload = patternBytes(count: 4 * 1024 * 1024, seed: 9)
        let client = try gateway.connect()
        try client.sendAll(upload)
        client.shutdownWrite()
        #expect(try client.receiveToEnd() == Array("done".utf8))
        #expect(received.current == upload, "every byte, in order")
    }

    /// A connect that hangs (a full accept queue drops SYNs) and times out before the next
    /// server answers: the client is not read meanwhile, so that second does not count against
    /// the frame it had started.
    @Test func timeSpentConnectingDoesNotCountAgainstTheFrameTimeout() throws {
        let blackHole = try BlackHole()
        defer { blackHole.close() }
        let good = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { good.stop() }
        let gateway = try RelayHarness(servers: [blackHole.address, good.address], connectTimeout: "1s",
                                       listenerKeys: "framing = \"u16be\"\nframe_timeout = \"1s\"\nbackend_connect = \"first_data\"")
        defer { gateway.stop() }
        let client = try gateway.connect()
        try client.sendAll([0, 4, 0x61, 0x62])  // half a frame: its clock starts
        sleepMilliseconds(1600)  // 1 s of it is the hung connect
        try client.sendAll([0x63, 0x64])
        #expect(try client.receiveExactly(6) == [0, 4, 0x61, 0x62, 0x63, 0x64])
        #expect(gateway.backendStatistics.connectTimeouts.value == 1)
        #expect(gateway.guardCounters.closes(.frameTimeout) == 0)
    }

    @Test func byDefaultTheBackendIsConnectedAtAcceptSoAServerMaySpeakFirst() throws {
        let backend = try ScriptedBackend { socket in try? socket.send("hello\n") }
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address], listenerKeys: "framing = \"line\"")
        defer { gateway.stop() }
        let client = try gateway.connect()
        #expect(try client.receiveExactly(6) == Array("hello\n".utf8), "the greeting comes without the client sending")
    }

    /// Whether the gateway closed `client` within 5 s (end of stream or a reset).
    private func closedByPeer(_ client: BlockingSocket) -> Bool {
        let deadline = MonotonicClock.nanoseconds() + 5_000_000_000
        while MonotonicClock.nanoseconds() < deadline {
            switch Result(catching: { try client.receive() }) {
            case .success(let bytes) where bytes.isEmpty: return true
            case .failure(let error as SystemError) where error.errno == ECONNRESET: return true
            default: continue
            }
        }
        return false
    }
}
