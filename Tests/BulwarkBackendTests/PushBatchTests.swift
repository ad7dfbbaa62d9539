import BulwarkBackend
import BulwarkSys
import BulwarkTestSupport
import Gateway
import MuxProtocol
import Testing

/// On "go" from a session, answers with one write holding a burst of pushes: BROADCASTs, DATA to
/// that session in the middle, a payload over max_frame among them, a PUBLISH pair.
final class BurstHandler: SessionHandler {
    let opened = Locked<Int>(0)

    func opened(_ session: Session, client: ClientEndpoint, listener: String, reattached: Bool) {
        session.join("room")
        opened.withLock { $0 += 1 }
    }

    func received(_ payload: [UInt8], from session: Session) {
        guard payload == Array("go".utf8) else { return }
        func text(_ value: String) -> [UInt8] { Array(value.utf8) }
        session.gateway.send(contentsOf: [
            .broadcast(listener: "", payload: text("b1")),
            .broadcast(listener: "", payload: text("b2")),
            .data(session: session.id, payload: text("d1")),
            .data(session: session.id, payload: text("d2")),
            .broadcast(listener: "chat", payload: text("b3")),
            .broadcast(listener: "chat", payload: [UInt8](repeating: 0x21, count: 2000)),  // over max_frame: refused
            .broadcast(listener: "chat", payload: text("b4")),
            .publish(channel: "room", payload: text("p1")),
            .publish(channel: "room", payload: text("p2")),
        ])
    }

    func closed(_ session: Session, reason: SessionCloseReason) {}
}

@Suite(.serialized) struct PushBatchTests {
    /// 1,100 sessions: more than one thread's share of a broadcast (Fanout spreads 1,024 and more
    /// over the workers), so the bursts are delivered in parallel and batched per client. Every
    /// client must see exactly the pushes meant for it, in the order the backend sent them.
    @Test func aBurstOfPushesReachesEveryClientWholeAndInOrder() throws {
        // 1,100 sessions hold about 3,300 fds in this process (client, gateway side, timerfd).
        _ = try? ProcessFacts.raiseOpenFileLimit(to: 1 << 20)
        let handler = BurstHandler()
        let backend = try RunningBackend(handler: handler)
        defer { backend.stop() }
        let config = try muxConfig(backend: backend.address, connections: 2, guardLines: "max_frame = \"1KiB\"")
        let gateway = try InProcessGateway(config: config)
        defer { gateway.stop() }
        let runtime = gateway.runtime
        let address = runtime.listeners[0].address
        // Until a backend connection is live, sessions are refused; the first one the backend
        // sees open is kept.
        var first: BlockingSocket?
        #expect(eventually {
            first = try? BlockingSocket.connect(to: address)
            return eventually(timeoutMilliseconds: 200) { handler.opened.withLock { $0 } >= 1 }
        })
        let sessionCount = 1100
        let clients = try [#require(first)] + (1..<sessionCount).map { _ in try BlockingSocket.connect(to: address) }
        defer { for client in clients { client.close() } }
        #expect(eventually(timeoutMilliseconds: 10_000) { handler.opened.withLock { $0 } >= sessionCount },
                "the backend saw \(handler.opened.withLock { $0 }) sessions open")
        try clients[0].sendAll([0, 2] + Array("go".utf8))
        func readFrame(_ client: BlockingSocket) throws -> String {
            let header = try client.receiveExactly(2)
            return String(decoding: try client.receiveExactly(Int(header[0]) << 8 | Int(header[1])), as: UTF8.self)
        }
        let everyone = ["b1", "b2", "b3", "b4", "p1", "p2"]
        let trigger = try (0..<8).map { _ in try readFrame(clients[0]) }
        #expect(trigger == ["b1", "b2", "d1", "d2", "b3", "b4", "p1", "p2"])
        var wrong: [String] = []
        for (index, client) in clients.enumerated().dropFirst() {
            let frames = try everyone.map { _ in try readFrame(client) }
            if frames != everyone { wrong.append("client \(index): \(frames)") }
        }
        #expect(wrong.isEmpty, "\(wrong.prefix(3))")
        // Nothing more arrived: the oversized payload was refused for every session, counted.
        #expect(Poll.readable([clients[0].fd, clients[1].fd], timeoutMilliseconds: 200).isEmpty)
        let counters = Dictionary(uniqueKeysWithValues: runtime.muxCounters.map { ($0.name, $0.value) })
        #expect(counters["oversized_payloads"] == sessionCount)
    }
}
