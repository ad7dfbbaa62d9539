import SysGuard

/// The frame rules of docs/config.md written as plainly as possible, on a whole buffer: the
/// reference the incremental decoders are compared with.
struct ReferenceFrameDecoder {
    struct Frame: Equatable {
        /// Offset of the frame's first byte in the stream.
        var start: Int
        /// Offset just past its last byte.
        var end: Int
        /// What a mux session hands on: the payload, without header or "\n".
        var payload: ArraySlice<UInt8>
    }

    struct Violation: Equatable {
        var kind: FrameViolation
        /// Where the violating frame starts.
        var frameStart: Int
        /// Bytes of the stream that must have arrived before the violation can be seen: the
        /// end of the length header, or `max_frame` bytes of a line without its "\n".
        var knownAt: Int
    }

    let framing: Framing
    var frames: [Frame] = []
    var violation: Violation?
    /// Where the frame still incomplete at the end begins; nil when the stream ends on a boundary.
    var incompleteStart: Int?

    init(_ bytes: [UInt8], framing: Framing, maxFrameBytes: Int) {
        self.framing = framing
        var position = 0
        while position < bytes.count {
            switch framing {
            case .stream:
                return
            case .u16be, .u32be:
                let header = framing.headerBytes
                guard bytes.count - position >= header else { incompleteStart = position; return }
                let length = bytes[position..<position + header].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                guard length <= UInt64(maxFrameBytes) else {
                    violation = Violation(kind: .oversized(announcedBytes: length), frameStart: position,
                                          knownAt: position + header)
                    return
                }
                let end = position + header + Int(length)
                guard end <= bytes.count else { incompleteStart = position; return }
                frames.append(Frame(start: position, end: end, payload: bytes[(position + header)..<end]))
                position = end
            case .line:
                // A line, its "\n" included, may be at most maxFrameBytes long.
                let newline = bytes[position...].firstIndex(of: UInt8(ascii: "\n"))
                let lineEnd = newline.map { $0 + 1 } ?? bytes.count
                if lineEnd - position > maxFrameBytes || (newline == nil && lineEnd - position >= maxFrameBytes) {
                    violation = Violation(kind: .lineTooLong, frameStart: position, knownAt: position + maxFrameBytes)
                    return
                }
                guard let newline else { incompleteStart = position; return }
                frames.append(Frame(start: position, end: newline + 1, payload: bytes[position..<newline]))
                position = newline + 1
            }
        }
    }
}
