import Testing
import Tmem
import TmemCompression
import TmemTestKit
import TmemZcache

/// The backend contract (TmemTestKit's ``BackendContract``) on Zcache with LZ4, and with no compressor
/// (every page that is not same-filled is then stored uncompressed, as a huge page).
struct ZcacheContractTests {
    static let compressors: [CompressionAlgorithm] = [.lz4, .none]

    static func contract(_ compressor: CompressionAlgorithm) -> BackendContract {
        BackendContract(name: "Zcache(\(compressor))") { limit in
            try Zcache(configuration: ZcacheConfiguration(compressor: compressor, limit: limit))
        }
    }

    @Test(arguments: compressors)
    func roundTripsOfEveryPageKind(compressor: CompressionAlgorithm) throws {
        try expectNone(Self.contract(compressor).checkRoundTrips())
    }

    @Test(arguments: compressors)
    func usageAndChargesAddUp(compressor: CompressionAlgorithm) throws {
        try expectNone(Self.contract(compressor).checkAccounting())
    }

    @Test(arguments: compressors)
    func destroyedPoolNamesNothing(compressor: CompressionAlgorithm) throws {
        try expectNone(Self.contract(compressor).checkDestroyedPool())
    }

    @Test(arguments: compressors)
    func randomSequenceMatchesTheModel(compressor: CompressionAlgorithm) throws {
        try expectNone(Self.contract(compressor).checkAgainstModel(steps: 4000))
    }

    @Test(arguments: compressors)
    func ephemeralPagesAreDroppedBeforePersistentPutsAreRefused(compressor: CompressionAlgorithm) throws {
        try expectNone(Self.contract(compressor).checkEphemeralPagesGoFirst())
    }

    @Test(arguments: compressors)
    func persistentPagesAreNeverDropped(compressor: CompressionAlgorithm) throws {
        try expectNone(Self.contract(compressor).checkPersistentPagesStay())
    }

    @Test(arguments: compressors)
    func capacityChangesDropEphemeralPagesOnly(compressor: CompressionAlgorithm) throws {
        try expectNone(Self.contract(compressor).checkCapacityChanges())
    }

    @Test(arguments: compressors, PoolKind.allCases)
    func flushObjectWinsOverRacingPuts(compressor: CompressionAlgorithm, kind: PoolKind) throws {
        try expectNone(Self.contract(compressor).checkFlushObjectRaces(kind, rounds: 12))
    }

    @Test(arguments: compressors)
    func poolIDsSurviveTenThousandLifetimes(compressor: CompressionAlgorithm) throws {
        try expectNone(Self.contract(compressor).checkPoolIDs(cycles: 10_000))
    }

    @Test(arguments: compressors)
    func batchesAgreeWithSingleOperations(compressor: CompressionAlgorithm) throws {
        try expectNone(Self.contract(compressor).checkBatches())
    }
}

private func expectNone(_ violations: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))", sourceLocation: sourceLocation)
}
