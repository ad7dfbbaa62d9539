import MuxProtocol
import SysGuard

/// Who a backend message pushes a payload to. Consecutive messages with the same recipients
/// (a burst of BROADCASTs, PUBLISHes to one channel, DATA to one session) are delivered as one
/// PushBatch: each client gets all of them with one send instead of one send per message, which
/// is where a broadcast's time goes (the kernel's TCP send, about 8 µs per call here).
enum PushTarget: Equatable {
    case session(UInt64)
    case channel(String)
    case listener(String)

    /// The recipients and payload of a message that pushes to clients; nil for the others.
    static func of(_ message: BackendMessage) -> (target: PushTarget, payload: [UInt8])? {
        switch message {
        case .data(let session, let payload): (.session(session), payload)
        case .publish(let channel, let payload): (.channel(channel), payload)
        case .broadcast(let listener, let payload): (.listener(listener), payload)
        default: nil
        }
    }
}

/// The payloads of consecutive messages to the same recipients, framed once per framing (the
/// listeners a broadcast reaches may frame differently) and then sent to each recipient whole.
/// Lives for one settle; shared with other threads by Fanout only after frameForEveryFraming.
final class PushBatch: @unchecked Sendable {  // @unchecked: mutated by one thread while filled; read-only once frameForEveryFraming ran, before any other thread sees it
    /// At most this many messages, and this many framed bytes, go into one batch: a client's
    /// single send stays small enough for its socket buffer to take at once.
    static let maxMessages = 256
    static let maxBytes = 64 * 1024

    private(set) var payloads: [[UInt8]] = []
    private(set) var payloadBytes = 0
    private(set) var largestPayload = 0
    private var framed: [Framing: [UInt8]] = [:]

    /// Whether `payload` still fits (framing adds at most 4 bytes per payload).
    func canTake(_ payload: [UInt8]) -> Bool {
        payloads.count < Self.maxMessages && payloadBytes + 4 * payloads.count + payload.count + 4 <= Self.maxBytes
    }

    func append(_ payload: [UInt8]) {
        payloads.append(payload)
        payloadBytes += payload.count
        largestPayload = max(largestPayload, payload.count)
    }

    /// Frames the batch for every framing now, so that other threads only read it.
    func frameForEveryFraming() {
        for framing in Framing.allCases { _ = bytes(framedBy: framing) }
    }

    /// Every payload with `framing`'s header or trailer, back to back; made on first use.
    func bytes(framedBy framing: Framing) -> [UInt8] {
        if let made = framed[framing] { return made }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(payloadBytes + 4 * payloads.count)
        for payload in payloads {
            FrameSplitter.withFraming(framing, payloadCount: payload.count) { before, after in
                bytes.append(contentsOf: before)
                bytes.append(contentsOf: payload)
                bytes.append(contentsOf: after)
            }
        }
        framed[framing] = bytes
        return bytes
    }
}
