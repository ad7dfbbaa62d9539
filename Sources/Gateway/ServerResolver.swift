import BulwarkSys
import Engine
import Logging

/// Looks up the backend servers given by host name, asynchronously: getaddrinfo_a runs each
/// lookup on glibc's threads and writes to this handler's eventfd when it is done, so the engine
/// never waits for DNS. Each name is looked up at start and again every `resolve_interval`; a
/// failed lookup keeps the last good address and is retried sooner (1 s, doubling up to the
/// interval). At most one lookup per name is in flight: a DNS server that never answers holds
/// one glibc thread until the resolver's own timeout (resolv.conf `options timeout`), not the
/// engine.
final class ServerResolver: EventHandler, @unchecked Sendable {  // @unchecked: `names`, the fds and `registration` are only touched while holding `lock`
    /// One server given by host name.
    private struct Name {
        let backend: BackendPool
        let serverIndex: Int
        var lookup: NameLookup?
        var dueNanoseconds: Int64 = 0
        var retryDelayNanoseconds: Int64 = ServerResolver.firstRetryNanoseconds
        /// The failure last logged as a warning; the same one again is logged at debug.
        var loggedFailure: String?

        var server: BackendServer { backend.servers[serverIndex] }
    }

    /// What a finished lookup changed, acted on once the lock is released.
    private enum Finding {
        case moved(Name, BackendServer.AddressChange)
        case failed(Name, reason: String, repeated: Bool)
    }

    static let firstRetryNanoseconds: Int64 = 1_000_000_000
    private static let lookupSource = 0
    private static let timerSource = 1

    private let engine: Engine
    private let logger: Logger
    /// A server's address changed: (backend name, server index).
    private let addressChanged: @Sendable (String, Int) -> Void
    private let lock = PthreadLock()
    private var names: [Name]
    private var registration: Registration?
    private var eventFD: EventFD?
    private var timerFD: Int32 = -1

    /// nil when no backend names a server by host name.
    init?(backends: [BackendPool], engine: Engine, logger: Logger, addressChanged: @escaping @Sendable (String, Int) -> Void) {
        let names = backends.flatMap { backend in
            backend.servers.indices.filter { backend.servers[$0].endpoint.isHostName }.map { Name(backend: backend, serverIndex: $0) }
        }
        guard !names.isEmpty else { return nil }
        self.names = names
        self.engine = engine
        self.logger = logger
        self.addressChanged = addressChanged
    }

    /// Starts every lookup now.
    func start() throws(SystemError) {
        var findings: [Finding] = []
        defer { for finding in findings { report(finding) } }
        try lock.withLock { () throws(SystemError) in
            let eventFD = try EventFD()
            self.eventFD = eventFD
            timerFD = try TimerFD.create()
            let registration = engine.register(self)
            self.registration = registration
            try engine.add(fd: eventFD.fd, source: Self.lookupSource, of: registration, interest: .readable, triggering: .edge)
            try engine.add(fd: timerFD, source: Self.timerSource, of: registration, interest: .readable, triggering: .edge)
            for name in names {
                logger.info("backend \(name.backend.name): server \(name.server) is a host name: looked up now and every \(Self.seconds(name.backend.resolveIntervalNanoseconds)); the server is down until it resolves")
            }
            startDueLookups(now: MonotonicClock.nanoseconds(), &findings)
        }
    }

    func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) {
        var findings: [Finding] = []
        lock.withLock {
            guard registration != nil, let eventFD else { return }
            if source == Self.lookupSource { eventFD.drain() } else { TimerFD.acknowledge(timerFD) }
            let now = MonotonicClock.nanoseconds()
            findings = collectFinished(now: now)
            startDueLookups(now: now, &findings)
        }
        for finding in findings { report(finding) }
    }

    func engineStopped() {
        lock.withLock {
            guard let registration else { return }
            engine.unregister(registration)
            self.registration = nil
            // Let go of running lookups first: they must never write to a closed (or reused) fd.
            for index in names.indices { names[index].lookup = nil }
            eventFD?.close()
            eventFD = nil
            FileDescriptors.close(timerFD)
        }
    }

    // MARK: lock held

    private func collectFinished(now: Int64) -> [Finding] {
        var findings: [Finding] = []
        for index in names.indices {
            guard let lookup = names[index].lookup else { continue }
            switch lookup.outcome {
            case .pending:
                continue
            case .resolved(let addresses):
                names[index].lookup = nil
                names[index].loggedFailure = nil
                names[index].retryDelayNanoseconds = Self.firstRetryNanoseconds
                names[index].dueNanoseconds = now + names[index].backend.resolveIntervalNanoseconds
                if let change = names[index].server.resolved(addresses) { findings.append(.moved(names[index], change)) }
            case .failed(let reason):
                names[index].lookup = nil
                failed(index, reason: reason, now: now, &findings)
            }
        }
        return findings
    }

    private func failed(_ index: Int, reason: String, now: Int64, _ findings: inout [Finding]) {
        names[index].server.lookupFailed(reason)
        let repeated = names[index].loggedFailure == reason
        names[index].loggedFailure = reason
        findings.append(.failed(names[index], reason: reason, repeated: repeated))
        let interval = names[index].backend.resolveIntervalNanoseconds
        names[index].dueNanoseconds = now + min(names[index].retryDelayNanoseconds, interval)
        names[index].retryDelayNanoseconds = min(names[index].retryDelayNanoseconds * 2, interval)
    }

    /// Starts the lookups that are due (one that cannot even start, glibc out of threads or
    /// memory, is a failure found now), then sets the timer for the next one.
    private func startDueLookups(now: Int64, _ findings: inout [Finding]) {
        guard let eventFD else { return }
        var nextDue = Int64.max
        for index in names.indices where names[index].lookup == nil {
            if names[index].dueNanoseconds <= now {
                let server = names[index].server
                do {
                    names[index].lookup = try NameLookup(host: server.endpoint.host, port: server.endpoint.port, eventFD: eventFD.fd)
                    continue
                } catch {
                    failed(index, reason: error.reason, now: now, &findings)
                }
            }
            nextDue = min(nextDue, names[index].dueNanoseconds)
        }
        if nextDue != .max { TimerFD.arm(timerFD, afterNanoseconds: max(1, nextDue - now)) }
    }

    // MARK: reporting

    private func report(_ finding: Finding) {
        switch finding {
        case .moved(let name, let change):
            let previous = change.previous.map { "was \($0)" } ?? "it had not resolved before"
            logger.info("backend \(name.backend.name): server \(name.server) resolves to \(change.current) (\(previous)); new connections go there")
            addressChanged(name.backend.name, name.serverIndex)
        case .failed(let name, let reason, let repeated):
            let keeping = name.server.address.map { "keeping \($0)" } ?? "the server stays down"
            let line = "backend \(name.backend.name): cannot resolve server \(name.server): \(reason); \(keeping); retrying"
            if repeated { logger.debug("\(line)") } else { logger.warning("\(line)") }
        }
    }

    private static func seconds(_ nanoseconds: Int64) -> String {
        nanoseconds % 1_000_000_000 == 0 ? "\(nanoseconds / 1_000_000_000)s" : "\(Double(nanoseconds) / 1e9)s"
    }
}
