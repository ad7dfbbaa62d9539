import ArgumentParser
import BulwarkBackend
import BulwarkSys
import MuxProtocol

/// The example backend behind the shipped config's mux listener: a chat service built on
/// BulwarkBackend. Client lines: "join ROOM", "leave ROOM", "say ROOM TEXT" (to everyone in the
/// room), "all TEXT" (to everyone on the listener), "nick NAME" (binds a user id), "quit"
/// (the backend closes the session); anything else comes back as "echo: ...". Rooms are the
/// gateway's channels: this backend keeps no state at all.
@main
struct ChatBackend: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulwark-chat",
        abstract: "Example mux backend: echo, rooms as channels, broadcast (docs/protocol.md).")

    @Option(help: "Address to listen on for gateways: a.b.c.d:port.")
    var listen = "127.0.0.1:7101"

    @Flag(help: "Benchmark mode: echo every payload unchanged (no greeting); a payload starting with \"!all \" is broadcast instead.")
    var echo = false

    func run() throws {
        guard let address = SocketAddress.parseNumeric(listen) else { throw ValidationError("bad address \(listen)") }
        let handler: any SessionHandler = echo ? Echo() : Chat()
        let server = try BackendServer(listen: address, handler: handler)
        StandardStreams.writeOutput("listening on \(server.address)")
        server.run()
    }
}

struct Chat: SessionHandler {
    func opened(_ session: Session, client: ClientEndpoint, listener: String, reattached: Bool) {
        if !reattached { session.send("welcome, session \(String(session.id, radix: 16)); try: join ROOM, say ROOM TEXT, all TEXT, nick NAME, quit") }
    }

    func received(_ payload: [UInt8], from session: Session) {
        let line = String(decoding: payload, as: UTF8.self)
        let words = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true).map(String.init)
        switch (words.first, words.count) {
        case ("join", 2...): session.join(words[1]); session.send("joined \(words[1])")
        case ("leave", 2...): session.leave(words[1]); session.send("left \(words[1])")
        case ("say", 3): session.gateway.publish(Array("[\(words[1])] \(words[2])".utf8), to: words[1])
        case ("all", 2...): session.gateway.broadcast(Array("[all] \(line.dropFirst(4))".utf8))
        case ("nick", 2...): session.bind(user: words[1]); session.send("you are \(words[1])")
        case ("quit", _): session.send("bye"); session.close()
        default: session.send("echo: \(line)")
        }
    }

    func closed(_ session: Session, reason: SessionCloseReason) {}
}

/// `--echo`: what the benchmarks need, a payload back unchanged; "!all TEXT" broadcasts TEXT.
struct Echo: SessionHandler {
    func opened(_ session: Session, client: ClientEndpoint, listener: String, reattached: Bool) {}

    func received(_ payload: [UInt8], from session: Session) {
        if payload.starts(with: Array("!all ".utf8)) {
            session.gateway.broadcast(Array(payload.dropFirst(5)))
        } else {
            session.send(payload)
        }
    }

    func closed(_ session: Session, reason: SessionCloseReason) {}
}
