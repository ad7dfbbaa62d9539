import SysGuard
import Testing

@Suite("PerAddressTable")
struct PerAddressTableTests {
    @Test func countsUpToTheLimitAndFreesEntriesAtZero() {
        var table = PerAddressTable(capacity: 10, maxPerAddress: 2)
        let client = Address.v4("10.1.2.3")
        #expect(table.acquire(client) == .acquired(count: 1))
        #expect(table.acquire(client) == .acquired(count: 2))
        #expect(table.acquire(client) == .overLimit(current: 2))
        #expect(table.count(for: client) == 2)
        #expect(table.entryCount == 1)
        #expect(table.release(client) == true)
        #expect(table.count(for: client) == 1)
        #expect(table.release(client) == true)
        #expect(table.entryCount == 0)
        #expect(table.count(for: client) == 0)
        #expect(table.release(client) == false)
    }

    @Test func ipv4PrefixAggregation() {
        var table = PerAddressTable(capacity: 10, maxPerAddress: 2, prefixV4: 24)
        #expect(table.acquire(Address.v4("10.1.2.3")) == .acquired(count: 1))
        #expect(table.acquire(Address.v4("10.1.2.200")) == .acquired(count: 2))
        #expect(table.acquire(Address.v4("10.1.2.9")) == .overLimit(current: 2))
        #expect(table.acquire(Address.v4("10.1.3.1")) == .acquired(count: 1))
        #expect(table.entryCount == 2)
        #expect(table.key(for: Address.v4("10.1.2.77")).description == "10.1.2.0/24")
        table.release(Address.v4("10.1.2.250"))  // any address of the prefix releases it
        #expect(table.count(for: Address.v4("10.1.2.3")) == 1)
    }

    @Test func ipv6PrefixAggregationAndMappedClients() throws {
        var table = PerAddressTable(capacity: 10, maxPerAddress: 1, prefixV4: 24, prefixV6: 64)
        #expect(table.acquire(Address.v6([0x2001, 0xDB8, 1, 2, 3, 4, 5, 6])) == .acquired(count: 1))
        #expect(table.acquire(Address.v6([0x2001, 0xDB8, 1, 2, 9, 9, 9, 9])) == .overLimit(current: 1))
        #expect(table.acquire(Address.v6([0x2001, 0xDB8, 1, 3, 3, 4, 5, 6])) == .acquired(count: 1))
        #expect(table.acquire(Address.v4("192.0.2.1")) == .acquired(count: 1))
        let mapped = try #require(AddressKey(addressBytes: Address.mapped(192, 0, 2, 99)))
        #expect(table.acquire(mapped) == .overLimit(current: 1))
    }

    @Test func tableFullRefusesNewAddressesOnly() {
        var table = PerAddressTable(capacity: 2, maxPerAddress: 5)
        #expect(table.acquire(Address.v4("1.1.1.1")) == .acquired(count: 1))
        #expect(table.acquire(Address.v4("2.2.2.2")) == .acquired(count: 1))
        #expect(table.acquire(Address.v4("3.3.3.3")) == .tableFull)
        #expect(table.acquire(Address.v4("1.1.1.1")) == .acquired(count: 2))
        #expect(table.entryCount == 2)
        table.release(Address.v4("2.2.2.2"))
        #expect(table.acquire(Address.v4("3.3.3.3")) == .acquired(count: 1))
    }

    @Test func dryRunCountsPastTheLimit() {
        var table = PerAddressTable(capacity: 4, maxPerAddress: 1)
        let client = Address.v4("10.0.0.1")
        #expect(table.acquire(client, enforcingLimit: false) == .acquired(count: 1))
        #expect(table.acquire(client, enforcingLimit: false) == .acquired(count: 2))
        #expect(table.count(for: client) == 2)
    }

    @Test func zeroCapacityIsAlwaysFull() {
        var table = PerAddressTable(capacity: 0, maxPerAddress: 5)
        #expect(table.acquire(Address.v4("1.1.1.1")) == .tableFull)
    }

    @Test func topListsTheBusiestFirstWithTiesInAddressOrder() {
        var table = PerAddressTable(capacity: 100, maxPerAddress: 100, prefixV4: 24)
        let load: [(String, Int)] = [("10.0.3.1", 2), ("10.0.1.1", 5), ("10.0.2.1", 2), ("10.0.4.1", 1), ("10.0.5.1", 7)]
        for (address, connections) in load {
            for _ in 0..<connections { _ = table.acquire(Address.v4(address)) }
        }
        let top = table.top(4).map { "\($0.key)=\($0.count)" }
        #expect(top == ["10.0.5.0/24=7", "10.0.1.0/24=5", "10.0.2.0/24=2", "10.0.3.0/24=2"])
        #expect(table.top(100).count == 5)
        #expect(table.top(0).isEmpty)
        #expect(table.top(1) == [AddressCount(key: Address.v4("10.0.5.0").masked(toPrefixLength: 24), count: 7)])
    }

    @Test func prefixesAreClamped() {
        let table = PerAddressTable(capacity: 1, maxPerAddress: 1, prefixV4: 40, prefixV6: -3)
        #expect(table.prefixLengthV4 == 32)
        #expect(table.prefixLengthV6 == 0)
    }
}
