import Buffers
import BulwarkSys
import Config
import Engine
import Logging
import MuxProtocol
import Synchronization

/// A backend's persistent connections for mux listeners: `connections` per server, and the
/// reference design's reconnect strategy. A live connection that drops reconnects at once while
/// fewer than half of its server's connections are live or connecting; a failed connect waits
/// a back-off (doubling from reconnect_min to reconnect_max, with jitter). A new session tries
/// `pick_tries` random connections for a live one (starting a connect on any dead one past its
/// back-off), then scans them all; with none live it is refused.
final class LinkPool: @unchecked Sendable {  // @unchecked: `links` is set in init; `unbound`, `upOrConnecting` and `sweeper` are only touched while holding `lock` (or before start)
    let name: String
    let engine: Engine
    let buffers: BufferPool
    let hub: MuxHub
    let logger: Logger
    let statistics: BackendStatistics
    let serverStatistics: [ServerStatistics]
    let nodeID: UInt16
    let gatewayName: String
    let connectTimeoutNanoseconds: Int64
    let heartbeatNanoseconds: Int64
    let heartbeatMilliseconds: UInt32
    let reconnectMinNanoseconds: Int64
    let reconnectMaxNanoseconds: Int64
    let graceNanoseconds: Int64
    let pickTries: Int
    let connectionsPerServer: Int
    let highWaterBytes: Int
    private(set) var links: [BackendLink] = []
    /// Per server: connections live or connecting (what the reconnect rule counts). Under
    /// `lock`, which a link takes while holding its own (the pool never takes a link's lock
    /// while holding this one).
    private var upOrConnecting: [Int]
    private let failureLog = RateLimitedLog()
    private let lock = PthreadLock()
    /// Sessions waiting for a live connection, and since when.
    private var unbound: [UInt64: Int64] = [:]
    private var sweeper: PoolSweeper?

    init(backend: BackendConfig, servers: [BackendServer], statistics: BackendStatistics, serverStatistics: [ServerStatistics],
         engine: Engine, buffers: BufferPool, hub: MuxHub, logger: Logger, nodeID: Int, highWaterBytes: Int) {
        name = backend.name
        self.engine = engine
        self.buffers = buffers
        self.hub = hub
        self.logger = logger
        self.statistics = statistics
        self.serverStatistics = serverStatistics
        self.nodeID = UInt16(nodeID)
        gatewayName = "bulwark-\(nodeID)-\(ProcessFacts.processID())"
        connectTimeoutNanoseconds = backend.connectTimeout.nanosecondCount
        heartbeatNanoseconds = backend.pool.heartbeat.nanosecondCount
        heartbeatMilliseconds = UInt32(clamping: heartbeatNanoseconds / 1_000_000)
        reconnectMinNanoseconds = backend.pool.reconnectMin.nanosecondCount
        reconnectMaxNanoseconds = backend.pool.reconnectMax.nanosecondCount
        graceNanoseconds = backend.pool.backendGrace.nanosecondCount
        pickTries = backend.pool.pickTries
        connectionsPerServer = backend.pool.connections
        self.highWaterBytes = highWaterBytes
        upOrConnecting = servers.map { _ in 0 }
        links = servers.enumerated().flatMap { index, server in
            (0..<backend.pool.connections).map { _ in BackendLink(pool: self, serverIndex: index, server: server) }
        }
    }

    /// A host name resolved to a new address: that server's connections waiting to retry
    /// connect now. Open connections stay where they are.
    func serverAddressChanged(_ serverIndex: Int) {
        for link in links where link.serverIndex == serverIndex { link.serverAddressChanged() }
    }

    /// Connects every link (asynchronously) and starts the sweep that re-binds waiting sessions.
    func start() throws(SystemError) {
        for link in links { try link.start() }
        let sweeper = PoolSweeper(pool: self)
        try sweeper.start()
        self.sweeper = sweeper
    }

    // MARK: picking

    /// A live connection for a new or re-bound session, by the strategy; nil when none is live.
    func pick() -> BackendLink? {
        guard !links.isEmpty else { return nil }
        for _ in 0..<pickTries {
            let link = links[Int.random(in: 0..<links.count)]
            if link.isLive { return link }
            link.connectIfDue()
        }
        let start = Int.random(in: 0..<links.count)
        for offset in 0..<links.count where links[(start + offset) % links.count].isLive {
            return links[(start + offset) % links.count]
        }
        return nil
    }

    // MARK: the reconnect rule

    func connectionStarted(_ link: BackendLink) { lock.withLock { upOrConnecting[link.serverIndex] += 1 } }
    func connectionEnded(_ link: BackendLink) { lock.withLock { upOrConnecting[link.serverIndex] -= 1 } }

    func shouldReconnectAtOnce(_ server: Int) -> Bool {
        lock.withLock { upOrConnecting[server] * 2 < connectionsPerServer }
    }

    /// The wait after `failures` failed connects in a row: reconnect_min doubled per failure,
    /// capped at reconnect_max, then scaled by a random 50–100% so reconnects spread out.
    func backoffNanoseconds(failures: Int) -> Int64 {
        var base = reconnectMinNanoseconds
        for _ in 0..<min(max(0, failures - 1), 40) where base < reconnectMaxNanoseconds { base *= 2 }
        base = min(base, reconnectMaxNanoseconds)
        let half = base / 2
        return half + Int64.random(in: 0...max(1, half))
    }

