import MuxProtocol

/// Fuzz target `protocol`: the mux protocol decoder (docs/protocol.md), both directions.
/// Whatever the bytes, decoding never traps; cut into reads anywhere, it yields the same
/// messages and the same error as in one read; each message it yields encodes back to itself.
///
/// Input: direction (1 byte: even = backend to gateway, what the gateway parses), the message
/// size limit (1 byte, in KiB, 0 for the protocol's), number of cuts (1 byte, up to 31), the
/// cuts (2 bytes each), then the stream.
public enum BackendProtocolCheck {
    public static func run(_ data: [UInt8]) {
        var input = FuzzInput(data)
        let fromBackend = input.byte() % 2 == 0
        let limitKiB = Int(input.byte())
        let maxMessageBytes = limitKiB == 0 ? ProtocolLimits.maxMessageBytes : limitKiB * 1024
        let cutChoices = input.cuts(over: 0xFFFF, cutCount: Int(input.byte() % 32))
        let stream = input.rest
        let cuts = cutChoices.map { $0 * stream.count / 0xFFFF }
        if fromBackend {
            check(stream, cuts: cuts, maxMessageBytes: maxMessageBytes, next: { (buffer: inout MessageBuffer) throws(ProtocolError) in try buffer.nextBackendMessage() },
                  encode: { $0.encode(into: &$1) }, fits: fits)
        } else {
            check(stream, cuts: cuts, maxMessageBytes: maxMessageBytes, next: { (buffer: inout MessageBuffer) throws(ProtocolError) in try buffer.nextGatewayMessage() },
                  encode: { $0.encode(into: &$1) }, fits: fits)
        }
    }

    private static func check<Message: Equatable>(
        _ stream: [UInt8], cuts: [Int], maxMessageBytes: Int,
        next: (inout MessageBuffer) throws(ProtocolError) -> Message?,
        encode: (Message, inout [UInt8]) -> Void, fits: (Message) -> Bool
    ) {
        let whole = decode([stream[...]], maxMessageBytes: maxMessageBytes, next: next)
        let pieces = (0..<cuts.count - 1).map { stream[cuts[$0]..<cuts[$0 + 1]] }
        let piecewise = decode(pieces, maxMessageBytes: maxMessageBytes, next: next)
        require(whole.messages == piecewise.messages, "cutting the stream changed the messages")
        require(whole.error == piecewise.error,
                "cutting the stream changed the error: \(String(describing: whole.error)) / \(String(describing: piecewise.error))")
        for message in whole.messages where fits(message) {
            var bytes: [UInt8] = []
            encode(message, &bytes)
            let again = decode([bytes[...]], maxMessageBytes: ProtocolLimits.maxMessageBytes, next: next)
            require(again.messages == [message] && again.error == nil, "\(message) did not survive encoding")
        }
    }

    private static func decode<Message>(_ pieces: [ArraySlice<UInt8>], maxMessageBytes: Int,
                                        next: (inout MessageBuffer) throws(ProtocolError) -> Message?)
        -> (messages: [Message], error: ProtocolError?) {
        var buffer = MessageBuffer(maxMessageBytes: maxMessageBytes)
        var messages: [Message] = []
        for piece in pieces {
            buffer.append(piece)
            do {
                while let message = try next(&buffer) { messages.append(message) }
            } catch {
                return (messages, error)  // the stream cannot be trusted past this point
            }
        }
        return (messages, nil)
    }

    /// Strings within their length prefix's reach: the encoder cuts longer ones, so only these
    /// can come back unchanged. (Invalid UTF-8 decodes to U+FFFD, which may lengthen a string.)
    private static func fits(_ message: BackendMessage) -> Bool {
        switch message {
        case .bind(_, let text), .join(_, let text), .leave(_, let text), .publish(let text, _), .error(let text):
            text.utf8.count <= 65_535
        case .broadcast(let listener, _):
            listener.utf8.count <= 255
        case .helloAck, .data, .close, .ping, .pong:
            true
        }
    }

    private static func fits(_ message: GatewayMessage) -> Bool {
        switch message {
        case .hello(_, _, _, let name): name.utf8.count <= 255
        case .open(_, _, _, let listener): listener.utf8.count <= 255
        case .data, .close, .ping, .pong: true
        }
    }
}
