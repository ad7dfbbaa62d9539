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

/// A pthread mutex. Used for the engine's leader lock, held across a blocking epoll_wait: unlike
/// Synchronization.Mutex it parks waiters at once instead of spinning (measured: the spinning
/// follower burned about 16 times the CPU).
public final class PthreadMutex: @unchecked Sendable {  // @unchecked: the pthread_mutex_t is only touched through lock/unlock
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always) public func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) public func unlock() { pthread_mutex_unlock(mutex) }
}

public enum ThreadIdentity {
    /// gettid(2) of the calling thread.
    public static func current() -> Int32 { bulwark_gettid() }
}
