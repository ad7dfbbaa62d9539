import BulwarkSys
import CJemalloc

enum VersionText {
    static let version = "0.1.0"

    /// "bulwark 0.1.0" plus the allocator as checked at run time, so an operator sees at once
    /// whether the binary runs on jemalloc.
    static func full() -> String {
        let allocator: String
        if bulwark_jemalloc_linked() == 1, let jemalloc = Jemalloc.version {
            allocator = "jemalloc \(jemalloc) (" + (Jemalloc.isActive ? "active" : "linked but NOT serving malloc") + ")"
        } else {
            allocator = "jemalloc unavailable"
        }
        return "bulwark \(version)\nallocator: \(allocator)"
    }
}
