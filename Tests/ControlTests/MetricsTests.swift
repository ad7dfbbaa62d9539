import BulwarkSys
import BulwarkTestSupport
import Control
import Foundation
import Testing

@Suite(.serialized) struct MetricsTests {
    @Test func showMetricsIsPrometheusTextWithTheRealCounts() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let harness = try ControlHarness(backend: backend.address)
        defer { harness.stop() }
        let clients = try (0..<3).map { _ in try BlockingSocket.connect(to: harness.address) }
        for client in clients {
            try client.send("m")
            _ = try client.receiveExactly(1)
        }
        let text = try harness.ask("show metrics")
        #expect(text.hasSuffix("\n\n"))
        #expect(text.contains("# TYPE bulwark_connections gauge\n"))
        #expect(text.contains("bulwark_connections{listener=\"front\"} 3\n"))
        #expect(text.contains("bulwark_connections_accepted_total{listener=\"front\"} 3\n"))
        #expect(text.contains("bulwark_server_up{backend=\"pool\",server=\"\(backend.address)\"} 1\n"))
        #expect(text.contains("bulwark_guard_refusals_total{reason=\"per_ip\"} 0\n"))

        // A real parser: Python's prometheus_client (make deps installs it).
        let path = PackagePaths.writeTemporary(String(text.dropLast()), suffix: ".prom")
        defer { unlink(path) }
        let script = """
            import sys
            from prometheus_client.parser import text_string_to_metric_families
            families = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
            front = [s.value for s in families["bulwark_connections"].samples if s.labels.get("listener") == "front"]
            assert front == [3.0], front
            assert families["bulwark_connections_accepted"].type == "counter"
            print(len(families))
            """
        let (code, output, errors) = try ChildProcess.run("/usr/bin/env", ["python3", "-c", script, path])
        #expect(code == 0, "prometheus_client could not parse it: \(errors)")
        #expect((Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= 20)

        let json = try harness.ask("show metrics json")
        let families = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        #expect(families.contains { $0["name"] as? String == "bulwark_connections" && $0["type"] as? String == "gauge" })
    }

    @Test func metricsBindServesPrometheusOverHTTP() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let harness = try ControlHarness(backend: backend.address, userStatsKeys: "metrics_bind = \"127.0.0.1:0\"")
        defer { harness.stop() }
        let client = try BlockingSocket.connect(to: harness.address)
        try client.send("m")
        _ = try client.receiveExactly(1)
        let metricsAddress = try #require(harness.servers.last?.localAddress)
        // A real HTTP client and a real parser: Python's urllib and prometheus_client.
        let script = """
            import sys, urllib.request, urllib.error
            from prometheus_client.parser import text_string_to_metric_families
            base = "http://" + sys.argv[1]
            with urllib.request.urlopen(base + "/metrics?x=1", timeout=5) as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4"), response.headers
                families = {f.name: f for f in text_string_to_metric_families(response.read().decode())}
            front = [s.value for s in families["bulwark_connections"].samples if s.labels.get("listener") == "front"]
            assert front == [1.0], front
            def status(path, method="GET"):
                try:
                    return urllib.request.urlopen(urllib.request.Request(base + path, method=method), timeout=5).status
                except urllib.error.HTTPError as error:
                    return error.code
            assert status("/other") == 404
            assert status("/metrics", "POST") == 405
            print(len(families))
            """
        let (code, output, errors) = try ChildProcess.run("/usr/bin/env", ["python3", "-c", script, metricsAddress.description])
        #expect(code == 0, "\(errors)")
        #expect((Int(output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= 20)
        #expect(eventually { harness.servers.last?.connectedClients == 0 }, "each scrape's connection is closed")
    }

    @Test func aSilentStatsClientIsClosedAfterItsIdleTimeout() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let harness = try ControlHarness(backend: backend.address, userStatsKeys: "idle_timeout = \"1s\"")
        defer { harness.stop() }
        let silent = BlockingSocket(fd: try UnixSockets.connect(path: harness.userSocket))
        let started = MonotonicClock.nanoseconds()
        #expect(eventually { harness.servers[0].connectedClients == 1 })
        #expect(try silent.receiveToEnd().isEmpty, "closed by the gateway without an answer")
        let elapsed = (MonotonicClock.nanoseconds() - started) / 1_000_000
        #expect(elapsed >= 1000 && elapsed < 4000, "closed after \(elapsed) ms")
    }

    /// A client that sends command after command and never reads: answering stops once 64 KiB
    /// are queued (reading it pauses, so its input waits in the kernel), and the idle timeout
    /// closes it.
    @Test func aClientThatNeverReadsHoldsABoundedAmountAndIsClosed() throws {
        let backend = try ScriptedBackend(script: ScriptedBackend.echo)
        defer { backend.stop() }
        let harness = try ControlHarness(backend: backend.address, userStatsKeys: "idle_timeout = \"1s\"")
        defer { harness.stop() }
        let greedy = BlockingSocket(fd: try UnixSockets.connect(path: harness.userSocket), timeoutMilliseconds: 200)
        try greedy.send("prompt\n")
        let request = Array(String(repeating: "show metrics\n", count: 100).utf8)
        var sent = 0
        var peak = 0
        while sent < 4_000_000, (try? greedy.sendAll(request)) != nil {
            sent += request.count
            peak = max(peak, harness.servers[0].heldBytes)
        }
        peak = max(peak, harness.servers[0].heldBytes)
        #expect(sent > 0)
        #expect(peak >= 64 * 1024, "answers were queued up to the bound (\(peak) bytes)")
        #expect(peak < 256 * 1024, "held \(peak) bytes for a client that never reads")
        #expect(eventually { harness.servers[0].connectedClients == 0 }, "closed by the idle timeout")
    }
}
