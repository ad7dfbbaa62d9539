// Reading messages from a byte stream that arrives in arbitrary pieces.

/// Reads one message body field by field; running past the end is a ProtocolError.
struct BodyReader {
    let bytes: ArraySlice<UInt8>
    var offset: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        offset = bytes.startIndex
    }

    mutating func take(_ count: Int, _ what: String) throws(ProtocolError) -> ArraySlice<UInt8> {
        guard count >= 0, bytes.endIndex - offset >= count else { throw ProtocolError("body too short for \(what)") }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    mutating func u8(_ what: String) throws(ProtocolError) -> UInt8 { try take(1, what).first! }

    mutating func u16(_ what: String) throws(ProtocolError) -> UInt16 {
        try take(2, what).reduce(0) { $0 << 8 | UInt16($1) }
    }

    mutating func u32(_ what: String) throws(ProtocolError) -> UInt32 {
        try take(4, what).reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func u64(_ what: String) throws(ProtocolError) -> UInt64 {
        try take(8, what).reduce(0) { $0 << 8 | UInt64($1) }
    }

    mutating func shortString(_ what: String) throws(ProtocolError) -> String {
        let count = Int(try u8(what))
        return String(decoding: try take(count, what), as: UTF8.self)
    }

    mutating func string(_ what: String) throws(ProtocolError) -> String {
        let count = Int(try u16(what))
        return String(decoding: try take(count, what), as: UTF8.self)
    }

    /// The rest of the body (a payload).
    mutating func rest() -> [UInt8] {
        defer { offset = bytes.endIndex }
        return Array(bytes[offset...])
    }

    mutating func reason() throws(ProtocolError) -> SessionCloseReason {
        // An unknown reason from a newer peer reads as "unspecified" rather than breaking the stream.
        SessionCloseReason(rawValue: try u8("reason")) ?? .unspecified
    }
}

/// Collects bytes and cuts them into messages: `append` what was read, then call `next` until
/// it returns nil. A ProtocolError means the stream cannot be trusted any more.
public struct MessageBuffer: Sendable {
    private var pending: [UInt8] = []
    private var start = 0
    public let maxMessageBytes: Int

    public init(maxMessageBytes: Int = ProtocolLimits.maxMessageBytes) {
        self.maxMessageBytes = maxMessageBytes
    }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if start > 0 && start == pending.count {
            pending.removeAll(keepingCapacity: true)
            start = 0
        }
        pending.append(contentsOf: bytes)
    }

    /// Bytes received but not yet cut into messages.
    public var bufferedBytes: Int { pending.count - start }

    /// The next whole message as (type, body), or nil until more bytes arrive.
    mutating func nextRaw() throws(ProtocolError) -> (type: UInt8, body: ArraySlice<UInt8>)? {
        guard pending.count - start >= 4 else { return nil }
        let length = pending[start..<start + 4].reduce(0) { $0 << 8 | Int($1) }
        guard length >= 1 else { throw ProtocolError("a message of length 0") }
        guard length <= maxMessageBytes else { throw ProtocolError("a message of \(length) bytes, above the \(maxMessageBytes) limit") }
        guard pending.count - start >= 4 + length else { return nil }
        let type = pending[start + 4]
        let body = pending[start + 5..<start + 4 + length]
        start += 4 + length
        if start > 65_536 && start * 2 > pending.count {
            // Keep the unread tail at the front now and then, so the buffer does not grow forever.
            let tail = Array(pending[start...])
            defer { pending = tail; start = 0 }
            return (type, ArraySlice(Array(body)))
        }
        return (type, body)
    }

    /// The next message from a backend (what the gateway reads).
    public mutating func nextBackendMessage() throws(ProtocolError) -> BackendMessage? {
        guard let (type, body) = try nextRaw() else { return nil }
        var reader = BodyReader(body)
        switch type {
        case MessageType.helloAck: return .helloAck(version: try reader.u8("version"))
        case MessageType.backendData: return .data(session: try reader.u64("session"), payload: reader.rest())
        case MessageType.backendClose: return .close(session: try reader.u64("session"), reason: try reader.reason())
        case MessageType.bind: return .bind(session: try reader.u64("session"), user: try reader.string("user"))
        case MessageType.join: return .join(session: try reader.u64("session"), channel: try reader.string("channel"))
        case MessageType.leave: return .leave(session: try reader.u64("session"), channel: try reader.string("channel"))
        case MessageType.publish: return .publish(channel: try reader.string("channel"), payload: reader.rest())
        case MessageType.broadcast: return .broadcast(listener: try reader.shortString("listener"), payload: reader.rest())
        case MessageType.ping: return .ping(nonce: try reader.u64("nonce"))
        case MessageType.pong: return .pong(nonce: try reader.u64("nonce"))
        case MessageType.error: return .error(text: try reader.string("text"))
        default: throw ProtocolError("unknown message type 0x\(String(type, radix: 16)) from a backend")
        }
    }

    /// The next message from a gateway (what a backend reads).
    public mutating func nextGatewayMessage() throws(ProtocolError) -> GatewayMessage? {
        guard let (type, body) = try nextRaw() else { return nil }
        var reader = BodyReader(body)
        switch type {
        case MessageType.hello:
            return .hello(version: try reader.u8("version"), nodeID: try reader.u16("node_id"),
                          heartbeatMilliseconds: try reader.u32("heartbeat_ms"), name: try reader.shortString("name"))
        case MessageType.open:
            let session = try reader.u64("session")
            let flags = try reader.u8("flags")
            let family = try reader.u8("family")
            guard family == 4 || family == 6 else { throw ProtocolError("address family \(family), expected 4 or 6") }
            let address = Array(try reader.take(family == 4 ? 4 : 16, "address"))
            let port = try reader.u16("port")
            let listener = try reader.shortString("listener")
            return .open(session: session, reattach: flags & 1 != 0, client: ClientEndpoint(addressBytes: address, port: port),
                         listener: listener)
        case MessageType.gatewayData: return .data(session: try reader.u64("session"), payload: reader.rest())
        case MessageType.gatewayClose: return .close(session: try reader.u64("session"), reason: try reader.reason())
        case MessageType.ping: return .ping(nonce: try reader.u64("nonce"))
        case MessageType.pong: return .pong(nonce: try reader.u64("nonce"))
        default: throw ProtocolError("unknown message type 0x\(String(type, radix: 16)) from a gateway")
        }
    }
}
