/// Log-linear latency histogram in nanoseconds: 32 linear sub-buckets per power of two (about
/// 3% resolution), a fixed array, nothing allocated per sample.
struct LatencyHistogram {
    static let subBucketBits = 5
    static let subBuckets = 1 << subBucketBits
    static let bucketCount = (64 - subBucketBits + 1) * subBuckets

    private(set) var counts = [UInt64](repeating: 0, count: bucketCount)
    private(set) var total: UInt64 = 0
    private(set) var sum: UInt64 = 0
    private(set) var maximum: UInt64 = 0

    @inline(__always)
    static func index(_ value: UInt64) -> Int {
        if value < UInt64(subBuckets) { return Int(value) }
        let exponent = 63 - value.leadingZeroBitCount  // >= subBucketBits
        let sub = Int((value >> UInt64(exponent - subBucketBits)) & UInt64(subBuckets - 1))
        return (exponent - subBucketBits + 1) * subBuckets + sub
    }

    /// The smallest value that lands in bucket `index`, and the bucket's width.
    static func range(_ index: Int) -> (low: UInt64, width: UInt64) {
        if index < subBuckets { return (UInt64(index), 1) }
        let exponent = index / subBuckets + subBucketBits - 1
        let sub = UInt64(index % subBuckets)
        let shift = UInt64(exponent - subBucketBits)
        return ((UInt64(subBuckets) + sub) << shift, 1 << shift)
    }

    @inline(__always)
    mutating func record(_ nanoseconds: Int64) {
        let value = UInt64(max(0, nanoseconds))
        counts[Self.index(value)] &+= 1
        total &+= 1
        sum &+= value
        if value > maximum { maximum = value }
    }

    mutating func merge(_ other: LatencyHistogram) {
        for index in 0..<Self.bucketCount { counts[index] &+= other.counts[index] }
        total &+= other.total
        sum &+= other.sum
        maximum = max(maximum, other.maximum)
    }

    /// The value at quantile `q` (0...1): the middle of the bucket holding it, in nanoseconds.
    func quantile(_ q: Double) -> UInt64 {
        guard total > 0 else { return 0 }
        let rank = max(1, UInt64((q * Double(total)).rounded(.up)))
        var seen: UInt64 = 0
        for index in 0..<Self.bucketCount {
            seen &+= counts[index]
            if seen >= rank {
                let (low, width) = Self.range(index)
                return min(low + width / 2, maximum)
            }
        }
        return maximum
    }

    var mean: Double { total == 0 ? 0 : Double(sum) / Double(total) }
}
