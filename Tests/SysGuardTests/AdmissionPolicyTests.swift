import SysGuard
import Testing

@Suite("AdmissionPolicy: order and dry run")
struct AdmissionPolicyTests {
    static let client = Address.v4("203.0.113.5")
    static let clientList = AddressList([Address.prefix([203, 0, 113, 0], 24)])

    static func request(global: Int = 0, listener: Int = 0, pressure: SystemPressure = .calm,
                        address: AddressKey = client) -> AdmissionRequest {
        AdmissionRequest(address: address, globalConnections: global, listenerConnections: listener, pressure: pressure)
    }

    static let everything = SystemPressure(loadTripped: true, memoryTripped: true, memoryAvailableTripped: true,
                                           swapTripped: true)

    @Test func admitsWhenNothingObjects() {
        var table = PerAddressTable(capacity: 10, maxPerAddress: 1)
        let decision = AdmissionPolicy(perIPMode: .enforce).decide(Self.request(), perAddressTable: &table)
        #expect(decision == AdmissionDecision(verdict: .admit(bypassLimits: false, holdsAddressSlot: true)))
        #expect(table.count(for: Self.client) == 1)
    }

    @Test func denyListComesFirstEvenBeforeTheAllowList() {
        var table = PerAddressTable(capacity: 10, maxPerAddress: 1)
        let policy = AdmissionPolicy(denyList: Self.clientList, allowList: Self.clientList, perIPMode: .enforce)
        #expect(policy.decide(Self.request(), perAddressTable: &table).verdict == .refuse(.denyList))
        #expect(table.entryCount == 0)
    }

    @Test func allowListBypassesPerIPButNotTheConnectionCaps() {
        var table = PerAddressTable(capacity: 10, maxPerAddress: 1)
        _ = table.acquire(Self.client)
        let policy = AdmissionPolicy(allowList: Self.clientList, global: ConnectionLimit(maxConnections: 10),
                                     perIPMode: .enforce)
        let admitted = policy.decide(Self.request(global: 9), perAddressTable: &table)
        #expect(admitted.verdict == .admit(bypassLimits: true, holdsAddressSlot: false))
        #expect(table.count(for: Self.client) == 1)
        #expect(policy.decide(Self.request(global: 10), perAddressTable: &table).verdict == .refuse(.maxConnections))
        let pressed = policy.decide(Self.request(pressure: Self.everything), perAddressTable: &table)
        #expect(pressed.verdict == .refuse(.load))
    }

