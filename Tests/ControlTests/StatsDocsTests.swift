import Control
import Foundation
import Testing

/// docs/stats.md lists exactly the command table, so the reference cannot drift from the code.
@Suite struct StatsDocsTests {
    @Test func everyCommandIsDocumentedAndNothingElse() throws {
        var root = #filePath
        for _ in 0..<3 { root = String(root[..<root.lastIndex(of: "/")!]) }
        let text = try String(contentsOfFile: root + "/docs/stats.md", encoding: .utf8)
        let documented = text.split(separator: "\n").filter { $0.hasPrefix("| `") }.map(String.init)
        // A "|" inside a table cell is written "\|" in Markdown.
        let expected = Commands.all.map {
            "| `\($0.usage.replacing("|", with: "\\|"))` | \($0.level.rawValue) | \($0.summary) |"
        }
        #expect(documented == expected)
    }
}
