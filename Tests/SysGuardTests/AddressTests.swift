import SysGuard
import Testing

enum Address {
    static func v4(_ text: String) -> AddressKey {
        let parts = text.split(separator: ".").compactMap { UInt8($0) }
        guard parts.count == 4, let key = AddressKey(addressBytes: parts) else { preconditionFailure("bad test address \(text)") }
        return key
    }

    /// Eight 16-bit groups.
    static func v6(_ groups: [UInt16]) -> AddressKey {
        guard groups.count == 8, let key = AddressKey(addressBytes: bytes(groups)) else { preconditionFailure("bad groups") }
        return key
    }

    static func bytes(_ groups: [UInt16]) -> [UInt8] {
        groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    static func mapped(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> [UInt8] {
        [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF, a, b, c, d]
    }

    static func prefix(_ bytes: [UInt8], _ length: Int) -> AddressPrefix {
        guard let prefix = AddressPrefix(bytes: bytes, length: length) else { preconditionFailure("bad test prefix") }
        return prefix
    }
}

@Suite("AddressKey")
struct AddressKeyTests {
    @Test func ipv4FromBytesAndFromValueAgree() {
        let key = Address.v4("10.1.2.3")
        #expect(key == AddressKey(ipv4: 0x0A01_0203))
        #expect(key.isIPv4 == true)
        #expect(key.prefixLength == 32)
        #expect(key.description == "10.1.2.3")
    }

    @Test func ipv4MappedIPv6IsTheSameKeyAsIPv4() throws {
        let mapped = try #require(AddressKey(addressBytes: Address.mapped(10, 1, 2, 3)))
        #expect(mapped == Address.v4("10.1.2.3"))
        #expect(mapped.isIPv4 == true)
        #expect(mapped.hashValue == Address.v4("10.1.2.3").hashValue)
    }

    @Test(arguments: [0, 3, 5, 15, 17, 32])
    func otherByteCountsAreRefused(count: Int) {
        #expect(AddressKey(addressBytes: [UInt8](repeating: 1, count: count)) == nil)
    }

    @Test func ipv6FromBytesAndFromHalvesAgree() {
        let key = Address.v6([0x2001, 0xDB8, 1, 2, 3, 4, 5, 6])
        #expect(key == AddressKey(ipv6High: 0x2001_0DB8_0001_0002, low: 0x0003_0004_0005_0006))
        #expect(key.isIPv4 == false)
        #expect(key.prefixLength == 128)
    }

    @Test(arguments: [
        ("10.1.2.3", 24, "10.1.2.0/24"), ("10.1.2.3", 32, "10.1.2.3"), ("10.1.2.3", 0, "0.0.0.0/0"),
        ("10.1.255.3", 17, "10.1.128.0/17"), ("10.1.2.3", 40, "10.1.2.3"), ("10.1.2.3", -1, "0.0.0.0/0"),
    ])
    func ipv4Masking(text: String, length: Int, expected: String) {
        #expect(Address.v4(text).masked(toPrefixLength: length).description == expected)
    }

    @Test(arguments: [
        ([UInt16(0x2001), 0xDB8, 1, 2, 3, 4, 5, 6], 64, "2001:db8:1:2::/64"),
        ([0x2001, 0xDB8, 1, 2, 3, 4, 5, 6], 128, "2001:db8:1:2:3:4:5:6"),
        ([0x2001, 0xDB8, 1, 2, 3, 4, 5, 6], 0, "::/0"),
        ([0x2001, 0xDB8, 0xFFFF, 2, 3, 4, 5, 6], 36, "2001:db8:f000::/36"),
        ([0, 0, 0, 0, 0, 0, 0, 1], 128, "::1"),
        ([1, 0, 0, 2, 0, 0, 0, 3], 128, "1:0:0:2::3"),
        ([1, 0, 2, 3, 4, 5, 6, 7], 128, "1:0:2:3:4:5:6:7"),
        ([0xFE80, 0, 0, 0, 0xABCD, 0, 0, 1], 128, "fe80::abcd:0:0:1"),
    ] as [([UInt16], Int, String)])
    func ipv6MaskingAndText(groups: [UInt16], length: Int, expected: String) {
        #expect(Address.v6(groups).masked(toPrefixLength: length).description == expected)
    }

    @Test func maskingNeverLengthens() {
        let prefix = Address.v4("10.1.2.3").masked(toPrefixLength: 16)
        #expect(prefix.masked(toPrefixLength: 24) == prefix)
        #expect(prefix.prefixLength == 16)
    }

    @Test func aggregationPicksTheFamilyPrefix() {
        #expect(Address.v4("10.1.2.3").masked(ipv4PrefixLength: 24, ipv6PrefixLength: 64).prefixLength == 24)
        #expect(Address.v6([1, 2, 3, 4, 5, 6, 7, 8]).masked(ipv4PrefixLength: 24, ipv6PrefixLength: 64).prefixLength == 64)
    }

    @Test func containment() {
        let ten = Address.v4("10.0.0.0").masked(toPrefixLength: 8)
        #expect(ten.contains(Address.v4("10.255.1.1")) == true)
        #expect(ten.contains(Address.v4("11.0.0.1")) == false)
        #expect(ten.contains(Address.v4("10.0.0.0").masked(toPrefixLength: 4)) == false)  // wider than the prefix
        let everyIPv6 = Address.v6([0, 0, 0, 0, 0, 0, 0, 0]).masked(toPrefixLength: 0)
        #expect(everyIPv6.contains(Address.v6([0x2001, 0xDB8, 0, 0, 0, 0, 0, 1])) == true)
        #expect(everyIPv6.contains(Address.v4("1.2.3.4")) == false)
    }
}

@Suite("AddressList: allow and deny")
struct AddressListTests {
    static let list = AddressList([
        Address.prefix([192, 168, 1, 7], 32),
        Address.prefix([10, 9, 9, 9], 8),  // host bits are cleared: 10.0.0.0/8
        Address.prefix(Address.bytes([0, 0, 0, 0, 0, 0, 0, 1]), 128),
        Address.prefix(Address.bytes([0x2001, 0xDB8, 0, 0, 0, 0, 0, 0]), 32),
        Address.prefix(Address.mapped(172, 16, 0, 0), 108),  // ::ffff:172.16.0.0/108 is 172.16.0.0/12
    ])

    @Test(arguments: [
        ("192.168.1.7", true), ("192.168.1.8", false), ("10.200.3.4", true), ("11.0.0.1", false),
        ("172.31.255.255", true), ("172.32.0.0", false), ("0.0.0.0", false),
    ])
    func ipv4Clients(text: String, listed: Bool) {
        #expect(Self.list.contains(Address.v4(text)) == listed)
    }

    @Test func ipv4MappedClientsMatchIPv4Prefixes() throws {
        #expect(Self.list.contains(try #require(AddressKey(addressBytes: Address.mapped(10, 1, 1, 1)))) == true)
        #expect(Self.list.contains(try #require(AddressKey(addressBytes: Address.mapped(192, 168, 1, 7)))) == true)
        #expect(Self.list.contains(try #require(AddressKey(addressBytes: Address.mapped(9, 1, 1, 1)))) == false)
    }

    @Test(arguments: [
        ([UInt16(0), 0, 0, 0, 0, 0, 0, 1], true), ([0, 0, 0, 0, 0, 0, 0, 2], false),
        ([0x2001, 0xDB8, 0xFFFF, 1, 2, 3, 4, 5], true), ([0x2001, 0xDB9, 0, 0, 0, 0, 0, 1], false),
    ] as [([UInt16], Bool)])
    func ipv6Clients(groups: [UInt16], listed: Bool) {
        #expect(Self.list.contains(Address.v6(groups)) == listed)
    }

    @Test func shortIPv6PrefixesDoNotCatchIPv4Clients() {
        let everyIPv6 = AddressList([Address.prefix(Address.bytes([0, 0, 0, 0, 0, 0, 0, 0]), 0)])
        #expect(everyIPv6.contains(Address.v6([0x2001, 0xDB8, 0, 0, 0, 0, 0, 1])) == true)
        #expect(everyIPv6.contains(Address.v4("1.2.3.4")) == false)
        let everyIPv4 = AddressList([Address.prefix([0, 0, 0, 0], 0)])
        #expect(everyIPv4.contains(Address.v4("1.2.3.4")) == true)
        #expect(everyIPv4.contains(Address.v6([0, 0, 0, 0, 0, 0, 0, 1])) == false)
        let mappedRange = AddressList([Address.prefix(Address.mapped(0, 0, 0, 0), 96)])
        #expect(mappedRange.contains(Address.v4("8.8.8.8")) == true)
    }

    @Test func emptyListAndDuplicates() {
        #expect(AddressList([]).isEmpty == true)
        #expect(AddressList([]).contains(Address.v4("1.2.3.4")) == false)
        let doubled = AddressList([Address.prefix([10, 0, 0, 1], 8), Address.prefix([10, 0, 0, 2], 8)])
        #expect(doubled.count == 1)
    }

    @Test func invalidPrefixesAreRefused() {
        #expect(AddressPrefix(bytes: [10, 0, 0, 0], length: 33) == nil)
        #expect(AddressPrefix(bytes: [10, 0, 0, 0], length: -1) == nil)
        #expect(AddressPrefix(bytes: [UInt8](repeating: 0, count: 16), length: 129) == nil)
        #expect(AddressPrefix(bytes: [10, 0, 0, 0, 0], length: 8) == nil)
        #expect(AddressPrefix(bytes: Address.mapped(1, 2, 3, 4), length: 128)?.description == "1.2.3.4")
        #expect(AddressPrefix(bytes: Address.mapped(1, 2, 3, 4), length: 104)?.description == "1.0.0.0/8")
        #expect(AddressPrefix(bytes: Address.mapped(1, 2, 3, 4), length: 64)?.description == "::/64")
    }
}
