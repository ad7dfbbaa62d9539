/// Cuts a mux client's byte stream into frames (the listener's framing) and hands each payload
/// on. A frame that arrives in one read is passed as a slice of that read (no copy); only a
/// frame cut by a read boundary is assembled in `pending`, which never holds more than one
/// frame (at most `max_frame` plus its header). `max_frame` bounds a payload, or a line with
/// its "\n" (docs/config.md).
public struct FrameSplitter: Sendable {
    private var pending: [UInt8] = []
    /// When the frame held in `pending` began (for the frame timeout); nil with none held.
    public private(set) var frameStartedAtNanoseconds: Int64?
    /// Int32 and next to `framing`: one splitter per session, so its size counts.
    private let maxFrameLimit: Int32
    public let framing: Framing
    public var maxFrameBytes: Int { Int(maxFrameLimit) }

    public init(framing: Framing, maxFrameBytes: Int) {
        self.framing = framing
        maxFrameLimit = Int32(clamping: maxFrameBytes)
    }

    public enum Outcome: Equatable, Sendable {
        case ok
        /// A frame larger than max_frame (or a line without "\n" past it): close the client.
        case tooLarge
    }

    /// Bytes of an incomplete frame held.
    public var pendingBytes: Int { pending.count }

    /// Splits `bytes` (read at `now`); `deliver` gets each complete payload, in order.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, now: Int64, _ deliver: (UnsafeRawBufferPointer) -> Void) -> Outcome {
        var startedNewFrame = false
        let outcome = split(bytes, deliver, startedNewFrame: &startedNewFrame)
        if pending.isEmpty {
            frameStartedAtNanoseconds = nil
        } else if startedNewFrame || frameStartedAtNanoseconds == nil {
            frameStartedAtNanoseconds = now
        }
        return outcome
    }

    /// `startedNewFrame`: this read left `pending` holding a frame other than the one held before.
    private mutating func split(_ bytes: UnsafeRawBufferPointer, _ deliver: (UnsafeRawBufferPointer) -> Void,
                                startedNewFrame: inout Bool) -> Outcome {
        var offset = 0
        if !pending.isEmpty {
            // First complete the frame an earlier read began, taking only the bytes it needs.
            switch completePending(bytes, &offset, deliver) {
            case .tooLarge: return .tooLarge
            case .ok where !pending.isEmpty: return .ok  // still incomplete: this read is used up
            case .ok: break
            }
        }
        while offset < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            if framing == .line {
                // max_frame counts the line with its "\n": a payload of at most max_frame - 1.
                guard let newline = rest.firstIndex(of: 10) else {
                    guard rest.count < maxFrameBytes else { return .tooLarge }
                    pending.append(contentsOf: rest)
                    startedNewFrame = true
                    return .ok
                }
                guard newline < maxFrameBytes else { return .tooLarge }
                deliver(UnsafeRawBufferPointer(rebasing: rest[..<newline]))
                offset += newline + 1
                continue
            }
            guard rest.count >= headerBytes else {
                pending.append(contentsOf: rest)
                startedNewFrame = true
                return .ok
            }
            let length = Self.readLength(rest, headerBytes: headerBytes)
            guard length <= maxFrameBytes else { return .tooLarge }
            guard rest.count >= headerBytes + length else {
                // Holds what arrived, never the announced length: a header may lie about
                // what follows (60 KiB announced, 10 bytes sent).
                pending.append(contentsOf: rest)
                startedNewFrame = true
                return .ok
            }
            deliver(UnsafeRawBufferPointer(rebasing: rest[headerBytes..<headerBytes + length]))
            offset += headerBytes + length
        }
        return .ok
    }

    /// Moves bytes from `bytes[offset...]` into `pending` until its frame is whole (then
    /// delivers it and empties `pending`) or the bytes run out.
    private mutating func completePending(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int,
                                          _ deliver: (UnsafeRawBufferPointer) -> Void) -> Outcome {
        if framing == .line {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            guard let newline = rest.firstIndex(of: 10) else {
                pending.append(contentsOf: rest)
                offset = bytes.count
                return pending.count >= maxFrameBytes ? .tooLarge : .ok
            }
            pending.append(contentsOf: rest[..<newline])
            offset += newline + 1
            guard pending.count < maxFrameBytes else { return .tooLarge }
            pending.withUnsafeBytes { deliver($0) }
            pending.removeAll(keepingCapacity: false)
            return .ok
        }
        if pending.count < headerBytes {
            let take = min(headerBytes - pending.count, bytes.count - offset)
            pending.append(contentsOf: bytes[offset..<offset + take])
            offset += take
            guard pending.count == headerBytes else { return .ok }
        }
        let length = pending.withUnsafeBytes { Self.readLength($0, headerBytes: headerBytes) }
        guard length <= maxFrameBytes else { return .tooLarge }
        let take = min(headerBytes + length - pending.count, bytes.count - offset)
        pending.append(contentsOf: bytes[offset..<offset + take])
        offset += take
        guard pending.count == headerBytes + length else { return .ok }
        pending.withUnsafeBytes { deliver(UnsafeRawBufferPointer(rebasing: $0[headerBytes...])) }
        pending.removeAll(keepingCapacity: false)
        return .ok
    }

    private var headerBytes: Int { framing == .u16be ? 2 : 4 }

    private static func readLength(_ bytes: UnsafeRawBufferPointer, headerBytes: Int) -> Int {
        var length = 0
        for index in 0..<headerBytes { length = length << 8 | Int(bytes[index]) }
        return length
    }

    /// Calls `body` with what this framing puts before a payload going to the client and what
    /// after it ("line": nothing before, "\n" after), from a stack buffer: no allocation per frame.
    @inline(__always)
    public static func withFraming<Result>(_ framing: Framing, payloadCount: Int,
                                    _ body: (_ before: UnsafeRawBufferPointer, _ after: UnsafeRawBufferPointer) -> Result) -> Result {
        var bytes: UInt32 = 0
        return withUnsafeMutableBytes(of: &bytes) { raw in
            let empty = UnsafeRawBufferPointer(rebasing: raw[0..<0])
            switch framing {
            case .u16be:
                raw[0] = UInt8(truncatingIfNeeded: payloadCount >> 8)
                raw[1] = UInt8(truncatingIfNeeded: payloadCount)
                return body(UnsafeRawBufferPointer(rebasing: raw[0..<2]), empty)
            case .u32be:
                for index in 0..<4 { raw[index] = UInt8(truncatingIfNeeded: payloadCount >> (24 - 8 * index)) }
                return body(UnsafeRawBufferPointer(rebasing: raw[0..<4]), empty)
            case .line:
                raw[0] = UInt8(ascii: "\n")
                return body(empty, UnsafeRawBufferPointer(rebasing: raw[0..<1]))
            case .stream:
                return body(empty, empty)
            }
        }
    }
}