    func logFailure(_ text: String) { failureLog.log(logger, level: .warning, text) }

    // MARK: after a link's handler let go of its lock

    /// Acts on what a link's handler found: backend messages, sessions to re-bind, sessions to
    /// resume. Runs with no lock held.
    func settle(_ aftermath: BackendLink.Aftermath, from link: BackendLink, worker: WorkerContext?) {
        let messages = aftermath.messages
        if messages.count + aftermath.orphans.count >= Fanout.sendsWorthAnotherPoller { engine.letAnotherThreadPoll() }
        var index = 0
        while index < messages.count {
            guard let (target, payload) = PushTarget.of(messages[index]),
                  index + 1 < messages.count, PushTarget.of(messages[index + 1])?.target == target else {
                dispatch(messages[index], from: link)
                index += 1
                continue
            }
            // Two or more pushes in a row to the same recipients: one send per recipient.
            let batch = PushBatch()
            batch.append(payload)
            index += 1
            while index < messages.count, let (next, payload) = PushTarget.of(messages[index]), next == target, batch.canTake(payload) {
                batch.append(payload)
                index += 1
            }
            push(batch, to: target)
        }
        for id in aftermath.orphans { hub.session(id)?.linkLost(link) }
        for id in aftermath.resumable { hub.session(id)?.resumeReading() }
    }

    private func dispatch(_ message: BackendMessage, from link: BackendLink) {
        switch message {
        case .data(let session, let payload):
            guard let target = hub.session(session) else { return hub.counters.unknownSession.increment() }
            target.deliver(payload)
        case .close(let session, _):
            guard let target = hub.session(session) else { return hub.counters.unknownSession.increment() }
            target.closeAtBackendRequest()
        case .bind(let session, let user):
            if !hub.bind(session, user: user) { hub.counters.unknownSession.increment() }
        case .join(let session, let channel):
            if !hub.join(session, channel: channel) { hub.counters.unknownSession.increment() }
        case .leave(let session, let channel):
            if !hub.leave(session, channel: channel) { hub.counters.unknownSession.increment() }
        case .publish(let channel, let payload):
            Fanout.run(hub.members(of: channel), engine: engine) { $0.deliver(payload) }
        case .broadcast(let listener, let payload):
            Fanout.run(hub.sessions(of: listener), engine: engine) { $0.deliver(payload) }
        case .error(let text):
            logFailure("backend \(name): \(link.server) says: \(text)")
        case .helloAck, .ping, .pong:
            break  // the handshake and heartbeats are the link's own
        }
    }

    private func push(_ batch: PushBatch, to target: PushTarget) {
        switch target {
        case .session(let session):
            guard let recipient = hub.session(session) else { return hub.counters.unknownSession.add(batch.payloads.count) }
            recipient.deliver(batch)
        case .channel(let channel):
            batch.frameForEveryFraming()
            Fanout.run(hub.members(of: channel), engine: engine) { $0.deliver(batch) }
        case .listener(let listener):
            batch.frameForEveryFraming()
            Fanout.run(hub.sessions(of: listener), engine: engine) { $0.deliver(batch) }
        }
    }

    // MARK: sessions waiting for a connection

    func waitForLink(_ session: UInt64, since: Int64) { lock.withLock { unbound[session] = unbound[session] ?? since } }
    func stopWaiting(_ session: UInt64) { lock.withLock { _ = unbound.removeValue(forKey: session) } }

    /// Twice a second: waiting sessions get a live connection if there is one now, or are closed
    /// once they have waited longer than backend_grace.
    func sweep(now: Int64) {
        let waiting = lock.withLock { unbound }
        if waiting.count >= Fanout.sendsWorthAnotherPoller { engine.letAnotherThreadPoll() }
        for (id, since) in waiting {
            guard let session = hub.session(id) else {
                stopWaiting(id)
                continue
            }
            session.retryBinding(expired: now - since > graceNanoseconds)
        }
    }
}

/// The pool's twice-a-second sweep on a timerfd.
final class PoolSweeper: EventHandler, @unchecked Sendable {  // @unchecked: `registration` and `timerFD` are only touched while holding `lock`
    private unowned let pool: LinkPool
    private let lock = PthreadLock()
    private var registration: Registration?
    private var timerFD: Int32 = -1

    init(pool: LinkPool) { self.pool = pool }

    func start() throws(SystemError) {
        try lock.withLock { () throws(SystemError) in
            timerFD = try TimerFD.create()
            TimerFD.arm(timerFD, afterNanoseconds: 500_000_000, repeatingEveryNanoseconds: 500_000_000)
            let registration = pool.engine.register(self)
            self.registration = registration
            try pool.engine.add(fd: timerFD, source: 0, of: registration, interest: .readable, triggering: .edge)
        }
    }

    func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) {
        let active: Bool = lock.withLock {
            guard registration != nil else { return false }
            TimerFD.acknowledge(timerFD)
            return true
        }
        if active { pool.sweep(now: MonotonicClock.nanoseconds()) }
    }

    func engineStopped() {
        lock.withLock {
            guard let registration else { return }
            pool.engine.unregister(registration)
            self.registration = nil
            FileDescriptors.close(timerFD)
        }
    }
}
