import Config
import Control
import Gateway
import Logging

/// Fuzz target `stats`: stats socket command lines, parsed and run at the admin level against a
/// gateway that is built (listener bound, nothing running), and the same lines read as the
/// head of a `/metrics` HTTP request. Whatever the lines, nothing traps, every answer ends
/// with "\n", and a line ending in `json` is answered in JSON.
///
/// Input: up to 16 lines of at most 4 KiB each (the stats socket's own line limit).
public enum StatsCommandCheck {
    private static let config = """
        [[listener]]
        name = "front"
        bind = "127.0.0.1:0"
        mode = "tcp"
        backend = "pool"
        [[backend]]
        name = "pool"
        servers = ["127.0.0.1:9"]
        """

    /// One gateway for every input: building one binds a socket and starts nothing.
    private static let context: ControlContext = {
        var logger = Logger(label: "fuzz")
        logger.logLevel = .critical
        do {
            let parsed = try ConfigParser.parse(text: config, file: "fuzz.toml")
            let runtime = try GatewayRuntime(config: parsed, logger: logger, handleSignals: false)
            return ControlContext(runtime: runtime, configPath: "fuzz.toml", configText: config, version: "fuzz")
        } catch {
            // Without it the target checks nothing: stop loudly rather than pass every input.
            fatalError("cannot build the gateway the stats fuzz target runs commands on: \(error)")
        }
    }()

    public static func run(_ data: [UInt8]) {
        let lines = data.split(separator: UInt8(ascii: "\n"), maxSplits: 16, omittingEmptySubsequences: false)
            .prefix(16)
            .filter { $0.count <= 4096 }
            .map { String(decoding: $0, as: UTF8.self) }
        var http = MetricsHTTPRequest()
        var httpAnswered = false
        for line in lines {
            if case .command(let command) = StatsCommandLine.classify(line) {
                let answer = StatsCommandLine.answer(command, level: .admin, context: context)
                require(answer.hasSuffix("\n"), "answer to \(command.debugDescription) does not end a line")
                let words = command.split(whereSeparator: { $0 == " " || $0 == "\t" })
                if words.count > 1 && words.last == "json" {
                    require(answer.hasPrefix("{") || answer.hasPrefix("["), "\(command.debugDescription) asked for JSON: \(answer.prefix(80))")
                }
            }
            if !httpAnswered, let response = http.take(line: line, body: { "# fuzz\n" }) {
                require(response.hasPrefix("HTTP/1.1 "), "not an HTTP response: \(response.prefix(40))")
                httpAnswered = true
            }
        }
    }
}
