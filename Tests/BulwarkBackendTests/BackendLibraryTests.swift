import BulwarkBackend
import BulwarkSys
import BulwarkTestSupport
import Config
import Gateway
import Logging
import MuxProtocol
import Testing

/// A gateway runtime on its own thread, logging errors only.
struct InProcessGateway {
    let runtime: GatewayRuntime
    private let thread: NativeThread

    init(config: GatewayConfig) throws {
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let runtime = try GatewayRuntime(config: config, logger: logger, handleSignals: false)
        self.runtime = runtime
        thread = try NativeThread.start(name: "gateway") { try? runtime.run() }
    }

    func stop() {
        runtime.stop()
        thread.join()
    }
}

/// A BackendServer serving on its own thread.
struct RunningBackend {
    private let server: BulwarkBackend.BackendServer
    private let thread: NativeThread
    var address: SocketAddress { server.address }

    init(handler: any SessionHandler) throws {
        let server = try BulwarkBackend.BackendServer(listen: loopback(), handler: handler)
        self.server = server
        thread = try NativeThread.start(name: "backend") { server.run() }
    }

    func stop() {
        server.stop()
        thread.join()
    }
}

/// Two workers and a mux listener "chat" (u16be) on 127.0.0.1:0 in front of `backend`.
func muxConfig(backend: SocketAddress, connections: Int, serverLines: String = "", guardLines: String = "") throws -> GatewayConfig {
    try ConfigParser.parse(text: """
        [server]
        workers = 2
        \(serverLines)
        [guard]
        \(guardLines)
        [[listener]]
        name = "chat"
        bind = "127.0.0.1:0"
        mode = "mux"
        framing = "u16be"
        backend = "logic"
        [[backend]]
        name = "logic"
        servers = ["\(backend)"]
        connections = \(connections)
        """, file: "mux-test.toml")
}

/// Records what the library hands to a backend, and answers like a tiny chat.
final class RecordingHandler: SessionHandler {
    let events = Locked<[String]>([])

    func opened(_ session: Session, client: ClientEndpoint, listener: String, reattached: Bool) {
        events.withLock { $0.append("open \(listener) \(client.addressBytes) reattach=\(reattached)") }
    }

    func received(_ payload: [UInt8], from session: Session) {
        let text = String(decoding: payload, as: UTF8.self)
        events.withLock { $0.append("data \(text)") }
        if text.hasPrefix("join ") {
            session.join(String(text.dropFirst(5)))
            session.send("joined")
        } else if text.hasPrefix("big "), let count = Int(text.dropFirst(4)) {
            session.send([UInt8](repeating: UInt8(ascii: "x"), count: count))
            session.send("after big")
        } else if text.hasPrefix("say ") {
            session.gateway.publish(Array(text.dropFirst(4).utf8), to: "room")
        } else {
            session.send("echo: " + text)
        }
    }

    func closed(_ session: Session, reason: SessionCloseReason) {
        events.withLock { $0.append("close \(reason)") }
    }
}

@Suite(.serialized) struct BackendLibraryTests {
    @Test func aSwiftBackendServesSessionsThroughAMuxListener() throws {
        let handler = RecordingHandler()
        let backend = try RunningBackend(handler: handler)
        defer { backend.stop() }
        let config = try muxConfig(backend: backend.address, connections: 2)
        let gateway = try InProcessGateway(config: config)
        defer { gateway.stop() }
        let runtime = gateway.runtime
        func frame(_ text: String) -> [UInt8] { [UInt8(text.utf8.count >> 8), UInt8(text.utf8.count & 0xFF)] + Array(text.utf8) }
        func readFrame(_ client: BlockingSocket) throws -> String {
            let header = try client.receiveExactly(2)
            return String(decoding: try client.receiveExactly(Int(header[0]) << 8 | Int(header[1])), as: UTF8.self)
        }
        let address = runtime.listeners[0].address
        var first: BlockingSocket?
        // The pool connects asynchronously: until a connection is live, new sessions are refused.
        #expect(eventually {
            guard let client = try? BlockingSocket.connect(to: address), (try? client.sendAll(frame("hello"))) != nil,
                  (try? readFrame(client)) == "echo: hello" else { return false }
            first = client
            return true
        })
        let a = try #require(first)
        let b = try BlockingSocket.connect(to: address)
        for client in [a, b] {
            try client.sendAll(frame("join room"))
            #expect(try readFrame(client) == "joined")
        }
        try a.sendAll(frame("say hi room"))
        #expect(try readFrame(a) == "hi room")
        #expect(try readFrame(b) == "hi room")
        a.close()
        #expect(eventually { handler.events.withLock { $0.contains("close clientClosed") } })
        let events = handler.events.withLock { $0 }
        #expect(events.contains("open chat [127, 0, 0, 1] reattach=false"))
        #expect(events.firstIndex(of: "data hello")! < events.firstIndex(of: "close clientClosed")!)
    }
}

