/// A guard over a sampled reading (load, memory used %, MemAvailable) that trips past one mark
/// and clears only past a second, further mark, so a reading hovering near the limit does not
/// flap between refusing and admitting.
public struct HysteresisGuard: Equatable, Sendable {
    public enum Direction: Equatable, Sendable {
        /// Trips when the reading rises above the trip mark (load, used %).
        case tripsAbove
        /// Trips when the reading falls below the trip mark (available bytes).
        case tripsBelow
    }

    public let direction: Direction
    public let tripMark: Double
    public let clearMark: Double
    public private(set) var isTripped = false

    /// Trips when a reading is above `tripAbove`; clears when one is below `clearBelow`.
    /// Nil unless `clearBelow <= tripAbove` and both are finite.
    public init?(tripAbove: Double, clearBelow: Double) {
        guard tripAbove.isFinite, clearBelow.isFinite, clearBelow <= tripAbove else { return nil }
        direction = .tripsAbove
        tripMark = tripAbove
        clearMark = clearBelow
    }

    /// Trips when a reading is below `tripBelow`; clears when one is above `clearAbove`.
    /// Nil unless `clearAbove >= tripBelow` and both are finite.
    public init?(tripBelow: Double, clearAbove: Double) {
        guard tripBelow.isFinite, clearAbove.isFinite, clearAbove >= tripBelow else { return nil }
        direction = .tripsBelow
        tripMark = tripBelow
        clearMark = clearAbove
    }

    /// Takes a new reading and returns whether the guard is tripped. A reading between the
    /// marks, or one that is not a number, leaves the state as it was.
    @discardableResult
    public mutating func update(_ reading: Double) -> Bool {
        switch direction {
        case .tripsAbove:
            if reading > tripMark {
                isTripped = true
            } else if reading < clearMark {
                isTripped = false
            }
        case .tripsBelow:
            if reading < tripMark {
                isTripped = true
            } else if reading > clearMark {
                isTripped = false
            }
        }
        return isTripped
    }
}
