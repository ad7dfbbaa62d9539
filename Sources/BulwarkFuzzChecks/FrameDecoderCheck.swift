import SysGuard

/// Fuzz target `frames`: the two incremental frame decoders against `ReferenceFrameDecoder`,
/// with the stream cut into reads at points the fuzzer picks.
///
/// Input: framing (1 byte), max_frame (2 bytes, 1...65536), number of cuts (1 byte, up to 31),
/// the cuts (2 bytes each), the frame and rate allowances for the scanner (1 byte each), then
/// the stream.
public enum FrameDecoderCheck {
    public static func run(_ data: [UInt8]) {
        var input = FuzzInput(data)
        let framing = Framing.allCases[Int(input.byte()) % Framing.allCases.count]
        let maxFrameBytes = input.uint16() + 1
        let cutCount = Int(input.byte() % 32)
        let cutChoices = input.cuts(over: 0xFFFF, cutCount: cutCount)
        let frameAllowance = Int(input.byte())
        let byteAllowance = Int(input.byte()) * 64
        let stream = input.rest
        // Cut points were drawn over 0...65535; scale them onto this stream.
        let cuts = cutChoices.map { $0 * stream.count / 0xFFFF }
        let reference = ReferenceFrameDecoder(stream, framing: framing, maxFrameBytes: maxFrameBytes)
        checkSplitter(stream, cuts: cuts, framing: framing, maxFrameBytes: maxFrameBytes, reference: reference)
        checkScanner(stream, cuts: cuts, framing: framing, maxFrameBytes: maxFrameBytes, reference: reference,
                     frameAllowance: frameAllowance == 0 ? .max : frameAllowance,
                     byteAllowance: byteAllowance == 0 ? .max : byteAllowance)
    }

    /// The piece index holding stream offset `offset` (the read in which that byte arrived).
    private static func piece(holding offset: Int, cuts: [Int]) -> Int {
        var index = 0
        while index + 2 < cuts.count && cuts[index + 1] <= offset { index += 1 }
        return index
    }

    /// The mux decoder: delivers exactly the reference's payloads, refuses exactly when it
    /// does (in the read that made the violation visible), holds exactly the incomplete tail.
    static func checkSplitter(_ stream: [UInt8], cuts: [Int], framing: Framing, maxFrameBytes: Int,
                              reference: ReferenceFrameDecoder) {
        guard framing != .stream else { return }  // mux listeners always have a framing
        var splitter = FrameSplitter(framing: framing, maxFrameBytes: maxFrameBytes)
        var payloads: [[UInt8]] = []
        var refusedInPiece: Int?
        stream.withUnsafeBytes { all in
            for index in 0..<cuts.count - 1 {
                let piece = UnsafeRawBufferPointer(rebasing: all[cuts[index]..<cuts[index + 1]])
                let outcome = splitter.feed(piece, now: Int64(index)) { payloads.append(Array($0)) }
                if outcome == .tooLarge { refusedInPiece = index; break }
                let started = splitter.frameStartedAtNanoseconds
                let expectedStart = inProgressStart(reference, arrived: cuts[index + 1], cuts: cuts)
                require(started == expectedStart.map(Int64.init),
                        "splitter frame start \(String(describing: started)), expected \(String(describing: expectedStart)) after piece \(index)")
            }
        }
        let expectedPayloads = reference.frames.map { Array($0.payload) }
        if let violation = reference.violation {
            let expectedPiece = piece(holding: violation.knownAt - 1, cuts: cuts)
            require(refusedInPiece == expectedPiece,
                    "splitter refused in piece \(String(describing: refusedInPiece)), expected \(expectedPiece) for \(violation)")
            require(payloads == expectedPayloads, "splitter delivered \(payloads.count) frames before refusing, expected \(expectedPayloads.count)")
        } else {
            require(refusedInPiece == nil, "splitter refused a valid stream")
            require(payloads == expectedPayloads, "splitter delivered \(payloads.count) frames, expected \(expectedPayloads.count)")
            let held = reference.incompleteStart.map { stream.count - $0 } ?? 0
            // A line framing holds the partial line; a length framing the partial header and payload.
            require(splitter.pendingBytes == held, "splitter holds \(splitter.pendingBytes) bytes, expected \(held)")
        }
    }

