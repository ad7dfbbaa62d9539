import CBulwarkShims
import Glibc

/// Switching the worker process to an unprivileged user, and who is on the other end of a Unix
/// socket.
public enum Privileges {
    public struct Peer: Sendable, Equatable {
        public let uid: UInt32
        public let gid: UInt32
        public let pid: Int32
    }

    /// The peer of a connected Unix socket (SO_PEERCRED), as it was at connect time.
    public static func peer(of fd: Int32) -> Peer? {
        var uid: UInt32 = 0, gid: UInt32 = 0, pid: Int32 = 0
        guard bulwark_peer_credentials(fd, &uid, &gid, &pid) == 0 else { return nil }
        return Peer(uid: uid, gid: gid, pid: pid)
    }

    public static var userID: UInt32 { getuid() }
    public static var effectiveUserID: UInt32 { geteuid() }
    public static var groupID: UInt32 { getgid() }

    /// The primary group of a user id, from the passwd database.
    public static func primaryGroup(ofUser uid: UInt32) -> UInt32? {
        getpwuid(uid).map { $0.pointee.pw_gid }
    }

    /// Becomes `uid`/`gid` for good (supplementary groups: just `gid`) and checks it cannot
    /// come back: setuid(0) must fail afterwards.
    public static func switchUser(to uid: UInt32, group gid: UInt32) throws(SystemError) {
        var groups = [gid]
        if setgroups(1, &groups) < 0 { throw SystemError.last("setgroups") }
        if setgid(gid) < 0 { throw SystemError.last("setgid(\(gid))") }
        if setuid(uid) < 0 { throw SystemError.last("setuid(\(uid))") }
        guard getuid() == uid, geteuid() == uid, getgid() == gid, getegid() == gid else {
            throw SystemError("setuid(\(uid)): ids did not change", errno: EPERM)
        }
        if uid != 0 && setuid(0) == 0 { throw SystemError("setuid(0) after dropping to \(uid) succeeded", errno: EPERM) }
    }

    /// No capabilities left and no way to gain one (no_new_privs).
    public static func dropAllCapabilities() throws(SystemError) {
        if bulwark_drop_all_capabilities() < 0 { throw SystemError.last("capset") }
    }

    /// The effective capabilities (bit n: capability n).
    public static var effectiveCapabilities: Int64 { bulwark_effective_capabilities() }
}
