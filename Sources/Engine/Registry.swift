import BulwarkSys

/// Slot table: registration -> handler. Guarded by a short mutex (resolve is one array read and
/// a retain). A freed slot's generation is bumped so late events for it no longer resolve.
final class Registry: @unchecked Sendable {  // @unchecked: `table` is only touched while holding `lock`
    private struct Table {
        var handlers: [(any EventHandler)?] = []
        var generations: [UInt32] = []
        var freeSlots: [UInt32] = []
        var liveCount = 0
    }

    private let lock = PthreadLock()
    private var table = Table()

    func add(_ handler: any EventHandler) -> Registration {
        lock.withLock {
            table.liveCount += 1
            if let slot = table.freeSlots.popLast() {
                table.handlers[Int(slot)] = handler
                return Registration(slot: slot, generation: table.generations[Int(slot)])
            }
            let slot = UInt32(table.handlers.count)
            table.handlers.append(handler)
            table.generations.append(0)
            return Registration(slot: slot, generation: 0)
        }
    }

    /// Frees the slot if `registration` still owns it; returns whether it did.
    @discardableResult
    func remove(_ registration: Registration) -> Bool {
        lock.withLock {
            let index = Int(registration.slot)
            guard index < table.handlers.count, table.generations[index] == registration.generation,
                  table.handlers[index] != nil else { return false }
            table.handlers[index] = nil
            table.generations[index] = (table.generations[index] &+ 1) & Registration.generationMask
            table.freeSlots.append(registration.slot)
            table.liveCount -= 1
            return true
        }
    }

    @inline(__always)
    func resolve(_ registration: Registration) -> (any EventHandler)? {
        lock.withLock {
            let index = Int(registration.slot)
            guard index < table.handlers.count, table.generations[index] == registration.generation else { return nil }
            return table.handlers[index]
        }
    }

    var liveCount: Int { lock.withLock { table.liveCount } }

    /// Every live handler (used once the threads are gone, to close what is left).
    func allHandlers() -> [any EventHandler] {
        lock.withLock { table.handlers.compactMap { $0 } }
    }
}
