/// A cap on open connections and how it acts.
public struct ConnectionLimit: Equatable, Sendable {
    public var maxConnections: Int
    public var mode: LimitMode

    public init(maxConnections: Int, mode: LimitMode = .enforce) {
        self.maxConnections = maxConnections
        self.mode = mode
    }
}

/// What admission knows about a connection just accepted.
public struct AdmissionRequest: Equatable, Sendable {
    public var address: AddressKey
    /// Open connections, not counting this one.
    public var globalConnections: Int
    /// Open connections on this connection's listener, not counting this one.
    public var listenerConnections: Int
    public var pressure: SystemPressure

    public init(address: AddressKey, globalConnections: Int, listenerConnections: Int, pressure: SystemPressure = .calm) {
        self.address = address
        self.globalConnections = globalConnections
        self.listenerConnections = listenerConnections
        self.pressure = pressure
    }
}

public enum AdmissionVerdict: Equatable, Sendable {
    /// `bypassLimits`: allow-listed, so the relay skips the rate limits (per-IP was skipped here).
    /// `holdsAddressSlot`: counted in the per-IP table; release it there when the connection closes.
    case admit(bypassLimits: Bool, holdsAddressSlot: Bool)
    /// Close at once and count the reason.
    case refuse(RefusalReason)
}

public struct AdmissionDecision: Equatable, Sendable {
    public var verdict: AdmissionVerdict
    /// Dry-run limits that would have refused this connection: count them, nothing else.
    public var wouldRefuse: RefusalReasons

    public init(verdict: AdmissionVerdict, wouldRefuse: RefusalReasons = []) {
        self.verdict = verdict
        self.wouldRefuse = wouldRefuse
    }
}

/// Decides, for a new connection, in this order: deny list; allow list (admits past the per-IP
/// and rate limits, not past the others); the global connection cap; the listener's cap; the
/// sampled guards (load, memory used, memory available, swap); connections per IP.
///
/// Pure but for the per-IP table it is handed: a connection that is admitted and not allow-listed
/// is counted there (the caller's lock covers it). An enforcing limit that refuses ends the
/// decision and leaves the table untouched; a dry-run limit that would refuse is noted in
/// `wouldRefuse` and the decision goes on as if it had passed.
public struct AdmissionPolicy: Sendable {
    public var denyList: AddressList
    public var denyListMode: LimitMode
    public var allowList: AddressList
    public var global: ConnectionLimit?
    public var listener: ConnectionLimit?
    public var loadMode: LimitMode
    public var memoryMode: LimitMode
    public var memoryAvailableMode: LimitMode
    public var swapMode: LimitMode
    public var perIPMode: LimitMode

    /// The sampled guards are tripped only when configured, so enforcing them by default is safe.
    public init(denyList: AddressList = AddressList([]), denyListMode: LimitMode = .enforce,
                allowList: AddressList = AddressList([]), global: ConnectionLimit? = nil,
                listener: ConnectionLimit? = nil, loadMode: LimitMode = .enforce, memoryMode: LimitMode = .enforce,
                memoryAvailableMode: LimitMode = .enforce, swapMode: LimitMode = .enforce, perIPMode: LimitMode = .off) {
        self.denyList = denyList
        self.denyListMode = denyListMode
        self.allowList = allowList
        self.global = global
        self.listener = listener
        self.loadMode = loadMode
        self.memoryMode = memoryMode
        self.memoryAvailableMode = memoryAvailableMode
        self.swapMode = swapMode
        self.perIPMode = perIPMode
    }

    public func decide(_ request: AdmissionRequest, perAddressTable: inout PerAddressTable) -> AdmissionDecision {
        var wouldRefuse = RefusalReasons()
        /// The enforced refusal, if `failing` under `mode`; a dry run only notes it.
        func refusal(_ failing: Bool, _ mode: LimitMode, _ reason: RefusalReason) -> RefusalReason? {
            guard failing else { return nil }
            switch mode {
            case .off: return nil
            case .enforce: return reason
            case .dryRun:
                wouldRefuse.insert(reason)
                return nil
            }
        }
        func refused(_ reason: RefusalReason) -> AdmissionDecision {
            AdmissionDecision(verdict: .refuse(reason), wouldRefuse: wouldRefuse)
        }

        if let reason = refusal(!denyList.isEmpty && denyList.contains(request.address), denyListMode, .denyList) {
            return refused(reason)
        }
        let allowListed = !allowList.isEmpty && allowList.contains(request.address)
        if let global, let reason = refusal(request.globalConnections >= global.maxConnections, global.mode,
                                             .maxConnections) {
            return refused(reason)
        }
        if let listener, let reason = refusal(request.listenerConnections >= listener.maxConnections, listener.mode,
                                               .listenerMaxConnections) {
            return refused(reason)
        }
        let pressure = request.pressure
        if let reason = refusal(pressure.loadTripped, loadMode, .load)
            ?? refusal(pressure.memoryTripped, memoryMode, .memory)
            ?? refusal(pressure.memoryAvailableTripped, memoryAvailableMode, .memoryAvailable)
            ?? refusal(pressure.swapTripped, swapMode, .swap) {
            return refused(reason)
        }
        guard !allowListed, perIPMode != .off else {
            return AdmissionDecision(verdict: .admit(bypassLimits: allowListed, holdsAddressSlot: false),
                                     wouldRefuse: wouldRefuse)
        }
        switch perAddressTable.acquire(request.address, enforcingLimit: perIPMode == .enforce) {
        case .acquired(let count):
            _ = refusal(count > perAddressTable.maxPerAddress, perIPMode, .perIP)
            return AdmissionDecision(verdict: .admit(bypassLimits: false, holdsAddressSlot: true), wouldRefuse: wouldRefuse)
        case .overLimit:
            return refused(.perIP)
        case .tableFull:
            if let reason = refusal(true, perIPMode, .perIPTableFull) { return refused(reason) }
            return AdmissionDecision(verdict: .admit(bypassLimits: false, holdsAddressSlot: false), wouldRefuse: wouldRefuse)
        }
    }
}
