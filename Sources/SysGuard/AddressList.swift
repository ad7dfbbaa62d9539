/// An allow or deny list of IPv4 and IPv6 prefixes (a single address is a full-length prefix).
///
/// Prefixes are grouped by length, one hash set per distinct length, so a lookup costs one
/// mask and one set probe per distinct length (a handful), however long the list is.
public struct AddressList: Sendable {
    private struct Group: Sendable {
        /// The length every member of the set has.
        let sample: AddressKey
        let members: Set<AddressKey>
    }

    private let groups: [Group]
    /// Distinct prefixes in the list.
    public let count: Int

    public init(_ prefixes: [AddressPrefix]) {
        var byLength: [AddressKey: Set<AddressKey>] = [:]  // keyed by a zero key of the same length and family
        for prefix in prefixes {
            let sample = Self.sample(like: prefix.key)
            byLength[sample, default: []].insert(prefix.key)
        }
        // Longest first: the most specific prefixes are the usual hits (single addresses).
        groups = byLength.map { Group(sample: $0.key, members: $0.value) }
            .sorted { ($0.sample.isIPv4 ? 1 : 0, $0.sample.prefixLength) > ($1.sample.isIPv4 ? 1 : 0, $1.sample.prefixLength) }
        count = groups.reduce(0) { $0 + $1.members.count }
    }

    public var isEmpty: Bool { count == 0 }

    public func contains(_ address: AddressKey) -> Bool {
        for group in groups where group.sample.isIPv4 == address.isIPv4 {
            if group.members.contains(address.masked(toPrefixLength: group.sample.prefixLength)) { return true }
        }
        return false
    }

    /// A key standing for "this family, this length".
    private static func sample(like key: AddressKey) -> AddressKey {
        key.isIPv4 ? AddressKey(ipv4: 0).masked(toPrefixLength: key.prefixLength)
            : AddressKey(high: 0, low: 0, mappedPrefixLength: key.prefixLength)
    }
}
