import BulwarkTestSupport
import Testing

/// [server] user/group and the stats socket's peer credential check, with the real binary as
/// root; scripts/tests/privilege_scenarios.py says what it checks.
@Suite(.serialized) struct PrivilegeScenarioTests {
    @Test func theWorkerDropsToItsUserWithNoCapabilitiesAndTheStatsSocketChecksPeers() throws {
        let (code, output, errors) = try ChildProcess.run(
            "/usr/bin/env", ["python3", PackagePaths.root + "/scripts/tests/privilege_scenarios.py", PackagePaths.bulwarkBinary],
            timeoutMilliseconds: 90_000)
        #expect(code == 0, "\(output)\n\(errors)")
    }
}
