import BulwarkSys
import BulwarkTestSupport
import Glibc
import Testing

/// Mux listeners with the real binary and backends written from docs/protocol.md alone
/// (scripts/tests/mux_backend.py); scripts/tests/mux_scenarios.py says what it checks.
@Suite(.serialized) struct MuxScenarioTests {
    @Test func sessionsPushRebindAndBackoffWithAProtocolDocBackend() throws {
        let (code, output, errors) = try ChildProcess.run(
            "/usr/bin/env", ["python3", PackagePaths.root + "/scripts/tests/mux_scenarios.py", PackagePaths.bulwarkBinary],
            timeoutMilliseconds: 120_000)
        #expect(code == 0, "\(output)\n\(errors)")
    }
}
