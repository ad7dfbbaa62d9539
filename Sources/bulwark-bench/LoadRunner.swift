import BulwarkSys
import Glibc
import Synchronization

/// One client thread's share of a timed run. The runner calls `connect` and then `run` on the
/// worker's own thread, and reads its results only after joining that thread.
protocol LoadWorker: AnyObject, Sendable {
    /// Opens this worker's connections; bounded by `deadline` (monotonic ns).
    func connect(deadline: Int64)
    /// Generates load until `measureEnd`, counting only what completes in [measureStart, measureEnd).
    func run(measureStart: Int64, measureEnd: Int64)
}

/// What the runner measured itself.
struct LoadWindow {
    var seconds: Double
    /// CPU time (utime+stime) the watched pids used during the window, nil if none were given
    /// or one of them could not be read.
    var watchedCPUNanoseconds: Int64?
}

/// Shared between the coordinator and the workers.
final class StartSignal: Sendable {
    let ready = Atomic<Int>(0)
    let measureStart = Atomic<Int64>(0)
    let measureEnd = Atomic<Int64>(0)
    let aborted = Atomic<Bool>(false)

    /// Waits (briefly sleeping) until the coordinator has set the window; nil if it gave up.
    func awaitWindow() -> (start: Int64, end: Int64)? {
        while true {
            let start = measureStart.load(ordering: .acquiring)
            if start != 0 { return (start, measureEnd.load(ordering: .acquiring)) }
            if aborted.load(ordering: .acquiring) { return nil }
            usleep(200)
        }
    }
}

enum LoadRunner {
    /// Runs every worker on its own thread: all connect, then traffic starts at once; the first
    /// `warmup` seconds are not counted, the next `duration` seconds are.
    static func run(workers: [any LoadWorker], warmup: Double, duration: Double, connectTimeout: Double, cpuPids: [Int32]) throws -> LoadWindow {
        let signal = StartSignal()
        let connectDeadline = MonotonicClock.nanoseconds() + Int64(connectTimeout * 1e9)
        var threads: [NativeThread] = []
        for (index, worker) in workers.enumerated() {
            threads.append(try NativeThread.start(name: "bench-\(index)") {
                worker.connect(deadline: connectDeadline)
                signal.ready.add(1, ordering: .acquiringAndReleasing)
                guard let window = signal.awaitWindow() else { return }
                worker.run(measureStart: window.start, measureEnd: window.end)
            })
        }
        // Workers give up connecting at the deadline themselves; the 5 s beyond it are slack.
        while signal.ready.load(ordering: .acquiring) < workers.count {
            if MonotonicClock.nanoseconds() > connectDeadline + 5_000_000_000 {
                signal.aborted.store(true, ordering: .releasing)
                for thread in threads { thread.join() }
                throw BenchFailure("client threads did not finish connecting")
            }
            usleep(500)
        }
        let now = MonotonicClock.nanoseconds()
        let start = now + Int64(warmup * 1e9)
        let end = start + Int64(duration * 1e9)
        signal.measureEnd.store(end, ordering: .releasing)
        signal.measureStart.store(start, ordering: .releasing)
        sleep(until: start)
        let cpuBefore = cpuNanoseconds(cpuPids)
        sleep(until: end)
        let cpuAfter = cpuNanoseconds(cpuPids)
        for thread in threads { thread.join() }
        var cpu: Int64?
        if let cpuBefore, let cpuAfter { cpu = cpuAfter - cpuBefore }
        return LoadWindow(seconds: Double(end - start) / 1e9, watchedCPUNanoseconds: cpu)
    }

    static func cpuNanoseconds(_ pids: [Int32]) -> Int64? {
        guard !pids.isEmpty else { return nil }
        var total: Int64 = 0
        for pid in pids {
            guard let value = ProcessFacts.cpuNanoseconds(pid: pid) else { return nil }
            total += value
        }
        return total
    }
}

/// Sleeps until the monotonic clock reaches `deadline` (ns).
func sleep(until deadline: Int64) {
    while true {
        let remaining = deadline - MonotonicClock.nanoseconds()
        if remaining <= 0 { return }
        var request = timespec(tv_sec: Int(remaining / 1_000_000_000), tv_nsec: Int(remaining % 1_000_000_000))
        _ = nanosleep(&request, nil)
    }
}

/// A failure that ends the command with a message and exit status 1.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Splits `total` items into `parts` nearly equal shares: (first index, count) for each.
func split(_ total: Int, into parts: Int) -> [(first: Int, count: Int)] {
    var shares: [(Int, Int)] = []
    var first = 0
    for part in 0..<parts {
        let count = total / parts + (part < total % parts ? 1 : 0)
        shares.append((first, count))
        first += count
    }
    return shares
}
