import BulwarkSys
import Config
import Control

/// The listening sockets the master binds once and hands on: to every worker it starts, and to
/// its own next image across an upgrade's exec. Workers take them as they are; nobody re-binds
/// a socket that stays, so no connection waiting in its queue is ever reset.
struct InheritedSockets: Equatable {
    struct Entry: Equatable {
        enum Kind: String { case listener, stats, metrics }
        let kind: Kind
        /// A listener's name, or a stats entry's socket path.
        let key: String
        /// What was bound: a listener's or metrics bind address, or the socket path. A reload
        /// keeps a socket whose address is unchanged.
        let address: String
        let fd: Int32
    }

    var entries: [Entry] = []

    func fd(_ kind: Entry.Kind, _ key: String) -> Int32? {
        entries.first { $0.kind == kind && $0.key == key }?.fd
    }

    var allFDs: [Int32] { entries.map(\.fd) }

    /// One entry a line, fields separated by tabs (names and paths hold neither).
    var encoded: String {
        entries.map { "\($0.kind.rawValue)\t\($0.key)\t\($0.address)\t\($0.fd)" }.joined(separator: "\n")
    }

    init(entries: [Entry] = []) {
        self.entries = entries
    }

    init?(encoded text: String) {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 4, let kind = Entry.Kind(rawValue: fields[0]), let fd = Int32(fields[3]) else { return nil }
            entries.append(Entry(kind: kind, key: fields[1], address: fields[2], fd: fd))
        }
    }

    /// Binds what `config` needs, keeping the sockets of `existing` whose address is unchanged.
    /// A failure closes what this call bound and names the config line: a reload that cannot
    /// bind is refused with the service untouched.
    static func bind(for config: GatewayConfig, keeping existing: InheritedSockets) throws(ConfigErrors) -> InheritedSockets {
        var result = InheritedSockets()
        var bound: [Int32] = []
        func take(_ kind: Entry.Kind, key: String, address: String, line: Int, path: String, noun: String,
                  _ open: () throws(SystemError) -> Int32) throws(ConfigErrors) {
            if let kept = existing.entries.first(where: { $0.kind == kind && $0.address == address }) {
                result.entries.append(Entry(kind: kind, key: key, address: address, fd: kept.fd))
                return
            }
            do {
                let fd = try open()
                bound.append(fd)
                result.entries.append(Entry(kind: kind, key: key, address: address, fd: fd))
            } catch {
                for fd in bound { FileDescriptors.close(fd) }
                throw ConfigErrors(issues: [ConfigIssue(file: config.file, line: line, key: path, message: "\(noun): cannot bind \(address): \(error)")])
            }
        }
        for (index, listener) in config.listeners.enumerated() {
            try take(.listener, key: listener.name, address: listener.bind.description, line: listener.line,
                     path: "listener[\(index)].bind", noun: "listener \(listener.name)") { () throws(SystemError) in
                try Sockets.listeningSocket(at: SocketAddress(endpoint: listener.bind), backlog: Int32(listener.backlog))
            }
        }
        for (index, stats) in config.stats.enumerated() {
            try take(.stats, key: stats.path, address: stats.path, line: stats.line, path: "stats[\(index)].socket", noun: "stats socket") { () throws(SystemError) in
                try StatsServer.bindSocket(stats, service: .commands)
            }
            if let bind = stats.metricsBind {
                try take(.metrics, key: stats.path, address: bind.description, line: stats.line,
                         path: "stats[\(index)].metrics_bind", noun: "metrics") { () throws(SystemError) in
                    try StatsServer.bindSocket(stats, service: .metrics)
                }
            }
        }
        return result
    }

    /// Closes the sockets of this set that `kept` does not hold (the master's copies).
    func closeAll(except kept: InheritedSockets) {
        let keep = Set(kept.allFDs)
        for entry in entries where !keep.contains(entry.fd) {
            FileDescriptors.close(entry.fd)
            if entry.kind == .stats { UnixSockets.remove(path: entry.key) }
        }
    }
}
