import Testing
import Tmem
import TmemCompression
import TmemTestKit
import TmemZcache

/// The backend contract (TmemTestKit's ``BackendContract``) on Zcache with LZ4, and with no compressor
/// (every page that is not same-filled is then stored uncompressed, as a huge page); each also with
/// deduplication of ephemeral pages on.
struct ZcacheContractTests {
    /// A compressor, with or without deduplication.
    struct Variant: Sendable, CustomTestStringConvertible {
        var compressor: CompressionAlgorithm
        var deduplicate: Bool
        var testDescription: String { "\(compressor)\(deduplicate ? ", dedup" : "")" }
    }

    static let compressors: [Variant] = [.lz4, .none].flatMap { c in [false, true].map { Variant(compressor: c, deduplicate: $0) } }

    static func contract(_ variant: Variant) -> BackendContract {
        BackendContract(name: "Zcache(\(variant.testDescription))") { limit in
            try Zcache(configuration: ZcacheConfiguration(
                compressor: variant.compressor, limit: limit, deduplicateEphemeral: variant.deduplicate))
        }
    }

    @Test(arguments: compressors)
    func roundTripsOfEveryPageKind(compressor: Variant) throws {
        try expectNone(Self.contract(compressor).checkRoundTrips())
    }

    @Test(arguments: compressors)
    func usageAndChargesAddUp(compressor: Variant) throws {
        try expectNone(Self.contract(compressor).checkAccounting())
    }

    @Test(arguments: compressors)
    func destroyedPoolNamesNothing(compressor: Variant) throws {
        try expectNone(Self.contract(compressor).checkDestroyedPool())
    }

    @Test(arguments: compressors)
    func randomSequenceMatchesTheModel(compressor: Variant) throws {
        try expectNone(Self.contract(compressor).checkAgainstModel(steps: 4000))
    }

    @Test(arguments: compressors)
    func ephemeralPagesAreDroppedBeforePersistentPutsAreRefused(compressor: Variant) throws {
        try expectNone(Self.contract(compressor).checkEphemeralPagesGoFirst())
    }

    @Test(arguments: compressors)
    func persistentPagesAreNeverDropped(compressor: Variant) throws {
        try expectNone(Self.contract(compressor).checkPersistentPagesStay())
    }

    @Test(arguments: compressors)
    func capacityChangesDropEphemeralPagesOnly(compressor: Variant) throws {
        try expectNone(Self.contract(compressor).checkCapacityChanges())
    }

    @Test(arguments: compressors, PoolKind.allCases)
    func flushObjectWinsOverRacingPuts(compressor: Variant, kind: PoolKind) throws {
        try expectNone(Self.contract(compressor).checkFlushObjectRaces(kind, rounds: 12))
    }

    @Test(arguments: compressors)
    func poolIDsSurviveTenThousandLifetimes(compressor: Variant) throws {
        try expectNone(Self.contract(compressor).checkPoolIDs(cycles: 10_000))
    }

    @Test(arguments: compressors)
    func batchesAgreeWithSingleOperations(compressor: Variant) throws {
        try expectNone(Self.contract(compressor).checkBatches())
    }
}

private func expectNone(_ violations: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))", sourceLocation: sourceLocation)
}
