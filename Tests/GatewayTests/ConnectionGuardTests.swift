import BulwarkSys
import BulwarkTestSupport
import Gateway
import Glibc
import Synchronization
import Testing

/// SysGuard's per-connection limits on real sockets.
@Suite(.serialized) struct ConnectionGuardTests {
    /// Waits for the gateway to close `client`: returns the milliseconds it took, or nil.
    private func millisecondsUntilClosed(_ client: BlockingSocket, limit: Int = 5000) -> Int64? {
        let started = MonotonicClock.nanoseconds()
        while (MonotonicClock.nanoseconds() - started) / 1_000_000 < limit {
            switch Result(catching: { try client.receive() }) {
            case .success(let bytes) where bytes.isEmpty: return (MonotonicClock.nanoseconds() - started) / 1_000_000
            case .failure(let error as SystemError) where error.errno == ECONNRESET:
                return (MonotonicClock.nanoseconds() - started) / 1_000_000
            default: continue
            }
        }
        return nil
    }

    @Test func anIdleConnectionIsClosedOnTimeAndAnActiveOneNever() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address], guardSection: "idle_timeout = \"500ms\"")
        defer { gateway.stop() }
        let idle = try gateway.connect()
        let active = try gateway.connect()
        // Taken before the last exchange: the gateway's last activity (forwarding the echo) comes
        // after it, so a close earlier than 500 ms after the gateway last saw traffic shows.
        let quietSince = MonotonicClock.nanoseconds()
        try idle.send("x")
        #expect(try idle.receiveExactly(1) == [UInt8(ascii: "x")])
        let activeThread = try NativeThread.start(name: "active") {
            for round in 0..<15 {  // 1.5 s of traffic every 100 ms
                try? active.send("a")
                _ = try? active.receiveExactly(1)
                if round < 14 { usleep(100_000) }
            }
        }
        let closedAfter = try #require(millisecondsUntilClosed(idle))
        let sinceQuiet = (MonotonicClock.nanoseconds() - quietSince) / 1_000_000
        activeThread.join()
        // Never early; late by at most 700 ms of scheduling (this also runs under ThreadSanitizer
        // beside other suites), and still while the active connection's 1.5 s of traffic goes on.
        #expect(sinceQuiet >= 500 && closedAfter <= 1200, "closed \(sinceQuiet) ms after its last byte")
        try active.send("b")
        #expect(try active.receiveExactly(1) == [UInt8(ascii: "b")], "the active connection is still open")
        #expect(gateway.guardCounters.closes(.idleTimeout) == 1)
    }

    @Test func aHeaderAnnouncingMoreThanMaxFrameClosesAtOnceAndForwardsNothing() throws {
        let received = Locked<Int>(0)
        let backend = try ScriptedBackend { socket in
            let bytes = (try? socket.receiveToEnd()) ?? []
            received.withLock { $0 += bytes.count }
        }
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address],
                                       listenerKeys: "framing = \"u32be\"\nmax_frame = \"1KiB\"")
        defer { gateway.stop() }
        for header: [UInt8] in [[0, 0, 4, 1], [0x7F, 0xFF, 0xFF, 0xFF], [0x80, 0, 0, 0], [0xFF, 0xFF, 0xFF, 0xFF]] {
            let client = try gateway.connect()
            try client.sendAll(header + [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
            let closedAfter = try #require(millisecondsUntilClosed(client))
            #expect(closedAfter < 500, "closed at once, not by the 30 s frame_timeout")
        }
        #expect(gateway.guardCounters.closes(.frameTooLarge) == 4)
        sleepMilliseconds(100)
        #expect(received.current == 0, "nothing of an oversized frame is forwarded")
    }

    @Test func theSoftPacketRateHoldsFramesBackAndTheHardRateCloses() throws {
        let received = Locked<[UInt8]>([])
        let backend = try ScriptedBackend { socket in
            while let chunk = try? socket.receive(), !chunk.isEmpty { received.withLock { $0 += chunk } }
        }
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address], listenerKeys: """
            framing = "u16be"
            packet_rate_soft = 100
            packet_rate_hard = 1000
            """)
        defer { gateway.stop() }
        // 250 one-byte frames at once: over soft, under hard.
        let frames = (0..<250).flatMap { index -> [UInt8] in [0, 1, UInt8(truncatingIfNeeded: index)] }
        let client = try gateway.connect()
        try client.sendAll(frames)
        sleepMilliseconds(500)
        let firstWindow = received.current.count / 3
        #expect(firstWindow == 100, "the first window forwards exactly the soft limit, got \(firstWindow)")
        #expect(eventually(timeoutMilliseconds: 4000) { received.current.count == frames.count })
        #expect(received.current == frames, "held frames arrive later, in order, byte for byte")

        // 2000 frames in one burst: over the hard limit.
        let flooder = try gateway.connect()
        try? flooder.sendAll((0..<2000).flatMap { _ in [UInt8(0), 1, 7] })
        #expect(millisecondsUntilClosed(flooder) != nil)
        #expect(gateway.guardCounters.closes(.packetRate) == 1)
    }

    @Test func aSlowReaderIsClosedAtItsSendBufferCapAndOthersAreUnaffected() throws {
        // More than the kernel's socket buffers on both sides can absorb (they autotune to
        // several MiB on loopback), so the gateway has to queue.
        let push = patternBytes(count: 24 * 1024 * 1024, seed: 5)
        let backend = try ScriptedBackend { socket in
            guard let first = try? socket.receive(), !first.isEmpty else { return }
            if first == Array("push".utf8) { try? socket.sendAll(push) } else {
                try? socket.sendAll(first)
                ScriptedBackend.echo(socket)
            }
        }
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address], highWater: "1MiB",
                                       guardSection: "max_send_buffer = \"64KiB\"")
        defer { gateway.stop() }
        let slow = try gateway.connect()
        let normal = try gateway.connect()
        try slow.send("push")  // and never read
        #expect(eventually(timeoutMilliseconds: 10_000) { gateway.guardCounters.closes(.sendBuffer) == 1 })
        for round in 0..<10 {
            let message = patternBytes(count: 1000, seed: UInt32(round))
            try normal.sendAll(message)
            #expect(try normal.receiveExactly(1000) == message)
        }
        #expect(eventually { gateway.pool.chunksInUse == 0 }, "the closed reader's queue went back to the pool")
    }

    @Test func aFrameTooSlowToCompleteIsClosedByTheFrameTimeout() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address], listenerKeys: """
            framing = "u16be"
            frame_timeout = "400ms"
            idle_timeout = "10s"
            """)
        defer { gateway.stop() }
        let client = try gateway.connect()
        let started = MonotonicClock.nanoseconds()
        try client.sendAll([0, 100, 1])  // a frame of 100 bytes, one sent
        let dripper = try NativeThread.start(name: "drip") {
            for _ in 0..<8 {  // one byte every 100 ms: never idle, never a whole frame
                usleep(100_000)
                try? client.sendAll([1])
            }
        }
        let closed = millisecondsUntilClosed(client) != nil
        let elapsed = (MonotonicClock.nanoseconds() - started) / 1_000_000
        dripper.join()
        #expect(closed)
        #expect(elapsed >= 400 && elapsed < 1200, "closed after \(elapsed) ms, not by the 10 s idle timeout")
        #expect(gateway.guardCounters.closes(.frameTimeout) == 1)
    }

    @Test func timerfdsAreClosedWithTheirConnections() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address], guardSection: "idle_timeout = \"30s\"")
        defer { gateway.stop() }
        sleepMilliseconds(50)
        let baseline = try #require(FileDescriptors.openCount())
        var clients: [BlockingSocket] = []
        for _ in 0..<50 {
            let client = try gateway.connect()
            try client.send("z")
            _ = try client.receiveExactly(1)
            clients.append(client)
        }
        #expect(gateway.runtime.sessions.sessionsHoldingTimers == 50)
        for client in clients { client.close() }
        #expect(eventually(timeoutMilliseconds: 3000) { gateway.runtime.sessions.count == 0 })
        // Process-wide, so other suites running in parallel move it a little; a leak of the
        // 50 timerfds (or of anything per connection) would not fit in the margin.
        #expect(eventually(timeoutMilliseconds: 3000) { (FileDescriptors.openCount() ?? .max) <= baseline + 10 })
    }

    /// Without an idle or frame timeout or a rate limit, the session's timerfd serves only the
    /// connect and is closed once connected: 2 files per relayed connection instead of 3.
    @Test func withoutTimeoutsAConnectionKeepsNoTimer() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        func sessionsWithTimers(_ guardSection: String) throws -> Int {
            let gateway = try RelayHarness(servers: [backend.address], guardSection: guardSection)
            defer { gateway.stop() }
            let clients = try (0..<20).map { _ in try gateway.connect() }
            for client in clients {
                try client.send("t")
                _ = try client.receiveExactly(1)
            }
            #expect(gateway.runtime.sessions.count == 20)
            return gateway.runtime.sessions.sessionsHoldingTimers
        }
        #expect(try sessionsWithTimers("idle_timeout = \"0s\"\nframe_timeout = \"0s\"") == 0)
        #expect(try sessionsWithTimers("idle_timeout = \"5m\"") == 20)
    }
}
