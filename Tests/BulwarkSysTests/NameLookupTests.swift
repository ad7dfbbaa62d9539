import BulwarkSys
import Glibc
import Testing

@Suite struct NameLookupTests {
    /// The completion arrives through the eventfd (what the gateway's epoll waits on).
    @Test func aLookupSignalsItsEventFDAndCarriesThePort() throws {
        let eventFD = try EventFD()
        defer { eventFD.close() }
        let lookup = try NameLookup(host: "127.0.0.5", port: 7001, eventFD: eventFD.fd)
        #expect(Poll.readable([eventFD.fd], timeoutMilliseconds: 5_000) == [eventFD.fd])
        #expect(eventFD.drain() >= 1)
        #expect(lookup.outcome == .resolved([try #require(SocketAddress(addressBytes: [127, 0, 0, 5], port: 7001))]))
    }

    @Test func resolveAllAnswersEachNameInOrder() throws {
        let outcomes = NameLookup.resolveAll([("localhost", 80), ("::1", 443), ("no-such-host.invalid", 80)], timeoutMilliseconds: 5_000)
        #expect(outcomes.count == 3)
        guard case .resolved(let local) = outcomes[0] else { Issue.record("localhost: \(outcomes[0])"); return }
        #expect(local.allSatisfy { $0.port == 80 } && local.contains { $0.description == "127.0.0.1:80" || $0.description == "[::1]:80" })
        #expect(outcomes[1] == .resolved([try #require(SocketAddress(addressBytes: [UInt8](repeating: 0, count: 15) + [1], port: 443))]))
        guard case .failed(let reason) = outcomes[2] else { Issue.record("expected a failure: \(outcomes[2])"); return }
        #expect(!reason.isEmpty)
    }

    /// Lookups dropped while still running free themselves and never write to the eventfd,
    /// which the owner may close (and the number be reused) right after.
    @Test func droppingRunningLookupsIsSafe() throws {
        for _ in 0..<20 {
            let eventFD = try EventFD()
            for index in 0..<10 { _ = try NameLookup(host: index % 2 == 0 ? "localhost" : "127.0.0.\(index)", port: 1, eventFD: eventFD.fd) }
            eventFD.close()
        }
        // A fresh eventfd likely reuses the numbers: it must stay unsignalled.
        let probe = try EventFD()
        defer { probe.close() }
        usleep(200_000)
        #expect(probe.drain() == 0)
    }
}
