import ArgumentParser
import BulwarkSys

@main
struct BulwarkControl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulwarkctl",
        abstract: "Send a command to a running bulwark's stats socket and print the answer.",
        discussion: "Examples: bulwarkctl help; bulwarkctl show stat; bulwarkctl --json show info; bulwarkctl disable listener front; bulwarkctl watch (a live view, redrawn every second until interrupted)"
    )

    @Option(name: [.short, .customLong("socket")], help: "Stats socket path ($BULWARK_SOCKET, else the shipped config's).")
    var socketPath: String = ProcessEnvironment.value("BULWARK_SOCKET") ?? "/tmp/bulwark.sock"

    @Flag(name: .long, help: "Ask for JSON and print it as sent.")
    var json = false

    @Option(name: .long, help: "With 'watch': stop after this many views (default: until interrupted).")
    var count: Int?

    @Argument(parsing: .captureForPassthrough, help: "The command, like: show stat; or 'watch' for a live view.")
    var command: [String] = []

    func run() throws {
        guard !command.isEmpty else { throw ValidationError("no command given; try: bulwarkctl help") }
        guard !command.contains(where: { $0.contains("\n") || $0.contains("\r") }) else {
            throw ValidationError("one command at a time: no line breaks in arguments")
        }
        guard command.first != "prompt" && command.first != "quit" else {
            throw ValidationError("'\(command[0])' is for interactive sessions: use socat - UNIX-CONNECT:\(socketPath)")
        }
        SignalFD.ignoreBrokenPipe()  // a gateway that closes at once is an error message, not a silent death
        if command.first == "watch" {
            // Options after the subcommand land in `command` (passthrough): read --count here too.
            var views = count
            if command.count == 3 && command[1] == "--count", let value = Int(command[2]), value > 0 {
                views = value
            } else if command.count != 1 {
                throw ValidationError("usage: bulwarkctl [-s SOCKET] watch [--count N]")
            }
            do {
                try Watch.run(socketPath: socketPath, intervalSeconds: 1, count: views)
            } catch {
                StandardStreams.writeError("bulwarkctl: \(StatsClient.explain(error, socketPath: socketPath))")
                throw ExitCode(3)
            }
            return
        }
        var line = command.joined(separator: " ")
        if json && command.first == "show" && command.last != "json" { line += " json" }
        let answer: String
        do {
            answer = try StatsClient.send(line, to: socketPath)
        } catch {
            StandardStreams.writeError("bulwarkctl: \(StatsClient.explain(error, socketPath: socketPath))")
            throw ExitCode(3)
        }
        let body = answer.hasSuffix("\n\n") ? String(answer.dropLast()) : answer
        if body.hasPrefix("error: ") || body.hasPrefix("{\"error\"") {
            StandardStreams.writeError(body)
            throw ExitCode(1)
        }
        StandardStreams.writeOutput(json ? body : TableLayout.aligned(body))
    }
}
