/// Finds frame boundaries in a client's byte stream, incrementally and without allocating.
///
/// The contract: each `scan` is given the bytes it has not consumed yet, in stream order: first
/// the tail the previous call left unconsumed (unchanged), then whatever arrived since. It
/// consumes at most `frameLimit` frames and `byteLimit` bytes (the rate allowances) and the
/// caller keeps the rest for a later window.
///
/// Two cursors walk the stream. The consumption cursor stops at the limits; the arrival cursor
/// sees every byte once, as it arrives, so the hard rate limits count what was received and an
/// oversized header is refused as soon as it arrives, even behind a paused backlog. Each byte is
/// scanned at most twice (once ahead, once when it is consumed), and once when nothing is held
/// back.
///
/// Frame timeout: `frameStartedAtNanoseconds` is the `now` of the scan in which the first byte
/// of the frame still in progress arrived, nil when no frame is in progress. The caller should
/// not hold it against a client while it has paused reading that client itself.
public struct FrameScanner: Sendable {
    public let framing: Framing
    /// Largest payload (length framings) or line including its "\n" (line framing).
    public let maxFrameBytes: Int
    private var consumption = FrameCursor()
    private var arrival = FrameCursor()
    /// Bytes handed to an earlier call and not consumed; the next call must start with them.
    public private(set) var unconsumedBytes = 0
    public private(set) var frameStartedAtNanoseconds: Int64?
    /// Once set, every later scan refuses its input with the same violation.
    public private(set) var violation: FrameViolation?

    public init(framing: Framing, maxFrameBytes: Int) {
        self.framing = framing
        self.maxFrameBytes = max(0, maxFrameBytes)
    }

    /// Some bytes of a frame have arrived but not its last one.
    public var frameInProgress: Bool { arrival.isInProgress }

    public mutating func scan(_ bytes: UnsafeRawBufferPointer, frameLimit: Int = .max, byteLimit: Int = .max,
                              now: Int64) -> FrameScan {
        if let violation {
            return FrameScan(bytesConsumed: 0, framesCompleted: 0, bytesArrived: 0, framesArrived: 0,
                             violation: violation, frameInProgress: arrival.isInProgress)
        }
        if unconsumedBytes > bytes.count {
            // The caller dropped bytes it had to hand back: resynchronise, counting all as new
            // (errs towards counting too much, never too little).
            unconsumedBytes = 0
            arrival = consumption
        }
        let newBytesStart = unconsumedBytes
        let bytesArrived = bytes.count - newBytesStart
        let wasInProgress = arrival.isInProgress

        let consumed = consumption.advance(over: bytes, from: 0, frameLimit: max(0, frameLimit),
                                           byteLimit: max(0, byteLimit), framing: framing, maxFrameBytes: maxFrameBytes)
        var framesArrived: Int
        var arrivalViolation: FrameViolation?
        if newBytesStart == 0 {
            // Both cursors stood at the same place: continue ahead from where consumption stopped.
            arrival = consumption
            framesArrived = consumed.frames
            if consumed.violation == nil && consumed.end < bytes.count {
                let ahead = arrival.advance(over: bytes, from: consumed.end, frameLimit: .max, byteLimit: .max,
                                            framing: framing, maxFrameBytes: maxFrameBytes)
                framesArrived += ahead.frames
                arrivalViolation = ahead.violation
            }
        } else {
            let ahead = arrival.advance(over: bytes, from: newBytesStart, frameLimit: .max, byteLimit: .max,
                                        framing: framing, maxFrameBytes: maxFrameBytes)
            framesArrived = ahead.frames
            arrivalViolation = ahead.violation
        }

        let violation = consumed.violation ?? arrivalViolation
        if let violation {
            self.violation = violation
            unconsumedBytes = 0
            frameStartedAtNanoseconds = nil
        } else {
            unconsumedBytes = bytes.count - consumed.end
            if !arrival.isInProgress {
                frameStartedAtNanoseconds = nil
            } else if !wasInProgress || framesArrived > 0 || frameStartedAtNanoseconds == nil {
                frameStartedAtNanoseconds = now
            }
        }
        return FrameScan(bytesConsumed: consumed.end, framesCompleted: consumed.frames, bytesArrived: bytesArrived,
                         framesArrived: framesArrived, violation: violation, frameInProgress: arrival.isInProgress)
    }
}
