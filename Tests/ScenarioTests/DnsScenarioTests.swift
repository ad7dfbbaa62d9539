import BulwarkTestSupport
import Testing

/// Backend servers given by host name, with the real binary and the real getaddrinfo_a, in a
/// private mount namespace whose /etc/hosts and /etc/resolv.conf the script rewrites;
/// scripts/tests/dns_scenarios.py says what it checks.
@Suite(.serialized) struct DnsScenarioTests {
    @Test func hostNamesResolveMoveKeepTheLastGoodAddressAndNeverStallTheEngine() throws {
        let (code, output, errors) = try ChildProcess.run(
            "/usr/bin/env", ["python3", PackagePaths.root + "/scripts/tests/dns_scenarios.py", PackagePaths.bulwarkBinary],
            timeoutMilliseconds: 160_000)
        #expect(code == 0, "\(output)\n\(errors)")
    }
}
