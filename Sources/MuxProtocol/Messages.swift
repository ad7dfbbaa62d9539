// The backend protocol of mux listeners (docs/protocol.md), as values. Pure: no I/O, no
// dependencies, so the gateway, the BulwarkBackend library and the tests share one codec.

/// Why a session ended (docs/protocol.md, "Close reasons").
public enum SessionCloseReason: UInt8, Sendable, Equatable, CaseIterable {
    case unspecified = 0
    case clientClosed = 1
    case idleTimeout = 2
    case limit = 3
    case kicked = 4
    case gatewayStopping = 5
    case noBackend = 6
    case clientError = 7
    case backendRequest = 8
}

/// A client address as OPEN carries it: 4 or 16 bytes and a port.
public struct ClientEndpoint: Sendable, Equatable {
    public var addressBytes: [UInt8]
    public var port: UInt16

    public init(addressBytes: [UInt8], port: UInt16) {
        self.addressBytes = addressBytes
        self.port = port
    }
}

/// Gateway → backend.
public enum GatewayMessage: Sendable, Equatable {
    case hello(version: UInt8, nodeID: UInt16, heartbeatMilliseconds: UInt32, name: String)
    case open(session: UInt64, reattach: Bool, client: ClientEndpoint, listener: String)
    case data(session: UInt64, payload: [UInt8])
    case close(session: UInt64, reason: SessionCloseReason)
    case ping(nonce: UInt64)
    case pong(nonce: UInt64)
}

/// Backend → gateway.
public enum BackendMessage: Sendable, Equatable {
    case helloAck(version: UInt8)
    case data(session: UInt64, payload: [UInt8])
    case close(session: UInt64, reason: SessionCloseReason)
    case bind(session: UInt64, user: String)
    case join(session: UInt64, channel: String)
    case leave(session: UInt64, channel: String)
    case publish(channel: String, payload: [UInt8])
    case broadcast(listener: String, payload: [UInt8])
    case ping(nonce: UInt64)
    case pong(nonce: UInt64)
    case error(text: String)
}

/// Message type codes on the wire.
public enum MessageType {
    public static let hello: UInt8 = 0x01
    public static let open: UInt8 = 0x02
    public static let gatewayData: UInt8 = 0x03
    public static let gatewayClose: UInt8 = 0x04
    public static let ping: UInt8 = 0x05
    public static let pong: UInt8 = 0x06
    public static let helloAck: UInt8 = 0x81
    public static let backendData: UInt8 = 0x82
    public static let backendClose: UInt8 = 0x83
    public static let bind: UInt8 = 0x84
    public static let join: UInt8 = 0x85
    public static let leave: UInt8 = 0x86
    public static let publish: UInt8 = 0x87
    public static let broadcast: UInt8 = 0x88
    public static let error: UInt8 = 0x8F
}

public enum ProtocolLimits {
    /// The protocol version this code speaks.
    public static let version: UInt8 = 1
    /// The largest `length` (type and body) a message may have.
    public static let maxMessageBytes = 16 * 1024 * 1024
    /// length (4) + type (1) + session (8): what precedes a DATA payload.
    public static let dataHeaderBytes = 13
}

/// Why a stream can no longer be trusted (the receiver closes the connection).
public struct ProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
