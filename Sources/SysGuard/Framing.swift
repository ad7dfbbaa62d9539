/// Where one packet ends on a listener's client stream.
///
/// The byte-stream case is called `stream` (raw value "none") on purpose: a case named `none`
/// would silently compare equal to `nil` in `Framing(rawValue: text) == .none`.
public enum Framing: String, CaseIterable, Sendable {
    /// A plain byte stream: no frames, only the byte rate applies.
    case stream = "none"
    /// A 2-byte big-endian payload length, then the payload.
    case u16be
    /// A 4-byte big-endian payload length, then the payload.
    case u32be
    /// A line ended by "\n".
    case line

    /// Bytes of the length header; 0 for the framings without one.
    public var headerBytes: Int {
        switch self {
        case .u16be: 2
        case .u32be: 4
        case .stream, .line: 0
        }
    }

    /// The largest payload the header can announce: a larger one cannot be framed at all.
    public var maxPayloadBytes: Int {
        switch self {
        case .u16be: Int(UInt16.max)
        case .u32be: Int(UInt32.max)
        case .stream, .line: Int.max
        }
    }
}

/// Why a frame can never be accepted; the connection is closed at once.
public enum FrameViolation: Equatable, Sendable {
    /// A length header announced more payload bytes than the frame limit.
    case oversized(announcedBytes: UInt64)
    /// A line reached the frame limit without its "\n".
    case lineTooLong

    public var closeReason: CloseReason { .frameTooLarge }
}

/// What one `FrameScanner.scan` call found.
public struct FrameScan: Equatable, Sendable {
    /// Bytes the scanner has moved past; the next call starts at `bytes[bytesConsumed]`. Ends
    /// exactly where the limit stopped the scan; a partial frame at the end is consumed (its
    /// state is kept), so these bytes may be forwarded at once.
    public var bytesConsumed: Int
    /// Frames completed inside the consumed bytes: what the soft packet limit lets pass.
    public var framesCompleted: Int
    /// Bytes not seen by any earlier call: what the hard byte limit counts.
    public var bytesArrived: Int
    /// Frames completed inside those new bytes, consumed or not: what the hard packet limit counts.
    public var framesArrived: Int
    /// Set when a frame can never be accepted; the scanner then refuses all further input.
    public var violation: FrameViolation?
    /// Some bytes of a frame have arrived but not its last one.
    public var frameInProgress: Bool

    public init(bytesConsumed: Int, framesCompleted: Int, bytesArrived: Int, framesArrived: Int,
                violation: FrameViolation?, frameInProgress: Bool) {
        self.bytesConsumed = bytesConsumed
        self.framesCompleted = framesCompleted
        self.bytesArrived = bytesArrived
        self.framesArrived = framesArrived
        self.violation = violation
        self.frameInProgress = frameInProgress
    }
}
