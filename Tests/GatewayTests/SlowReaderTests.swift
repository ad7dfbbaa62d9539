import BulwarkSys
import BulwarkTestSupport
import Gateway
import Glibc
import Synchronization
import Testing

@Suite(.serialized) struct SlowReaderTests {
    /// 10 MB each way at once, both ends reading slowly: every byte arrives in order, and the
    /// gateway's queued memory never passes what the high-water marks allow.
    @Test func tenMegabytesEachWayThroughSlowReadersStayBounded() throws {
        let size = 10 * 1024 * 1024
        let toBackend = patternBytes(count: size, seed: 11)
        let toClient = patternBytes(count: size, seed: 22)
        let backendReceived = Locked<[UInt8]>([])
        let backendDone = Atomic<Bool>(false)
        let backend = try ScriptedBackend { socket in
            let writer = try? NativeThread.start(name: "backend-writer") { try? socket.sendAll(toClient) }
            let bytes = readSlowly(socket, total: size)
            backendReceived.withLock { $0 = bytes }
            writer?.join()
            backendDone.store(true, ordering: .releasing)
        }
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address], highWater: "64KiB")
        defer { gateway.stop() }

        let sampling = Atomic<Bool>(true)
        let peakChunks = Atomic<Int>(0)
        let pool = gateway.pool
        let sampler = try NativeThread.start(name: "sampler") {
            while sampling.load(ordering: .relaxed) {
                let inUse = pool.chunksInUse
                if inUse > peakChunks.load(ordering: .relaxed) { peakChunks.store(inUse, ordering: .relaxed) }
                usleep(200)
            }
        }
        let client = try gateway.connect()
        let writer = try NativeThread.start(name: "client-writer") { try? client.sendAll(toBackend) }
        let clientReceived = readSlowly(client, total: size)
        writer.join()
        #expect(eventually(timeoutMilliseconds: 20_000) { backendDone.load(ordering: .acquiring) })
        sampling.store(false, ordering: .relaxed)
        sampler.join()

        #expect(clientReceived == toClient)
        #expect(backendReceived.withLock { $0 } == toBackend)
        // Per direction: at most high water (64 KiB) plus one scratch read (64 KiB) queued, in
        // 16 KiB chunks (16-byte headers), so at most 9 chunks each way.
        let peak = peakChunks.load(ordering: .relaxed)
        #expect(peak > 0, "the slow readers never made the gateway queue anything")
        #expect(peak <= 18)
        client.close()
        #expect(eventually { pool.chunksInUse == 0 })
    }
}

/// Reads `total` bytes in small pieces with pauses: a reader slower than the writer.
private func readSlowly(_ socket: BlockingSocket, total: Int) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(total)
    var reads = 0
    while bytes.count < total {
        guard let chunk = try? socket.receive(maximum: 16 * 1024), !chunk.isEmpty else { break }
        bytes += chunk
        reads += 1
        if reads % 4 == 0 { usleep(1000) }
    }
    return bytes
}
