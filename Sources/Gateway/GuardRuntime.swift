import BulwarkSys
import Config
import Logging
import Synchronization
import SysGuard

/// The process-wide side of SysGuard: the connection count, the per-IP table, the state of the
/// sampled guards, the counters, and admission of each accepted connection. The decisions
/// themselves are SysGuard's pure types; this class holds their state between calls.
public final class GuardRuntime: @unchecked Sendable {  // @unchecked: the vars are only touched while holding `lock`; the rest is immutable or atomic
    public let counters = GuardCounters()
    let logger: Logger
    /// Admitted connections plus admissions being decided: what the limit is checked against,
    /// so two listeners admitting at once cannot both take the last place.
    private let connectionCount = Atomic<Int>(0)
    /// Admitted connections only: what is reported (a refusal in progress is not an open one).
    private let openCount = Atomic<Int>(0)
    private let pressureBits = Atomic<UInt8>(0)
    private let lock = PthreadLock()
    private var addressTable: PerAddressTable
    private var sampled: SampledGuards
    private var lastLoad: Double?
    private var lastMemory: MemoryInfo?
    private var currentConfig: GuardConfig
    private var denyList: SysGuard.AddressList
    private var allowList: SysGuard.AddressList
    private let refusalLog = RateLimitedLog()
    /// Closes by a limit, logged at most once a second.
    let closeLog = RateLimitedLog()
    private let sampleFailureLog = RateLimitedLog()

    public init(config: GuardConfig, logger: Logger) {
        currentConfig = config
        self.logger = logger
        addressTable = PerAddressTable(capacity: config.perIPTableSize, maxPerAddress: max(1, config.maxConnectionsPerIP),
                                       prefixV4: config.perIPPrefixV4, prefixV6: config.perIPPrefixV6)
        sampled = Self.sampledGuards(config)
        denyList = Self.addressList(config.deny)
        allowList = Self.addressList(config.allow)
    }

    /// The limits in force: the file's, with any `set guard` changes.
    public var config: GuardConfig { lock.withLock { currentConfig } }

    /// A live change of the limits (`set guard`, a reload): admission uses them from the next
    /// accept. The sampled guards start over on the new marks and are judged at once on the
    /// last readings; per-IP counts and the readings themselves carry over.
    func update(to config: GuardConfig) {
        let (before, after) = lock.withLock {
            currentConfig = config
            addressTable.setMaxPerAddress(max(1, config.maxConnectionsPerIP))
            denyList = Self.addressList(config.deny)
            allowList = Self.addressList(config.allow)
            let before = sampled.pressure
            sampled = Self.sampledGuards(config)
            return (before, sampled.update(loadAverage: lastLoad, memory: lastMemory))
        }
        publish(before: before, after: after, loadAverage: nil, memory: nil)
    }

    private static func sampledGuards(_ config: GuardConfig) -> SampledGuards {
        SampledGuards(
            load: config.load.flatMap { HysteresisGuard(tripAbove: $0.trip, clearBelow: $0.clear) },
            memoryUsedPercent: config.memoryUsedPercent.flatMap { HysteresisGuard(tripAbove: $0.trip, clearBelow: $0.clear) },
            memoryAvailableBytes: config.memoryAvailableBytes.flatMap { HysteresisGuard(tripBelow: $0.trip, clearAbove: $0.clear) },
            swapUsedPercent: config.swapUsedPercent.flatMap { HysteresisGuard(tripAbove: $0.trip, clearBelow: $0.clear) })
    }

    private static func addressList(_ prefixes: [Config.AddressPrefix]) -> SysGuard.AddressList {
        SysGuard.AddressList(prefixes.compactMap { SysGuard.AddressPrefix(bytes: $0.bytes, length: $0.length) })
    }

    /// The admission policy of one listener (its own cap plus the process-wide limits), under
    /// the limits in force now.
    func policy(listenerMaxConnections: Int) -> AdmissionPolicy {
        let (config, lists): (GuardConfig, (deny: SysGuard.AddressList, allow: SysGuard.AddressList)) =
            lock.withLock { (currentConfig, (deny: denyList, allow: allowList)) }
        return AdmissionPolicy(
            denyList: lists.deny, denyListMode: .enforce, allowList: lists.allow,
            global: config.maxConnections > 0
                ? ConnectionLimit(maxConnections: config.maxConnections, mode: config.mode(.maxConnections, configured: true)) : nil,
            listener: listenerMaxConnections > 0
                ? ConnectionLimit(maxConnections: listenerMaxConnections, mode: config.mode(.listenerMaxConnections, configured: true)) : nil,
            loadMode: config.mode(.load, configured: config.load != nil),
            memoryMode: config.mode(.memory, configured: config.memoryUsedPercent != nil),
            memoryAvailableMode: config.mode(.memory, configured: config.memoryAvailableBytes != nil),
            swapMode: config.mode(.swap, configured: config.swapUsedPercent != nil),
            perIPMode: config.mode(.perIP, configured: config.maxConnectionsPerIP > 0))
    }

    /// Client connections open in the whole process.
    public var connections: Int { openCount.load(ordering: .relaxed) }

