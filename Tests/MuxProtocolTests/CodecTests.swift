import MuxProtocol
import Testing

@Suite struct CodecTests {
    static let gatewayMessages: [GatewayMessage] = [
        .hello(version: 1, nodeID: 513, heartbeatMilliseconds: 5000, name: "edge-1"),
        .open(session: 0x0102_0304_0506_0708, reattach: false, client: ClientEndpoint(addressBytes: [127, 0, 0, 2], port: 40000), listener: "game"),
        .open(session: 7, reattach: true, client: ClientEndpoint(addressBytes: Array(repeating: 0, count: 15) + [1], port: 1), listener: ""),
        .data(session: 9, payload: Array("hello".utf8)),
        .data(session: 9, payload: []),
        .close(session: 9, reason: .idleTimeout),
        .ping(nonce: .max),
        .pong(nonce: 0),
    ]

    static let backendMessages: [BackendMessage] = [
        .helloAck(version: 1),
        .data(session: 1, payload: [0, 1, 2, 255]),
        .close(session: 2, reason: .backendRequest),
        .bind(session: 3, user: "user-42"),
        .join(session: 3, channel: "room/7"),
        .leave(session: 3, channel: "room/7"),
        .publish(channel: "room/7", payload: Array("hi all".utf8)),
        .broadcast(listener: "", payload: [1]),
        .ping(nonce: 5),
        .pong(nonce: 5),
        .error(text: "going away"),
    ]

    @Test func everyMessageSurvivesARoundTripFedOneByteAtATime() throws {
        var stream: [UInt8] = []
        for message in Self.gatewayMessages { message.encode(into: &stream) }
        var buffer = MessageBuffer()
        var decoded: [GatewayMessage] = []
        for byte in stream {
            buffer.append([byte])
            while let message = try buffer.nextGatewayMessage() { decoded.append(message) }
        }
        #expect(decoded == Self.gatewayMessages)
        #expect(buffer.bufferedBytes == 0)

        var backendStream: [UInt8] = []
        for message in Self.backendMessages { message.encode(into: &backendStream) }
        var backendBuffer = MessageBuffer()
        backendBuffer.append(backendStream)
        var backendDecoded: [BackendMessage] = []
        while let message = try backendBuffer.nextBackendMessage() { backendDecoded.append(message) }
        #expect(backendDecoded == Self.backendMessages)
    }

    @Test func theDataHeaderIsWhatEncodeWrites() {
        var whole: [UInt8] = []
        GatewayMessage.data(session: 0xAABB, payload: [1, 2, 3]).encode(into: &whole)
        #expect(GatewayMessage.dataHeader(session: 0xAABB, payloadCount: 3) + [1, 2, 3] == whole)
        #expect(GatewayMessage.dataHeader(session: 1, payloadCount: 0).count == ProtocolLimits.dataHeaderBytes)
    }

    @Test func theLayoutIsTheDocumentedOne() {
        var bytes: [UInt8] = []
        BackendMessage.join(session: 1, channel: "ab").encode(into: &bytes)
        #expect(bytes == [0, 0, 0, 13, 0x85, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0x61, 0x62])
    }

    @Test(arguments: [
        ([0, 0, 0, 0] as [UInt8], "a message of length 0"),
        ([0x01, 0, 0, 1], "above the"),
        ([0, 0, 0, 1, 0x7F], "unknown message type 0x7f"),
        ([0, 0, 0, 5, 0x82, 0, 0, 0, 1], "body too short for session"),
        ([0, 0, 0, 4, 0x85, 0, 0, 0], "body too short for session"),
        ([0, 0, 0, 12, 0x85, 0, 0, 0, 0, 0, 0, 0, 1, 0, 9, 0x61], "body too short for channel"),
    ])
    func malformedStreamsAreRefused(bytes: [UInt8], message: String) {
        var buffer = MessageBuffer()
        buffer.append(bytes)
        #expect {
            _ = try buffer.nextBackendMessage()
        } throws: { error in
            (error as? ProtocolError)?.description.contains(message) == true
        }
    }

    @Test func anOpenWithABadFamilyIsRefused() {
        var buffer = MessageBuffer()
        buffer.append([0, 0, 0, 11, 0x02, 0, 0, 0, 0, 0, 0, 0, 1, 0, 5])
        #expect(throws: ProtocolError.self) { _ = try buffer.nextGatewayMessage() }
    }

    @Test func trailingBytesInABodyAreIgnoredForwardCompatibly() throws {
        var buffer = MessageBuffer()
        buffer.append([0, 0, 0, 4, 0x81, 1, 0xEE, 0xFF])  // HELLO_ACK with two bytes a later version added
        #expect(try buffer.nextBackendMessage() == .helloAck(version: 1))
    }

    @Test func aPartialMessageWaitsForTheRest() throws {
        var bytes: [UInt8] = []
        BackendMessage.data(session: 4, payload: Array(repeating: 7, count: 100_000)).encode(into: &bytes)
        var buffer = MessageBuffer()
        buffer.append(bytes[..<50_000])
        #expect(try buffer.nextBackendMessage() == nil)
        buffer.append(bytes[50_000...])
        #expect(try buffer.nextBackendMessage() == .data(session: 4, payload: Array(repeating: 7, count: 100_000)))
    }
}
