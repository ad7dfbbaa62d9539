import Buffers
import BulwarkSys
import Config
import Engine
import Logging
import Synchronization

/// A failure to start: which listener or resource, and why.
public struct StartError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

/// The running gateway of one worker process: the engine, its listeners and backend pools.
public final class GatewayRuntime: @unchecked Sendable {  // @unchecked: `currentConfig` and `sampler` are only touched while holding `lock`
    public let engine: Engine
    public let listeners: [Listener]
    public let backends: [String: BackendPool]
    public let guardRuntime: GuardRuntime
    /// Mux sessions, their users and channels.
    let hub: MuxHub
    /// Per backend used by a mux listener: its persistent connections.
    let linkPools: [String: LinkPool]
    /// Looks up servers given by host name; nil when every server is an IP literal.
    private let resolver: ServerResolver?
    /// Every relayed connection, for `show conns` and `kick`.
    public let sessions = SessionTable()
    private let lock = PthreadLock()
    private var currentConfig: GatewayConfig
    private var sampler: GuardSampler?
    private var running = false
    /// The listeners are on the epoll (startAccepting ran).
    private var accepting = false
    public let logger: Logger
    /// Stats-socket peers refused by their credentials, logged at most once a second.
    private let peerRefusalLog = RateLimitedLog()
    private let signalWatcher: SignalWatcher?
    private let stopRequested = Atomic<Bool>(false)
    private let onSignal: (@Sendable (Int32) -> Void)?
    private var drainWatcher: DrainWatcher?
    private var drainActions: [@Sendable () -> Void] = []

    /// Binds every listener (a bind error stops start-up), but accepts nothing until run().
    /// `handleSignals` blocks SIGTERM, SIGINT, SIGHUP and SIGUSR2 in the calling thread (the
    /// worker threads inherit the mask) and reads them through a signalfd on the engine:
    /// SIGTERM drains (a second one stops at once), SIGINT stops at once, and SIGHUP and SIGUSR2
    /// go to `onSignal`. `inheritedListeners` are listening sockets by listener name, bound by
    /// the master process: taken as they are, never re-bound.
    public init(config: GatewayConfig, logger: Logger, handleSignals: Bool, pool: BufferPool = .shared,
                inheritedListeners: [String: Int32] = [:], onSignal: (@Sendable (Int32) -> Void)? = nil) throws(StartError) {
        self.onSignal = onSignal
        self.logger = logger
        currentConfig = config
        let workers = config.server.workers ?? ProcessFacts.onlineProcessors()
        do {
            engine = try Engine(workers: workers)
        } catch {
            throw StartError(description: "engine: \(error)")
        }
        guardRuntime = GuardRuntime(config: config.guardConfig, logger: logger)
        var backends: [String: BackendPool] = [:]
        for backend in config.backends { backends[backend.name] = BackendPool(backend) }
        self.backends = backends
        // Mux listeners share one hub and, per backend, one pool of persistent connections.
        let hub = MuxHub(nodeID: config.server.nodeID,
                         floor: Processes.environment("BULWARK_SESSION_FLOOR").flatMap(UInt64.init) ?? 0)
        var linkPools: [String: LinkPool] = [:]
        for listener in config.listeners where listener.mode == .mux && linkPools[listener.backend] == nil {
            guard let backendConfig = config.backend(named: listener.backend), let backend = backends[listener.backend] else { continue }
            linkPools[listener.backend] = LinkPool(
                backend: backendConfig, servers: backend.servers, statistics: backend.statistics,
                serverStatistics: backend.serverStatistics, engine: engine, buffers: pool, hub: hub, logger: logger,
                nodeID: config.server.nodeID, highWaterBytes: config.server.highWaterBytes)
        }
        self.hub = hub
        self.linkPools = linkPools
        let pools = linkPools
        resolver = ServerResolver(backends: backends.values.sorted { $0.name < $1.name }, engine: engine, logger: logger) { backend, server in
            pools[backend]?.serverAddressChanged(server)
        }
        var listeners: [Listener] = []
        for listener in config.listeners {
            guard let backend = backends[listener.backend] else {
                throw StartError(description: "listener \(listener.name): no backend named \(listener.backend)")
            }
            let mux = listener.mode == .mux ? linkPools[listener.backend].map { MuxContext(hub: hub, pool: $0, framing: listener.framing) } : nil
            let context = RelayContext(engine: engine, pool: pool, backend: backend, listenerName: listener.name,
                                       statistics: ListenerStatistics(), logger: logger,
                                       highWaterBytes: config.server.highWaterBytes, guardRuntime: guardRuntime,
                                       limits: listener.guardSettings(in: config.guardConfig),
                                       sessions: sessions, mux: mux,
                                       connectsOnFirstData: listener.backendConnect == .firstData)
            do {
                listeners.append(try Listener(name: listener.name, bindAddress: SocketAddress(endpoint: listener.bind),
                                              backlog: Int32(listener.backlog), maxConnections: listener.maxConnections,
                                              tcp: listener.tcp, context: context, listeningFD: inheritedListeners[listener.name]))
            } catch {
                for opened in listeners { opened.close() }
                throw StartError(description: "listener \(listener.name) (\(listener.bind)): \(error)")
            }
        }
        self.listeners = listeners
        sampler = guardRuntime.samplesSystem ? GuardSampler(guardRuntime: guardRuntime, engine: engine) : nil
        if handleSignals {
            do {
                let signals = try SignalFD(signals: [Signal.terminate, Signal.interrupt, Signal.hangup, Signal.userDefined2])
                let box = WeakRuntime()
                signalWatcher = SignalWatcher(signals: signals, engine: engine, logger: logger) { signal in box.runtime?.received(signal) }
                box.runtime = self
            } catch {
                throw StartError(description: "signals: \(error)")
            }
        } else {
            signalWatcher = nil
        }
    }