@Suite(.serialized) struct OversizedPushTests {
    /// u16be with the default max_frame (64 KiB = 65,536 bytes): a 65,536-byte payload from the
    /// backend cannot be framed (its header would say 0), so it is refused and counted like one
    /// over max_frame; 65,535 bytes goes through; the client stays connected either way.
    @Test func aPayloadTheU16HeaderCannotSayIsRefusedAndCounted() throws {
        let backend = try RunningBackend(handler: RecordingHandler())
        defer { backend.stop() }
        let gateway = try InProcessGateway(config: try muxConfig(backend: backend.address, connections: 1))
        defer { gateway.stop() }
        let runtime = gateway.runtime
        func frame(_ text: String) -> [UInt8] { [UInt8(text.utf8.count >> 8), UInt8(text.utf8.count & 0xFF)] + Array(text.utf8) }
        func readFrame(_ client: BlockingSocket) throws -> [UInt8] {
            let header = try client.receiveExactly(2)
            return try client.receiveExactly(Int(header[0]) << 8 | Int(header[1]))
        }
        var opened: BlockingSocket?
        #expect(eventually {
            guard let client = try? BlockingSocket.connect(to: runtime.listeners[0].address), (try? client.sendAll(frame("hello"))) != nil,
                  (try? readFrame(client)) == Array("echo: hello".utf8) else { return false }
            opened = client
            return true
        })
        let client = try #require(opened)
        try client.sendAll(frame("big 65536"))
        #expect(try readFrame(client) == Array("after big".utf8), "the unframeable payload is skipped, not sent behind a 0 header")
        try client.sendAll(frame("big 65535"))
        #expect(try readFrame(client).count == 65_535)
        #expect(try readFrame(client) == Array("after big".utf8))
        let counters = Dictionary(uniqueKeysWithValues: runtime.muxCounters.map { ($0.name, $0.value) })
        #expect(counters["oversized_payloads"] == 1)
        client.close()
    }
}

/// Stops reading for a while at the first frame (the backend's event loop sleeps: every gateway
/// connection waits, here the only one), then records each
/// session's frames: how many, and whether their 4-byte sequence numbers came in order.
final class StallingHandler: SessionHandler {
    private let stalled = Locked<Bool>(false)
    let frames = Locked<[UInt64: (count: Int, inOrder: Bool)]>([:])

    func opened(_ session: Session, client: ClientEndpoint, listener: String, reattached: Bool) {}

    func received(_ payload: [UInt8], from session: Session) {
        let first = stalled.withLock { (stalled: inout Bool) -> Bool in
            defer { stalled = true }
            return !stalled
        }
        if first { sleepMilliseconds(1500) }
        let sequence = payload.prefix(4).reduce(0) { $0 << 8 | Int($1) }
        frames.withLock {
            let seen = $0[session.id] ?? (0, true)
            $0[session.id] = (seen.count + 1, seen.inOrder && sequence == seen.count)
        }
    }

    func closed(_ session: Session, reason: SessionCloseReason) {}

    var total: Int { frames.withLock { $0.values.reduce(0) { $0 + $1.count } } }
}

@Suite(.serialized) struct BackendBackpressureTests {
    /// 16 MB from 4 clients while the backend reads nothing for 1.5 s: more than the kernel's
    /// buffers hold, so the connection's queue passes high water and its sessions stop reading
    /// their clients; once the backend reads again every frame arrives, in order.
    @Test func aBackendThatStopsReadingPausesItsSessionsAndLosesNothing() throws {
        let handler = StallingHandler()
        let backend = try RunningBackend(handler: handler)
        defer { backend.stop() }
        let config = try muxConfig(backend: backend.address, connections: 1, serverLines: "high_water = \"16KiB\"")
        let gateway = try InProcessGateway(config: config)
        defer { gateway.stop() }
        let runtime = gateway.runtime
        let framesPerClient = 4000
        let payloadBytes = 1000
        #expect(eventually { runtime.muxCounters.first { $0.name == "refused_no_backend" }?.value == 0
            && (try? BlockingSocket.connect(to: runtime.listeners[0].address)) != nil })
        sleepMilliseconds(300)  // the backend connection is live before the clients open
        let clients = try (0..<4).map { _ in try BlockingSocket.connect(to: runtime.listeners[0].address) }
        let senders = try clients.enumerated().map { index, client in
            try NativeThread.start(name: "sender-\(index)") {
                var bytes: [UInt8] = []
                bytes.reserveCapacity(framesPerClient * (payloadBytes + 2))
                for sequence in 0..<framesPerClient {
                    bytes += [UInt8(payloadBytes >> 8), UInt8(payloadBytes & 0xFF)]
                    bytes += [UInt8(sequence >> 24), UInt8(sequence >> 16 & 0xFF), UInt8(sequence >> 8 & 0xFF), UInt8(sequence & 0xFF)]
                    bytes += [UInt8](repeating: UInt8(index), count: payloadBytes - 4)
                }
                try? client.sendAll(bytes)
            }
        }
        for sender in senders { sender.join() }
        #expect(eventually(timeoutMilliseconds: 20_000) { handler.total == 4 * framesPerClient }, "got \(handler.total)")
        let frames = handler.frames.withLock { $0 }
        #expect(frames.count == 4 && frames.values.allSatisfy { $0.count == framesPerClient && $0.inOrder })
        let counters = Dictionary(uniqueKeysWithValues: runtime.muxCounters.map { ($0.name, $0.value) })
        #expect(counters["backend_pauses"]! > 0, "the queue passed high water and sessions paused")
        #expect(counters["lost_frames"] == 0)
        for client in clients { client.close() }
    }
}
