import BulwarkBackend
import BulwarkSys
import BulwarkTestSupport
import Glibc
import MuxProtocol
import Testing

/// Sends every payload back to its session.
final class EchoHandler: SessionHandler {
    func opened(_ session: Session, client: ClientEndpoint, listener: String, reattached: Bool) {}
    func received(_ payload: [UInt8], from session: Session) { session.send(payload) }
    func closed(_ session: Session, reason: SessionCloseReason) {}
}

@Suite(.serialized) struct BackendEventLoopTests {
    /// A "gateway" (a raw socket speaking docs/protocol.md) that sends DATA and never reads the
    /// echoes: the backend must stop reading it once its unsent answers pass high water, so the
    /// gateway's sends stall, instead of reading on and buffering echoes until its 64 MiB cap
    /// closes the connection. Then the gateway reads and the echoes come: the connection lived.
    @Test func aGatewayThatDoesNotReadIsNoLongerReadAndKeepsItsConnection() throws {
        let backend = try RunningBackend(handler: EchoHandler())
        defer { backend.stop() }
        let fd = try Sockets.socket(family: AF_INET)
        defer { FileDescriptors.close(fd) }
        _ = try Sockets.connect(fd, to: backend.address)
        #expect(!Poll.writable([fd], timeoutMilliseconds: 2000).isEmpty)

        func sendAll(_ bytes: [UInt8], stallMilliseconds: Int32) throws -> Bool {
            var offset = 0
            while offset < bytes.count {
                let outcome = try bytes[offset...].withUnsafeBytes { raw throws(SystemError) in try Sockets.send(fd, from: raw) }
                switch outcome {
                case .transferred(let count): offset += count
                case .wouldBlock, .endOfStream:
                    if Poll.writable([fd], timeoutMilliseconds: stallMilliseconds).isEmpty { return false }
                }
            }
            return true
        }
        var greeting: [UInt8] = []
        GatewayMessage.hello(version: ProtocolLimits.version, nodeID: 1, heartbeatMilliseconds: 60_000, name: "test").encode(into: &greeting)
        GatewayMessage.open(session: 1, reattach: false, client: ClientEndpoint(addressBytes: [127, 0, 0, 1], port: 1), listener: "l")
            .encode(into: &greeting)
        #expect(try sendAll(greeting, stallMilliseconds: 2000))
        var message: [UInt8] = []
        GatewayMessage.data(session: 1, payload: [UInt8](repeating: 7, count: 60_000)).encode(into: &message)

        var sentBytes = 0
        var stalled = false
        let deadline = MonotonicClock.nanoseconds() + 30_000_000_000
        while sentBytes < 96 << 20 && MonotonicClock.nanoseconds() < deadline {
            guard try sendAll(message, stallMilliseconds: 1000) else {
                stalled = true
                break
            }
            sentBytes += message.count
        }
        #expect(stalled, "the backend stopped reading (sent \(sentBytes) bytes without a stall)")
        #expect(sentBytes < 48 << 20, "it stopped near its 4 MiB high water plus the kernel's buffers, not at the 64 MiB cap")

        // Now read: the echoes flow, and the backend reads again as its answers drain.
        var received = 0
        let readDeadline = MonotonicClock.nanoseconds() + 20_000_000_000
        var scratch = [UInt8](repeating: 0, count: 1 << 16)
        while received < sentBytes / 2 && MonotonicClock.nanoseconds() < readDeadline {
            guard !Poll.readable([fd], timeoutMilliseconds: 1000).isEmpty else { continue }
            let outcome = try scratch.withUnsafeMutableBytes { raw throws(SystemError) in try Sockets.receive(fd, into: raw) }
            guard case .transferred(let count) = outcome else { break }
            received += count
        }
        #expect(received >= sentBytes / 2, "echoes received: \(received) of \(sentBytes) sent")
    }
}
