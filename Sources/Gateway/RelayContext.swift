import Buffers
import Engine
import Logging

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

    init(engine: Engine, pool: BufferPool, backend: BackendPool, listenerName: String,
         statistics: ListenerStatistics, logger: Logger, highWaterBytes: Int) {
        self.engine = engine
        self.pool = pool
        self.backend = backend
        self.listenerName = listenerName
        self.statistics = statistics
        self.logger = logger
        self.highWaterBytes = highWaterBytes
    }
}
