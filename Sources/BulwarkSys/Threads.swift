import CBulwarkShims
import Glibc

/// A pthread running a closure. Thread entry points live here, outside any main.swift, because
/// a closure written in top-level code is main-actor isolated and traps on another thread.
public final class NativeThread: @unchecked Sendable {  // @unchecked: `handle` is written once, before any other thread sees it, and read by join
    private var handle = pthread_t()
    private let body: @Sendable () -> Void
    private let name: String

    private init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }

    /// Starts a thread; its name (at most 15 bytes) shows in top -H and /proc/PID/task.
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) -> NativeThread {
        let thread = NativeThread(name: name, body: body)
        let argument = Unmanaged.passRetained(thread).toOpaque()
        let status = pthread_create(&thread.handle, nil, nativeThreadEntry, argument)
        if status != 0 {
            Unmanaged<NativeThread>.fromOpaque(argument).release()
            throw SystemError("pthread_create", errno: status)
        }
        return thread
    }

    public func join() {
        pthread_join(handle, nil)
    }

    /// For a thread nobody will join: its resources go when it ends.
    public func detach() {
        pthread_detach(handle)
    }

    fileprivate func run() {
        bulwark_set_thread_name(String(name.utf8.prefix(15)) ?? "bulwark")
        body()
    }
}

private func nativeThreadEntry(_ argument: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    let thread = Unmanaged<NativeThread>.fromOpaque(argument!).takeRetainedValue()
    thread.run()
    return nil
}

/// A pthread mutex in one heap allocation, released with its owner.
///
/// The engine's leader lock and every per-connection lock use it rather than
/// Synchronization.Mutex: it parks waiters at once instead of spinning (measured when the leader
/// lock was held across epoll_wait: a spinning follower burned about 16 times the CPU), a
/// condition variable can wait with it, and ThreadSanitizer
/// understands pthread locks, so `make test-tsan` checks the real locking (it reported false
/// races through Mutex, whose lock lives in the uninstrumented standard library).
public struct PthreadLock: ~Copyable, @unchecked Sendable {  // @unchecked: the pthread_mutex_t is only touched through lock/unlock
    fileprivate let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// The mutex, for a condition variable waiting on it.
    var rawMutex: UnsafeMutablePointer<pthread_mutex_t> { mutex }

    @inline(__always) public func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) public func unlock() { pthread_mutex_unlock(mutex) }

    @inline(__always)
    public func withLock<Result, Failure: Error>(_ body: () throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

public enum ThreadIdentity {
    /// gettid(2) of the calling thread.
    public static func current() -> Int32 { bulwark_gettid() }

    /// sched_yield(2): lets another thread run (a short wait for work another thread finishes).
    public static func yield() { sched_yield() }
}

/// A pthread condition variable, waited on together with a PthreadLock (which ThreadSanitizer
/// understands, as it does the lock).
public struct PthreadCondition: ~Copyable, @unchecked Sendable {  // @unchecked: the pthread_cond_t is only touched through wait/signal/broadcast
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
    }

    /// Releases `lock` (held by the caller), sleeps until signalled (or spuriously woken), and
    /// takes `lock` again before returning.
    @inline(__always) public func wait(releasing lock: borrowing PthreadLock) {
        pthread_cond_wait(condition, lock.rawMutex)
    }

    /// Wakes one waiter, if any.
    @inline(__always) public func signal() { pthread_cond_signal(condition) }

    /// Wakes every waiter.
    @inline(__always) public func broadcast() { pthread_cond_broadcast(condition) }
}
