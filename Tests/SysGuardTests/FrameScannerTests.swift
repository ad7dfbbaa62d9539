import SysGuard
import Testing

@Suite("FrameScanner: length framings")
struct FrameScannerLengthTests {
    @Test func oneWholeFrame() {
        var harness = ScanHarness(.u16be, maxFrameBytes: 100)
        let scan = harness.feed(Frames.u16be([7, 8, 9]))
        #expect(scan == FrameScan(bytesConsumed: 5, framesCompleted: 1, bytesArrived: 5, framesArrived: 1,
                                  violation: nil, frameInProgress: false))
        #expect(harness.scanner.unconsumedBytes == 0)
    }

    @Test(arguments: [Framing.u16be, .u32be])
    func headerSplitIntoSingleBytes(framing: Framing) {
        var harness = ScanHarness(framing, maxFrameBytes: 100)
        let frame = framing == .u16be ? Frames.u16be([1, 3]) : Frames.u32be([1, 3])
        for (index, byte) in frame.enumerated() {
            let scan = harness.feed([byte], now: Int64(index))
            let isLast = index == frame.count - 1
            #expect(scan.bytesConsumed == 1)
            #expect(scan.bytesArrived == 1)
            #expect(scan.framesCompleted == (isLast ? 1 : 0))
            #expect(scan.framesArrived == (isLast ? 1 : 0))
            #expect(scan.frameInProgress == !isLast)
            #expect(scan.violation == nil)
        }
        #expect(harness.forwarded == frame)
    }

    @Test func aFrameAndAHalfPerCall() {
        // 6-byte frames (2 header + 4 payload) fed 9 bytes at a time: 1, 2, 1, 2 ... frames.
        let stream = (0..<6).flatMap { Frames.u16be(Frames.payload(4, seed: UInt8($0))) }
        var harness = ScanHarness(.u16be, maxFrameBytes: 4)
        var perCall: [Int] = []
        var start = 0
        while start < stream.count {
            let chunk = Array(stream[start..<min(start + 9, stream.count)])
            let scan = harness.feed(chunk)
            #expect(scan.violation == nil)
            #expect(scan.bytesConsumed == chunk.count)
            perCall.append(scan.framesCompleted)
            start += 9
        }
        #expect(perCall == [1, 2, 1, 2])
        #expect(harness.forwarded == stream)
        #expect(harness.scanner.frameInProgress == false)
    }

    @Test func severalFramesInOneReadIncludingEmptyOnes() {
        var harness = ScanHarness(.u32be, maxFrameBytes: 10)
        let stream = Frames.u32be([]) + Frames.u32be([1]) + Frames.u32be([]) + Frames.u32be([2, 3])
        let scan = harness.feed(stream)
        #expect(scan.framesCompleted == 4)
        #expect(scan.framesArrived == 4)
        #expect(scan.bytesConsumed == stream.count)
        #expect(scan.frameInProgress == false)
    }

    @Test func emptyFrameAloneIsAFrame() {
        var harness = ScanHarness(.u16be, maxFrameBytes: 0)
        let scan = harness.feed([0, 0])
        #expect(scan.framesCompleted == 1)
        #expect(scan.violation == nil)
        #expect(harness.feed([0, 1]).violation == .oversized(announcedBytes: 1))
    }

    @Test(arguments: [UInt32(0x7FFF_FFFF), 0x8000_0000, 0xFFFF_FFFF, 1_048_577])
    func oversizedU32HeaderIsRefusedAtOnce(announced: UInt32) {
        var harness = ScanHarness(.u32be, maxFrameBytes: 1_048_576)
        let scan = harness.feed(Frames.header32(announced) + [1, 2, 3])
        #expect(scan.violation == .oversized(announcedBytes: UInt64(announced)))
        #expect(scan.bytesConsumed == 0)
        #expect(scan.framesCompleted == 0)
        #expect(harness.scanner.violation == .oversized(announcedBytes: UInt64(announced)))
    }

    @Test func u32HeaderAtTheLimitIsAccepted() {
        var harness = ScanHarness(.u32be, maxFrameBytes: 1_048_576)
        let scan = harness.feed(Frames.header32(1_048_576) + [1, 2, 3])
        #expect(scan.violation == nil)
        #expect(scan.frameInProgress == true)
        #expect(scan.bytesConsumed == 7)
    }

    @Test func largestU32HeaderWithARoomyLimitIsSkippedNotAllocated() {
        // 4 GiB announced: the scanner only counts down, so feeding 64 KiB costs one step.
        var harness = ScanHarness(.u32be, maxFrameBytes: Int(UInt32.max))
        #expect(harness.feed(Frames.header32(UInt32.max)).frameInProgress == true)
        let scan = harness.feed([UInt8](repeating: 0xAB, count: 65_536))
        #expect(scan.bytesConsumed == 65_536)
        #expect(scan.framesCompleted == 0)
        #expect(scan.frameInProgress == true)
    }

    @Test func u16HeaderOneOverTheLimit() {
        var accepted = ScanHarness(.u16be, maxFrameBytes: 300)
        #expect(accepted.feed([0x01, 0x2C]).violation == nil)  // 300
        var refused = ScanHarness(.u16be, maxFrameBytes: 300)
        #expect(refused.feed([0x01, 0x2D]).violation == .oversized(announcedBytes: 301))
        var largest = ScanHarness(.u16be, maxFrameBytes: 65_534)
        #expect(largest.feed([0xFF, 0xFF]).violation == .oversized(announcedBytes: 65_535))
    }

    @Test func oversizedHeaderSplitAcrossCalls() {
        var harness = ScanHarness(.u32be, maxFrameBytes: 100)
        #expect(harness.feed([0x00, 0x00]).violation == nil)
        #expect(harness.feed([0x00]).violation == nil)
        let scan = harness.feed([0x65])
        #expect(scan.violation == .oversized(announcedBytes: 101))
    }

    @Test func violationAfterValidFramesReportsTheValidPrefix() {
        var harness = ScanHarness(.u16be, maxFrameBytes: 4)
        let valid = Frames.u16be([1, 2]) + Frames.u16be([3])
        let scan = harness.feed(valid + [0x00, 0x05, 1, 2, 3, 4, 5])
        #expect(scan.violation == .oversized(announcedBytes: 5))
        #expect(scan.framesCompleted == 2)
        #expect(scan.framesArrived == 2)
        #expect(scan.bytesConsumed == valid.count)
    }

    @Test func violationIsSticky() {
        var harness = ScanHarness(.u16be, maxFrameBytes: 4)
        _ = harness.feed([0x00, 0x09])
        let again = harness.feed(Frames.u16be([1]))
        #expect(again == FrameScan(bytesConsumed: 0, framesCompleted: 0, bytesArrived: 0, framesArrived: 0,
                                   violation: .oversized(announcedBytes: 9), frameInProgress: false))
    }

    @Test func negativeMaximumIsTakenAsZero() {
        let scanner = FrameScanner(framing: .u16be, maxFrameBytes: -5)
        #expect(scanner.maxFrameBytes == 0)
    }
}

