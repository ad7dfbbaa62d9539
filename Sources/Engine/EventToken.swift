/// Where an event belongs: a registration (slot, generation) plus which of its fds (source).
///
/// Layout of epoll's 64-bit data: bits 63...32 slot, 31...2 generation (30 bits), 1...0 source.
/// A slot's generation is bumped each time it is freed, so an event harvested for a closed
/// registration no longer matches once the slot is reused, and is dropped.
public struct Registration: Hashable, Sendable {
    public let slot: UInt32
    public let generation: UInt32

    static let generationMask: UInt32 = (1 << 30) - 1
    /// How many fds one registration may own (a relay session: client, backend, timer).
    public static let sourcesPerRegistration = 4

    init(slot: UInt32, generation: UInt32) {
        self.slot = slot
        self.generation = generation & Registration.generationMask
    }

    /// The epoll data for `source` (0...3) of this registration.
    @inline(__always)
    public func token(source: Int) -> UInt64 {
        UInt64(slot) << 32 | UInt64(generation) << 2 | UInt64(source & 3)
    }

    /// Splits epoll data back into registration and source.
    @inline(__always)
    static func decode(_ data: UInt64) -> (Registration, Int) {
        let slot = UInt32(truncatingIfNeeded: data >> 32)
        let generation = UInt32(truncatingIfNeeded: data >> 2) & generationMask
        return (Registration(slot: slot, generation: generation), Int(data & 3))
    }
}
