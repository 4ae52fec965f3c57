import Testing
import Tmem
import TmemServer
import TmemTestKit

/// The backend contract (TmemTestKit's ``BackendContract``) on the remote backend, each backend a real
/// tmemd server of the contract's capacity, reached over its Unix socket or loopback TCP.
///
/// Not run here: `checkAccounting`, which holds a backend to exact per-pool usage and `putCharged`
/// deltas. A remote pool's usage is the host's (charged on the host, per client: `tmem stat --host`);
/// the client does not mirror it, so its `usage(of:)` only says whether the pool exists.
@Suite(.serialized) struct RemoteContractTests {
    static let transports: [Transport] = [.unix(peerUID: nil), .tcp]

    static func contract(_ transport: Transport) -> BackendContract {
        BackendContract(name: "Remote(\(transport == .tcp ? "tcp" : "unix"))") { capacity in
            try HostedBackend(capacity: capacity, transport: transport)
        }
    }

    @Test(arguments: transports)
    func roundTripsOfEveryPageKind(transport: Transport) throws {
        try expectNone(Self.contract(transport).checkRoundTrips())
    }

    @Test(arguments: transports)
    func destroyedPoolNamesNothing(transport: Transport) throws {
        try expectNone(Self.contract(transport).checkDestroyedPool())
    }

    @Test(arguments: transports)
    func randomSequenceMatchesTheModel(transport: Transport) throws {
        try expectNone(Self.contract(transport).checkAgainstModel(steps: 3000))
    }

    @Test func ephemeralPagesAreDroppedBeforePersistentPutsAreRefused() throws {
        try expectNone(Self.contract(.unix(peerUID: nil)).checkEphemeralPagesGoFirst())
    }

    @Test func persistentPagesAreNeverDropped() throws {
        try expectNone(Self.contract(.unix(peerUID: nil)).checkPersistentPagesStay())
    }

    @Test func capacityChangesDropEphemeralPagesOnly() throws {
        try expectNone(Self.contract(.unix(peerUID: nil)).checkCapacityChanges())
    }

    @Test(arguments: PoolKind.allCases)
    func flushObjectWinsOverRacingPuts(kind: PoolKind) throws {
        try expectNone(Self.contract(.unix(peerUID: nil)).checkFlushObjectRaces(kind, rounds: 6))
    }

    @Test func poolIDsSurviveAThousandLifetimes() throws {
        try expectNone(Self.contract(.unix(peerUID: nil)).checkPoolIDs(cycles: 1000))
    }

    @Test(arguments: transports)
    func batchesAgreeWithSingleOperations(transport: Transport) throws {
        try expectNone(Self.contract(transport).checkBatches())
    }
}

func expectNone(_ violations: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(violations.isEmpty, "\(violations.joined(separator: "\n"))", sourceLocation: sourceLocation)
}

/// Cleancache over the remote backend: the host's ephemeral pools, reached over its Unix socket.
struct RemoteCleancacheTests {
    static let contract = CleancacheContract(name: "remote") { capacity in try HostedBackend(capacity: capacity) }

    @Test(arguments: [false, true])
    func randomOperationsKeepTheCoherencyRules(exclusive: Bool) throws {
        try expectNone(Self.contract.checkCoherency(steps: 5000, exclusive: exclusive))
    }

    @Test(arguments: [false, true])
    func noGetReturnsAPagePutBeforeAnInvalidation(wholeFile: Bool) throws {
        try expectNone(Self.contract.checkInvalidationRaces(invalidations: 150, wholeFile: wholeFile))
    }
}
