import BulwarkBackend
import BulwarkSys
import BulwarkTestSupport
import Config
import Gateway
import Logging
import MuxProtocol
import Testing

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
        let server = try BackendServer(listen: loopback(), handler: handler)
        let serverThread = try NativeThread.start(name: "backend") { server.run() }
        defer {
            server.stop()
            serverThread.join()
        }
        let config = try ConfigParser.parse(text: """
            [server]
            workers = 2
            [[listener]]
            name = "chat"
            bind = "127.0.0.1:0"
            mode = "mux"
            framing = "u16be"
            backend = "logic"
            [[backend]]
            name = "logic"
            servers = ["\(server.address)"]
            connections = 2
            """, file: "backend-test.toml")
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let runtime = try GatewayRuntime(config: config, logger: logger, handleSignals: false)
        let gatewayThread = try NativeThread.start(name: "gateway") { try? runtime.run() }
        defer {
            runtime.stop()
            gatewayThread.join()
        }
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
