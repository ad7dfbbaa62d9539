/// Which sampled guards are tripped right now: the input admission reads.
public struct SystemPressure: Equatable, Sendable {
    public var loadTripped: Bool
    /// Memory used % above its mark.
    public var memoryTripped: Bool
    /// MemAvailable below its mark.
    public var memoryAvailableTripped: Bool
    public var swapTripped: Bool

    public init(loadTripped: Bool = false, memoryTripped: Bool = false, memoryAvailableTripped: Bool = false,
                swapTripped: Bool = false) {
        self.loadTripped = loadTripped
        self.memoryTripped = memoryTripped
        self.memoryAvailableTripped = memoryAvailableTripped
        self.swapTripped = swapTripped
    }

    public static let calm = SystemPressure()
}

/// The guards fed from /proc on the sampling timer; an unconfigured guard is nil and never trips.
public struct SampledGuards: Equatable, Sendable {
    public var load: HysteresisGuard?
    public var memoryUsedPercent: HysteresisGuard?
    public var memoryAvailableBytes: HysteresisGuard?
    public var swapUsedPercent: HysteresisGuard?

    public init(load: HysteresisGuard? = nil, memoryUsedPercent: HysteresisGuard? = nil,
                memoryAvailableBytes: HysteresisGuard? = nil, swapUsedPercent: HysteresisGuard? = nil) {
        self.load = load
        self.memoryUsedPercent = memoryUsedPercent
        self.memoryAvailableBytes = memoryAvailableBytes
        self.swapUsedPercent = swapUsedPercent
    }

    /// Feeds one sample. A nil reading (the file could not be read or parsed) leaves the guards
    /// it feeds as they were: the last good reading stands.
    @discardableResult
    public mutating func update(loadAverage: Double?, memory: MemoryInfo?) -> SystemPressure {
        if let loadAverage { load?.update(loadAverage) }
        if let memory {
            memoryUsedPercent?.update(memory.usedPercent)
            memoryAvailableBytes?.update(Double(memory.availableBytes))
            swapUsedPercent?.update(memory.swapUsedPercent)
        }
        return pressure
    }

    public var pressure: SystemPressure {
        SystemPressure(loadTripped: load?.isTripped ?? false, memoryTripped: memoryUsedPercent?.isTripped ?? false,
                       memoryAvailableTripped: memoryAvailableBytes?.isTripped ?? false,
                       swapTripped: swapUsedPercent?.isTripped ?? false)
    }
}
