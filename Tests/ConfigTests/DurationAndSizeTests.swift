import Config
import Testing

@Suite("Durations and byte sizes")
struct DurationAndSizeTests {
    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)), ("3s", .seconds(3)), ("1m", .seconds(60)), ("1h", .seconds(3600)),
        ("500us", .microseconds(500)), ("500µs", .microseconds(500)), ("7ns", .nanoseconds(7)),
        ("1.5s", .milliseconds(1500)), ("0.25s", .milliseconds(250)), ("1.5h", .seconds(5400)),
        ("1m30s", .seconds(90)), ("1h2m3s4ms", .milliseconds(3_723_004)), ("0", .zero), ("0s", .zero),
        ("0.000000001s", .nanoseconds(1)), ("0.0000000019s", .nanoseconds(1)),
        ("9223372036854775807ns", .nanoseconds(Int64.max)),
    ])
    func parsesDurations(text: String, expected: Duration) {
        #expect(Durations.parse(text) == expected)
    }

    @Test(arguments: ["", "3", "s", "-3s", "+3s", "3 s", " 3s", "3s ", "3sec", "3S", "1.s", ".5s", "1..5s", "3ms5",
                      "1e3s", "9223372036854775808ns", "9223372036854775807s", "3d", "1_000ms"])
    func refusesBadDurations(text: String) {
        #expect(Durations.parse(text) == nil)
    }

    @Test(arguments: [
        (Duration.seconds(3), "3s"), (.milliseconds(250), "250ms"), (.milliseconds(1500), "1500ms"),
        (.seconds(90), "90s"), (.seconds(120), "2m"), (.seconds(7200), "2h"), (.microseconds(5), "5us"),
        (.nanoseconds(1), "1ns"), (.zero, "0s"), (.seconds(-3), "-3s"), (.milliseconds(-1500), "-1500ms"),
    ])
    func formatsDurations(duration: Duration, expected: String) {
        #expect(Durations.format(duration) == expected)
    }

    @Test(arguments: [Duration.milliseconds(1), .seconds(3), .milliseconds(1500), .microseconds(123_456), .seconds(86_400)])
    func formatThenParseRoundTrips(duration: Duration) {
        #expect(Durations.parse(Durations.format(duration)) == duration)
    }

    @Test(arguments: [
        ("0", 0), ("65536", 65536), ("64KiB", 65536), ("64k", 65536), ("64K", 65536),
        ("1MiB", 1 << 20), ("1m", 1 << 20), ("1M", 1 << 20), ("1GiB", 1 << 30), ("1g", 1 << 30), ("1G", 1 << 30),
        ("256KiB", 262_144), ("3GiB", 3 << 30),
    ])
    func parsesSizes(text: String, expected: Int) {
        #expect(ByteSizes.parse(text) == expected)
    }

    @Test(arguments: ["", "KiB", "-1", "+1", "1.5MiB", "1 KiB", "1KB", "1kb", "1kib", "1Ki", "1T", "1B", "0x10",
                      "99999999999999999999", "9999999999999999GiB", " 1", "1_024"])
    func refusesBadSizes(text: String) {
        #expect(ByteSizes.parse(text) == nil)
    }

    @Test(arguments: [(262_144, "256KiB"), (1 << 20, "1MiB"), (3 << 30, "3GiB"), (1536, "1536"), (1, "1"), (0, "0"), (1024, "1KiB")])
    func formatsSizes(bytes: Int, expected: String) {
        #expect(ByteSizes.format(bytes) == expected)
    }
}
