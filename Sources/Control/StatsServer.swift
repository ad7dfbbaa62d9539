import BulwarkSys
import Config
import Engine
import Glibc
import Synchronization

/// One configured stats socket on the engine: accepts up to `max_clients` clients at once (more
/// are closed at once) and runs their commands at the socket's level.
public final class StatsServer: EventHandler, @unchecked Sendable {  // @unchecked: `registration` and `fd` are only touched while holding `lock`
    let config: StatsSocketConfig
    let context: ControlContext
    let engine: Engine
    private let lock = PthreadLock()
    private var fd: Int32
    private var registration: Registration?
    private let clients = Atomic<Int>(0)

    /// Creates the socket file now (so a bad path fails at start-up), owned and moded as configured.
    public init(config: StatsSocketConfig, context: ControlContext) throws(SystemError) {
        self.config = config
        self.context = context
        engine = context.runtime.engine
        fd = try UnixSockets.listeningSocket(path: config.path, mode: config.mode)
        if config.user != nil || config.group != nil {
            do {
                try UnixSockets.changeOwner(path: config.path, user: try Self.resolve(config.user, UnixSockets.userID, "user"),
                                            group: try Self.resolve(config.group, UnixSockets.groupID, "group"))
            } catch {
                FileDescriptors.close(fd)
                UnixSockets.remove(path: config.path)
                throw error
            }
        }
    }

    /// A user or group name (or numeric id) to its id; an unknown name is an error, not skipped.
    private static func resolve(_ name: String?, _ lookUp: (String) -> UInt32?, _ kind: String) throws(SystemError) -> UInt32? {
        guard let name else { return nil }
        guard let id = lookUp(name) else { throw SystemError("chown: no \(kind) named '\(name)'", errno: EINVAL) }
        return id
    }

    /// Puts the socket on the engine's epoll (before or after the engine runs).
    public func start() throws(SystemError) {
        try lock.withLock { () throws(SystemError) in
            let registration = engine.register(self)
            self.registration = registration
            try engine.add(fd: fd, source: 0, of: registration, interest: .readable)
        }
    }

    public func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) {
        lock.withLock {
            guard let registration else { return }
            for _ in 0..<16 {
                guard case .accepted(let client)? = try? Sockets.accept4(fd) else { break }
                if clients.load(ordering: .relaxed) >= config.maxClients {
                    FileDescriptors.close(client)  // over max_clients: closed at once
                    continue
                }
                clients.add(1, ordering: .relaxed)
                StatsConnection(fd: client, server: self).start()
            }
            try? engine.rearm(fd: fd, source: 0, of: registration, interest: .readable)
        }
    }

    func connectionClosed() { clients.subtract(1, ordering: .relaxed) }

    /// Stats clients connected now.
    public var connectedClients: Int { clients.load(ordering: .relaxed) }

    public func engineStopped() { close() }

    /// Closes the socket and removes its file.
    public func close() {
        lock.withLock {
            guard fd >= 0 else { return }
            if let registration { engine.unregister(registration) }
            registration = nil
            FileDescriptors.close(fd)
            fd = -1
            UnixSockets.remove(path: config.path)
        }
    }
}
