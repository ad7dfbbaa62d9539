import BulwarkSys
import BulwarkTestSupport
import Gateway
import Glibc
import Testing

/// Byte rates, frames split and fused across reads, and TCP options on real sockets.
@Suite(.serialized) struct StreamGuardTests {
    @Test func theSoftByteRateSpreadsABurstOverWindows() throws {
        let received = Locked<[UInt8]>([])
        let backend = try ScriptedBackend { socket in
            while let chunk = try? socket.receive(), !chunk.isEmpty { received.withLock { $0 += chunk } }
        }
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address],
                                       guardSection: "byte_rate_soft = 10000\nbyte_rate_hard = 100000")
        defer { gateway.stop() }
        let payload = patternBytes(count: 25_000, seed: 9)
        let client = try gateway.connect()
        let started = MonotonicClock.nanoseconds()
        try client.sendAll(payload)
        sleepMilliseconds(300)
        #expect(received.current.count == 10_000, "the first window passes exactly the soft limit")
        #expect(eventually(timeoutMilliseconds: 5000) { received.current.count == payload.count })
        let elapsedMilliseconds = (MonotonicClock.nanoseconds() - started) / 1_000_000
        #expect(elapsedMilliseconds >= 1900, "three windows were needed, took \(elapsedMilliseconds) ms")
        #expect(received.current == payload)
    }

    /// Bytes held back by a soft rate and released window by window are activity: the idle
    /// timeout does not close a client whose upload the gateway itself is still delivering.
    @Test func heldBytesDrainingKeepTheConnectionFromIdling() throws {
        let received = Locked<[UInt8]>([])
        let backend = try ScriptedBackend { socket in
            while let chunk = try? socket.receive(), !chunk.isEmpty { received.withLock { $0 += chunk } }
        }
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address],
                                       guardSection: "byte_rate_soft = 2000\nidle_timeout = \"1500ms\"")
        defer { gateway.stop() }
        let payload = patternBytes(count: 8000, seed: 3)
        let client = try gateway.connect()
        try client.sendAll(payload)  // then silence: four windows to deliver it
        #expect(eventually(timeoutMilliseconds: 8000) { received.current.count == payload.count })
        let delivered = received.current == payload
        #expect(delivered, "every held byte reached the backend, in order")
        #expect(gateway.guardCounters.closes(.idleTimeout) == 0)
    }

    @Test func aDryRunLimitIsCountedOncePerConnection() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address], guardSection: "dry_run = [\"packet_rate\"]",
                                       listenerKeys: "framing = \"u16be\"\npacket_rate_hard = 10")
        defer { gateway.stop() }
        let client = try gateway.connect()
        let frames: [UInt8] = (0..<50).flatMap { _ -> [UInt8] in [0, 1, 9] }
        for _ in 0..<5 {  // several reads, all over the hard limit
            try client.sendAll(frames)
            #expect(try client.receiveExactly(frames.count) == frames)
        }
        #expect(gateway.guardCounters.closes(.packetRate) == 0)
        #expect(eventually { gateway.guardCounters.dryRunCloses(.packetRate) == 1 })
    }

    @Test func framesSplitIntoSingleBytesAndFusedArriveExactly() throws {
        let received = Locked<[UInt8]>([])
        let backend = try ScriptedBackend { socket in
            while let chunk = try? socket.receive(), !chunk.isEmpty { received.withLock { $0 += chunk } }
        }
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address], listenerKeys: """
            framing = "u16be"
            max_frame = "1KiB"
            packet_rate_soft = 100000
            """)
        defer { gateway.stop() }
        let frames = (0..<40).flatMap { index -> [UInt8] in
            let payload = patternBytes(count: 1 + index * 7, seed: UInt32(index))
            return [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)] + payload
        }
        let client = try gateway.connect()
        var offset = 0
        var step = 1
        while offset < frames.count {  // 1 byte, then ever larger pieces: split and fused frames
            let end = min(frames.count, offset + step)
            try client.sendAll(Array(frames[offset..<end]))
            offset = end
            step = step < 64 ? step + 3 : 1
            usleep(200)
        }
        #expect(eventually { received.current.count == frames.count })
        #expect(received.current == frames)
        #expect(gateway.guardCounters.closes(.frameTooLarge) == 0)
    }

    @Test func noDelayAndKeepaliveAreSetOnAcceptedSockets() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address], guardSection: """
            keepalive_idle = "45s"
            keepalive_interval = "7s"
            keepalive_count = 3
            tcp_defer_accept = "5s"
            """)
        defer { gateway.stop() }
        let client = try gateway.connect()
        try client.send("k")
        #expect(try client.receiveExactly(1) == [UInt8(ascii: "k")])
        let clientAddress = try Sockets.localAddress(client.fd)
        // The gateway runs in this process: find its end of the client's connection by its peer.
        let accepted = try #require((0..<4096).first { fd in
            guard fd != client.fd, let peer = try? Sockets.peerAddress(Int32(fd)) else { return false }
            return peer.description == clientAddress.description
                && (try? Sockets.localAddress(Int32(fd)))?.port == gateway.address.port
        })
        let fd = Int32(accepted)
        // Set on the listening socket once; the kernel copies them into each accepted socket.
        #expect(try Sockets.option(fd, Int32(IPPROTO_TCP), TCP_NODELAY) == 1)
        #expect(try Sockets.option(fd, SOL_SOCKET, SO_KEEPALIVE) == 1)
        #expect(try Sockets.option(fd, Int32(IPPROTO_TCP), TCP_KEEPIDLE) == 45)
        #expect(try Sockets.option(fd, Int32(IPPROTO_TCP), TCP_KEEPINTVL) == 7)
        #expect(try Sockets.option(fd, Int32(IPPROTO_TCP), TCP_KEEPCNT) == 3)
        let listening = try #require((0..<4096).first { fd in
            (try? Sockets.option(Int32(fd), SOL_SOCKET, SO_ACCEPTCONN)) == 1
                && (try? Sockets.localAddress(Int32(fd)))?.port == gateway.address.port
        })
        #expect(try Sockets.option(Int32(listening), Int32(IPPROTO_TCP), TCP_DEFER_ACCEPT) > 0)
    }
}
