import Buffers
import Testing

@Suite struct ByteQueueTests {
    let pool = BufferPool(chunkBytes: 64, maxCachedChunks: 2)

    private func append(_ bytes: [UInt8], to queue: inout ByteQueue) {
        bytes.withUnsafeBytes { queue.append($0, pool: pool) }
    }

    /// Drains the queue the way a socket writer does: region by region, `step` bytes at a time.
    private func drain(_ queue: inout ByteQueue, step: Int) -> [UInt8] {
        var out: [UInt8] = []
        while !queue.isEmpty {
            let region = queue.firstRegion()
            let taken = min(step, region.count)
            out += Array(region[0..<taken])
            queue.consume(taken, pool: pool)
        }
        return out
    }

    @Test func emptyQueueHoldsNoChunks() {
        var queue = ByteQueue()
        #expect(queue.isEmpty == true)
        #expect(queue.firstRegion().count == 0)
        #expect(pool.chunksInUse == 0)
        queue.release(to: pool)
    }

    @Test func keepsOrderAcrossChunks() {
        var queue = ByteQueue()
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        append(Array(data[0..<10]), to: &queue)
        append(Array(data[10..<500]), to: &queue)
        append(Array(data[500...]), to: &queue)
        #expect(queue.count == 1000)
        // 48 payload bytes per 64-byte chunk: 1000 bytes need 21 chunks.
        #expect(pool.chunksInUse == 21)
        #expect(queue.snapshot() == data)
        #expect(drain(&queue, step: 13) == data)
        #expect(pool.chunksInUse == 0)
        queue.release(to: pool)
    }

    @Test func emptiedChunksGoBackToThePoolAtOnce() {
        var queue = ByteQueue()
        append([UInt8](repeating: 1, count: 100), to: &queue)  // 3 chunks
        #expect(pool.chunksInUse == 3)
        queue.consume(48, pool: pool)
        #expect(pool.chunksInUse == 2)
        queue.consume(52, pool: pool)
        #expect(pool.chunksInUse == 0)
        #expect(queue.isEmpty == true)
        // The pool keeps at most maxCachedChunks; the rest went back to the allocator.
        #expect(pool.chunksCached == 2)
        queue.release(to: pool)
    }

    @Test func appendAfterPartialConsumeKeepsOrder() {
        var queue = ByteQueue()
        append([1, 2, 3, 4, 5], to: &queue)
        queue.consume(2, pool: pool)
        append([6, 7], to: &queue)
        #expect(queue.snapshot() == [3, 4, 5, 6, 7])
        #expect(drain(&queue, step: 1) == [3, 4, 5, 6, 7])
        queue.release(to: pool)
    }

    @Test func randomisedAgainstAnArray() {
        var queue = ByteQueue()
        var model: [UInt8] = []
        var generator = SystemRandomNumberGenerator()
        var next: UInt8 = 0
        for _ in 0..<2000 {
            if Bool.random(using: &generator) {
                let count = Int.random(in: 0...150, using: &generator)
                let bytes = (0..<count).map { _ in next &+= 1; return next }
                model += bytes
                append(bytes, to: &queue)
            } else if !model.isEmpty {
                let count = Int.random(in: 1...min(model.count, queue.firstRegion().count), using: &generator)
                #expect(Array(queue.firstRegion()[0..<count]) == Array(model[0..<count]))
                queue.consume(count, pool: pool)
                model.removeFirst(count)
            }
            #expect(queue.count == model.count)
        }
        #expect(queue.snapshot() == model)
        queue.release(to: pool)
        #expect(pool.chunksInUse == 0)
    }

    @Test func releaseReturnsEverything() {
        var queue = ByteQueue()
        append([UInt8](repeating: 9, count: 500), to: &queue)
        #expect(pool.chunksInUse > 0)
        queue.release(to: pool)
        #expect(queue.isEmpty == true)
        #expect(pool.chunksInUse == 0)
    }
}
