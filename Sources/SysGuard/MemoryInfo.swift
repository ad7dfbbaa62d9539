/// The /proc/meminfo figures the memory guards read, in bytes.
public struct MemoryInfo: Equatable, Sendable {
    public var totalBytes: Int
    /// MemAvailable, or MemFree + Buffers + Cached on kernels older than 3.14.
    public var availableBytes: Int
    public var swapTotalBytes: Int
    public var swapFreeBytes: Int

    public init(totalBytes: Int, availableBytes: Int, swapTotalBytes: Int, swapFreeBytes: Int) {
        self.totalBytes = totalBytes
        self.availableBytes = availableBytes
        self.swapTotalBytes = swapTotalBytes
        self.swapFreeBytes = swapFreeBytes
    }

    /// Share of memory not available, 0...100.
    public var usedPercent: Double {
        guard totalBytes > 0 else { return 0 }
        return Double(totalBytes - min(availableBytes, totalBytes)) * 100 / Double(totalBytes)
    }

    /// Share of swap in use, 0...100; 0 without swap.
    public var swapUsedPercent: Double {
        guard swapTotalBytes > 0 else { return 0 }
        return Double(swapTotalBytes - min(swapFreeBytes, swapTotalBytes)) * 100 / Double(swapTotalBytes)
    }

    /// Parses /proc/meminfo text ("MemTotal:       16318412 kB" lines). Nil when a needed field
    /// is missing, repeated, lacks its " kB" unit (a file cut short inside a number) or is
    /// not a number, or when MemTotal is 0; the caller keeps its last good reading.
    public static func parse(_ text: String) -> MemoryInfo? {
        var fields = Fields()
        for line in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
            let name = line[..<colon]
            guard let field = Field(name) else { continue }
            guard fields.values[field.rawValue] == nil, let bytes = kilobytesAsBytes(line[line.index(after: colon)...])
            else { return nil }
            fields.values[field.rawValue] = bytes
        }
        guard let total = fields[.memTotal], total > 0, let swapTotal = fields[.swapTotal],
              let swapFree = fields[.swapFree] else { return nil }
        let available: Int
        if let memAvailable = fields[.memAvailable] {
            available = memAvailable
        } else {
            guard let free = fields[.memFree], let buffers = fields[.buffers], let cached = fields[.cached]
            else { return nil }
            available = free + buffers + cached
        }
        return MemoryInfo(totalBytes: total, availableBytes: available, swapTotalBytes: swapTotal, swapFreeBytes: swapFree)
    }

    private enum Field: Int, CaseIterable {
        case memTotal, memFree, memAvailable, buffers, cached, swapTotal, swapFree

        private static let names = ["MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapTotal", "SwapFree"]

        init?(_ name: Substring.UTF8View.SubSequence) {
            guard let index = Self.names.firstIndex(where: { $0.utf8.elementsEqual(name) }) else { return nil }
            self.init(rawValue: index)
        }
    }

    private struct Fields {
        var values = [Int?](repeating: nil, count: Field.allCases.count)
        subscript(field: Field) -> Int? { values[field.rawValue] }
    }

    /// "   16318412 kB" -> bytes; nil on anything else or on overflow.
    private static func kilobytesAsBytes(_ text: Substring.UTF8View.SubSequence) -> Int? {
        var rest = text.drop(while: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
        guard rest.count > 3, rest.suffix(3).elementsEqual(" kB".utf8) else { return nil }
        rest = rest.dropLast(3)
        guard let kilobytes = ProcText.decimalInteger(rest) else { return nil }
        let (bytes, overflow) = kilobytes.multipliedReportingOverflow(by: 1024)
        return overflow ? nil : bytes
    }
}
