import ArgumentParser
import BulwarkSys
import Glibc

/// A fast epoll echo server: the backend for tests and benchmarks.
@main
struct BulwarkEcho: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulwark-echo",
        abstract: "Echoes every byte back, in order; passes a client's half-close on.",
        discussion: """
            Prints "listening on HOST:PORT" once bound (with port 0, the real port). One edge-triggered \
            epoll per thread; with --threads above 1 each thread has its own SO_REUSEPORT listener. \
            A client whose unsent echo exceeds 1 MiB is not read until it drains. Exits 0 on SIGTERM/SIGINT.
            """
    )

    @Option(name: .long, help: "Address to listen on: a.b.c.d:port or [v6]:port (port 0 picks one).")
    var listen: String = "127.0.0.1:7001"

    @Option(name: .long, help: "Event-loop threads (each with its own SO_REUSEPORT listener when above 1).")
    var threads: Int = 1

    func validate() throws {
        guard SocketAddress.parseNumeric(listen) != nil else {
            throw ValidationError("--listen must be a.b.c.d:port or [v6]:port, got '\(listen)'")
        }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1...256") }
    }

    func run() throws {
        let address = SocketAddress.parseNumeric(listen)!
        SignalFD.ignoreBrokenPipe()
        _ = try? ProcessFacts.raiseOpenFileLimit(to: 1 << 20)
        // Blocked here, before any thread starts, so every thread inherits the mask.
        let signals = try SignalFD(signals: [SIGTERM, SIGINT])
        try EchoServer.run(address: address, threads: threads, signals: signals)
    }
}
