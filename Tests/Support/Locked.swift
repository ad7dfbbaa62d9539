import BulwarkSys

/// A value behind a pthread lock, for test threads (ThreadSanitizer sees pthread locks, not
/// Synchronization.Mutex).
public final class Locked<Value>: @unchecked Sendable {  // @unchecked: `value` is only touched while holding `lock`
    private let lock = PthreadLock()
    private var value: Value

    public init(_ value: Value) { self.value = value }

    public func withLock<Result>(_ body: (inout Value) -> Result) -> Result {
        lock.withLock { body(&value) }
    }

    public var current: Value { lock.withLock { value } }
}