@Suite("FrameScanner: limits and arrivals")
struct FrameScannerLimitTests {
    static let frame = Frames.u16be([1, 2, 3])  // 5 bytes

    @Test func frameLimitStopsExactlyAtAFrameBoundary() {
        var harness = ScanHarness(.u16be, maxFrameBytes: 10)
        let stream = Array([[UInt8]](repeating: Self.frame, count: 5).joined())
        let first = harness.feed(stream, frameLimit: 2)
        #expect(first.bytesConsumed == 10)
        #expect(first.framesCompleted == 2)
        #expect(first.framesArrived == 5)
        #expect(first.bytesArrived == 25)
        #expect(first.frameInProgress == false)
        #expect(harness.scanner.unconsumedBytes == 15)
        // Next window: the held-back frames pass but are not counted as arrivals again.
        let second = harness.feed([], frameLimit: 10)
        #expect(second.bytesConsumed == 15)
        #expect(second.framesCompleted == 3)
        #expect(second.framesArrived == 0)
        #expect(second.bytesArrived == 0)
        #expect(harness.forwarded == stream)
        #expect(harness.scanner.unconsumedBytes == 0)
    }

    @Test func frameLimitZeroConsumesNothingButCountsArrivals() {
        var harness = ScanHarness(.u16be, maxFrameBytes: 10)
        let scan = harness.feed(Self.frame + Self.frame + [0, 3, 1], frameLimit: 0)
        #expect(scan.bytesConsumed == 0)
        #expect(scan.framesCompleted == 0)
        #expect(scan.framesArrived == 2)
        #expect(scan.frameInProgress == true)
    }

