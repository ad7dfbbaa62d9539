import BulwarkSys
import Config
import Testing

@testable import Gateway

/// How a server given by host name takes lookup answers (the lookups themselves run in
/// scripts/tests/dns_scenarios.py, with the real resolver).
@Suite struct BackendServerTests {
    private func address(_ last: UInt8) -> SocketAddress { SocketAddress(addressBytes: [10, 0, 0, last], port: 7001)! }

    @Test func aNameHasNoAddressUntilItResolvesThenTakesTheFirstAnswer() {
        let server = BackendServer(ServerEndpoint(hostName: "chat.internal", port: 7001))
        #expect(server.address == nil && server.description == "chat.internal:7001")
        let change = server.resolved([address(1), address(2)])
        #expect(change?.previous == nil && change?.current == address(1))
        #expect(server.address == address(1))
    }

    @Test func theCurrentAddressStaysWhileTheAnswerStillHasIt() {
        let server = BackendServer(ServerEndpoint(hostName: "chat.internal", port: 7001))
        _ = server.resolved([address(1), address(2)])
        #expect(server.resolved([address(2), address(1)]) == nil, "round-robin DNS reordering moves nothing")
        #expect(server.address == address(1))
        let moved = server.resolved([address(3)])
        #expect(moved?.previous == address(1) && moved?.current == address(3))
    }

    @Test func aFailedLookupKeepsTheLastGoodAddress() {
        let server = BackendServer(ServerEndpoint(hostName: "chat.internal", port: 7001))
        _ = server.resolved([address(1)])
        server.lookupFailed("Name or service not known")
        #expect(server.address == address(1))
        #expect(server.lookupError == "Name or service not known" && server.lookupFailures == 1)
        _ = server.resolved([address(1)])
        #expect(server.lookupError == nil && server.lookupFailures == 1)
    }

    @Test func aLiteralHasItsAddressFromTheStart() {
        let server = BackendServer(address: address(9))
        #expect(server.address == address(9) && server.description == "10.0.0.9:7001" && !server.endpoint.isHostName)
    }
}
