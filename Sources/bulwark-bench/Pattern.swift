import Glibc

/// The bytes every message is cut from: a pseudo-random block, and for each (connection,
/// sequence) a different starting offset into it. Messages are sent straight from here and
/// echoes are checked with memcmp against the same place: no copy, no per-message allocation,
/// and an echo delivered to the wrong connection or out of order does not match.
final class Pattern: @unchecked Sendable {  // @unchecked: immutable after init
    static let span = 65536
    let bytes: UnsafeMutableRawPointer
    let length: Int

    init(maximumMessageBytes: Int) {
        length = Self.span + maximumMessageBytes
        bytes = .allocate(byteCount: length, alignment: 64)
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        for index in 0..<length {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            bytes.storeBytes(of: UInt8(truncatingIfNeeded: state >> 24), toByteOffset: index, as: UInt8.self)
        }
    }

    deinit { bytes.deallocate() }

    /// Where message `sequence` of connection `connection` starts.
    @inline(__always)
    func offset(connection: Int, sequence: UInt64) -> Int {
        var mixed = UInt64(truncatingIfNeeded: connection) &* 0x9E37_79B9_7F4A_7C15 ^ sequence &* 0xBF58_476D_1CE4_E5B9
        mixed ^= mixed >> 31
        mixed &*= 0x94D0_49BB_1331_11EB
        mixed ^= mixed >> 29
        return Int(mixed % UInt64(Self.span))
    }

    @inline(__always)
    func slice(at offset: Int, count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: bytes + offset, count: count)
    }

    @inline(__always)
    func matches(_ received: UnsafeRawPointer, count: Int, at offset: Int) -> Bool {
        memcmp(received, bytes + offset, count) == 0
    }
}
