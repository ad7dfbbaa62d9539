/// A position inside the frame structure of a stream: the state one pass of `FrameScanner`
/// carries from one read to the next. Never allocates: a length header only sets a counter.
struct FrameCursor: Equatable, Sendable {
    /// Length-header bytes of the current frame read so far.
    private var headerBytesSeen = 0
    /// The big-endian length assembled from those bytes.
    private var headerValue: UInt32 = 0
    /// Payload bytes of the current frame still to come (length framings).
    private var payloadBytesRemaining = 0
    /// Bytes of the current line seen without its "\n".
    private var lineBytesSeen = 0

    var isInProgress: Bool { headerBytesSeen > 0 || payloadBytesRemaining > 0 || lineBytesSeen > 0 }

    struct Step: Equatable {
        /// Where the pass stopped; on a violation, the end of the last frame it completed.
        var end: Int
        var frames: Int
        var violation: FrameViolation?
    }

    /// Moves over `bytes[start...]`, stopping after `frameLimit` completed frames or
    /// `byteLimit` bytes, whichever comes first, or at the first violation.
    mutating func advance(over bytes: UnsafeRawBufferPointer, from start: Int, frameLimit: Int, byteLimit: Int,
                          framing: Framing, maxFrameBytes: Int) -> Step {
        let available = bytes.count - start
        let end = available <= byteLimit ? bytes.count : start + byteLimit
        switch framing {
        case .stream:
            return Step(end: end, frames: 0, violation: nil)
        case .u16be, .u32be:
            return advanceLengthPrefixed(over: bytes, from: start, to: end, frameLimit: frameLimit,
                                         headerBytes: framing.headerBytes, maxFrameBytes: maxFrameBytes)
        case .line:
            return advanceLines(over: bytes, from: start, to: end, frameLimit: frameLimit, maxFrameBytes: maxFrameBytes)
        }
    }

    /// Jumps over payloads: the cost is per header, not per byte.
    private mutating func advanceLengthPrefixed(over bytes: UnsafeRawBufferPointer, from start: Int, to end: Int,
                                                frameLimit: Int, headerBytes: Int, maxFrameBytes: Int) -> Step {
        var position = start
        var frames = 0
        var lastFrameEnd = start
        while frames < frameLimit && position < end {
            if payloadBytesRemaining > 0 {
                let taken = min(payloadBytesRemaining, end - position)
                position += taken
                payloadBytesRemaining -= taken
                if payloadBytesRemaining == 0 {
                    frames += 1
                    lastFrameEnd = position
                }
                continue
            }
            headerValue = headerValue << 8 | UInt32(bytes[position])
            headerBytesSeen += 1
            position += 1
            guard headerBytesSeen == headerBytes else { continue }
            let announcedBytes = UInt64(headerValue)
            headerBytesSeen = 0
            headerValue = 0
            guard announcedBytes <= UInt64(maxFrameBytes) else {
                return Step(end: lastFrameEnd, frames: frames, violation: .oversized(announcedBytes: announcedBytes))
            }
            if announcedBytes == 0 {  // a valid empty frame
                frames += 1
                lastFrameEnd = position
            } else {
                payloadBytesRemaining = Int(announcedBytes)
            }
        }
        return Step(end: position, frames: frames, violation: nil)
    }

    /// Looks for "\n" only as far as the current line may still reach, so an endless line is
    /// refused after `maxFrameBytes` bytes rather than at the end of the read.
    private mutating func advanceLines(over bytes: UnsafeRawBufferPointer, from start: Int, to end: Int,
                                       frameLimit: Int, maxFrameBytes: Int) -> Step {
        var position = start
        var frames = 0
        var lastFrameEnd = start
        while frames < frameLimit && position < end {
            let searchEnd = position + min(end - position, maxFrameBytes - lineBytesSeen)
            var newline = position
            while newline < searchEnd && bytes[newline] != UInt8(ascii: "\n") { newline += 1 }
            if newline < searchEnd {
                position = newline + 1
                lineBytesSeen = 0
                frames += 1
                lastFrameEnd = position
            } else {
                lineBytesSeen += searchEnd - position
                position = searchEnd
                // The line already holds maxFrameBytes bytes and its "\n" would make one more.
                // This check also keeps the loop moving: past it the search window is never empty.
                if lineBytesSeen >= maxFrameBytes {
                    return Step(end: lastFrameEnd, frames: frames, violation: .lineTooLong)
                }
            }
        }
        return Step(end: position, frames: frames, violation: nil)
    }
}
