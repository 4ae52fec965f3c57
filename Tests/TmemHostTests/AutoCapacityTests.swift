import Testing
import Tmem
import TmemTestKit
@testable import TmemHost

/// The automatic capacity: follows MemAvailable with a reserve, gives memory back under pressure, keeps a
/// floor, and moves only by more than its hysteresis.
struct AutoCapacityTests {
    let tuning = AutoCapacityTuning()  // reserve 5% (at least 256 MiB), pressure 10, release 10%, hysteresis 5%
    let total = 16 << 30

    @Test func followsAvailableMemoryBeyondTheReserve() {
        let reserve = total / 100 * 5
        let memory = MemorySnapshot(totalBytes: total, availableBytes: 4 << 30)
        let held = 1 << 30
        let first = AutoCapacity.evaluate(current: 0, held: held, memory: memory, floor: 0, tuning: tuning)
        #expect(first == held + (4 << 30) - reserve)
        // Less available memory: the capacity falls by as much.
        let tighter = MemorySnapshot(totalBytes: total, availableBytes: 2 << 30)
        #expect(AutoCapacity.evaluate(current: first, held: held, memory: tighter, floor: 0, tuning: tuning)
            == held + (2 << 30) - reserve)
        // Below the reserve: below what is held (the host must give back).
        let short = MemorySnapshot(totalBytes: total, availableBytes: reserve - (512 << 20))
        #expect(AutoCapacity.evaluate(current: first, held: held, memory: short, floor: 0, tuning: tuning)
            == held - (512 << 20))
    }

    @Test func aSmallMachineKeepsTheMinimumReserve() {
        let memory = MemorySnapshot(totalBytes: 1 << 30, availableBytes: 512 << 20)
        #expect(AutoCapacity.evaluate(current: 0, held: 0, memory: memory, floor: 0, tuning: tuning) == 256 << 20)
    }

    @Test func pressureGivesMemoryBackEvenWithMemoryAvailable() {
        let held = 2 << 30
        let calm = MemorySnapshot(totalBytes: total, availableBytes: 8 << 30, pressureSomeAvg10: 9.9)
        #expect(AutoCapacity.evaluate(current: 0, held: held, memory: calm, floor: 0, tuning: tuning) > held)
        let pressed = MemorySnapshot(totalBytes: total, availableBytes: 8 << 30, pressureSomeAvg10: 25)
        let next = AutoCapacity.evaluate(current: 8 << 30, held: held, memory: pressed, floor: 0, tuning: tuning)
        #expect(next == held - held / 100 * 10)
    }

    @Test func neverBelowTheFloorNorAboveRAM() {
        let starved = MemorySnapshot(totalBytes: total, availableBytes: 0, pressureSomeAvg10: 80)
        #expect(AutoCapacity.evaluate(current: 0, held: 0, memory: starved, floor: 128 << 20, tuning: tuning) == 128 << 20)
        let lavish = MemorySnapshot(totalBytes: 1 << 30, availableBytes: 1 << 30)
        #expect(AutoCapacity.evaluate(current: 0, held: 1 << 30, memory: lavish, floor: 0, tuning: tuning) == 1 << 30)
    }

    @Test func smallChangesAreIgnored() {
        let current = 4 << 30
        let held = 1 << 30
        let reserve = total / 100 * 5
        // A target 3% away: kept; 6% away: taken.
        let near = MemorySnapshot(totalBytes: total, availableBytes: current - held + reserve + current / 100 * 3)
        #expect(AutoCapacity.evaluate(current: current, held: held, memory: near, floor: 0, tuning: tuning) == current)
        let far = MemorySnapshot(totalBytes: total, availableBytes: current - held + reserve - current / 100 * 6)
        #expect(AutoCapacity.evaluate(current: current, held: held, memory: far, floor: 0, tuning: tuning)
            == current - current / 100 * 6)
    }

    @Test func theHostReevaluatesOnEveryTick() throws {
        let machine = ManualMemory(total: 16 << 30, available: 4 << 30)
        let host = try Host(configuration: HostConfiguration(capacity: .auto(floorBytes: 64 << 20)), memory: machine.probe)
        let reserve = (16 << 30) / 100 * 5
        #expect(host.capacityBytes == (4 << 30) - reserve)
        machine.set(available: 2 << 30)
        _ = host.tick(nowNanoseconds: 1)
        #expect(host.capacityBytes == (2 << 30) - reserve)
        machine.set(pressure: 50)
        _ = host.tick(nowNanoseconds: 2)
        #expect(host.capacityBytes == 64 << 20, "under pressure an empty host falls to its floor")
        try host.setCapacity(.bytes(1 << 20))
        machine.set(available: 8 << 30, pressure: .some(nil))
        _ = host.tick(nowNanoseconds: 3)
        #expect(host.capacityBytes == 1 << 20, "a fixed capacity does not follow the machine")
    }

    @Test func percentOfRAMAndUnreadableMemory() throws {
        let host = try Host(configuration: HostConfiguration(capacity: .percentOfRAM(25)), memory: ManualMemory(total: 8 << 30).probe)
        #expect(host.capacityBytes == 2 << 30)
        let blind = MemoryProbe { nil }
        let error = #expect(throws: HostError.self) {
            try Host(configuration: HostConfiguration(capacity: .auto(floorBytes: 0)), memory: blind)
        }
        #expect(error?.isMemoryUnavailable == true)
        #expect(throws: HostError.self) { try Host(configuration: HostConfiguration(capacity: .percentOfRAM(0)), memory: blind) }
        #expect(throws: HostError.self) { try host.setCapacity(.bytes(-1)) }
    }
}
