import BulwarkFuzzChecks

// libFuzzer calls this once per input; the properties are checked in ConfigParserCheck.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    ConfigParserCheck.run(bytes.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [])
    return 0
}
