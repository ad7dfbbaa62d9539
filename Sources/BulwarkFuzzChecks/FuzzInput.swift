/// Reads a fuzzer's input as a few choices (framing, limits, where to cut) followed by the
/// bytes to decode. Past the end every choice reads as 0, so any input is usable.
struct FuzzInput {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func uint16() -> Int { Int(byte()) << 8 | Int(byte()) }

    /// Everything not taken as a choice.
    var rest: [UInt8] { offset < bytes.count ? Array(bytes[offset...]) : [] }

    /// Cuts `count` bytes into pieces: `cutCount` cut points from the input (sorted, duplicates
    /// kept: an empty piece is a read of nothing). Returns the piece boundaries, 0 first and
    /// `count` last.
    mutating func cuts(over count: Int, cutCount: Int) -> [Int] {
        guard count > 0 else { return [0, 0] }
        var points = (0..<cutCount).map { _ in uint16() % (count + 1) }
        points.sort()
        return [0] + points + [count]
    }
}

/// A broken property: stops the fuzzer (or fails the replay test) with what was seen. A trap
/// is how libFuzzer learns of a failure and saves the input, so this is no placeholder.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
             file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("fuzz property broken: \(message())", file: file, line: line) }
}
