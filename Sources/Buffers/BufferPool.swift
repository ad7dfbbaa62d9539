import BulwarkSys
import Synchronization

/// Fixed-size chunks of raw memory for connection queues. A chunk given back is kept for reuse
/// up to `maxCachedChunks`; past that it goes back to the allocator, so an idle gateway that once
/// had a burst does not keep the burst's memory.
public final class BufferPool: @unchecked Sendable {  // @unchecked: `cached` is only touched while holding `lock`
    public let chunkBytes: Int
    public let maxCachedChunks: Int
    private let lock = PthreadLock()
    private var cached: [UnsafeMutableRawPointer] = []
    private let outstanding = Atomic<Int>(0)

    /// Process-wide pool used by connections unless a test supplies its own.
    public static let shared = BufferPool(chunkBytes: 16 * 1024, maxCachedChunks: 64)

    public init(chunkBytes: Int, maxCachedChunks: Int) {
        precondition(chunkBytes > ChunkHeader.size)
        self.chunkBytes = chunkBytes
        self.maxCachedChunks = maxCachedChunks
    }

    deinit {
        for chunk in cached { chunk.deallocate() }
    }

    func take() -> UnsafeMutableRawPointer {
        outstanding.add(1, ordering: .relaxed)
        if let chunk = lock.withLock({ cached.popLast() }) { return chunk }
        return .allocate(byteCount: chunkBytes, alignment: 16)
    }

    func give(_ chunk: UnsafeMutableRawPointer) {
        outstanding.subtract(1, ordering: .relaxed)
        let kept = lock.withLock {
            guard cached.count < maxCachedChunks else { return false }
            cached.append(chunk)
            return true
        }
        if !kept { chunk.deallocate() }
    }

    /// Chunks currently held by queues.
    public var chunksInUse: Int { outstanding.load(ordering: .relaxed) }
    /// Chunks kept for reuse.
    public var chunksCached: Int { lock.withLock { cached.count } }
}

/// Header at the start of every chunk: the queue's links and offsets live in the chunk itself,
/// so an empty queue is three words and allocates nothing.
enum ChunkHeader {
    static let size = 16
    // [0..<8) next chunk pointer, [8..<12) read offset, [12..<16) write offset (from chunk start)

    @inline(__always) static func next(_ chunk: UnsafeMutableRawPointer) -> UnsafeMutableRawPointer? {
        chunk.load(as: UnsafeMutableRawPointer?.self)
    }
    @inline(__always) static func setNext(_ chunk: UnsafeMutableRawPointer, _ next: UnsafeMutableRawPointer?) {
        chunk.storeBytes(of: next, as: UnsafeMutableRawPointer?.self)
    }
    @inline(__always) static func readOffset(_ chunk: UnsafeMutableRawPointer) -> Int {
        Int(chunk.load(fromByteOffset: 8, as: UInt32.self))
    }
    @inline(__always) static func setReadOffset(_ chunk: UnsafeMutableRawPointer, _ offset: Int) {
        chunk.storeBytes(of: UInt32(offset), toByteOffset: 8, as: UInt32.self)
    }
    @inline(__always) static func writeOffset(_ chunk: UnsafeMutableRawPointer) -> Int {
        Int(chunk.load(fromByteOffset: 12, as: UInt32.self))
    }
    @inline(__always) static func setWriteOffset(_ chunk: UnsafeMutableRawPointer, _ offset: Int) {
        chunk.storeBytes(of: UInt32(offset), toByteOffset: 12, as: UInt32.self)
    }
}
