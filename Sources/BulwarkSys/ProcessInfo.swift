import CBulwarkShims
import Glibc

/// Facts about this process and machine, read through libc and /proc.
public enum ProcessFacts {
    public static func onlineProcessors() -> Int {
        max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    public static func processID() -> Int32 { getpid() }

    /// RLIMIT_NOFILE as (soft, hard).
    public static func openFileLimit() -> (soft: UInt64, hard: UInt64) {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        return (UInt64(limit.rlim_cur), UInt64(limit.rlim_max))
    }

    /// Raises the soft RLIMIT_NOFILE to `wanted`, clamped to the hard limit; returns what is set.
    public static func raiseOpenFileLimit(to wanted: UInt64) throws(SystemError) -> UInt64 {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let target = min(wanted, UInt64(limit.rlim_max))
        if target > UInt64(limit.rlim_cur) {
            limit.rlim_cur = rlim_t(target)
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) < 0 { throw SystemError.last("setrlimit(RLIMIT_NOFILE)") }
        }
        return UInt64(limit.rlim_cur)
    }

    /// Resident set size of `pid` in bytes, from /proc/PID/statm.
    public static func residentBytes(pid: Int32 = getpid()) -> Int? {
        guard let text = try? Files.readText("/proc/\(pid)/statm") else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// User + system CPU time of `pid` in nanoseconds, from /proc/PID/stat (fields 14 and 15).
    public static func cpuNanoseconds(pid: Int32) -> Int64? {
        guard let text = try? Files.readText("/proc/\(pid)/stat") else { return nil }
        // The command name (field 2) may hold spaces; the fields after its closing ')' are fixed.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Int64(fields[11]), let system = Int64(fields[12]) else { return nil }
        let ticksPerSecond = Int64(sysconf(Int32(_SC_CLK_TCK)))
        return (user + system) * 1_000_000_000 / ticksPerSecond
    }
}

/// What jemalloc says about itself; the bulwark binary links it as its allocator.
public enum Jemalloc {
    public static var version: String? {
        guard let text = bulwark_jemalloc_version() else { return nil }
        return String(cString: text)
    }

    /// True when malloc(3) in this process is jemalloc's (checked with a probe allocation).
    public static var isActive: Bool { bulwark_jemalloc_is_active() == 1 }

    public static var allocatedBytes: Int64 { bulwark_jemalloc_allocated_bytes() }

    public static func purge() { bulwark_jemalloc_purge() }
}