    @Test func globalThenListenerCaps() {
        var table = PerAddressTable(capacity: 10, maxPerAddress: 5)
        let policy = AdmissionPolicy(global: ConnectionLimit(maxConnections: 100),
                                     listener: ConnectionLimit(maxConnections: 10))
        #expect(policy.decide(Self.request(global: 99, listener: 9), perAddressTable: &table).verdict
            == .admit(bypassLimits: false, holdsAddressSlot: false))
        #expect(policy.decide(Self.request(global: 100, listener: 10), perAddressTable: &table).verdict
            == .refuse(.maxConnections))
        #expect(policy.decide(Self.request(global: 99, listener: 10), perAddressTable: &table).verdict
            == .refuse(.listenerMaxConnections))
    }

    @Test(arguments: [
        (SystemPressure(loadTripped: true, memoryTripped: true, memoryAvailableTripped: true, swapTripped: true), RefusalReason.load),
        (SystemPressure(memoryTripped: true, swapTripped: true), .memory),
        (SystemPressure(memoryAvailableTripped: true, swapTripped: true), .memoryAvailable),
        (SystemPressure(swapTripped: true), .swap),
    ])
    func sampledGuardsInOrder(pressure: SystemPressure, reason: RefusalReason) {
        var table = PerAddressTable(capacity: 10, maxPerAddress: 5)
        let policy = AdmissionPolicy(listener: ConnectionLimit(maxConnections: 10), perIPMode: .enforce)
        #expect(policy.decide(Self.request(pressure: pressure), perAddressTable: &table).verdict == .refuse(reason))
        #expect(table.entryCount == 0)
        #expect(policy.decide(Self.request(listener: 10, pressure: pressure), perAddressTable: &table).verdict
            == .refuse(.listenerMaxConnections))
    }

    @Test func perIPIsLastAndLeavesTheTableUnchangedOnRefusal() {
        var table = PerAddressTable(capacity: 10, maxPerAddress: 2)
        let policy = AdmissionPolicy(perIPMode: .enforce)
        for _ in 0..<2 {
            #expect(policy.decide(Self.request(), perAddressTable: &table).verdict
                == .admit(bypassLimits: false, holdsAddressSlot: true))
        }
        #expect(policy.decide(Self.request(), perAddressTable: &table).verdict == .refuse(.perIP))
        #expect(table.count(for: Self.client) == 2)
    }

    @Test func tableFullRefusesOrIsCountedInDryRun() {
        var table = PerAddressTable(capacity: 1, maxPerAddress: 2)
        _ = table.acquire(Address.v4("1.1.1.1"))
        #expect(AdmissionPolicy(perIPMode: .enforce).decide(Self.request(), perAddressTable: &table).verdict
            == .refuse(.perIPTableFull))
        let dry = AdmissionPolicy(perIPMode: .dryRun).decide(Self.request(), perAddressTable: &table)
        #expect(dry == AdmissionDecision(verdict: .admit(bypassLimits: false, holdsAddressSlot: false),
                                         wouldRefuse: [RefusalReasons(.perIPTableFull)]))
    }

    @Test func offLimitsAreIgnored() {
        var table = PerAddressTable(capacity: 10, maxPerAddress: 0)
        let policy = AdmissionPolicy(denyList: Self.clientList, denyListMode: .off,
                                     global: ConnectionLimit(maxConnections: 1, mode: .off), loadMode: .off,
                                     memoryMode: .off, memoryAvailableMode: .off, swapMode: .off, perIPMode: .off)
        let decision = policy.decide(Self.request(global: 50, pressure: Self.everything), perAddressTable: &table)
        #expect(decision == AdmissionDecision(verdict: .admit(bypassLimits: false, holdsAddressSlot: false)))
        #expect(table.entryCount == 0)
    }

    @Test func dryRunAdmitsAndReportsEveryLimitThatWouldRefuse() {
        var table = PerAddressTable(capacity: 10, maxPerAddress: 1)
        _ = table.acquire(Self.client)
        let policy = AdmissionPolicy(denyList: Self.clientList, denyListMode: .dryRun,
                                     global: ConnectionLimit(maxConnections: 1, mode: .dryRun),
                                     listener: ConnectionLimit(maxConnections: 1, mode: .dryRun),
                                     loadMode: .dryRun, memoryMode: .dryRun, memoryAvailableMode: .dryRun,
                                     swapMode: .dryRun, perIPMode: .dryRun)
        let decision = policy.decide(Self.request(global: 5, listener: 5, pressure: Self.everything), perAddressTable: &table)
        #expect(decision.verdict == .admit(bypassLimits: false, holdsAddressSlot: true))
        #expect(decision.wouldRefuse.reasons == RefusalReason.allCases.filter { $0 != .perIPTableFull })
        // The dry-run connection is counted, so the table keeps telling the truth.
        #expect(table.count(for: Self.client) == 2)
    }

    @Test func anEnforcedRefusalStillReportsEarlierDryRuns() {
        var table = PerAddressTable(capacity: 10, maxPerAddress: 1)
        let policy = AdmissionPolicy(global: ConnectionLimit(maxConnections: 1, mode: .dryRun), perIPMode: .enforce)
        let decision = policy.decide(Self.request(global: 3, pressure: SystemPressure(swapTripped: true)),
                                     perAddressTable: &table)
        #expect(decision == AdmissionDecision(verdict: .refuse(.swap), wouldRefuse: [RefusalReasons(.maxConnections)]))
        #expect(table.entryCount == 0)
    }

    @Test func dryRunPerIPWithinTheLimitReportsNothing() {
        var table = PerAddressTable(capacity: 10, maxPerAddress: 1)
        let decision = AdmissionPolicy(perIPMode: .dryRun).decide(Self.request(), perAddressTable: &table)
        #expect(decision == AdmissionDecision(verdict: .admit(bypassLimits: false, holdsAddressSlot: true)))
    }
}

@Suite("Reasons keep their stats order")
struct ReasonTests {
    @Test func refusalReasons() {
        #expect(RefusalReason.allCases.map(\.rawValue) == [
            "deny_list", "max_connections", "listener_max_connections", "per_ip", "load", "memory", "swap",
            "memory_available", "per_ip_table_full",
        ])
    }

    @Test func closeReasons() {
        #expect(CloseReason.allCases.map(\.rawValue) == [
            "idle_timeout", "frame_timeout", "packet_rate", "byte_rate", "frame_too_large", "receive_buffer", "send_buffer",
            "kicked",
        ])
    }

    @Test func reasonSetHoldsEachReasonInItsOwnBit() {
        var set = RefusalReasons()
        for reason in RefusalReason.allCases {
            #expect(set.contains(reason) == false)
            set.insert(reason)
            #expect(set.contains(reason) == true)
        }
        #expect(set.rawValue == (1 << RefusalReason.allCases.count) - 1)
        #expect(set.reasons == RefusalReason.allCases)
        #expect(RefusalReasons([RefusalReasons(.swap), RefusalReasons(.denyList)]).reasons == [.denyList, .swap])
    }
}
