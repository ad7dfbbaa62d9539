import BulwarkSys
import Config
import Gateway

/// What commands read and steer: the running gateway and facts about this process.
public final class ControlContext: Sendable {
    public let runtime: GatewayRuntime
    public let configPath: String
    public let version: String
    let startedAtNanoseconds = MonotonicClock.nanoseconds()
    let loadedAtEpochSeconds = WallClock.secondsSinceEpoch()

    public init(runtime: GatewayRuntime, configPath: String, version: String) {
        self.runtime = runtime
        self.configPath = configPath
        self.version = version
    }
}
