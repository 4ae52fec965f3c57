import Tmem
import TmemCompression
import TmemZcache

/// Everything a ``Host`` is started with. Capacity and client policies may change while it runs
/// (``Host/setCapacity(_:)``, ``Host/configure(client:policy:)``); the rest is fixed.
public struct HostConfiguration: Sendable {
    /// How much memory the host lends.
    public var capacity: CapacitySetting
    /// Policies by client name (``ClientPolicy/sharedClient`` for the shared pools' account); other
    /// names get ``defaultPolicy``.
    public var clients: [String: ClientPolicy]
    /// The policy of every client not named in ``clients``.
    public var defaultPolicy: ClientPolicy
    /// The page size the host announces: 4096, the only one Tmem deals in.
    public var pageSize: Int
    /// The most pools one session may hold open, its shared pools included: 256, far above what a
    /// client needs (one per swap area or file system) and a bound on what a session can make the host
    /// keep per pool.
    public var maxPoolsPerSession: Int
    /// How long a client has to comply with a shrink notice before the host sends it again: 2 s,
    /// enough to write back a few hundred MiB to a local swap file.
    public var shrinkDeadlineMilliseconds: UInt32
    /// The fixed charge per page, in bytes, on top of its stored bytes: what Zcache's page table spends
    /// on it (8-40 bytes). Without it a client could fill the host's metadata with same-filled pages,
    /// which store no bytes at all. 16.
    public var metadataChargePerPage: Int
    /// What the store does with a page that compresses poorly: keep it uncompressed (the default, as zram
    /// does), or refuse it (``HostStatus/refusedIncompressible``).
    public var poorCompressionPolicy: ZcacheConfiguration.PoorCompressionPolicy
    /// How an automatic capacity follows the machine.
    public var autoTuning: AutoCapacityTuning
    /// The LZ4 acceleration of pages the host compresses itself (1, the library's default and zram's,
    /// compresses best; higher is faster and compresses less). Pages a client compressed are kept as
    /// they came.
    public var lz4Acceleration: Int
    /// Store identical ephemeral pages once, across every client's ephemeral pools
    /// (``ZcacheConfiguration/deduplicateEphemeral``; off by default). Each client is still charged
    /// each of its pages in full (its share, cap and STATS rows do not change with what others hold);
    /// the store's real memory (STATS `memory_bytes`) counts a shared copy once. The host admits puts
    /// by charges, so deduplication lowers what the host really spends, not what its clients may hold.
    /// Clients that must not learn by timing whether another holds a page need it off.
    public var deduplicateEphemeral: Bool

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - capacity: The memory to lend.
    ///   - clients: Policies by client name.
    ///   - defaultPolicy: The policy of everyone else.
    ///   - pageSize: Must be 4096.
    ///   - maxPoolsPerSession: At least 1.
    ///   - shrinkDeadlineMilliseconds: At least 1.
    ///   - metadataChargePerPage: 0...4096 bytes.
    ///   - poorCompressionPolicy: Keep or refuse poorly compressing pages.
    ///   - autoTuning: The automatic capacity's reserve, pressure response and hysteresis.
    ///   - lz4Acceleration: 1...65537.
    ///   - deduplicateEphemeral: Store identical ephemeral pages once.
    public init(
        capacity: CapacitySetting, clients: [String: ClientPolicy] = [:], defaultPolicy: ClientPolicy = ClientPolicy(),
        pageSize: Int = 4096, maxPoolsPerSession: Int = 256, shrinkDeadlineMilliseconds: UInt32 = 2000,
        metadataChargePerPage: Int = 16, poorCompressionPolicy: ZcacheConfiguration.PoorCompressionPolicy = .storeUncompressed,
        autoTuning: AutoCapacityTuning = AutoCapacityTuning(), lz4Acceleration: Int = 1,
        deduplicateEphemeral: Bool = false
    ) {
        self.capacity = capacity
        self.clients = clients
        self.defaultPolicy = defaultPolicy
        self.pageSize = pageSize
        self.maxPoolsPerSession = maxPoolsPerSession
        self.shrinkDeadlineMilliseconds = shrinkDeadlineMilliseconds
        self.metadataChargePerPage = metadataChargePerPage
        self.poorCompressionPolicy = poorCompressionPolicy
        self.autoTuning = autoTuning
        self.lz4Acceleration = lz4Acceleration
        self.deduplicateEphemeral = deduplicateEphemeral
    }

    /// What the host charges for pages: their stored bytes plus ``metadataChargePerPage`` each. The one
    /// measure of host memory that capacity, shares and caps are compared in.
    ///
    /// - Parameters:
    ///   - storedBytes: The pages' stored (compressed) bytes.
    ///   - pages: How many pages.
    /// - Returns: The charge in bytes.
    public func pageChargeBytes(storedBytes: Int, pages: Int) -> Int { storedBytes + pages * metadataChargePerPage }

    /// The most one put can add to its client's charge: a page kept uncompressed and its metadata.
    var maxPutCharge: Int { pageSize + metadataChargePerPage }

    /// The policy of a client name.
    func policy(of name: String) -> ClientPolicy { clients[name] ?? defaultPolicy }

    func validate() throws(HostError) {
        guard pageSize == Tmem.pageSize else {
            throw .invalidSetting("the host's page size is \(Tmem.pageSize) bytes, not \(pageSize)")
        }
        guard maxPoolsPerSession >= 1 else { throw .invalidSetting("a session must be allowed at least one pool") }
        guard shrinkDeadlineMilliseconds >= 1 else { throw .invalidSetting("a shrink deadline is at least 1 ms") }
        guard (0...pageSize).contains(metadataChargePerPage) else {
            throw .invalidSetting("the metadata charge per page is 0...\(pageSize) bytes, not \(metadataChargePerPage)")
        }
        guard (1...PageCompressor.maxLZ4Acceleration).contains(lz4Acceleration) else {
            throw .invalidSetting("the LZ4 acceleration is 1...\(PageCompressor.maxLZ4Acceleration), not \(lz4Acceleration)")
        }
        for name in clients.keys where !ClientPolicy.isValidClientName(name) {
            throw .invalidSetting("'\(name)' is not a client name (1 to 64 characters of A-Za-z0-9._-)")
        }
        try capacity.validate()
        try autoTuning.validate()
    }
}