    /// Decides on a connection just accepted. An admitted connection is counted (release it with
    /// `release`); a refused one is counted by reason and logged at most once a second.
    func admit(_ address: AddressKey, listenerConnections: Int, policy: AdmissionPolicy,
               listenerName: String, peer: SocketAddress) -> AdmissionVerdict {
        // Count first, so two listeners admitting at once cannot both take the last place.
        let globalBefore = connectionCount.add(1, ordering: .relaxed).newValue - 1
        let request = AdmissionRequest(address: address, globalConnections: globalBefore,
                                       listenerConnections: listenerConnections, pressure: pressure)
        let decision = lock.withLock { policy.decide(request, perAddressTable: &addressTable) }
        counters.countWouldRefuse(decision.wouldRefuse)
        if case .refuse(let reason) = decision.verdict {
            connectionCount.subtract(1, ordering: .relaxed)
            counters.countRefusal(reason)
            refusalLog.log(logger, level: .warning,
                "listener \(listenerName): refused \(peer): \(reason.rawValue)")
        } else {
            openCount.add(1, ordering: .relaxed)
        }
        return decision.verdict
    }

    /// A connection admitted by `admit` has closed.
    func release(_ address: AddressKey, holdsAddressSlot: Bool) {
        openCount.subtract(1, ordering: .relaxed)
        connectionCount.subtract(1, ordering: .relaxed)
        if holdsAddressSlot { lock.withLock { _ = addressTable.release(address) } }
    }

    /// Connections counted for `address` (or its prefix) in the per-IP table.
    public func connections(from address: SocketAddress) -> Int {
        guard let key = address.withAddressBytes({ AddressKey(addressBytes: $0) }) else { return 0 }
        return lock.withLock { addressTable.count(for: key) }
    }

    /// The addresses (or prefixes) with the most connections, most first.
    public func topAddresses(_ limit: Int) -> [AddressCount] {
        let all = lock.withLock { addressTable.allCounts }  // copied under the lock, sorted outside it
        return Array(all.sorted { $0.count != $1.count ? $0.count > $1.count : $0.key < $1.key }.prefix(limit))
    }

    /// Addresses (or prefixes) in the per-IP table.
    public var trackedAddresses: Int { lock.withLock { addressTable.entryCount } }

    /// The last good readings of the sampled guards (nil before the first, or when not sampled).
    public var lastReadings: (loadAverage: Double?, memory: MemoryInfo?) { lock.withLock { (lastLoad, lastMemory) } }

    // MARK: sampled guards

    public var pressure: SystemPressure {
        let bits = pressureBits.load(ordering: .relaxed)
        return SystemPressure(loadTripped: bits & 1 != 0, memoryTripped: bits & 2 != 0,
                              memoryAvailableTripped: bits & 4 != 0, swapTripped: bits & 8 != 0)
    }

    /// Whether any sampled guard is configured (otherwise nothing is read from /proc).
    var samplesSystem: Bool { config.samplesSystem }

    /// Reads /proc (or the configured paths) once and updates the sampled guards. A file that
    /// cannot be read or parsed is logged and counted; the last good reading stands.
    public func sample() {
        let config = self.config
        var loadAverage: Double?
        if config.load != nil {
            loadAverage = (try? Files.readText(config.loadavgPath)).flatMap(LoadAverage.parse)
            if loadAverage == nil { sampleFailed(config.loadavgPath) }
        }
        var memory: MemoryInfo?
        if config.memoryUsedPercent != nil || config.memoryAvailableBytes != nil || config.swapUsedPercent != nil {
            memory = (try? Files.readText(config.meminfoPath)).flatMap(MemoryInfo.parse)
            if memory == nil { sampleFailed(config.meminfoPath) }
        }
        let (before, after) = lock.withLock {
            if let loadAverage { lastLoad = loadAverage }
            if let memory { lastMemory = memory }
            let before = sampled.pressure
            return (before, sampled.update(loadAverage: loadAverage, memory: memory))
        }
        publish(before: before, after: after, loadAverage: loadAverage, memory: memory)
    }

    /// Makes the sampled guards' state visible to admission, and logs each change of state.
    private func publish(before: SystemPressure, after: SystemPressure, loadAverage: Double?, memory: MemoryInfo?) {
        let bits: UInt8 = (after.loadTripped ? 1 : 0) | (after.memoryTripped ? 2 : 0)
            | (after.memoryAvailableTripped ? 4 : 0) | (after.swapTripped ? 8 : 0)
        pressureBits.store(bits, ordering: .relaxed)
        logTransition("load", before.loadTripped, after.loadTripped, reading: loadAverage.map { "1-minute load \($0)" })
        logTransition("memory", before.memoryTripped, after.memoryTripped, reading: memory.map { "memory used \(Int($0.usedPercent))%" })
        logTransition("memory_available", before.memoryAvailableTripped, after.memoryAvailableTripped,
                      reading: memory.map { "MemAvailable \($0.availableBytes / 1_048_576) MiB" })
        logTransition("swap", before.swapTripped, after.swapTripped, reading: memory.map { "swap used \(Int($0.swapUsedPercent))%" })
    }

    /// Sampling failures, counted for the stats socket.
    public let sampleFailures = Atomic<Int>(0)

    private func sampleFailed(_ path: String) {
        sampleFailures.add(1, ordering: .relaxed)
        sampleFailureLog.log(logger, level: .error, "guard: cannot read or parse \(path); keeping the last good reading")
    }

    private func logTransition(_ name: String, _ before: Bool, _ after: Bool, reading: String?) {
        guard before != after else { return }
        let detail = reading.map { " (\($0))" } ?? ""
        if after {
            logger.warning("guard \(name) tripped\(detail): refusing new connections")
        } else {
            logger.notice("guard \(name) cleared\(detail): accepting new connections")
        }
    }
}

extension GuardConfig {
    /// Whether any sampled guard is configured (otherwise nothing is read from /proc).
    var samplesSystem: Bool {
        load != nil || memoryUsedPercent != nil || memoryAvailableBytes != nil || swapUsedPercent != nil
    }
}
