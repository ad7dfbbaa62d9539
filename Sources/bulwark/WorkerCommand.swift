import ArgumentParser
import BulwarkSys
import Config
import Control
import Gateway
import Logging

extension BulwarkCommand {
    /// The engine process. Started by the master (`bulwark run`) with the listening sockets
    /// already bound and the config in a sealed file; not meant to be run by hand. It never
    /// reads the config file and never binds a socket of its own.
    struct Worker: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The worker process that `bulwark run` starts (inherits the master's sockets).", shouldDisplay: false)
        @OptionGroup var options: ConfigOption

        func run() throws {
            guard let masterFD = Processes.environment("BULWARK_MASTER_FD").flatMap(Int32.init),
                  let masterPID = Processes.environment("BULWARK_MASTER_PID").flatMap(Int32.init),
                  let configFD = Processes.environment("BULWARK_CONFIG_FD").flatMap(Int32.init),
                  let sockets = Processes.environment("BULWARK_SOCKETS").flatMap(InheritedSockets.init(encoded:)) else {
                StandardStreams.writeError("bulwark worker: started only by 'bulwark run' (the master process)")
                throw ExitCode(2)
            }
            let standby = Processes.environment("BULWARK_STANDBY") == "1"
            let (configText, config) = try Self.config(fd: configFD, path: options.configPath)
            let logger = startLogging(config.log.level, label: "bulwark-worker")
            FileDescriptors.prepareOpenCount()  // while fds are to spare: `show info` counts through it
            SignalFD.ignoreBrokenPipe()
            do {
                let identity = try WorkerPrivileges.drop(config.server)
                logger.info("worker runs as \(identity)\(standby ? ", standby until the master says serve" : "")")
            } catch {
                logger.critical("worker cannot start: \(error)")
                throw ExitCode(1)
            }
            let runtime: GatewayRuntime
            var statsServers: [StatsServer] = []
            do {
                let listeners = Dictionary(uniqueKeysWithValues: sockets.entries.filter { $0.kind == .listener }.map { ($0.key, $0.fd) })
                // Listeners are bound by the master only: one it did not hand over is an error, never a bind here.
                if let missing = config.listeners.first(where: { listeners[$0.name] == nil }) {
                    throw StartError(description: "listener \(missing.name): no socket from the master")
                }
                let box = ChannelBox()
                runtime = try GatewayRuntime(config: config, logger: logger, handleSignals: true, inheritedListeners: listeners) { signal in
                    // The master reloads and upgrades; a signal sent to the worker is passed on.
                    let request = signal == Signal.hangup ? "reload" : "upgrade"
                    logger.notice("worker: \(SignalFD.name(signal)) belongs to the master; asking it to \(request)")
                    box.channel?.send("request \(request)")
                }
                let servers = StatsServersBox()
                let channel = MasterChannel(fd: masterFD, runtime: runtime, logger: logger) { () throws(StartError) in
                    try runtime.startAccepting()
                    for server in servers.servers {
                        do { try server.start() } catch { throw StartError(description: "stats socket: \(error)") }
                    }
                }
                box.channel = channel
                let context = ControlContext(runtime: runtime, configPath: options.configPath, configText: configText,
                                             version: VersionText.version, masterPID: masterPID) { action in
                    channel.send("request \(action)")
                }
                for socket in config.stats {
                    for service in [StatsServer.Service.commands, .metrics] {
                        let kind: InheritedSockets.Entry.Kind = service == .commands ? .stats : .metrics
                        guard let fd = sockets.fd(kind, socket.path) else { continue }
                        do {
                            statsServers.append(try StatsServer(config: socket, service: service, context: context, listeningFD: fd))
                        } catch {
                            throw StartError(description: "stats socket \(socket.path): \(error)")
                        }
                    }
                }
                servers.servers = statsServers
                channel.attach(context)
                // Draining: the new worker answers on the stats sockets from now on.
                runtime.onDrain { for server in servers.servers { server.close() } }
                if !standby {
                    for server in statsServers { try server.start() }
                }
                try channel.start()
            } catch {
                for server in statsServers { server.close() }
                logger.critical("worker cannot start: \(error)")
                throw ExitCode(1)
            }
            defer { for server in statsServers { server.close() } }
            do {
                try runtime.run(accepting: !standby)
            } catch {
                logger.critical("worker cannot start: \(error)")
                throw ExitCode(1)
            }
        }

        /// The config the master validated, from its sealed file (then closed).
        static func config(fd: Int32, path: String) throws -> (String, GatewayConfig) {
            defer { FileDescriptors.close(fd) }
            do {
                let text = String(decoding: try SealedFile.read(fd), as: UTF8.self)
                return (text, try ConfigFile.parse(text, path: path))
            } catch {
                StandardStreams.writeError("bulwark worker: the config from the master: \(error)")
                throw ExitCode(2)
            }
        }
    }
}

/// Lets the signal callback reach the channel, which is made after the runtime.
private final class ChannelBox: @unchecked Sendable {  // @unchecked: `channel` is set once before the engine runs, then only read
    var channel: MasterChannel?
}

/// Lets the promotion reach the stats servers, which are made after the channel.
private final class StatsServersBox: @unchecked Sendable {  // @unchecked: `servers` is set once before the engine runs, then only read
    var servers: [StatsServer] = []
}