    /// Serves until stop() (or SIGTERM/SIGINT); then closes what is left and returns. With
    /// `accepting` false (a standby worker) the listeners stay off the epoll until
    /// `startAccepting()`.
    public func run(accepting: Bool = true) throws(StartError) {
        do {
            try signalWatcher?.start()
            try lock.withLock { () throws(SystemError) in
                running = true
                try sampler?.start()
            }
            try resolver?.start()
            for linkPool in linkPools.values { try linkPool.start() }
        } catch {
            throw StartError(description: "engine: \(error)")
        }
        if accepting { try startAccepting() }
        do {
            try engine.run()
        } catch {
            throw StartError(description: "worker threads: \(error)")
        }
        engine.closeRemaining()
        logger.info("bulwark stopped")
    }

    /// Puts the listeners on the epoll (once; a draining or stopped runtime accepts nothing).
    public func startAccepting() throws(StartError) {
        let start: Bool = lock.withLock {
            guard !accepting && drainWatcher == nil && !stopRequested.load(ordering: .acquiring) else { return false }
            accepting = true
            return true
        }
        guard start else { return }
        do {
            for listener in listeners { try listener.start() }
        } catch {
            throw StartError(description: "engine: \(error)")
        }
        logger.info("bulwark serving: \(engine.workerCount) workers, listeners \(listeners.map { "\($0.name)=\($0.address)" }.joined(separator: " "))")
    }

    /// Stops accepting at once (listeners are closed first), then stops the engine; run() then
    /// closes the remaining connections and returns.
    public func stop() {
        guard !stopRequested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for listener in listeners { listener.close() }
        engine.stop()
    }

    private func received(_ signal: Int32) {
        switch signal {
        case Signal.terminate where !isDraining:
            let timeout = config.server.drainTimeout
            logger.notice("SIGTERM received: stopped accepting; draining \(sessions.count) connections for up to \(Durations.format(timeout))")
            drain(timeout: timeout)
        case Signal.terminate, Signal.interrupt:
            logger.notice("\(SignalFD.name(signal)) received: closing listeners and every connection now")
            stop()
        default:
            if let onSignal {
                onSignal(signal)
            } else {
                logger.warning("\(SignalFD.name(signal)) received: reload and upgrade are the master process's; still serving")
            }
        }
    }

    /// A stats socket refused a peer by its credentials: a warning, at most one a second.
    public func logRefusedPeer(_ text: String) { peerRefusalLog.log(logger, level: .warning, text) }

    /// Whether drain() has begun.
    public var isDraining: Bool { lock.withLock { drainWatcher != nil } }

    /// `action` runs when draining begins (the worker closes its stats sockets then).
    public func onDrain(_ action: @escaping @Sendable () -> Void) {
        lock.withLock { drainActions.append(action) }
    }

