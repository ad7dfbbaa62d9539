import ArgumentParser
import BulwarkSys
import CJemalloc
import Config
import Control
import Gateway
import Logging

@main
struct BulwarkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulwark",
        abstract: "An access-layer gateway: holds many long-lived TCP connections and relays them to backends.",
        version: VersionText.full(),
        subcommands: [Run.self, Check.self]
    )
}

struct ConfigOption: ParsableArguments {
    @Option(name: [.short, .customLong("config")], help: "Path of the TOML config file.")
    var configPath: String = "/etc/bulwark/bulwark.toml"
}

/// Reads and validates a config file; prints every error (file:line: key: message) to stderr.
func loadConfig(_ path: String) throws -> (text: String, config: GatewayConfig) {
    let text: String
    do {
        text = try Files.readText(path)
    } catch {
        StandardStreams.writeError("\(path): cannot read: \(Errno.describe(error.errno))")
        throw ExitCode(2)
    }
    do {
        return (text, try ConfigParser.parse(text: text, file: path))
    } catch {
        StandardStreams.writeError(error.description)
        throw ExitCode(2)
    }
}

extension BulwarkCommand {
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate a config file: exit 0 when valid, 2 with its errors otherwise.")
        @OptionGroup var options: ConfigOption

        func run() throws {
            let config = try loadConfig(options.configPath).config
            StandardStreams.writeOutput("\(options.configPath): valid (\(config.listeners.count) listeners, \(config.backends.count) backends)")
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run the gateway in the foreground (logs go to stderr).")
        @OptionGroup var options: ConfigOption

        func run() throws {
            let (configText, config) = try loadConfig(options.configPath)
            let level = Logger.Level(config.log.level)
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            let logger = Logger(label: "bulwark")
            if bulwark_jemalloc_linked() != 1 || !Jemalloc.isActive {
                logger.warning("jemalloc is not the active allocator of this process")
            }
            raiseOpenFileLimit(to: config.guardConfig.maxFiles, logger: logger)
            SignalFD.ignoreBrokenPipe()
            let runtime: GatewayRuntime
            var statsServers: [StatsServer] = []
            do {
                runtime = try GatewayRuntime(config: config, logger: logger, handleSignals: true)
                let context = ControlContext(runtime: runtime, configPath: options.configPath, configText: configText,
                                             version: VersionText.version)
                for socket in config.stats {
                    do {
                        let server = try StatsServer(config: socket, context: context)
                        statsServers.append(server)
                        try server.start()
                    } catch {
                        throw StartError(description: "stats socket \(socket.path): \(error)")
                    }
                    guard let bind = socket.metricsBind else { continue }
                    do {
                        let server = try StatsServer(config: socket, service: .metrics, context: context)
                        statsServers.append(server)
                        try server.start()
                    } catch {
                        throw StartError(description: "stats metrics_bind \(bind): \(error)")
                    }
                }
            } catch {
                for server in statsServers { server.close() }
                logger.critical("cannot start: \(error)")
                throw ExitCode(1)
            }
            defer { for server in statsServers { server.close() } }
            do {
                try runtime.run()
            } catch {
                logger.critical("cannot start: \(error)")
                throw ExitCode(1)
            }
        }
    }
}

/// RLIMIT_NOFILE to `[guard] max_files`, clamped to the hard limit with a warning.
func raiseOpenFileLimit(to wanted: Int, logger: Logger) {
    let limits = ProcessFacts.openFileLimit()
    if UInt64(wanted) > limits.hard {
        logger.warning("guard.max_files = \(wanted) is above the hard open-file limit \(limits.hard); using \(limits.hard) (raise LimitNOFILE)")
    }
    do {
        let set = try ProcessFacts.raiseOpenFileLimit(to: UInt64(wanted))
        if set != limits.soft { logger.info("open file limit raised from \(limits.soft) to \(set)") }
    } catch {
        logger.warning("cannot raise the open file limit: \(error)")
    }
}

extension Logger.Level {
    init(_ level: LogLevel) {
        switch level {
        case .trace: self = .trace
        case .debug: self = .debug
        case .info: self = .info
        case .notice: self = .notice
        case .warning: self = .warning
        case .error: self = .error
        case .critical: self = .critical
        }
    }
}
