/// What `PerAddressTable.acquire` did.
public enum AcquireResult: Equatable, Sendable {
    /// The connection is counted; `count` includes it (it may exceed the limit when the limit
    /// was not enforced). The caller must `release` it when the connection closes.
    case acquired(count: Int)
    /// The address (prefix) already holds `current` connections, the limit: nothing was counted.
    case overLimit(current: Int)
    /// The table holds `capacity` other addresses: nothing was counted.
    case tableFull
}

/// One row of `PerAddressTable.top`.
public struct AddressCount: Equatable, Sendable {
    public let key: AddressKey
    public let count: Int

    public init(key: AddressKey, count: Int) {
        self.key = key
        self.count = count
    }
}

/// Connections per client address, or per prefix when aggregated (`prefixV4: 24` counts a /24
/// as one client). Bounded: at most `capacity` addresses are tracked, and an entry is removed
/// when its count returns to zero, so the table holds only addresses with open connections.
/// With `capacity >= max_connections` it can never be full.
///
/// A plain value: the owner shares it between threads under its own lock. Acquire and release
/// do not allocate once the dictionary has grown to its working size (it never shrinks).
public struct PerAddressTable: Sendable {
    public let capacity: Int
    public private(set) var maxPerAddress: Int
    public let prefixLengthV4: Int
    public let prefixLengthV6: Int
    private var counts: [AddressKey: Int32] = [:]

    /// Room for this many entries is reserved up front; beyond it the dictionary grows on demand.
    public static let initialReservation = 4096

    public init(capacity: Int, maxPerAddress: Int, prefixV4: Int = 32, prefixV6: Int = 128) {
        self.capacity = max(0, capacity)
        self.maxPerAddress = max(0, maxPerAddress)
        prefixLengthV4 = min(max(prefixV4, 0), 32)
        prefixLengthV6 = min(max(prefixV6, 0), 128)
        counts.reserveCapacity(min(self.capacity, Self.initialReservation))
    }

    /// A live limit change (`set guard max_connections_per_ip`): applies to the next acquire;
    /// connections already counted stay counted.
    public mutating func setMaxPerAddress(_ limit: Int) {
        maxPerAddress = max(0, limit)
    }

    /// Addresses (prefixes) with at least one connection.
    public var entryCount: Int { counts.count }

    /// Every entry, unsorted: a plain copy, so a caller holding a lock can sort it after
    /// letting go (sorting 100k entries must not stall admissions).
    public var allCounts: [AddressCount] { counts.map { AddressCount(key: $0.key, count: Int($0.value)) } }

    /// The key `address` is counted under: the address cut to its family's aggregation prefix.
    public func key(for address: AddressKey) -> AddressKey {
        address.masked(ipv4PrefixLength: prefixLengthV4, ipv6PrefixLength: prefixLengthV6)
    }

    /// Connections counted for `address`'s prefix.
    public func count(for address: AddressKey) -> Int {
        Int(counts[key(for: address)] ?? 0)
    }

    /// Counts one more connection from `address` unless its prefix is at the limit. With
    /// `enforcingLimit: false` (dry run) the connection is counted over the limit too, so the
    /// figures stay true; the caller sees it from `count > maxPerAddress`.
    public mutating func acquire(_ address: AddressKey, enforcingLimit: Bool = true) -> AcquireResult {
        let key = key(for: address)
        let current = Int(counts[key] ?? 0)
        if current == 0 && counts.count >= capacity { return .tableFull }
        if enforcingLimit && current >= maxPerAddress { return .overLimit(current: current) }
        let updated = Int32(clamping: current + 1)
        counts[key] = updated
        return .acquired(count: Int(updated))
    }

    /// Uncounts one connection from `address`; the entry goes at zero. Returns false when
    /// nothing was counted for it (a release without an acquire: a caller bug, ignored).
    @discardableResult
    public mutating func release(_ address: AddressKey) -> Bool {
        let key = key(for: address)
        guard let current = counts[key] else { return false }
        if current <= 1 {
            counts.removeValue(forKey: key)
        } else {
            counts[key] = current - 1
        }
        return true
    }

    /// The `limit` busiest addresses (prefixes), most connections first, ties in address order.
    /// For the stats socket: walks the whole table.
    public func top(_ limit: Int) -> [AddressCount] {
        guard limit > 0 else { return [] }
        var best: [AddressCount] = []
        best.reserveCapacity(min(limit, counts.count) + 1)
        for (key, count) in counts {
            let candidate = AddressCount(key: key, count: Int(count))
            if best.count == limit, let last = best.last, !Self.ranksBefore(candidate, last) { continue }
            let position = best.firstIndex(where: { Self.ranksBefore(candidate, $0) }) ?? best.count
            best.insert(candidate, at: position)
            if best.count > limit { best.removeLast() }
        }
        return best
    }

    private static func ranksBefore(_ left: AddressCount, _ right: AddressCount) -> Bool {
        left.count != right.count ? left.count > right.count : left.key < right.key
    }
}
