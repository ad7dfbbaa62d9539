import BulwarkSys
import Testing

@Suite struct StripedCounterTests {
    /// Threads on their own stripes and threads sharing stripe 0 all add up exactly.
    @Test func concurrentAddsSumExactly() throws {
        let counter = StripedCounter()
        let threads = try (0..<6).map { index in
            try NativeThread.start(name: "count-\(index)") {
                if index < 4 { StripedCounter.assignStripe(workerIndex: index % 2) }  // two threads per stripe
                for _ in 0..<100_000 { counter.increment() }
                for _ in 0..<1_000 { counter.decrement() }
                counter.add(7)
            }
        }
        for thread in threads { thread.join() }
        #expect(counter.value == 6 * (100_000 - 1_000 + 7))
    }
}