    /// Stops accepting at once (closes this process's copies of the listening sockets), keeps
    /// serving open connections until none is left or `timeout` has passed, then stops: run()
    /// closes what is left and returns.
    public func drain(timeout: Duration) {
        let actions: [@Sendable () -> Void]? = lock.withLock {
            guard drainWatcher == nil else { return nil }
            let watcher = DrainWatcher(runtime: self, deadlineNanoseconds: MonotonicClock.nanoseconds() + timeout.nanosecondCount)
            drainWatcher = watcher
            return drainActions
        }
        guard let actions else { return }
        for listener in listeners { listener.close() }
        for action in actions { action() }
        do {
            try drainWatcher?.start(engine: engine)
        } catch {
            logger.error("drain: cannot watch connections (\(error)); stopping now")
            stop()
        }
    }

    /// Called by the drain watcher: every connection has ended, or the deadline passed.
    func drainEnded(timedOut: Bool) {
        let left = sessions.count
        if timedOut && left > 0 {
            closedAtDrainTimeout.add(left, ordering: .relaxed)
            logger.warning("drain_timeout passed: closing the \(left) connections still open")
        } else {
            logger.notice("drained: every connection has ended")
        }
        stop()
    }

    /// Connections closed because drain_timeout passed before they ended.
    public let closedAtDrainTimeout = Atomic<Int>(0)

    public func listener(named name: String) -> Listener? { listeners.first { $0.name == name } }

    // MARK: mux

    /// The mux layer's counters, by name (stable order).
    public var muxCounters: [(name: String, value: Int)] {
        let counters = hub.counters
        return [("unknown_session", counters.unknownSession.value), ("malformed", counters.malformed.value),
                ("lost_frames", counters.lostFrames.value), ("rebinds", counters.rebinds.value),
                ("refused_no_backend", counters.refusedNoBackend.value), ("closed_no_backend", counters.closedNoBackend.value),
                ("oversized_payloads", counters.oversizedPayloads.value), ("backend_pauses", counters.backendPauses.value),
                ("sessions", hub.count)]
    }

    /// Where this worker's session id counter stands: the master starts the next worker above it,
    /// so ids stay unique across an upgrade even when sessions open faster than the clock moves.
    public var sessionCounter: UInt64 { hub.nextCounter }

    /// Channels and their member counts.
    public var channels: [(channel: String, members: Int)] { hub.channelCounts }

    /// Closes every session bound to `user` (counted as kicked); how many.
    public func kickUser(_ user: String) -> Int {
        hub.sessions(ofUser: user).reduce(0) { $0 + ($1.kick() ? 1 : 0) }
    }

    /// The user and channels a mux session has, by its backend session id.
    public func muxMembership(_ session: UInt64) -> (user: String?, channels: [String]) { hub.membership(session) }

    /// Live persistent connections to each server of `backend`, when a mux listener uses it.
    public func liveMuxConnections(backend: String) -> [Int]? {
        guard let pool = linkPools[backend] else { return nil }
        var counts = pool.links.isEmpty ? [] : Array(repeating: 0, count: (pool.links.map(\.serverIndex).max() ?? 0) + 1)
        for link in pool.links where link.isLive { counts[link.serverIndex] += 1 }
        return counts
    }

    /// The config in force: the loaded file's, with live changes applied.
    public var config: GatewayConfig { lock.withLock { currentConfig } }

    /// Applies new limits and timeouts at once: admission from the next accept, per-connection
    /// limits to connections accepted from now on. Refused, with nothing changed, when `config`
    /// differs in what a running worker cannot change (see LiveChanges).
    public func applyLive(_ config: GatewayConfig) throws(StartError) {
        try lock.withLock { () throws(StartError) in
            let fixed = LiveChanges.restartOnly(from: currentConfig, to: config)
            guard fixed.isEmpty else {
                throw StartError(description: "cannot change while running: \(fixed.joined(separator: ", ")); edit the config file and reload")
            }
            guardRuntime.update(to: config.guardConfig)
            for (listener, listenerConfig) in zip(listeners, config.listeners) {
                listener.apply(limits: listenerConfig.guardSettings(in: config.guardConfig))
            }
            if sampler == nil && config.guardConfig.samplesSystem {
                let started = GuardSampler(guardRuntime: guardRuntime, engine: engine)
                sampler = started
                // Out of fds for its timerfd: the limits stand, the sampled guards stay clear.
                if running {
                    do { try started.start() } catch { logger.error("guard: cannot start sampling: \(error)") }
                }
            }
            currentConfig = config
        }
        logger.notice("limits changed live")
    }
}

/// Lets the signal callback reach the runtime without a retain cycle through the engine.
private final class WeakRuntime: @unchecked Sendable {  // @unchecked: `runtime` is set once during init, before any signal can be read
    weak var runtime: GatewayRuntime?
}
