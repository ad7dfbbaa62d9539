import BulwarkSys
import Config
import Engine
import Logging
import SysGuard

/// A listening socket on the engine. Accepts in a bounded loop until EAGAIN, hands each client to
/// a relay session, and when accept4 fails for lack of fds or memory pauses accepting for
/// `pauseNanoseconds` (a timerfd re-arms it) instead of spinning on a socket that stays readable.
public final class Listener: EventHandler, @unchecked Sendable {  // @unchecked: vars are touched only while holding `lock`
    public let name: String
    public let address: SocketAddress
    public let statistics: ListenerStatistics
    private let lock = PthreadLock()
    private var fd: Int32
    private var pauseTimerFD: Int32 = -1
    private var registration: Registration?
    /// Cleared by `disable listener`: the socket stays bound (and queues clients) but is not read.
    private var accepting = true
    /// Replaced by a live limit change; sessions keep the context they started with.
    private var context: RelayContext
    private var policy: AdmissionPolicy
    private let maxConnections: Int
    private let pauseLog = RateLimitedLog()

    static let acceptsPerEvent = 64
    static let pauseNanoseconds: Int64 = 100_000_000
    private static let socketSource = 0
    private static let pauseTimerSource = 1

    /// Binds and listens now, so a bad address fails at start-up with a clear error; or, with
    /// `listeningFD`, takes a socket already bound by the master process (never re-bound).
    init(name: String, bindAddress: SocketAddress, backlog: Int32, maxConnections: Int, tcp: TCPOptions,
         context: RelayContext, listeningFD: Int32? = nil) throws(SystemError) {
        self.name = name
        self.context = context
        self.maxConnections = maxConnections
        policy = context.guardRuntime.policy(listenerMaxConnections: maxConnections)
        statistics = context.statistics
        if let listeningFD {
            try FileDescriptors.setNonBlocking(listeningFD)
            fd = listeningFD
        } else {
            fd = try Sockets.listeningSocket(at: bindAddress, backlog: backlog)
        }
        address = (try? Sockets.localAddress(fd)) ?? bindAddress
        do {
            // Accepted sockets inherit TCP_NODELAY and the keepalive settings from the listening
            // socket (the kernel clones it), so they are set once here, not per accept.
            Sockets.setNoDelay(fd)
            if let idle = tcp.keepAliveIdle {
                try Sockets.setKeepAlive(fd, idleSeconds: Int32(idle.nanosecondCount / 1_000_000_000),
                                         intervalSeconds: Int32(tcp.keepAliveInterval.nanosecondCount / 1_000_000_000),
                                         count: Int32(tcp.keepAliveCount))
            }
            if let deferAccept = tcp.deferAccept {
                try Sockets.setDeferAccept(fd, seconds: Int32(deferAccept.nanosecondCount / 1_000_000_000))
            }
        } catch {
            FileDescriptors.close(fd)
            throw error
        }
    }

    /// Puts the socket on the engine's epoll.
    func start() throws(SystemError) {
        try lock.withLock { () throws(SystemError) in
            pauseTimerFD = try TimerFD.create()
            let registration = context.engine.register(self)
            self.registration = registration
            try context.engine.add(fd: fd, source: Self.socketSource, of: registration, interest: .readable)
            try context.engine.add(fd: pauseTimerFD, source: Self.pauseTimerSource, of: registration, interest: .readable)
        }
    }

    public func handle(_ events: EpollEvents, source: Int, worker: WorkerContext) {
        lock.withLock {
            guard let registration else { return }
            if source == Self.pauseTimerSource {
                TimerFD.acknowledge(pauseTimerFD)
                if accepting {
                    rearm(registration, includingTimer: true)
                } else {
                    do {
                        try context.engine.rearm(fd: pauseTimerFD, source: Self.pauseTimerSource, of: registration, interest: .readable)
                    } catch {
                        context.logger.error("listener \(name): epoll re-arm of the pause timer failed: \(error)")
                    }
                }
                return
            }
            guard accepting else { return }  // an event that raced `disable`: stay disarmed
            if acceptBatch() { rearm(registration, includingTimer: false) }
        }
    }

