import Testing
import Tmem
import TmemTestKit

/// The backend contract (TmemTestKit's ``BackendContract``) on the reference backend, which is held to
/// exact page accounting: 4096 bytes of capacity per page, nothing else.
struct RAMPoolContractTests {
    let contract = BackendContract(name: "RAMPool", accounting: .exactPages) { RAMPool(capacity: $0) }

    @Test func roundTripsOfEveryPageKind() throws { try expectNone(contract.checkRoundTrips()) }

    @Test func usageAndChargesAddUp() throws { try expectNone(contract.checkAccounting()) }

    @Test func destroyedPoolNamesNothing() throws { try expectNone(contract.checkDestroyedPool()) }

    @Test func randomSequenceMatchesTheModel() throws { try expectNone(contract.checkAgainstModel(steps: 4000)) }

    @Test func ephemeralPagesAreDroppedBeforePersistentPutsAreRefused() throws {
        try expectNone(contract.checkEphemeralPagesGoFirst())
    }

    @Test func persistentPagesAreNeverDropped() throws { try expectNone(contract.checkPersistentPagesStay()) }

    @Test func capacityChangesDropEphemeralPagesOnly() throws { try expectNone(contract.checkCapacityChanges()) }

    @Test(arguments: PoolKind.allCases)
    func flushObjectWinsOverRacingPuts(kind: PoolKind) throws {
        try expectNone(contract.checkFlushObjectRaces(kind, rounds: 12))
    }

    @Test func poolIDsSurviveTenThousandLifetimes() throws { try expectNone(contract.checkPoolIDs(cycles: 10_000)) }

    @Test func batchesAgreeWithSingleOperations() throws { try expectNone(contract.checkBatches()) }
}

private func expectNone(_ violations: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))", sourceLocation: sourceLocation)
}
