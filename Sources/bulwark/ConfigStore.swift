import BulwarkSys
import Config
import Gateway
import Supervisor

/// A config file read and validated, or why not (the text names file, line and key).
struct ConfigLoadError: Error, CustomStringConvertible {
    let description: String
}

/// Reading a config file: never blocks (a FIFO, a device), refuses what is not a regular file,
/// validates every key, and checks that the worker's user and group exist.
enum ConfigFile {
    static func load(_ path: String) throws(ConfigLoadError) -> (text: String, config: GatewayConfig) {
        let text: String
        do {
            text = String(decoding: try Files.readRegularFile(path), as: UTF8.self)
        } catch {
            throw ConfigLoadError(description: "\(path): cannot read: \(error.errno == Errno.invalidArgument || error.errno == Errno.fileTooBig ? error.call : Errno.describe(error.errno))")
        }
        return (text, try parse(text, path: path))
    }

    static func parse(_ text: String, path: String) throws(ConfigLoadError) -> GatewayConfig {
        let config: GatewayConfig
        do {
            config = try ConfigParser.parse(text: text, file: path)
        } catch {
            throw ConfigLoadError(description: error.description)
        }
        do {
            _ = try WorkerPrivileges.target(config.server)
        } catch {
            throw ConfigLoadError(description: "\(path): \(error)")
        }
        return config
    }
}

/// One validated config as the master holds it: its text in a sealed memory file (what every
/// worker started on it reads), its value, and the listening sockets bound for it.
struct LoadedConfig {
    let id: ConfigID
    let text: String
    let config: GatewayConfig
    let sealedFD: Int32
    let sockets: InheritedSockets

    var supervised: SupervisedConfig {
        SupervisedConfig(id: id, drainTimeout: config.server.drainTimeout, startTimeout: config.server.startTimeout,
                         upgradeProbation: config.server.upgradeProbation)
    }

    init(id: ConfigID, text: String, config: GatewayConfig, sockets: InheritedSockets) throws(ConfigLoadError) {
        do {
            sealedFD = try SealedFile.create(name: "bulwark-config-\(id.number)", bytes: Array(text.utf8))
        } catch {
            throw ConfigLoadError(description: "cannot hold the config: \(error)")
        }
        self.id = id
        self.text = text
        self.config = config
        self.sockets = sockets
    }

    /// After an upgrade's exec: the memory file and sockets the previous image handed on.
    init(id: ConfigID, sealedFD: Int32, sockets: InheritedSockets, path: String) throws(ConfigLoadError) {
        let bytes: [UInt8]
        do {
            bytes = try SealedFile.read(sealedFD)
        } catch {
            throw ConfigLoadError(description: "cannot read the config in force: \(error)")
        }
        self.id = id
        self.sealedFD = sealedFD
        self.sockets = sockets
        text = String(decoding: bytes, as: UTF8.self)
        config = try ConfigFile.parse(text, path: path)
    }
}

/// The config in force and, during a reload, the one tried: reading, comparing, binding,
/// committing and releasing, as the supervisor asks.
final class ConfigStore {
    let path: String
    private(set) var inForce: LoadedConfig
    private(set) var candidate: LoadedConfig?
    private var nextNumber: UInt64

    init(path: String, first: LoadedConfig) {
        self.path = path
        inForce = first
        nextNumber = first.id.number + 1
    }

    /// The first config of a master: binds every socket it needs.
    static func bindFirst(path: String, text: String, config: GatewayConfig) throws(ConfigLoadError) -> ConfigStore {
        let sockets: InheritedSockets
        do {
            sockets = try InheritedSockets.bind(for: config, keeping: InheritedSockets())
        } catch {
            throw ConfigLoadError(description: error.description)
        }
        do {
            return ConfigStore(path: path, first: try LoadedConfig(id: ConfigID(1), text: text, config: config, sockets: sockets))
        } catch {
            sockets.closeAll(except: InheritedSockets())
            throw error
        }
    }

    func loaded(_ id: ConfigID) -> LoadedConfig? {
        if inForce.id == id { return inForce }
        return candidate?.id == id ? candidate : nil
    }

    /// Reads the file and says what it would change; binds the sockets a new worker would need.
    func read() -> ConfigReadOutcome {
        if let candidate { release(candidate.id) }  // one tried at a time
        let text: String
        let config: GatewayConfig
        do {
            (text, config) = try ConfigFile.load(path)
        } catch {
            return .invalid(reason: error.description)
        }
        if LiveChanges.isUnchanged(from: inForce.config, to: config) { return .unchanged }
        let restartOnly = LiveChanges.restartOnly(from: inForce.config, to: config)
        let sockets: InheritedSockets
        if restartOnly.isEmpty {
            sockets = inForce.sockets
        } else {
            do {
                sockets = try InheritedSockets.bind(for: config, keeping: inForce.sockets)
            } catch {
                return .invalid(reason: error.description)
            }
        }
        let loaded: LoadedConfig
        do {
            loaded = try LoadedConfig(id: ConfigID(nextNumber), text: text, config: config, sockets: sockets)
        } catch {
            sockets.closeAll(except: inForce.sockets)
            return .invalid(reason: error.description)
        }
        nextNumber += 1
        candidate = loaded
        return restartOnly.isEmpty ? .live(loaded.supervised) : .needsNewWorker(loaded.supervised, changes: restartOnly)
    }

    /// The candidate is in force: the sockets only the previous config held close.
    func commit(_ id: ConfigID) {
        guard let candidate, candidate.id == id else { return }
        inForce.sockets.closeAll(except: candidate.sockets)
        FileDescriptors.close(inForce.sealedFD)
        inForce = candidate
        self.candidate = nil
    }

    /// The candidate is dropped: the sockets only it held close.
    func release(_ id: ConfigID) {
        guard let candidate, candidate.id == id else { return }
        candidate.sockets.closeAll(except: inForce.sockets)
        FileDescriptors.close(candidate.sealedFD)
        self.candidate = nil
    }

    /// Stopping: the master's copies of every listening socket close (the kernel stops
    /// completing handshakes nobody will accept).
    func closeListeners() {
        if let candidate { release(candidate.id) }
        inForce.sockets.closeAll(except: InheritedSockets())
        inForce = LoadedConfig(keeping: inForce)
    }
}

extension LoadedConfig {
    /// The same config with no sockets left (they were closed).
    fileprivate init(keeping other: LoadedConfig) {
        id = other.id
        text = other.text
        config = other.config
        sealedFD = other.sealedFD
        sockets = InheritedSockets()
    }
}
