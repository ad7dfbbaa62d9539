// Writing messages: each appends one whole message (length, type, body) to a byte array.

extension Array where Element == UInt8 {
    @inline(__always) mutating func appendBigEndian(_ value: UInt16) {
        append(UInt8(truncatingIfNeeded: value >> 8)); append(UInt8(truncatingIfNeeded: value))
    }

    @inline(__always) mutating func appendBigEndian(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    @inline(__always) mutating func appendBigEndian(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    /// A string with a u8 length prefix, cut to 255 bytes.
    mutating func appendShortString(_ text: String) {
        let bytes = Array(text.utf8.prefix(255))
        append(UInt8(bytes.count))
        append(contentsOf: bytes)
    }

    /// A string with a u16 length prefix, cut to 65,535 bytes.
    mutating func appendString(_ text: String) {
        let bytes = Array(text.utf8.prefix(65_535))
        appendBigEndian(UInt16(bytes.count))
        append(contentsOf: bytes)
    }
}

enum Framer {
    /// Appends a message whose body `writeBody` appends; the length is filled in after.
    static func message(_ type: UInt8, into output: inout [UInt8], _ writeBody: (inout [UInt8]) -> Void) {
        let start = output.count
        output.appendBigEndian(UInt32(0))
        output.append(type)
        writeBody(&output)
        let length = UInt32(output.count - start - 4)
        for index in 0..<4 { output[start + index] = UInt8(truncatingIfNeeded: length >> UInt32(24 - 8 * index)) }
    }
}

extension GatewayMessage {
    public func encode(into output: inout [UInt8]) {
        switch self {
        case .hello(let version, let nodeID, let heartbeat, let name):
            Framer.message(MessageType.hello, into: &output) {
                $0.append(version); $0.appendBigEndian(nodeID); $0.appendBigEndian(heartbeat); $0.appendShortString(name)
            }
        case .open(let session, let reattach, let client, let listener):
            Framer.message(MessageType.open, into: &output) {
                $0.appendBigEndian(session)
                $0.append(reattach ? 1 : 0)
                $0.append(client.addressBytes.count == 16 ? 6 : 4)
                $0.append(contentsOf: client.addressBytes)
                $0.appendBigEndian(client.port)
                $0.appendShortString(listener)
            }
        case .data(let session, let payload):
            Framer.message(MessageType.gatewayData, into: &output) { $0.appendBigEndian(session); $0.append(contentsOf: payload) }
        case .close(let session, let reason):
            Framer.message(MessageType.gatewayClose, into: &output) { $0.appendBigEndian(session); $0.append(reason.rawValue) }
        case .ping(let nonce):
            Framer.message(MessageType.ping, into: &output) { $0.appendBigEndian(nonce) }
        case .pong(let nonce):
            Framer.message(MessageType.pong, into: &output) { $0.appendBigEndian(nonce) }
        }
    }

    /// The 13 bytes before a DATA payload of `payloadCount` bytes: the gateway writes them and
    /// then the payload straight from the client's read, without building the message.
    public static func dataHeader(session: UInt64, payloadCount: Int) -> [UInt8] {
        withDataHeader(session: session, payloadCount: payloadCount) { Array($0) }
    }

    /// The same header in a stack buffer, for the per-frame path (no allocation).
    @inline(__always)
    public static func withDataHeader<Result>(session: UInt64, payloadCount: Int,
                                              _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        var header: (UInt32, UInt8, UInt64) = (0, 0, 0)  // laid out by hand below; 16 bytes of storage
        return withUnsafeMutableBytes(of: &header) { raw in
            let length = UInt32(9 + payloadCount)
            for index in 0..<4 { raw[index] = UInt8(truncatingIfNeeded: length >> UInt32(24 - 8 * index)) }
            raw[4] = MessageType.gatewayData
            for index in 0..<8 { raw[5 + index] = UInt8(truncatingIfNeeded: session >> UInt64(56 - 8 * index)) }
            return body(UnsafeRawBufferPointer(rebasing: raw[0..<ProtocolLimits.dataHeaderBytes]))
        }
    }
}

extension BackendMessage {
    public func encode(into output: inout [UInt8]) {
        switch self {
        case .helloAck(let version):
            Framer.message(MessageType.helloAck, into: &output) { $0.append(version) }
        case .data(let session, let payload):
            Framer.message(MessageType.backendData, into: &output) { $0.appendBigEndian(session); $0.append(contentsOf: payload) }
        case .close(let session, let reason):
            Framer.message(MessageType.backendClose, into: &output) { $0.appendBigEndian(session); $0.append(reason.rawValue) }
        case .bind(let session, let user):
            Framer.message(MessageType.bind, into: &output) { $0.appendBigEndian(session); $0.appendString(user) }
        case .join(let session, let channel):
            Framer.message(MessageType.join, into: &output) { $0.appendBigEndian(session); $0.appendString(channel) }
        case .leave(let session, let channel):
            Framer.message(MessageType.leave, into: &output) { $0.appendBigEndian(session); $0.appendString(channel) }
        case .publish(let channel, let payload):
            Framer.message(MessageType.publish, into: &output) { $0.appendString(channel); $0.append(contentsOf: payload) }
        case .broadcast(let listener, let payload):
            Framer.message(MessageType.broadcast, into: &output) { $0.appendShortString(listener); $0.append(contentsOf: payload) }
        case .ping(let nonce):
            Framer.message(MessageType.ping, into: &output) { $0.appendBigEndian(nonce) }
        case .pong(let nonce):
            Framer.message(MessageType.pong, into: &output) { $0.appendBigEndian(nonce) }
        case .error(let text):
            Framer.message(MessageType.error, into: &output) { $0.appendString(text) }
        }
    }
}
