import SysGuard
import Testing

@Suite("/proc/meminfo and /proc/loadavg parsers")
struct ProcParserTests {
    static let modern = """
        MemTotal:       16318412 kB
        MemFree:          512000 kB
        MemAvailable:    8159206 kB
        Buffers:          204800 kB
        Cached:          6144000 kB
        SwapCached:            0 kB
        Active:          7340032 kB
        Inactive:        5242880 kB
        SwapTotal:       2097148 kB
        SwapFree:        1572861 kB
        Dirty:               128 kB
        HugePages_Total:       0
        HugePages_Free:        0
        Hugepagesize:       2048 kB
        DirectMap1G:    13631488 kB

        """

    static let withoutMemAvailable = """
        MemTotal:        1030120 kB
        MemFree:          100000 kB
        Buffers:           50000 kB
        Cached:           250000 kB
        SwapCached:            0 kB
        SwapTotal:             0 kB
        SwapFree:              0 kB

        """

    @Test func modernSample() throws {
        let info = try #require(MemoryInfo.parse(Self.modern))
        #expect(info == MemoryInfo(totalBytes: 16_318_412 * 1024, availableBytes: 8_159_206 * 1024,
                                   swapTotalBytes: 2_097_148 * 1024, swapFreeBytes: 1_572_861 * 1024))
        #expect(abs(info.usedPercent - 50.0) < 0.001)
        #expect(abs(info.swapUsedPercent - 25.0) < 0.001)
    }

    @Test func oldKernelWithoutMemAvailable() throws {
        let info = try #require(MemoryInfo.parse(Self.withoutMemAvailable))
        #expect(info.availableBytes == 400_000 * 1024)
        #expect(info.totalBytes == 1_030_120 * 1024)
        #expect(info.swapUsedPercent == 0)
    }

    @Test(arguments: [
        String(Self.modern.prefix(60)),  // cut before SwapTotal
        Self.modern.cut(after: "SwapFree:        15728"),  // cut inside the number
        Self.modern.cut(after: "SwapFree:        1572861 k"),
        Self.modern.cut(after: "SwapFr"),
        "",
        "garbage",
        "\u{0}\u{1}\u{2} binary \n junk",
        "MemTotal: lots kB\nMemAvailable: 1 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
        "MemTotal: -5 kB\nMemAvailable: 1 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
        "MemTotal: 0 kB\nMemAvailable: 0 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
        "MemTotal: 10 MB\nMemAvailable: 1 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
        "MemTotal: 10 kB\nMemTotal: 10 kB\nMemAvailable: 1 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
        "MemTotal: 99999999999999999999 kB\nMemAvailable: 1 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
        "MemTotal: 9007199254740993 kB\nMemAvailable: 1 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",
        "MemTotal: 10 kB\nMemFree: 1 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n",  // no Buffers/Cached either
    ])
    func malformedMeminfoIsNil(text: String) {
        #expect(MemoryInfo.parse(text) == nil)
    }

    @Test func percentagesClampAndHandleZeroSwap() {
        let odd = MemoryInfo(totalBytes: 100, availableBytes: 150, swapTotalBytes: 10, swapFreeBytes: 20)
        #expect(odd.usedPercent == 0)
        #expect(odd.swapUsedPercent == 0)
        let full = MemoryInfo(totalBytes: 100, availableBytes: 0, swapTotalBytes: 10, swapFreeBytes: 0)
        #expect(full.usedPercent == 100)
        #expect(full.swapUsedPercent == 100)
    }

    @Test(arguments: [
        ("0.52 0.58 0.59 1/467 12345\n", 0.52),
        ("12.00 8.25 3.10 14/2031 998877\n", 12.0),
        ("0.00 0.00 0.00 1/1 1", 0.0),
        ("3 2 1 1/100 42\n", 3.0),
        ("123.45 1.00 1.00 2/300 7\n", 123.45),
    ])
    func loadAverageSamples(text: String, expected: Double) throws {
        let load = try #require(LoadAverage.parse(text))
        #expect(abs(load - expected) < 1e-9)
    }

    @Test(arguments: ["", "\n", "0.52", "0.52 0.58 0.59", "0.52 0.58 0.59 1/46", "garbage here and there too",
                      "-1.00 0.58 0.59 1/467 12345", "nan 0.58 0.59 1/467 12345", "inf 0.58 0.59 1/467 12345",
                      "0.5x 0.58 0.59 1/467 12345", "1e3 0.58 0.59 1/467 12345", ".5 0.58 0.59 1/467 12345",
                      "5. 0.58 0.59 1/467 12345", "0.52 0.58 0.59 1/467 12345 extra", "0.52 0.58 x 1/467 12345"])
    func malformedLoadAverageIsNil(text: String) {
        #expect(LoadAverage.parse(text) == nil)
    }
}

extension String {
    /// The text up to the end of `marker`: a file cut short while being read.
    fileprivate func cut(after marker: String) -> String {
        guard let range = firstRange(of: marker) else { return self }
        return String(self[..<range.upperBound])
    }
}