    @Test func arrivalsCountOnlyNewBytesIncludingAFrameStartedInTheBacklog() {
        var harness = ScanHarness(.u16be, maxFrameBytes: 10)
        // Frame 1 passes, frame 2 held back, frame 3 half arrived.
        let first = harness.feed(Self.frame + Self.frame + [0, 3, 1], frameLimit: 1)
        #expect(first.framesArrived == 2)
        #expect(harness.pending.count == 8)
        // The rest of frame 3 and a whole frame 4 arrive while still limited to 1 frame.
        let second = harness.feed([2, 3] + Self.frame, frameLimit: 1)
        #expect(second.framesArrived == 2)
        #expect(second.bytesArrived == 7)
        #expect(second.framesCompleted == 1)
        #expect(second.bytesConsumed == 5)
        let third = harness.feed([], frameLimit: .max)
        #expect(third.framesCompleted == 2)
        #expect(third.framesArrived == 0)
        #expect(harness.forwarded == Array([[UInt8]](repeating: Self.frame, count: 4).joined()))
    }

    @Test func oversizedHeaderBehindAHeldBackFrameIsRefusedOnArrival() {
        var harness = ScanHarness(.u16be, maxFrameBytes: 10)
        let scan = harness.feed(Self.frame + Self.frame + [0x00, 0x0B], frameLimit: 1)
        #expect(scan.violation == .oversized(announcedBytes: 11))
        #expect(scan.framesCompleted == 1)
        #expect(scan.bytesConsumed == 5)
        #expect(scan.framesArrived == 2)
    }

    @Test func byteLimitStopsInsideAFrame() {
        var harness = ScanHarness(.u16be, maxFrameBytes: 10)
        let first = harness.feed(Self.frame + Self.frame, byteLimit: 7)
        #expect(first.bytesConsumed == 7)
        #expect(first.framesCompleted == 1)
        #expect(first.framesArrived == 2)
        let second = harness.feed([], byteLimit: 2)
        #expect(second.bytesConsumed == 2)
        #expect(second.framesCompleted == 0)
        let third = harness.feed([], byteLimit: 100)
        #expect(third.bytesConsumed == 1)
        #expect(third.framesCompleted == 1)
        #expect(harness.forwarded == Self.frame + Self.frame)
    }

    @Test func negativeLimitsAreTakenAsZero() {
        var harness = ScanHarness(.u16be, maxFrameBytes: 10)
        #expect(harness.feed(Self.frame, frameLimit: -1).bytesConsumed == 0)
        #expect(harness.feed([], byteLimit: -1).bytesConsumed == 0)
        #expect(harness.feed([]).bytesConsumed == 5)
    }

    @Test func droppedBacklogResynchronisesCountingEverythingAsNew() {
        var scanner = FrameScanner(framing: .u16be, maxFrameBytes: 10)
        let stream = Self.frame + Self.frame
        _ = stream.withUnsafeBytes { scanner.scan($0, frameLimit: 1, now: 0) }
        #expect(scanner.unconsumedBytes == 5)
        let shorter: [UInt8] = [0, 1]
        let scan = shorter.withUnsafeBytes { scanner.scan($0, now: 0) }
        #expect(scan.bytesArrived == 2)
        #expect(scan.framesArrived == 0)
        #expect(scan.frameInProgress == true)
        #expect(scanner.unconsumedBytes == 0)
    }

