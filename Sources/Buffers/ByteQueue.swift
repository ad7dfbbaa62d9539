/// A FIFO of bytes waiting to be written to a socket, stored in pool chunks linked in a list.
/// Empty, it holds no memory; each chunk goes back to the pool as soon as it has been consumed.
/// Not thread-safe: its owner (a connection) guards it with its own lock.
public struct ByteQueue: ~Copyable {
    private var head: UnsafeMutableRawPointer?
    private var tail: UnsafeMutableRawPointer?
    public private(set) var count = 0

    public init() {}

    deinit {
        precondition(head == nil, "ByteQueue dropped with chunks still held: call release(to:) first")
    }

    public var isEmpty: Bool { count == 0 }

    /// Copies `bytes` behind what is already queued.
    public mutating func append(_ bytes: UnsafeRawBufferPointer, pool: BufferPool) {
        var remaining = bytes
        while !remaining.isEmpty {
            if tail == nil || ChunkHeader.writeOffset(tail!) == pool.chunkBytes {
                let chunk = pool.take()
                ChunkHeader.setNext(chunk, nil)
                ChunkHeader.setReadOffset(chunk, ChunkHeader.size)
                ChunkHeader.setWriteOffset(chunk, ChunkHeader.size)
                if let last = tail { ChunkHeader.setNext(last, chunk) } else { head = chunk }
                tail = chunk
            }
            let chunk = tail!
            let offset = ChunkHeader.writeOffset(chunk)
            let room = pool.chunkBytes - offset
            let taken = min(room, remaining.count)
            (chunk + offset).copyMemory(from: remaining.baseAddress!, byteCount: taken)
            ChunkHeader.setWriteOffset(chunk, offset + taken)
            count += taken
            remaining = UnsafeRawBufferPointer(rebasing: remaining[taken...])
        }
    }

    /// The first contiguous run of queued bytes (empty when the queue is).
    public func firstRegion() -> UnsafeRawBufferPointer {
        guard let chunk = head else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let start = ChunkHeader.readOffset(chunk)
        return UnsafeRawBufferPointer(start: chunk + start, count: ChunkHeader.writeOffset(chunk) - start)
    }

    /// Drops `byteCount` bytes from the front (what a send took); emptied chunks go to the pool.
    public mutating func consume(_ byteCount: Int, pool: BufferPool) {
        precondition(byteCount <= count)
        var remaining = byteCount
        count -= byteCount
        while let chunk = head {
            let start = ChunkHeader.readOffset(chunk)
            let available = ChunkHeader.writeOffset(chunk) - start
            if remaining < available {
                ChunkHeader.setReadOffset(chunk, start + remaining)
                return
            }
            remaining -= available
            // A fully read chunk is released even if it is the tail: an empty queue holds nothing.
            head = ChunkHeader.next(chunk)
            if head == nil { tail = nil }
            pool.give(chunk)
            if remaining == 0 { return }
        }
    }

    /// Gives every chunk back (the connection is closing).
    public mutating func release(to pool: BufferPool) {
        while let chunk = head {
            head = ChunkHeader.next(chunk)
            pool.give(chunk)
        }
        tail = nil
        count = 0
    }

    /// Copies everything queued into an array (tests and diagnostics; allocates).
    public func snapshot() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        var cursor = head
        while let chunk = cursor {
            let start = ChunkHeader.readOffset(chunk)
            bytes.append(contentsOf: UnsafeRawBufferPointer(start: chunk + start, count: ChunkHeader.writeOffset(chunk) - start))
            cursor = ChunkHeader.next(chunk)
        }
        return bytes
    }
}
