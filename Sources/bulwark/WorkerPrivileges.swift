import BulwarkSys
import Config
import Gateway

/// `[server] user` and `group`: the worker process gives up root (and every capability) before
/// it serves. The master keeps its privileges, so that reloads can bind new ports and upgrades
/// can exec; it never touches client traffic.
enum WorkerPrivileges {
    struct Target: Equatable {
        var uid: UInt32
        var gid: UInt32
    }

    /// The ids to switch to; nil when neither key is set. Throws when a name is unknown, or
    /// when switching would need root and this process is not root.
    static func target(_ server: ServerConfig) throws(StartError) -> Target? {
        guard server.user != nil || server.group != nil else { return nil }
        var uid = Privileges.userID
        if let user = server.user {
            guard let id = UnixSockets.userID(user) else { throw StartError(description: "server.user: no user named \"\(user)\"") }
            uid = id
        }
        let gid: UInt32
        if let group = server.group {
            guard let id = UnixSockets.groupID(group) else { throw StartError(description: "server.group: no group named \"\(group)\"") }
            gid = id
        } else if server.user != nil, let primary = Privileges.primaryGroup(ofUser: uid) {
            gid = primary
        } else {
            gid = Privileges.groupID
        }
        let target = Target(uid: uid, gid: gid)
        if Privileges.effectiveUserID != 0 && target != Target(uid: Privileges.userID, gid: Privileges.groupID) {
            throw StartError(description: "server.user/group: switching to uid \(uid) gid \(gid) needs bulwark started as root "
                + "(it runs as uid \(Privileges.userID)); start it as root, or leave the keys out")
        }
        return target
    }

    /// In the worker, before it serves: switch user and group if configured, then drop every
    /// capability (a worker never needs one: the master binds every socket).
    static func drop(_ server: ServerConfig) throws(StartError) -> String {
        let target = try target(server)
        do {
            if let target, Privileges.effectiveUserID == 0 { try Privileges.switchUser(to: target.uid, group: target.gid) }
            try Privileges.dropAllCapabilities()
        } catch {
            throw StartError(description: "dropping privileges: \(error)")
        }
        return "uid \(Privileges.userID) gid \(Privileges.groupID), no capabilities"
    }
}
