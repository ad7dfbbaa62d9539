import ArgumentParser
import BulwarkSys
import Config
import Control
import Gateway
import Glibc
import Logging

extension BulwarkCommand {
    /// The engine process. Started by the master (`bulwark run`) with the listening sockets
    /// already bound; not meant to be run by hand.
    struct Worker: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The worker process that `bulwark run` starts (inherits the master's sockets).", shouldDisplay: false)
        @OptionGroup var options: ConfigOption

        func run() throws {
            let (configText, config) = try loadConfig(options.configPath)
            let logger = startLogging(config.log.level, label: "bulwark-worker")
            guard let masterFD = Processes.environment("BULWARK_MASTER_FD").flatMap(Int32.init),
                  let masterPID = Processes.environment("BULWARK_MASTER_PID").flatMap(Int32.init),
                  let sockets = Processes.environment("BULWARK_SOCKETS").flatMap(InheritedSockets.init(encoded:)) else {
                StandardStreams.writeError("bulwark worker: started only by 'bulwark run' (the master process)")
                throw ExitCode(2)
            }
            SignalFD.ignoreBrokenPipe()
            do {
                let identity = try WorkerPrivileges.drop(config.server)
                logger.info("worker runs as \(identity)")
            } catch {
                logger.critical("worker cannot start: \(error)")
                throw ExitCode(1)
            }
            let reloader = LiveReloader(configPath: options.configPath, logger: logger)
            let runtime: GatewayRuntime
            var statsServers: [StatsServer] = []
            let channel: MasterChannel
            do {
                let listeners = Dictionary(uniqueKeysWithValues: sockets.entries.filter { $0.kind == .listener }.map { ($0.key, $0.fd) })
                runtime = try GatewayRuntime(config: config, logger: logger, handleSignals: true, inheritedListeners: listeners) { signal in
                    if signal == SIGHUP { reloader.reload() }
                }
                channel = MasterChannel(fd: masterFD, runtime: runtime, logger: logger)
                let context = ControlContext(runtime: runtime, configPath: options.configPath, configText: configText,
                                             version: VersionText.version, masterPID: masterPID) { action in
                    channel.send("request \(action)")
                }
                channel.attach(context)
                reloader.attach(runtime: runtime, context: context)
                for socket in config.stats {
                    for service in [StatsServer.Service.commands, .metrics] {
                        let kind: InheritedSockets.Entry.Kind = service == .commands ? .stats : .metrics
                        guard let fd = sockets.fd(kind, socket.path) else { continue }
                        do {
                            let server = try StatsServer(config: socket, service: service, context: context, listeningFD: fd)
                            statsServers.append(server)
                            try server.start()
                        } catch {
                            throw StartError(description: "stats socket \(socket.path): \(error)")
                        }
                    }
                }
                let servers = statsServers
                // Draining: the new worker answers on the stats sockets from now on.
                runtime.onDrain { for server in servers { server.close() } }
                try channel.start()
            } catch {
                for server in statsServers { server.close() }
                logger.critical("worker cannot start: \(error)")
                throw ExitCode(1)
            }
            defer { for server in statsServers { server.close() } }
            do {
                try runtime.run()
            } catch {
                logger.critical("worker cannot start: \(error)")
                throw ExitCode(1)
            }
        }
    }
}

/// SIGHUP in a worker: the master found only limits and timeouts changed; read the file again
/// and apply it live.
final class LiveReloader: @unchecked Sendable {  // @unchecked: `runtime` and `context` are set once before the engine runs, then only read
    private let configPath: String
    private let logger: Logger
    private var runtime: GatewayRuntime?
    private var context: ControlContext?

    init(configPath: String, logger: Logger) {
        self.configPath = configPath
        self.logger = logger
    }

    func attach(runtime: GatewayRuntime, context: ControlContext) {
        self.runtime = runtime
        self.context = context
    }

    func reload() {
        guard let runtime, let context else { return }
        runtime.engine.letAnotherThreadPoll()  // reading and parsing the file takes milliseconds
        do {
            let text = try Files.readText(configPath)
            let config = try ConfigParser.parse(text: text, file: configPath)
            try runtime.applyLive(config)
            context.reloaded(configText: text)
            logger.notice("worker: config reloaded live")
        } catch {
            logger.error("worker: live reload failed, limits unchanged: \(error)")
        }
    }
}
