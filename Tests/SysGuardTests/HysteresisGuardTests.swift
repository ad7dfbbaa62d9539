import SysGuard
import Testing

@Suite("HysteresisGuard and SampledGuards")
struct HysteresisGuardTests {
    @Test func marksAreValidated() {
        #expect(HysteresisGuard(tripAbove: 70, clearBelow: 80) == nil)
        #expect(HysteresisGuard(tripAbove: .nan, clearBelow: 1) == nil)
        #expect(HysteresisGuard(tripAbove: .infinity, clearBelow: 1) == nil)
        #expect(HysteresisGuard(tripBelow: 200, clearAbove: 100) == nil)
        #expect(HysteresisGuard(tripAbove: 5, clearBelow: 5) != nil)
        #expect(HysteresisGuard(tripBelow: 5, clearAbove: 5) != nil)
    }

    @Test func tripsAboveAndClearsOnlyBelowTheLowerMark() throws {
        var guardState = try #require(HysteresisGuard(tripAbove: 80, clearBelow: 70))
        let readings: [Double] = [75, 80, 80.1, 75, 79, 70, 71, 85, 72, 69.9, 75, 79.9, 80]
        let states = readings.map { guardState.update($0) }
        #expect(states == [false, false, true, true, true, true, true, true, true, false, false, false, false])
    }

    @Test func oscillatingBetweenTheMarksDoesNotFlap() throws {
        var guardState = try #require(HysteresisGuard(tripAbove: 4.0, clearBelow: 3.0))
        guardState.update(4.5)
        var changes = 0
        var previous = guardState.isTripped
        for step in 0..<1_000 {
            let reading = step.isMultiple(of: 2) ? 3.01 : 3.99
            if guardState.update(reading) != previous { changes += 1 }
            previous = guardState.isTripped
        }
        #expect(changes == 0)
        #expect(guardState.isTripped == true)
    }

    @Test func tripsBelowForAvailableMemory() throws {
        var guardState = try #require(HysteresisGuard(tripBelow: 100, clearAbove: 200))
        let states = [150.0, 99, 150, 200, 201, 150, 100].map { guardState.update($0) }
        #expect(states == [false, true, true, true, false, false, false])
    }

    @Test func notANumberLeavesTheStateAlone() throws {
        var guardState = try #require(HysteresisGuard(tripAbove: 1, clearBelow: 0.5))
        guardState.update(2)
        #expect(guardState.update(.nan) == true)
        guardState.update(0)
        #expect(guardState.update(.nan) == false)
    }

    @Test func sampledGuardsKeepTheLastStateWhenAReadingIsMissing() throws {
        var guards = SampledGuards(load: HysteresisGuard(tripAbove: 8, clearBelow: 6),
                                   memoryUsedPercent: HysteresisGuard(tripAbove: 90, clearBelow: 85),
                                   memoryAvailableBytes: HysteresisGuard(tripBelow: 1_000, clearAbove: 2_000),
                                   swapUsedPercent: HysteresisGuard(tripAbove: 50, clearBelow: 40))
        let pressed = MemoryInfo(totalBytes: 10_000, availableBytes: 500, swapTotalBytes: 100, swapFreeBytes: 20)
        #expect(guards.update(loadAverage: 9, memory: pressed)
            == SystemPressure(loadTripped: true, memoryTripped: true, memoryAvailableTripped: true, swapTripped: true))
        #expect(guards.update(loadAverage: nil, memory: nil) == guards.pressure)
        #expect(guards.pressure.loadTripped == true)
        let relaxed = MemoryInfo(totalBytes: 10_000, availableBytes: 9_000, swapTotalBytes: 0, swapFreeBytes: 0)
        #expect(guards.update(loadAverage: nil, memory: relaxed)
            == SystemPressure(loadTripped: true, memoryTripped: false, memoryAvailableTripped: false, swapTripped: false))
        #expect(guards.update(loadAverage: 5.9, memory: nil) == .calm)
    }

    @Test func unconfiguredGuardsNeverTrip() {
        var guards = SampledGuards()
        let full = MemoryInfo(totalBytes: 1, availableBytes: 0, swapTotalBytes: 1, swapFreeBytes: 0)
        #expect(guards.update(loadAverage: 1_000, memory: full) == .calm)
    }
}
