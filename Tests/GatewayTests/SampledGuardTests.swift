import BulwarkSys
import BulwarkTestSupport
import Gateway
import Glibc
import Testing

/// Memory and load guards fed from files the test writes (the config points meminfo_path and
/// loadavg_path at them, as an operator may in a container): past the mark new connections are
/// refused within one sample interval while existing ones keep working; below the lower mark
/// they are accepted again.
@Suite(.serialized) struct SampledGuardTests {
    private func meminfo(availableKiB: Int) -> String {
        """
        MemTotal:       1000000 kB
        MemFree:         100000 kB
        MemAvailable:   \(availableKiB) kB
        Buffers:          10000 kB
        Cached:           50000 kB
        SwapTotal:            0 kB
        SwapFree:             0 kB

        """
    }

    private func write(_ text: String, to path: String) {
        let temporary = path + ".new"
        let written = PackagePaths.writeTemporary(text)
        rename(written, temporary)
        rename(temporary, path)  // atomic: the sampler never sees half a file
    }

    private func isServed(_ client: BlockingSocket?) -> Bool {
        guard let client, (try? client.send("ping")) != nil else { return false }
        return (try? client.receiveExactly(4)) == Array("ping".utf8)
    }

    @Test func memoryUsedGuardRefusesThenClears() throws {
        let path = "/tmp/bulwark-test-meminfo-\(getpid())"
        write(meminfo(availableKiB: 900_000), to: path)  // 10% used
        defer { unlink(path) }
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address], guardSection: """
            sample_interval = "100ms"
            max_memory_used_percent = 80
            memory_used_clear_percent = 70
            meminfo_path = "\(path)"
            """)
        defer { gateway.stop() }
        let existing = try gateway.connect()
        #expect(isServed(existing))

        write(meminfo(availableKiB: 100_000), to: path)  // 90% used: trips
        #expect(eventually(timeoutMilliseconds: 1000) { gateway.runtime.guardRuntime.pressure.memoryTripped })
        #expect(!isServed(try? gateway.connect()))
        #expect(isServed(existing), "existing connections keep working")
        #expect(gateway.guardCounters.refusals(.memory) >= 1)

        write(meminfo(availableKiB: 250_000), to: path)  // 75% used: between the marks, stays tripped
        sleepMilliseconds(300)
        #expect(gateway.runtime.guardRuntime.pressure.memoryTripped, "no flapping between the marks")

        write(meminfo(availableKiB: 400_000), to: path)  // 60% used: clears
        #expect(eventually(timeoutMilliseconds: 1000) { !gateway.runtime.guardRuntime.pressure.memoryTripped })
        #expect(isServed(try? gateway.connect()))
    }

    @Test func loadGuardRefusesAboveTheMark() throws {
        let path = "/tmp/bulwark-test-loadavg-\(getpid())"
        write("0.10 0.20 0.30 1/100 12345\n", to: path)
        defer { unlink(path) }
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let gateway = try RelayHarness(servers: [backend.address], guardSection: """
            sample_interval = "100ms"
            max_load = 4.0
            load_clear = 3.0
            loadavg_path = "\(path)"
            """)
        defer { gateway.stop() }
        #expect(isServed(try? gateway.connect()))
        write("9.50 5.00 2.00 3/100 12345\n", to: path)
        #expect(eventually(timeoutMilliseconds: 1000) { gateway.runtime.guardRuntime.pressure.loadTripped })
        #expect(!isServed(try? gateway.connect()))
        #expect(gateway.guardCounters.refusals(.load) >= 1)

        // A malformed file is counted and the last good reading stands.
        write("garbage\n", to: path)
        let failures = gateway.runtime.guardRuntime.sampleFailures.value
        #expect(eventually(timeoutMilliseconds: 1000) { gateway.runtime.guardRuntime.sampleFailures.value > failures })
        #expect(gateway.runtime.guardRuntime.pressure.loadTripped)

        write("1.00 5.00 2.00 3/100 12345\n", to: path)
        #expect(eventually(timeoutMilliseconds: 1000) { !gateway.runtime.guardRuntime.pressure.loadTripped })
        #expect(isServed(try? gateway.connect()))
    }
}