    /// The relay's scanner, with a backlog: each scan gets what the last left unconsumed plus
    /// the next read, under the allowances; then the backlog is drained without them.
    static func checkScanner(_ stream: [UInt8], cuts: [Int], framing: Framing, maxFrameBytes: Int,
                             reference: ReferenceFrameDecoder, frameAllowance: Int, byteAllowance: Int) {
        var scanner = FrameScanner(framing: framing, maxFrameBytes: maxFrameBytes)
        var consumedUpTo = 0  // stream offset the consumption reached
        var framesCompleted = 0
        var framesArrived = 0
        var bytesArrived = 0
        var violationInPiece: Int?
        var now = Int64(0)
        var arrived = 0
        func scan(upTo end: Int, frameLimit: Int, byteLimit: Int) -> FrameScan {
            stream.withUnsafeBytes { all in
                scanner.scan(UnsafeRawBufferPointer(rebasing: all[consumedUpTo..<end]), frameLimit: frameLimit,
                             byteLimit: byteLimit, now: now)
            }
        }
        for index in 0..<cuts.count - 1 {
            now = Int64(index)
            arrived = cuts[index + 1]
            let result = scan(upTo: arrived, frameLimit: frameAllowance, byteLimit: byteAllowance)
            require(result.framesCompleted <= frameAllowance && result.bytesConsumed <= byteAllowance,
                    "scan went past its allowances: \(result)")
            framesCompleted += result.framesCompleted
            framesArrived += result.framesArrived
            bytesArrived += result.bytesArrived
            consumedUpTo += result.bytesConsumed
            if let violation = result.violation {
                require(violation == reference.violation?.kind, "scanner saw \(violation), reference \(String(describing: reference.violation))")
                violationInPiece = index
                break
            }
            let expectedStart = inProgressStart(reference, arrived: arrived, cuts: cuts)
            require(scanner.frameStartedAtNanoseconds == expectedStart.map(Int64.init),
                    "scanner frame start \(String(describing: scanner.frameStartedAtNanoseconds)), expected \(String(describing: expectedStart))")
        }
        let completedBefore = { (offset: Int) in reference.frames.filter { $0.end <= offset }.count }
        if let violation = reference.violation {
            let expectedPiece = piece(holding: violation.knownAt - 1, cuts: cuts)
            require(violationInPiece == expectedPiece,
                    "scanner refused in piece \(String(describing: violationInPiece)), expected \(expectedPiece)")
            require(consumedUpTo < violation.knownAt, "scanner let the violating header through")
            require(framesArrived == reference.frames.count, "scanner counted \(framesArrived) frames arrived, expected \(reference.frames.count)")
            return
        }
        require(violationInPiece == nil, "scanner refused a valid stream")
        require(bytesArrived == stream.count, "scanner counted \(bytesArrived) bytes arrived of \(stream.count)")
        require(framesArrived == reference.frames.count, "scanner counted \(framesArrived) frames arrived, expected \(reference.frames.count)")
        // Drain the backlog without allowances (what the relay does in the next rate window).
        now += 1
        var rounds = 0
        while consumedUpTo < stream.count && rounds < 4 {
            let result = scan(upTo: stream.count, frameLimit: .max, byteLimit: .max)
            require(result.bytesArrived == 0 && result.framesArrived == 0, "a backlog scan counted bytes as new: \(result)")
            framesCompleted += result.framesCompleted
            consumedUpTo += result.bytesConsumed
            rounds += 1
        }
        require(consumedUpTo == stream.count, "scanner left \(stream.count - consumedUpTo) bytes unconsumed without limits")
        require(framesCompleted == completedBefore(stream.count), "scanner completed \(framesCompleted) frames, expected \(reference.frames.count)")
        require(scanner.frameInProgress == (reference.incompleteStart != nil && framing != .stream),
                "scanner frameInProgress \(scanner.frameInProgress), reference tail \(String(describing: reference.incompleteStart))")
    }

    /// The read in which the first byte of the frame still incomplete after `arrived` bytes
    /// came; nil when those bytes end on a frame boundary.
    private static func inProgressStart(_ reference: ReferenceFrameDecoder, arrived: Int, cuts: [Int]) -> Int? {
        guard reference.framing != .stream else { return nil }  // no frames, so never one in progress
        let lastEnd = reference.frames.last { $0.end <= arrived }?.end ?? 0
        guard arrived > lastEnd else { return nil }
        return piece(holding: lastEnd, cuts: cuts)
    }
}