    @Test func frameStartTimeFollowsTheFrameInProgress() {
        var harness = ScanHarness(.u16be, maxFrameBytes: 10)
        #expect(harness.scanner.frameStartedAtNanoseconds == nil)
        harness.feed([0], now: 10)
        #expect(harness.scanner.frameStartedAtNanoseconds == 10)
        harness.feed([3, 1], now: 20)
        #expect(harness.scanner.frameStartedAtNanoseconds == 10)
        harness.feed([2, 3, 0], now: 30)  // completes it and starts the next
        #expect(harness.scanner.frameStartedAtNanoseconds == 30)
        harness.feed([1, 9], now: 40)
        #expect(harness.scanner.frameStartedAtNanoseconds == nil)
        harness.feed([], now: 50)
        #expect(harness.scanner.frameStartedAtNanoseconds == nil)
    }

    @Test func frameStartTimeCountsArrivalNotConsumption() {
        var harness = ScanHarness(.u16be, maxFrameBytes: 10)
        harness.feed(Self.frame + [0, 3], frameLimit: 0, now: 5)
        #expect(harness.scanner.frameStartedAtNanoseconds == 5)
        harness.feed([], frameLimit: .max, now: 9)
        #expect(harness.scanner.frameStartedAtNanoseconds == 5)
    }
}

@Suite("FrameScanner: line and stream framings")
struct FrameScannerLineTests {
    @Test func linesInOneRead() {
        var harness = ScanHarness(.line, maxFrameBytes: 10)
        let scan = harness.feed(Frames.line("ab") + Frames.line("") + Frames.line("cd"))
        #expect(scan.framesCompleted == 3)
        #expect(scan.bytesConsumed == 7)
        #expect(scan.frameInProgress == false)
    }

    @Test func newlineInTheNextCall() {
        var harness = ScanHarness(.line, maxFrameBytes: 10)
        let first = harness.feed(Array("abc".utf8))
        #expect(first.framesCompleted == 0)
        #expect(first.bytesConsumed == 3)
        #expect(first.frameInProgress == true)
        let second = harness.feed(Array("\nde".utf8))
        #expect(second.framesCompleted == 1)
        #expect(second.bytesConsumed == 3)
        #expect(second.frameInProgress == true)
    }

    @Test func lineExactlyAtTheLimitAcrossCalls() {
        var harness = ScanHarness(.line, maxFrameBytes: 4)
        #expect(harness.feed(Array("ab".utf8)).violation == nil)
        let scan = harness.feed(Array("c\n".utf8))
        #expect(scan.violation == nil)
        #expect(scan.framesCompleted == 1)
    }

    @Test(arguments: ["abcd", "abcd\n", "abcdefgh"])
    func lineTooLongIsRefusedOnceItHoldsTheLimitWithoutNewline(text: String) {
        var harness = ScanHarness(.line, maxFrameBytes: 4)
        let scan = harness.feed(Array(text.utf8))
        #expect(scan.violation == .lineTooLong)
        #expect(scan.bytesConsumed == 0)
    }

    @Test func lineTooLongAcrossCalls() {
        var harness = ScanHarness(.line, maxFrameBytes: 4)
        #expect(harness.feed(Array("ab".utf8)).violation == nil)
        #expect(harness.feed(Array("c".utf8)).violation == nil)
        #expect(harness.feed(Array("d".utf8)).violation == .lineTooLong)
    }

    @Test func lineTooLongAfterValidLines() {
        var harness = ScanHarness(.line, maxFrameBytes: 4)
        let scan = harness.feed(Array("ok\nxxxxxx".utf8))
        #expect(scan.violation == .lineTooLong)
        #expect(scan.framesCompleted == 1)
        #expect(scan.bytesConsumed == 3)
    }

    @Test func limitOfOneAllowsOnlyEmptyLines() {
        var harness = ScanHarness(.line, maxFrameBytes: 1)
        #expect(harness.feed([0x0A, 0x0A]).framesCompleted == 2)
        #expect(harness.feed([0x41]).violation == .lineTooLong)
    }

    @Test func limitOfZeroRefusesAnyByte() {
        var harness = ScanHarness(.line, maxFrameBytes: 0)
        #expect(harness.feed([0x0A]).violation == .lineTooLong)
    }

