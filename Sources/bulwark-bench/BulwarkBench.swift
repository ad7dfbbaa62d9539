import ArgumentParser

/// Load generator for Bulwark and for the gateways it is compared with (see docs/benchmarks.md).
@main
struct BulwarkBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulwark-bench",
        abstract: "TCP echo load generator: latency, throughput, idle connections, connection churn.",
        discussion: """
            Every subcommand talks to an echo service (bulwark-echo directly, or through a gateway), \
            verifies every byte it gets back, and exits nonzero on any verification error or \
            connection failure. Client sockets are bound round-robin to --sources (default: \
            127.0.0.2-127.0.0.254 for a 127.x target) so thousands of connections do not run out \
            of ephemeral ports.
            """,
        subcommands: [Pingpong.self, Idle.self, StreamCommand.self, Churn.self, Fanout.self]
    )
}
