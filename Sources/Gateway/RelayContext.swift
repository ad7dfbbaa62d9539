import Buffers
import Config
import Engine
import Logging
import SysGuard

/// What every relay session of one listener shares: one pointer per session instead of many.
final class RelayContext: Sendable {
    let engine: Engine
    let pool: BufferPool
    let backend: BackendPool
    let listenerName: String
    let statistics: ListenerStatistics
    let logger: Logger
    /// Above this many queued bytes toward one side, the other side is not read until it drains.
    let highWaterBytes: Int
    let guardRuntime: GuardRuntime
    /// The listener's per-connection limits, resolved to what the relay checks.
    let limits: ConnectionGuardSettings
    /// Every relayed connection of the process, for `show conns` and `kick`.
    let sessions: SessionTable
    /// Set on a `mode = "mux"` listener: its sessions share the backend's persistent connections.
    let mux: MuxContext?
    /// `backend_connect = "first_data"`: a session connects to the backend only once the
    /// client's first bytes have passed SysGuard.
    let connectsOnFirstData: Bool
    /// Out of fds or memory after accept: the listener pauses at its next turn.
    let exhaustion: ExhaustionNotice

    init(engine: Engine, pool: BufferPool, backend: BackendPool, listenerName: String,
         statistics: ListenerStatistics, logger: Logger, highWaterBytes: Int,
         guardRuntime: GuardRuntime, limits: ConnectionGuardSettings, sessions: SessionTable, mux: MuxContext? = nil,
         connectsOnFirstData: Bool = false, exhaustion: ExhaustionNotice = ExhaustionNotice()) {
        self.exhaustion = exhaustion
        self.mux = mux
        self.connectsOnFirstData = connectsOnFirstData
        self.engine = engine
        self.pool = pool
        self.backend = backend
        self.listenerName = listenerName
        self.statistics = statistics
        self.logger = logger
        self.highWaterBytes = highWaterBytes
        self.guardRuntime = guardRuntime
        self.limits = limits
        self.sessions = sessions
    }

    /// The same context with other per-connection limits (a live limit change).
    func with(limits: ConnectionGuardSettings) -> RelayContext {
        RelayContext(engine: engine, pool: pool, backend: backend, listenerName: listenerName, statistics: statistics,
                     logger: logger, highWaterBytes: highWaterBytes, guardRuntime: guardRuntime, limits: limits,
                     sessions: sessions, mux: mux, connectsOnFirstData: connectsOnFirstData,
                     exhaustion: exhaustion)
    }
}
