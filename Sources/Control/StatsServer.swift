import BulwarkSys
import Config
import Engine
import Synchronization

/// One configured stats socket on the engine: accepts up to `max_clients` clients at once (more
/// get an error and are closed) and runs their commands at the socket's level, or (for
/// `metrics_bind`) answers Prometheus scrapes over HTTP. A timerfd ticks every second: it
/// closes clients idle for the entry's `idle_timeout`, and retries accepting after the process
/// ran out of fds (no spinning on a socket that stays readable).
public final class StatsServer: EventHandler, @unchecked Sendable {  // @unchecked: `registration`, `fd`, `tickFD`, `paused` and `connections` are only touched while holding `lock`
    /// What the clients of a server speak.
    public enum Service: Sendable {
        /// Command lines on the Unix socket `path`.
        case commands
        /// HTTP GET /metrics on the TCP address `metrics_bind`.
        case metrics
    }

    let config: StatsSocketConfig
    let service: Service
    let context: ControlContext
    let engine: Engine
    /// A client that sends and reads nothing for this long is closed (it holds a slot).
    private let clientIdleNanoseconds: Int64
    private static let socketSource = 0
    private static let tickSource = 1

    private let lock = PthreadLock()
    private var fd: Int32
    private var tickFD: Int32 = -1
    private var registration: Registration?
    private var paused = false
    /// Lets one client in while the process is out of fds (taken again once it is gone).
    private let spare = SpareDescriptor()
    private var connections: [ObjectIdentifier: StatsConnection] = [:]
    /// The socket file as bound (device, inode): on close it is removed only if still ours.
    private let boundFile: (device: UInt64, inode: UInt64)?
    private let clients = Atomic<Int>(0)
    /// For command sockets: who may connect (SO_PEERCRED), on top of the file's mode.
    private let peerPolicy: StatsPeerPolicy?

    /// Creates the socket now (so a bad path or address fails at start-up): for `.commands` the
    /// socket file, owned and moded as configured; for `.metrics` a TCP socket on `metrics_bind`.
    /// With `listeningFD`, takes a socket the master process bound (file, owner and mode done).
    public init(config: StatsSocketConfig, service: Service = .commands, context: ControlContext,
                listeningFD: Int32? = nil) throws(SystemError) {
        self.config = config
        self.service = service
        self.context = context
        engine = context.runtime.engine
        clientIdleNanoseconds = config.idleTimeout.nanosecondCount
        peerPolicy = service == .commands ? StatsPeerPolicy(config) : nil
        if let listeningFD {
            try FileDescriptors.setNonBlocking(listeningFD)
            fd = listeningFD
            // The master removes the file when the service stops; a worker never does.
            boundFile = nil
            return
        }
        if service == .metrics {
            guard let bind = config.metricsBind else { throw SystemError("stats: no metrics_bind", errno: Errno.invalidArgument) }
            fd = try Sockets.listeningSocket(at: SocketAddress(endpoint: bind), backlog: 64)
            boundFile = nil
            return
        }
        fd = try UnixSockets.listeningSocket(path: config.path, mode: config.mode)
        boundFile = UnixSockets.fileIdentity(path: config.path)
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

    /// Binds a stats entry's socket as `.commands` or `.metrics` would, for the master process
    /// to hand to workers: the socket file with its owner and mode, or the TCP socket.
    public static func bindSocket(_ config: StatsSocketConfig, service: Service) throws(SystemError) -> Int32 {
        if service == .metrics {
            guard let bind = config.metricsBind else { throw SystemError("stats: no metrics_bind", errno: Errno.invalidArgument) }
            return try Sockets.listeningSocket(at: SocketAddress(endpoint: bind), backlog: 64)
        }
        let fd = try UnixSockets.listeningSocket(path: config.path, mode: config.mode)
        if config.user != nil || config.group != nil {
            do {
                try UnixSockets.changeOwner(path: config.path, user: try resolve(config.user, UnixSockets.userID, "user"),
                                            group: try resolve(config.group, UnixSockets.groupID, "group"))
            } catch {
                FileDescriptors.close(fd)
                UnixSockets.remove(path: config.path)
                throw error
            }
        }
        return fd
    }

    /// A user or group name (or numeric id) to its id; an unknown name is an error, not skipped.
    private static func resolve(_ name: String?, _ lookUp: (String) -> UInt32?, _ kind: String) throws(SystemError) -> UInt32? {
        guard let name else { return nil }
        guard let id = lookUp(name) else { throw SystemError("chown: no \(kind) named '\(name)'", errno: Errno.invalidArgument) }
        return id
    }

    /// Puts the socket and its one-second tick on the engine's epoll (before or after it runs).
    public func start() throws(SystemError) {
        try lock.withLock { () throws(SystemError) in
            tickFD = try TimerFD.create()
            TimerFD.arm(tickFD, afterNanoseconds: 1_000_000_000, repeatingEveryNanoseconds: 1_000_000_000)
            let registration = engine.register(self)
            self.registration = registration
            try engine.add(fd: fd, source: Self.socketSource, of: registration, interest: .readable)
            try engine.add(fd: tickFD, source: Self.tickSource, of: registration, interest: .readable)
        }
    }

    public func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) {
        if source == Self.tickSource {
            tick()
            return
        }
        let accepted: [Int32] = lock.withLock {
            guard let registration else { return [] }
            var accepted: [Int32] = []
            for _ in 0..<16 {
                do {
                    guard case .accepted(let client) = try Sockets.accept4(fd) else { break }
                    accepted.append(client)
                } catch {
                    if let error = error as? SystemError, error.isResourceExhaustion {
                        // Out of fds: the spare's slot admits one operator, who can then ask why.
                        if error.errno == Errno.tooManyOpenFiles, spare.release(), case .accepted(let client)? = try? Sockets.accept4(fd) {
                            accepted.append(client)
                        }
                        paused = true  // the tick re-arms the socket; no spinning meanwhile
                        return accepted
                    }
                }
            }
            rearm(fd, Self.socketSource, registration)
            return accepted
        }
        // Connections start outside the server's lock (each takes its own).
        for client in accepted {
            if let peerPolicy {
                let peer = Privileges.peer(of: client)
                guard let peer, peerPolicy.admits(peer) else {
                    let who = peer.map { "uid \($0.uid) (pid \($0.pid))" } ?? "a peer without credentials"
                    let refusal = Array("error: permission denied: \(who) may not use this stats socket\n\n".utf8)
                    _ = refusal.withUnsafeBytes { try? Sockets.send(client, from: $0) }
                    FileDescriptors.close(client)
                    context.runtime.logRefusedPeer("stats socket \(config.path): refused \(who): not root, bulwark's user, or the socket's user or group")
                    continue
                }
            }
            guard clients.load(ordering: .relaxed) < config.maxClients else {
                let message = "error: too many stats clients (max_clients \(config.maxClients))\n\n"
                let refusal = Array((service == .metrics ? MetricsHTTPRequest.response(503, "Service Unavailable") : message).utf8)
                _ = refusal.withUnsafeBytes { try? Sockets.send(client, from: $0) }
                FileDescriptors.close(client)
                continue
            }
            clients.add(1, ordering: .relaxed)
            let connection = StatsConnection(fd: client, server: self)
            lock.withLock { connections[ObjectIdentifier(connection)] = connection }
            connection.start()
        }
    }

