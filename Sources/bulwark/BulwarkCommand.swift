import ArgumentParser
import BulwarkSys
import CJemalloc
import Config
import Control
import Gateway
import Logging
import Supervisor

@main
struct BulwarkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bulwark",
        abstract: "An access-layer gateway: holds many long-lived TCP connections and relays them to backends.",
        version: VersionText.full(),
        subcommands: [Run.self, Check.self, Worker.self, UpgradeCheck.self]
    )
}

struct ConfigOption: ParsableArguments {
    @Option(name: [.short, .customLong("config")], help: "Path of the TOML config file.")
    var configPath: String = "/etc/bulwark/bulwark.toml"
}

/// Reads and validates a config file; prints every error (file:line: key: message) to stderr.
func loadConfig(_ path: String) throws -> (text: String, config: GatewayConfig) {
    do {
        return try ConfigFile.load(path)
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
            if Processes.environment(HostNameCheck.skipVariable) == nil {
                for warning in HostNameCheck.warnings(config: config, path: options.configPath) { StandardStreams.writeError(warning) }
            }
            StandardStreams.writeOutput("\(options.configPath): valid (\(config.listeners.count) listeners, \(config.backends.count) backends)")
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the gateway in the foreground: a master process and its worker (logs go to stderr).")
        @OptionGroup var options: ConfigOption

        func run() throws {
            if Processes.environment(MasterState.stateVariable) != nil {
                let status = MasterRestore.run(configPath: options.configPath)
                if status != 0 { throw ExitCode(status) }
                return
            }
            let (text, config) = try loadConfig(options.configPath)
            let logger = startLogging(config.log.level, label: "bulwark")
            // Before the first worker starts, so that it inherits the limit.
            raiseOpenFileLimit(to: config.guardConfig.maxFiles, logger: logger)
            SignalFD.ignoreBrokenPipe()
            let master: Master
            do {
                let store = try ConfigStore.bindFirst(path: options.configPath, text: text, config: config)
                master = try Master(store: store, binaryPath: Processes.executablePath() ?? CommandLine.arguments[0], logger: logger,
                                    timings: MasterRestore.timings())
            } catch {
                logger.critical("cannot start: \(error)")
                throw ExitCode(1)
            }
            let status = master.run()
            if status != 0 { throw ExitCode(status) }
        }
    }

    /// Run by a master before it re-executes this binary for an upgrade: can this version take
    /// over the state the master would hand it? Exit 0 when it can.
    struct UpgradeCheck: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "upgrade-check", abstract: "Check that this binary can take over a running master (run by the master).",
            shouldDisplay: false)
        @OptionGroup var options: ConfigOption

        func run() throws {
            do {
                guard let (state, supervisor, sockets) = try MasterState.fromEnvironment() else {
                    StandardStreams.writeError("bulwark upgrade-check: run only by a master before an upgrade")
                    throw ExitCode(2)
                }
                let config = try LoadedConfig(id: ConfigID(state.configNumber), sealedFD: state.configFD, sockets: sockets,
                                              path: options.configPath)
                StandardStreams.writeOutput("upgrade check passed: version \(VersionText.version) can take over \(supervisor.workers.count) "
                    + "workers and config \(config.id) (\(config.config.listeners.count) listeners)")
            } catch let error as ConfigLoadError {
                StandardStreams.writeError("bulwark upgrade-check: \(error)")
                throw ExitCode(2)
            }
        }
    }
}

/// Logs to stderr at `level` (the journal takes stderr under systemd).
func startLogging(_ level: LogLevel, label: String) -> Logger {
    let level = Logger.Level(level)
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    let logger = Logger(label: label)
    if bulwark_jemalloc_linked() != 1 || !Jemalloc.isActive {
        logger.warning("jemalloc is not the active allocator of this process")
    }
    return logger
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
