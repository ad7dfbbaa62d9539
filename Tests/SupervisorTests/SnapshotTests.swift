import Testing
@testable import Supervisor

/// The state handed across an upgrade's exec: every state round-trips, anything else is refused.
@Suite struct SnapshotTests {
    func roundTrips(_ supervisor: Supervisor) throws {
        let decoded = try Supervisor(encoded: supervisor.encoded)
        var expected = supervisor
        expected.actions = []
        #expect(decoded == expected, "\(supervisor.encoded)")
    }

    @Test func everyStateOfAnUpgradeAndReloadRoundTrips() throws {
        var harness = Harness.serving()
        try roundTrips(harness.supervisor)
        harness.reload(reading: .invalid(reason: "a b\nc \\ d"))
        try roundTrips(harness.supervisor)
        harness.reload(reading: .needsNewWorker(harness.freshConfig(), changes: ["listener", "two words"]))
        try roundTrips(harness.supervisor)
        harness.send(.upgradeRequested)
        try roundTrips(harness.supervisor)
        harness.send(.workerReady(harness.newestWorker, version: "1.0 beta"))
        #expect(harness.contains(.checkBinary), "the queued upgrade runs")
        try roundTrips(harness.supervisor)
        harness.send(.binaryChecked(.passed))
        try roundTrips(harness.supervisor)
        harness.send(.workerReady(harness.newestWorker, version: "2.0"))
        try roundTrips(harness.supervisor)
        harness.advance(.seconds(3))
        try roundTrips(harness.supervisor)
        let live = harness.freshConfig()
        var applying = Harness.serving()
        applying.reload(reading: .live(live))
        try roundTrips(applying.supervisor)
        var stopping = harness
        stopping.send(.stopRequested)
        try roundTrips(stopping.supervisor)
        stopping.send(.stopRequested)
        try roundTrips(stopping.supervisor)
        var backoff = Harness.serving(timings: SupervisorTimings(watchdogInterval: .milliseconds(500)))
        backoff.send(.workerExited(backoff.servingWorker!, status: "exited with status 1"))
        backoff.send(.workerExited(backoff.newestWorker, status: "exited with status 1"))
        try roundTrips(backoff.supervisor)
    }

    @Test func anUnknownFormatOrAGarbledLineIsRefused() throws {
        let good = Harness.serving().supervisor.encoded
        #expect(throws: SnapshotError.unknownFormat("bulwark-supervisor 2")) {
            try Supervisor(encoded: "bulwark-supervisor 2" + good.dropFirst("bulwark-supervisor 1".count))
        }
        #expect(throws: SnapshotError.self) { try Supervisor(encoded: good + "\nworker 1 2 3") }
        #expect(throws: SnapshotError.self) { try Supervisor(encoded: good + "\nnonsense") }
        #expect(throws: SnapshotError.self) {
            try Supervisor(encoded: good.split(separator: "\n").filter { !$0.hasPrefix("config") }.joined(separator: "\n"))
        }
        #expect(throws: SnapshotError.self) { try Supervisor(encoded: "") }
    }
}
