import CBulwarkShims

/// A counter the hot path updates without contention: each engine worker adds to its own
/// 64-byte slot (its thread's stripe), so two cores never fight over one cache line; a read
/// sums the slots. Threads outside the engine share stripe 0. Reads are not a snapshot across
/// counters (each is summed on its own), which is what a stats query needs.
public final class StripedCounter: @unchecked Sendable {  // @unchecked: slots are only touched through relaxed atomic C builtins
    /// Slots per counter: worker threads beyond it share stripes (still correct, atomically).
    public static let stripes = 16
    private static let slotStride = 8  // Int64s per 64-byte cache line
    private let slots: UnsafeMutablePointer<Int64>

    public init() {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: Self.stripes * Self.slotStride * 8, alignment: 64)
        slots = raw.initializeMemory(as: Int64.self, repeating: 0, count: Self.stripes * Self.slotStride)
    }

    deinit { slots.deallocate() }

    @inline(__always)
    public func add(_ amount: Int) {
        bulwark_relaxed_add(slots + Int(bulwark_counter_stripe_get()) * Self.slotStride, Int64(amount))
    }

    @inline(__always) public func increment() { add(1) }
    @inline(__always) public func decrement() { add(-1) }

    /// The sum over every stripe.
    public var value: Int {
        var total: Int64 = 0
        for stripe in 0..<Self.stripes { total &+= bulwark_relaxed_load(slots + stripe * Self.slotStride) }
        return Int(total)
    }

    /// Gives the calling thread its own stripe: engine worker `index` takes stripe 1 + index
    /// (wrapping), leaving stripe 0 to threads outside the engine.
    public static func assignStripe(workerIndex: Int) {
        bulwark_counter_stripe_set(Int32(1 + max(0, workerIndex) % (stripes - 1)))
    }
}
