import BulwarkSys
import Config
import Gateway

/// What commands read and steer: the running gateway and facts about this process.
public final class ControlContext: @unchecked Sendable {  // @unchecked: `overrides`, `configText`, `loadedAt` and `notes` are only touched while holding `lock`
    public let runtime: GatewayRuntime
    public let configPath: String
    public let version: String
    /// The text the running config was read from: `set guard` validates on top of it, never on
    /// the file as it is now (which may have been edited since).
    private var configText: String
    let startedAtNanoseconds = MonotonicClock.nanoseconds()
    private var loadedAt = WallClock.secondsSinceEpoch()
    /// Asks the master process for a `reload` or an `upgrade`; nil without a master.
    let lifecycleRequest: (@Sendable (String) -> Bool)?
    /// The master's pid; nil without a master.
    let masterPID: Int32?
    /// What the master last reported, by topic (`last_reload`, `last_upgrade`), for `show info`.
    private var notes: [String: String] = [:]
    private let lock = PthreadLock()
    /// `set guard` changes since the file was loaded, in order; a later one for a key replaces
    /// the earlier.
    private var overrides: [GuardOverride] = []

    public init(runtime: GatewayRuntime, configPath: String, configText: String, version: String,
                masterPID: Int32? = nil, lifecycleRequest: (@Sendable (String) -> Bool)? = nil) {
        self.runtime = runtime
        self.configPath = configPath
        self.configText = configText
        self.version = version
        self.masterPID = masterPID
        self.lifecycleRequest = lifecycleRequest
    }

    /// A reload applied live: `set guard` changes are dropped (the file wins), like HAProxy's.
    public func reloaded(configText text: String) {
        lock.withLock {
            configText = text
            overrides = []
            loadedAt = WallClock.secondsSinceEpoch()
        }
    }

    /// When the running config was loaded (Unix seconds).
    var loadedAtEpochSeconds: Int64 { lock.withLock { loadedAt } }

    /// Records what the master reported about `topic`.
    public func note(_ topic: String, _ text: String) { lock.withLock { notes[topic] = text } }

    func note(_ topic: String) -> String? { lock.withLock { notes[topic] } }

    /// `set guard`: validates the loaded text with every change so far plus this one, then
    /// applies the result live. Refused (nothing changed) with the reason.
    func setGuard(_ override: GuardOverride) throws(CommandError) {
        try lock.withLock { () throws(CommandError) in
            let changes = overrides.filter { $0.key != override.key } + [override]
            let config: GatewayConfig
            do throws(ConfigErrors) {
                config = try ConfigParser.parse(text: self.configText, file: configPath, guardOverrides: changes)
            } catch {
                // A problem with the new value has line 0; one elsewhere names its line in the file.
                throw CommandError(error.issues.map { $0.line == 0 ? "\($0.key): \($0.message)" : $0.description }
                    .joined(separator: "; "))
            }
            do throws(StartError) {
                try runtime.applyLive(config)
            } catch {
                throw CommandError(error.description)
            }
            overrides = changes
        }
    }

    /// The `set guard` changes in force, for `show guard`.
    var guardOverrides: [GuardOverride] { lock.withLock { overrides } }
}