    /// Every second: retry accepting if paused, close idle clients.
    private func tick() {
        let idle: [StatsConnection] = lock.withLock {
            guard let registration else { return [] }
            TimerFD.acknowledge(tickFD)
            if paused {
                paused = false
                rearm(fd, Self.socketSource, registration)
            }
            rearm(tickFD, Self.tickSource, registration)
            return Array(connections.values)
        }
        let now = MonotonicClock.nanoseconds()
        for connection in idle { connection.closeIfIdle(now: now, limitNanoseconds: clientIdleNanoseconds) }
    }

    /// A failed re-arm leaves the socket deaf: said in the log (the engine counts it).
    private func rearm(_ target: Int32, _ source: Int, _ registration: Registration) {
        do {
            try engine.rearm(fd: target, source: source, of: registration, interest: .readable)
        } catch {
            context.runtime.logger.error("stats socket \(config.path): epoll re-arm failed: \(error)")
        }
    }

    func connectionClosed(_ connection: StatsConnection) {
        spare.reacquire()
        clients.subtract(1, ordering: .relaxed)
        lock.withLock { _ = connections.removeValue(forKey: ObjectIdentifier(connection)) }
    }

    /// The address a `.metrics` server listens on (with the port the kernel picked for port 0).
    public var localAddress: SocketAddress? { lock.withLock { fd >= 0 ? try? Sockets.localAddress(fd) : nil } }

    /// Bytes held for all clients now (queued answers and unanswered input): what a client that
    /// never reads can make the gateway keep.
    public var heldBytes: Int {
        let open = lock.withLock { Array(connections.values) }
        return open.reduce(0) { $0 + $1.heldBytes }
    }

    /// Stats clients connected now.
    public var connectedClients: Int { clients.load(ordering: .relaxed) }

    public func engineStopped() { close() }

    /// Closes the socket (and its clients) and removes its file, if the file is still the one
    /// this server bound (another instance may have replaced it).
    public func close() {
        let open: [StatsConnection] = lock.withLock {
            guard fd >= 0 else { return [] }
            if let registration { engine.unregister(registration) }
            registration = nil
            FileDescriptors.close(fd)
            fd = -1
            if tickFD >= 0 { FileDescriptors.close(tickFD) }
            tickFD = -1
            if let boundFile, let current = UnixSockets.fileIdentity(path: config.path),
               current.device == boundFile.device && current.inode == boundFile.inode {
                UnixSockets.remove(path: config.path)
            }
            return Array(connections.values)
        }
        for connection in open { connection.engineStopped() }
    }
}
