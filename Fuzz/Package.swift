// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets, one per parser (`make fuzz` in the top folder builds and runs them). A
// package of its own: these executables have no main (libFuzzer brings it) and must be built
// with `--sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer` (the last for coverage
// feedback in Swift code), which the main package's products must not be.
let fuzzerFlags: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "BulwarkFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "Bulwark", path: "..")],
    targets: ["frames", "protocol", "config", "stats"].map { name in
        .executableTarget(
            name: "fuzz-\(name)",
            dependencies: [.product(name: "BulwarkFuzzChecks", package: "Bulwark")],
            swiftSettings: fuzzerFlags
        )
    },
    swiftLanguageModes: [.v6]
)
