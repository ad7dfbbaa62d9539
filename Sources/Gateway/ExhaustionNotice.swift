import Synchronization

/// A relay session that ran out of fds or memory after accept (a first_data session connecting
/// later) leaves the errno here; the listener takes it at its next accept turn and pauses, as
/// it does when accept4 itself fails, instead of accepting clients it can only close.
final class ExhaustionNotice: Sendable {
    private let pendingErrno = Atomic<Int32>(0)

    func report(errno: Int32) { pendingErrno.store(errno, ordering: .relaxed) }

    /// The errno reported since the last call, if any.
    func take() -> Int32? {
        let value = pendingErrno.exchange(0, ordering: .relaxed)
        return value == 0 ? nil : value
    }
}
