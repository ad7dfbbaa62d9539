import BulwarkFuzzChecks
import Foundation
import Testing

/// Replays every committed fuzz input (Fuzz/corpus/TARGET: seeds, and each crash a fuzzer
/// ever found, kept as a regression case) through the target's checks. A broken property
/// stops the test process with the input's check message.
@Suite struct FuzzCorpusTests {
    static let corpusRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    static func inputs(_ target: String) throws -> [[UInt8]] {
        let folder = corpusRoot.appendingPathComponent(target)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        return try names.map { Array(try Data(contentsOf: folder.appendingPathComponent($0))) }
    }

    @Test(arguments: ["frames", "protocol", "config", "stats"])
    func everyCommittedInputPasses(target: String) throws {
        let inputs = try Self.inputs(target)
        #expect(inputs.count >= 10, "the \(target) corpus has \(inputs.count) inputs")
        let check: ([UInt8]) -> Void = switch target {
        case "frames": FrameDecoderCheck.run
        case "protocol": BackendProtocolCheck.run
        case "config": ConfigParserCheck.run
        default: StatsCommandCheck.run
        }
        for input in inputs { check(input) }
    }
}
