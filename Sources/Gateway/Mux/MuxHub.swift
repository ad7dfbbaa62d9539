import BulwarkSys

/// Every mux session of the process by id, and what backends attach to sessions: a user id and
/// channels. Touched when a session opens or closes and for each backend message that names a
/// session or a channel; the lock is held for a lookup or an update, never for I/O.
final class MuxHub: @unchecked Sendable {  // @unchecked: the dictionaries are only touched while holding `lock`
    /// Kept only for sessions a backend gave a user or channels: an idle session costs the hub
    /// one dictionary entry.
    private struct Membership {
        var user: String?
        var channels: Set<String> = []
        var isEmpty: Bool { user == nil && channels.isEmpty }
    }

    private let lock = PthreadLock()
    private var sessions: [UInt64: MuxSession] = [:]
    private var memberships: [UInt64: Membership] = [:]
    private var channels: [String: Set<UInt64>] = [:]
    private var users: [String: Set<UInt64>] = [:]
    private var nextID: UInt64
    let counters = MuxCounters()

    /// Session ids: the node id in the top 16 bits, then a counter that starts at the wall
    /// clock in 1/16 ms since 2025 (so ids keep growing across restarts while fewer than 16,000
    /// sessions a second open on average), or at `floor` when that is higher.
    init(nodeID: Int, floor: UInt64 = 0) {
        let since2025Milliseconds = max(0, WallClock.millisecondsSinceEpoch() - 1_735_689_600_000)
        let seed = UInt64(since2025Milliseconds) * 16 & 0x0000_FFFF_FFFF_FFFF
        nextID = UInt64(nodeID & 0xFFFF) << 48 | max(seed, floor & 0x0000_FFFF_FFFF_FFFF)
    }

    func add(_ session: MuxSession) -> UInt64 {
        lock.withLock {
            let id = nextID
            nextID += 1
            sessions[id] = session
            return id
        }
    }

    /// Forgets a closed session, its user and its channels.
    func remove(_ id: UInt64) {
        lock.withLock {
            sessions.removeValue(forKey: id)
            guard let membership = memberships.removeValue(forKey: id) else { return }
            for channel in membership.channels { leaveLocked(id, channel) }
            if let user = membership.user { unbindLocked(id, user) }
        }
    }

    func session(_ id: UInt64) -> MuxSession? { lock.withLock { sessions[id] } }

    /// The id the next session gets (without the node bits): a new worker starts above it.
    var nextCounter: UInt64 { lock.withLock { nextID & 0x0000_FFFF_FFFF_FFFF } }

    /// BIND: attaches `user` to the session (empty: detaches). False for an unknown session.
    func bind(_ id: UInt64, user: String) -> Bool {
        lock.withLock {
            guard sessions[id] != nil else { return false }
            var membership = memberships[id] ?? Membership()
            if let previous = membership.user { unbindLocked(id, previous) }
            membership.user = user.isEmpty ? nil : user
            memberships[id] = membership.isEmpty ? nil : membership
            if !user.isEmpty { users[user, default: []].insert(id) }
            return true
        }
    }

    func join(_ id: UInt64, channel: String) -> Bool {
        lock.withLock {
            guard sessions[id] != nil else { return false }
            memberships[id, default: Membership()].channels.insert(channel)
            channels[channel, default: []].insert(id)
            return true
        }
    }

    func leave(_ id: UInt64, channel: String) -> Bool {
        lock.withLock {
            guard sessions[id] != nil else { return false }
            memberships[id]?.channels.remove(channel)
            if memberships[id]?.isEmpty == true { memberships.removeValue(forKey: id) }
            leaveLocked(id, channel)
            return true
        }
    }

    /// The sessions of a channel, copied out so that delivering to them holds no hub lock.
    func members(of channel: String) -> [MuxSession] {
        lock.withLock { (channels[channel] ?? []).compactMap { sessions[$0] } }
    }

    /// The sessions of a listener (every mux listener's when `listener` is empty).
    func sessions(of listener: String) -> [MuxSession] {
        let all = lock.withLock { Array(sessions.values) }
        return listener.isEmpty ? all : all.filter { $0.listenerName == listener }
    }

    /// The sessions a user id is bound to.
    func sessions(ofUser user: String) -> [MuxSession] {
        lock.withLock { (users[user] ?? []).compactMap { sessions[$0] } }
    }

    /// The user and channels of a session, for `show conns`.
    func membership(_ id: UInt64) -> (user: String?, channels: [String]) {
        lock.withLock {
            guard let membership = memberships[id] else { return (nil, []) }
            return (membership.user, membership.channels.sorted())
        }
    }

    /// Channels and their member counts, for `show channels`.
    var channelCounts: [(channel: String, members: Int)] {
        lock.withLock { channels.map { ($0.key, $0.value.count) } }.sorted { $0.channel < $1.channel }
    }

    var count: Int { lock.withLock { sessions.count } }

    private func leaveLocked(_ id: UInt64, _ channel: String) {
        channels[channel]?.remove(id)
        if channels[channel]?.isEmpty == true { channels.removeValue(forKey: channel) }
    }

    private func unbindLocked(_ id: UInt64, _ user: String) {
        users[user]?.remove(id)
        if users[user]?.isEmpty == true { users.removeValue(forKey: user) }
    }
}

/// What the mux layer counts (shown by `show stat` and `show metrics`).
final class MuxCounters: Sendable {
    /// Backend messages about a session the gateway does not know (closed, or never opened).
    let unknownSession = StripedCounter()
    /// Backend connections closed because their stream could not be trusted.
    let malformed = StripedCounter()
    /// Client frames that were on their way to a backend connection when it died.
    let lostFrames = StripedCounter()
    /// Sessions moved to another backend connection after theirs died.
    let rebinds = StripedCounter()
    /// New sessions refused because no backend connection was live.
    let refusedNoBackend = StripedCounter()
    /// Sessions closed after backend_grace without a live backend connection.
    let closedNoBackend = StripedCounter()
    /// Backend payloads refused: above the listener's max_frame.
    let oversizedPayloads = StripedCounter()
    /// Times a session stopped reading its client because its backend connection's queue was
    /// past high water (resumed once the queue is under half of it).
    let backendPauses = StripedCounter()
}
