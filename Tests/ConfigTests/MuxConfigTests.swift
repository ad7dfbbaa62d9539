import Config
import Testing

/// What a mux listener needs from the config, and what it cannot do yet.
@Suite struct MuxConfigTests {
    private func muxText(guardKeys: String = "", listenerKeys: String = "") -> String {
        """
        [guard]
        \(guardKeys)
        [[listener]]
        name = "chat"
        bind = "127.0.0.1:7100"
        mode = "mux"
        framing = "line"
        backend = "logic"
        \(listenerKeys)
        [[backend]]
        name = "logic"
        servers = ["127.0.0.1:7101"]
        """
    }

    @Test func aMuxListenerWithHardRatesIsValid() throws {
        let config = try ConfigParser.parse(text: muxText(listenerKeys: "packet_rate_hard = 100\nbyte_rate_hard = \"1MiB\""), file: "m.toml")
        #expect(config.listeners.first?.mode == .mux)
        #expect(config.listeners.first?.limits.packetRateHard == 100)
    }

    /// A soft rate would be parsed and not enforced (a session cannot hold frames back yet).
    @Test func softRatesOnAMuxListenerAreRefusedWhereverTheyAreWritten() {
        #expect(issues(muxText(listenerKeys: "packet_rate_soft = 50"), file: "m.toml") == [
            "m.toml:9: listener[0].packet_rate_soft: packet_rate_soft = 50: soft rates are not supported on mux listeners yet (hard rates are); "
                + "set it to 0 for this listener, or use packet_rate_hard",
        ])
        #expect(issues(muxText(guardKeys: "byte_rate_soft = 4096"), file: "m.toml") == [
            "m.toml:2: listener[0].byte_rate_soft: [guard].byte_rate_soft = 4096: soft rates are not supported on mux listeners yet (hard rates are); "
                + "set it to 0 for this listener, or use byte_rate_hard",
        ])
        #expect(issues(muxText(guardKeys: "byte_rate_soft = 4096", listenerKeys: "byte_rate_soft = 0"), file: "m.toml").isEmpty,
                "switched off for the mux listener: fine")
    }
}
