/// An IPv4 or IPv6 address, or a prefix of one, as two 64-bit halves: a key that hashes and
/// compares without allocating.
///
/// IPv4 is held in its IPv4-mapped IPv6 form (::ffff:a.b.c.d, prefix length + 96), so a client
/// reaching an IPv6 socket as ::ffff:a.b.c.d and one reaching an IPv4 socket as a.b.c.d are the
/// same key, and one masking rule serves both families.
public struct AddressKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Network-order bits 0...63 and 64...127 of the (mapped) address, host bits cleared.
    public let high: UInt64
    public let low: UInt64
    /// Prefix length counted over the 128-bit form (an IPv4 /24 is 120).
    private let mappedPrefixLength: UInt8

    private static let ipv4MappedMarker: UInt64 = 0xFFFF << 32

    /// Any prefix of the 128-bit form; the length is clamped to 0...128.
    init(high: UInt64, low: UInt64, mappedPrefixLength: Int) {
        let length = min(max(mappedPrefixLength, 0), 128)
        let highMask = UInt64.max << UInt64(64 - min(length, 64))
        let lowMask = UInt64.max << UInt64(128 - max(length, 64))
        self.high = high & highMask
        self.low = low & lowMask
        self.mappedPrefixLength = UInt8(length)
    }

    /// A whole IPv4 address from its value in host order (`0x0A000001` is 10.0.0.1).
    public init(ipv4: UInt32) {
        self.init(high: 0, low: Self.ipv4MappedMarker | UInt64(ipv4), mappedPrefixLength: 128)
    }

    /// A whole IPv6 address from its two halves in host order.
    public init(ipv6High high: UInt64, low: UInt64) {
        self.init(high: high, low: low, mappedPrefixLength: 128)
    }

    /// A whole address from 4 (IPv4) or 16 (IPv6) bytes in network order; nil for other counts.
    public init?(addressBytes: some Collection<UInt8>) {
        var high: UInt64 = 0
        var low: UInt64 = 0
        var count = 0
        for byte in addressBytes {
            guard count < 16 else { return nil }
            if count < 8 {
                high = high << 8 | UInt64(byte)
            } else {
                low = low << 8 | UInt64(byte)
            }
            count += 1
        }
        switch count {
        case 4: self.init(ipv4: UInt32(truncatingIfNeeded: high))
        case 16: self.init(ipv6High: high, low: low)
        default: return nil
        }
    }

    public var isIPv4: Bool {
        mappedPrefixLength >= 96 && high == 0 && low >> 32 == 0xFFFF
    }

    /// The address in network order: 4 bytes for IPv4, else 16.
    public var addressBytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        for half in [high, low] {
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: half >> UInt64(shift))) }
        }
        return isIPv4 ? Array(bytes[12...]) : bytes
    }

    /// The prefix length in the address's own family: 0...32 for IPv4, 0...128 for IPv6.
    public var prefixLength: Int {
        isIPv4 ? Int(mappedPrefixLength) - 96 : Int(mappedPrefixLength)
    }

    /// This key cut to `prefixLength` bits of its own family (clamped; never lengthened).
    public func masked(toPrefixLength prefixLength: Int) -> AddressKey {
        let mappedLength = isIPv4 ? 96 + min(max(prefixLength, 0), 32) : prefixLength
        return AddressKey(high: high, low: low, mappedPrefixLength: min(mappedLength, Int(mappedPrefixLength)))
    }

    /// This key cut to the aggregation prefix of its family.
    public func masked(ipv4PrefixLength: Int, ipv6PrefixLength: Int) -> AddressKey {
        masked(toPrefixLength: isIPv4 ? ipv4PrefixLength : ipv6PrefixLength)
    }

    /// Whether `address` lies inside this prefix. An IPv6 prefix shorter than /96 holds only
    /// IPv6 addresses: IPv4 (and IPv4-mapped) clients are matched by IPv4 prefixes alone.
    public func contains(_ address: AddressKey) -> Bool {
        guard isIPv4 == address.isIPv4, address.mappedPrefixLength >= mappedPrefixLength else { return false }
        return AddressKey(high: address.high, low: address.low, mappedPrefixLength: Int(mappedPrefixLength)) == self
    }

    public static func < (left: AddressKey, right: AddressKey) -> Bool {
        (left.high, left.low, left.mappedPrefixLength) < (right.high, right.low, right.mappedPrefixLength)
    }

    /// "10.1.2.0/24", "10.1.2.3", "2001:db8::/64", "::1": the length is shown only for a prefix.
    public var description: String {
        if isIPv4 {
            let value = UInt32(truncatingIfNeeded: low)
            var text = ""
            text.reserveCapacity(18)
            for shift in stride(from: 24, through: 0, by: -8) {
                if shift != 24 { text += "." }
                text += String(value >> UInt32(shift) & 0xFF)
            }
            return prefixLength < 32 ? "\(text)/\(prefixLength)" : text
        }
        let text = AddressText.ipv6(high: high, low: low)
        return prefixLength < 128 ? "\(text)/\(prefixLength)" : text
    }
}

/// A prefix for the allow and deny lists, from bytes the config has already parsed.
public struct AddressPrefix: Hashable, Sendable, CustomStringConvertible {
    public let key: AddressKey

    /// 4 or 16 network-order bytes and a length of 0...32 or 0...128; host bits are cleared.
    /// Nil for another byte count or a length out of range.
    public init?(bytes: some Collection<UInt8>, length: Int) {
        guard let address = AddressKey(addressBytes: bytes) else { return nil }
        // A 16-byte ::ffff:a.b.c.d/n is the IPv4 prefix a.b.c.d/(n-96); shorter ones stay IPv6.
        let mappedForm = bytes.count == 16 && address.isIPv4
        let familyBits = address.isIPv4 && !mappedForm ? 32 : 128
        guard length >= 0 && length <= familyBits else { return nil }
        if mappedForm {
            key = AddressKey(high: address.high, low: address.low, mappedPrefixLength: length)
        } else {
            key = address.masked(toPrefixLength: length)
        }
    }

    public init(_ key: AddressKey) {
        self.key = key
    }

    public var description: String { key.description }
}