    @Test func lineFrameLimitAndArrivals() {
        var harness = ScanHarness(.line, maxFrameBytes: 8)
        let scan = harness.feed(Array("a\nb\nc\nd".utf8), frameLimit: 2)
        #expect(scan.framesCompleted == 2)
        #expect(scan.bytesConsumed == 4)
        #expect(scan.framesArrived == 3)
        #expect(scan.frameInProgress == true)
        let next = harness.feed(Array("\n".utf8), frameLimit: 5)
        #expect(next.framesCompleted == 2)
        #expect(next.framesArrived == 1)
        #expect(harness.forwarded == Array("a\nb\nc\nd\n".utf8))
    }

    @Test func streamConsumesEverythingWithoutFrames() {
        var harness = ScanHarness(.stream, maxFrameBytes: 0)
        let scan = harness.feed([UInt8](repeating: 0x0A, count: 100), frameLimit: 0)
        #expect(scan == FrameScan(bytesConsumed: 100, framesCompleted: 0, bytesArrived: 100, framesArrived: 0,
                                  violation: nil, frameInProgress: false))
    }

    @Test func streamHonoursTheByteLimitAndCountsArrivalsOnce() {
        var harness = ScanHarness(.stream, maxFrameBytes: 0)
        let first = harness.feed([UInt8](repeating: 1, count: 100), byteLimit: 30)
        #expect(first.bytesConsumed == 30)
        #expect(first.bytesArrived == 100)
        let second = harness.feed([UInt8](repeating: 2, count: 10), byteLimit: 50)
        #expect(second.bytesConsumed == 50)
        #expect(second.bytesArrived == 10)
        #expect(harness.pending.count == 30)
        #expect(harness.scanner.frameStartedAtNanoseconds == nil)
    }

    @Test func framingRawValuesMatchTheConfig() {
        #expect(Framing.allCases.map(\.rawValue) == ["none", "u16be", "u32be", "line"])
        #expect(Framing(rawValue: "none") == .stream)
        #expect(FrameViolation.lineTooLong.closeReason == .frameTooLarge)
    }
}

@Suite("FrameScanner: randomized against a reference split")
struct FrameScannerRandomizedTests {
    @Test(arguments: [Framing.u16be, .u32be, .line], [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func anyChunkingAndLimitsFindTheSameFrames(framing: Framing, seed: UInt64) {
        var random = SplitMix64(state: seed &* 0x1000_0001 &+ UInt64(framing.headerBytes))
        let maxFrameBytes = 40
        var stream: [UInt8] = []
        let frameCount = Int.random(in: 50...120, using: &random)
        for index in 0..<frameCount {
            let length = Int.random(in: 0...(framing == .line ? maxFrameBytes - 1 : maxFrameBytes), using: &random)
            let payload = Frames.payload(length, seed: UInt8(truncatingIfNeeded: index))
            switch framing {
            case .u16be: stream += Frames.u16be(payload)
            case .u32be: stream += Frames.u32be(payload)
            case .line, .stream: stream += payload + [0x0A]
            }
        }
        var harness = ScanHarness(framing, maxFrameBytes: maxFrameBytes)
        var position = 0
        var completed = 0
        var arrived = 0
        var bytesArrived = 0
        while position < stream.count || !harness.pending.isEmpty {
            let chunk = min(Int.random(in: 0...23, using: &random), stream.count - position)
            let frameLimit = Bool.random(using: &random) ? .max : Int.random(in: 0...3, using: &random)
            let byteLimit = Bool.random(using: &random) ? .max : Int.random(in: 0...30, using: &random)
            let scan = harness.feed(Array(stream[position..<position + chunk]), frameLimit: frameLimit, byteLimit: byteLimit)
            #expect(scan.violation == nil)
            #expect(scan.framesCompleted <= frameLimit)
            #expect(scan.bytesConsumed <= byteLimit)
            position += chunk
            completed += scan.framesCompleted
            arrived += scan.framesArrived
            bytesArrived += scan.bytesArrived
        }
        #expect(completed == frameCount)
        #expect(arrived == frameCount)
        #expect(bytesArrived == stream.count)
        #expect(harness.forwarded == stream)
        #expect(harness.scanner.frameInProgress == false)
    }
}
