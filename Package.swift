// swift-tools-version:6.0
import PackageDescription

// Layering (lowest first): CBulwarkShims -> BulwarkSys -> Engine, Buffers -> Config -> Gateway -> executables.
// Lower modules never import higher ones; only BulwarkSys (and the C shim) call libc.
let package = Package(
    name: "Bulwark",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "bulwark", targets: ["bulwark"]),
        .executable(name: "bulwarkctl", targets: ["bulwarkctl"]),
        .executable(name: "bulwark-bench", targets: ["bulwark-bench"]),
        .executable(name: "bulwark-echo", targets: ["bulwark-echo"]),
        .executable(name: "bulwark-chat", targets: ["bulwark-chat"]),
        // The backend side of the mux protocol, for backends written in Swift.
        .library(name: "BulwarkBackend", targets: ["BulwarkBackend"]),
        // The properties the fuzz targets check, for Fuzz/Package.swift and the corpus replay test.
        .library(name: "BulwarkFuzzChecks", targets: ["BulwarkFuzzChecks"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .target(name: "CBulwarkShims", linkerSettings: [.linkedLibrary("anl")]),
        // Only the bulwark executable links jemalloc: sanitizer builds of the tests need their own allocator.
        .target(name: "CJemalloc", linkerSettings: [.linkedLibrary("jemalloc")]),
        .target(name: "BulwarkSys", dependencies: ["CBulwarkShims"]),
        .target(name: "Buffers", dependencies: ["BulwarkSys"]),
        .target(name: "Engine", dependencies: ["BulwarkSys"]),
        .target(name: "Config", dependencies: ["SysGuard"]),
        .target(name: "SysGuard"),
        // The master's decisions (reload, upgrade, respawn, drain, stop) as a pure state machine.
        .target(name: "Supervisor"),
        // The backend protocol of mux listeners (docs/protocol.md): a pure codec.
        .target(name: "MuxProtocol"),
        .target(name: "BulwarkBackend", dependencies: ["MuxProtocol", "BulwarkSys"]),
        .target(
            name: "Gateway",
            dependencies: [
                "BulwarkSys", "Engine", "Buffers", "Config", "SysGuard", "MuxProtocol",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "Control", dependencies: ["Gateway", "Config", "SysGuard", "Engine", "BulwarkSys"]),
        .target(
            name: "BulwarkFuzzChecks",
            dependencies: ["SysGuard", "Config", "Control", "Gateway", "MuxProtocol", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "bulwark",
            dependencies: [
                "Gateway", "Control", "Config", "BulwarkSys", "CJemalloc", "Supervisor",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "bulwarkctl",
            dependencies: ["BulwarkSys", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "bulwark-bench",
            dependencies: ["BulwarkSys", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "bulwark-chat",
            dependencies: ["BulwarkBackend", "BulwarkSys", "MuxProtocol", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "bulwark-echo",
            dependencies: ["BulwarkSys", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Blocking socket helpers and scripted backends shared by the test targets.
        .target(name: "BulwarkTestSupport", dependencies: ["BulwarkSys"], path: "Tests/Support"),
        .testTarget(name: "BulwarkSysTests", dependencies: ["BulwarkSys"]),
        .testTarget(name: "BuffersTests", dependencies: ["Buffers"]),
        .testTarget(name: "MuxProtocolTests", dependencies: ["MuxProtocol"]),
        .testTarget(
            name: "BulwarkBackendTests",
            dependencies: ["BulwarkBackend", "BulwarkSys", "BulwarkTestSupport", "Config", "Gateway", "MuxProtocol",
                           .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "BulwarkSys", "BulwarkTestSupport"]),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "SysGuard"]),
        .testTarget(name: "SysGuardTests", dependencies: ["SysGuard"]),
        .testTarget(name: "SupervisorTests", dependencies: ["Supervisor"]),
        .testTarget(name: "GatewayTests", dependencies: ["Gateway", "Config", "SysGuard", "BulwarkSys", "Buffers", "Engine", "BulwarkTestSupport"]),
        .testTarget(name: "ScenarioTests", dependencies: ["BulwarkSys", "BulwarkTestSupport"]),
        .testTarget(name: "FuzzCorpusTests", dependencies: ["BulwarkFuzzChecks"]),
        .testTarget(name: "ControlTests", dependencies: ["Control", "Gateway", "Config", "BulwarkSys", "BulwarkTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
