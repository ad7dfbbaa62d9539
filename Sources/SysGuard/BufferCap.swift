/// Caps on what one connection may hold queued: past the receive cap the reader is not keeping
/// frames moving; past the send cap the client reads too slowly. Either closes the connection.
public struct BufferCap: Equatable, Sendable {
    public let maxReceiveBufferBytes: Int?
    public let maxSendBufferBytes: Int?

    public init(maxReceiveBufferBytes: Int?, maxSendBufferBytes: Int?) {
        self.maxReceiveBufferBytes = maxReceiveBufferBytes
        self.maxSendBufferBytes = maxSendBufferBytes
    }

    /// Nil while both queues are within their caps (a queue at its cap is within it).
    public func check(receiveQueuedBytes: Int, sendQueuedBytes: Int) -> CloseReason? {
        if let maxSendBufferBytes, sendQueuedBytes > maxSendBufferBytes { return .sendBuffer }
        if let maxReceiveBufferBytes, receiveQueuedBytes > maxReceiveBufferBytes { return .receiveBuffer }
        return nil
    }
}
