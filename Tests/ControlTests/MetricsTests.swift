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
}
