import BulwarkSys
import Config
import Supervisor

/// What a master image hands to the next across an upgrade's execve, besides the supervisor's
/// own state: the binary path, the session floor, the config in force (its sealed file and
/// sockets) and each worker's pid and channel. The fds stay open across the exec.
struct MasterState: Equatable {
    static let format = "bulwark-master 1"
    static let stateVariable = "BULWARK_MASTER_STATE"
    static let shellVariable = "BULWARK_MASTER_SHELL"
    static let socketsVariable = "BULWARK_MASTER_SOCKETS"
    static let fallbackFDVariable = "BULWARK_MASTER_FALLBACK_FD"

    struct Worker: Equatable {
        let number: UInt64
        let pid: Int32
        let channel: Int32
    }

    var binaryPath: String
    var sessionFloor: UInt64
    var configNumber: UInt64
    var configFD: Int32
    var workers: [Worker]
    /// What `show info` says, as sent to the workers (one line each).
    var notes: [OutcomeTopic: String]

    /// One fact a line; the path goes last on its line (it may hold spaces, never a newline).
    var encoded: String {
        ([Self.format, "floor \(sessionFloor)", "config \(configNumber) \(configFD)"]
            + workers.map { "worker \($0.number) \($0.pid) \($0.channel)" }
            + OutcomeTopic.allCases.compactMap { topic in notes[topic].map { "note \(topic.rawValue) \($0)" } }
            + ["binary \(binaryPath)"]).joined(separator: "\n")
    }

    init(binaryPath: String, sessionFloor: UInt64, configNumber: UInt64, configFD: Int32, workers: [Worker],
         notes: [OutcomeTopic: String]) {
        self.notes = notes
        self.binaryPath = binaryPath
        self.sessionFloor = sessionFloor
        self.configNumber = configNumber
        self.configFD = configFD
        self.workers = workers
    }

    init?(encoded text: String) {
        let lines = text.split(separator: "\n").map(String.init)
        guard lines.first == Self.format else { return nil }
        var binary: String?, floor: UInt64?, config: (UInt64, Int32)?
        var workers: [Worker] = []
        var notes: [OutcomeTopic: String] = [:]
        for line in lines.dropFirst() {
            let fields = line.split(separator: " ")
            switch fields.first {
            case "note"? where fields.count >= 2:
                guard let topic = OutcomeTopic(rawValue: String(fields[1])) else { return nil }
                notes[topic] = String(line.dropFirst("note \(fields[1]) ".count))
            case "binary"?: binary = String(line.dropFirst("binary ".count))
            case "floor"? where fields.count == 2: floor = UInt64(fields[1])
            case "config"? where fields.count == 3:
                guard let number = UInt64(fields[1]), let fd = Int32(fields[2]) else { return nil }
                config = (number, fd)
            case "worker"? where fields.count == 4:
                guard let number = UInt64(fields[1]), let pid = Int32(fields[2]), let channel = Int32(fields[3]) else { return nil }
                workers.append(Worker(number: number, pid: pid, channel: channel))
            default: return nil
            }
        }
        guard let binary, let floor, let config else { return nil }
        self.init(binaryPath: binary, sessionFloor: floor, configNumber: config.0, configFD: config.1, workers: workers, notes: notes)
    }

    /// Everything the previous image handed on, read from the environment; nil when this
    /// process was not started by an upgrade's exec.
    static func fromEnvironment() throws(ConfigLoadError) -> (MasterState, Supervisor, InheritedSockets)? {
        guard let stateText = Processes.environment(stateVariable) else { return nil }
        guard let shell = Processes.environment(shellVariable).flatMap(MasterState.init(encoded:)) else {
            throw ConfigLoadError(description: "the master state handed over (\(shellVariable)) is missing or not understood")
        }
        guard let sockets = InheritedSockets(encoded: Processes.environment(socketsVariable) ?? "") else {
            throw ConfigLoadError(description: "the sockets handed over (\(socketsVariable)) are not understood")
        }
        do {
            return (shell, try Supervisor(encoded: stateText), sockets)
        } catch {
            throw ConfigLoadError(description: "the supervisor state handed over: \(error)")
        }
    }
}