    /// Accepts up to `acceptsPerEvent` clients. Returns false when accepting is paused.
    private func acceptBatch() -> Bool {
        if let errno = context.exhaustion.take() {
            pause(after: SystemError("socket", errno: errno))
            return false
        }
        var peer = SocketAddress()
        for _ in 0..<Self.acceptsPerEvent {
            do {
                switch try Sockets.accept4(fd, peer: &peer) {
                case .wouldBlock:
                    return true
                case .accepted(let client):
                    statistics.accepted.increment()
                    guard let admission = admit(client, peer: peer) else { continue }
                    let failure = context.mux.map { MuxSession.start(clientFD: client, admission: admission, context: context, mux: $0) }
                        ?? RelaySession.start(clientFD: client, admission: admission, context: context)
                    if let error = failure,
                       Self.isExhaustion(error) {
                        pause(after: error)
                        return false
                    }
                }
            } catch {
                guard Self.isExhaustion(error) else { continue }  // ECONNABORTED and friends concern one client only
                pause(after: error)
                return false
            }
        }
        return true
    }

    /// SysGuard's verdict on a new client; a refused one is closed at once (and counted).
    private func admit(_ client: Int32, peer: SocketAddress) -> RelayAdmission? {
        let address = peer.withAddressBytes { AddressKey(addressBytes: $0) } ?? AddressKey(ipv4: 0)
        switch context.guardRuntime.admit(address, listenerConnections: statistics.active.value, policy: policy,
                                          listenerName: name, peer: peer) {
        case .refuse:
            statistics.refused.increment()
            Sockets.setResetOnClose(client)  // no TIME_WAIT left behind for a refused client
            FileDescriptors.close(client)
            return nil
        case .admit(let bypassLimits, let holdsAddressSlot):
            return RelayAdmission(address: address, holdsAddressSlot: holdsAddressSlot, bypassLimits: bypassLimits,
                                  peerPort: peer.port)
        }
    }

    /// Out of fds or kernel memory: accepting more now would only fail again (or accept clients
    /// only to close them), so wait for the pause timer instead of spinning.
    private static func isExhaustion(_ error: SystemError) -> Bool { RelaySession.isExhaustion(error) }

    private func pause(after error: SystemError) {
        statistics.acceptPauses.increment()
        pauseLog.log(context.logger, level: .error,
            "listener \(name): \(error); pausing accepts for 100 ms")
        TimerFD.arm(pauseTimerFD, afterNanoseconds: Self.pauseNanoseconds)
    }

    /// Re-arms the listening socket, and the pause timer once it has fired (one-shot).
    private func rearm(_ registration: Registration, includingTimer: Bool) {
        do {
            try context.engine.rearm(fd: fd, source: Self.socketSource, of: registration, interest: .readable)
            if includingTimer {
                try context.engine.rearm(fd: pauseTimerFD, source: Self.pauseTimerSource, of: registration, interest: .readable)
            }
        } catch {
            context.logger.error("listener \(name): epoll re-arm failed: \(error)")
        }
    }

    /// A live limit change: connections accepted from now on get `limits` and are admitted under
    /// the guard's limits in force now; established ones keep what they started with.
    func apply(limits: ConnectionGuardSettings) {
        lock.withLock {
            context = context.with(limits: limits)
            policy = context.guardRuntime.policy(listenerMaxConnections: maxConnections)
        }
    }

    /// Whether the listener accepts new clients (operators switch it with enable/disable).
    public var isAccepting: Bool { lock.withLock { accepting } }

    /// Stops or resumes accepting; established connections are not touched. Stopped, the socket
    /// stays bound and the kernel queues new clients up to the backlog.
    public func setAccepting(_ enabled: Bool) {
        lock.withLock {
            guard enabled != accepting, let registration else { return }
            accepting = enabled
            // Re-armed for reading, or armed for nothing (one-shot with no events: disabled).
            do {
                try context.engine.rearm(fd: fd, source: Self.socketSource, of: registration, interest: enabled ? .readable : [])
            } catch {
                context.logger.error("listener \(name): epoll re-arm failed while \(enabled ? "enabling" : "disabling") it: \(error)")
            }
        }
    }

    /// Stops accepting for good and closes the socket (queued, unaccepted clients get a reset).
    public func close() {
        lock.withLock {
            guard let registration else {
                if fd >= 0 { FileDescriptors.close(fd); fd = -1 }
                return
            }
            context.engine.unregister(registration)
            self.registration = nil
            FileDescriptors.close(fd)
            fd = -1
            if pauseTimerFD >= 0 { FileDescriptors.close(pauseTimerFD) }
            pauseTimerFD = -1
        }
    }

    public func engineStopped() { close() }
}
