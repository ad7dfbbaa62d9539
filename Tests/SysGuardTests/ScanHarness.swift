import SysGuard

/// Plays the relay's side of the `FrameScanner` contract: bytes not consumed are kept and
/// handed back first, followed by what arrives next.
struct ScanHarness {
    var scanner: FrameScanner
    private(set) var pending: [UInt8] = []
    private(set) var forwarded: [UInt8] = []

    init(_ framing: Framing, maxFrameBytes: Int) {
        scanner = FrameScanner(framing: framing, maxFrameBytes: maxFrameBytes)
    }

    @discardableResult
    mutating func feed(_ newBytes: [UInt8], frameLimit: Int = .max, byteLimit: Int = .max, now: Int64 = 0) -> FrameScan {
        pending += newBytes
        let result = pending.withUnsafeBytes { scanner.scan($0, frameLimit: frameLimit, byteLimit: byteLimit, now: now) }
        forwarded += pending[..<result.bytesConsumed]
        pending.removeFirst(result.bytesConsumed)
        return result
    }
}

enum Frames {
    static func u16be(_ payload: [UInt8]) -> [UInt8] {
        [UInt8(payload.count >> 8 & 0xFF), UInt8(payload.count & 0xFF)] + payload
    }

    static func u32be(_ payload: [UInt8]) -> [UInt8] {
        header32(UInt32(payload.count)) + payload
    }

    static func header32(_ length: UInt32) -> [UInt8] {
        [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)]
    }

    static func line(_ text: String) -> [UInt8] {
        Array(text.utf8) + [UInt8(ascii: "\n")]
    }

    static func payload(_ count: Int, seed: UInt8 = 1) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) | 1 }  // never "\n" (0x0A is even)
    }
}

/// A small deterministic generator, so a failing randomized case can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}
