import BulwarkSys
import Config

/// Who may talk to a stats socket, checked on each connection with SO_PEERCRED on top of the
/// file's mode: root, the user Bulwark runs as, the socket's configured `user`, and (when the
/// mode gives the group access) peers whose primary group is the socket's configured `group`.
/// The mode's "other" bits grant nothing: a socket file made world-writable by mistake (or by a
/// later chmod) still refuses other users.
struct StatsPeerPolicy: Sendable {
    private let users: Set<UInt32>
    private let group: UInt32?

    init(_ config: StatsSocketConfig) {
        var users: Set<UInt32> = [0, Privileges.userID, Privileges.effectiveUserID]
        if let owner = config.user.flatMap(UnixSockets.userID) { users.insert(owner) }
        self.users = users
        group = config.mode & 0o070 != 0 ? config.group.flatMap(UnixSockets.groupID) : nil
    }

    func admits(_ peer: Privileges.Peer) -> Bool {
        users.contains(peer.uid) || (group != nil && peer.gid == group)
    }
}
