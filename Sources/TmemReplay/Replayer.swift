import Tmem
import TmemFrontswap
import TmemSwapFile

/// Replays a swap trace against a frontswap frontend and answers each operation with one line: the
/// engine of `tmem replay`, kept apart from the command line so it can be tested directly.
///
/// Output per operation: init → `ok`; store → `tmem` or `disk`; load → `tmem HASH`, `disk HASH` or
/// `none`; invalidate and invalidate-area → `ok`; shrink → `ok N` (curr_pages afterwards); stats →
/// `succ_stores=A failed_stores=B loads=C invalidates=D curr_pages=E`. HASH is the FNV-1a 64-bit hash of
/// the page as 16 lowercase hex digits. A line that cannot be carried out answers `error ` and a reason,
/// and changes nothing.
///
/// Each area gets its own backing swap file, made on its first `init`: `<swapPath>` for area 0 and
/// `<swapPath>.<TYPE>` for the others, slot `o` at byte `o * 4096`.
///
/// Not thread-safe: one replayer reads one trace in order.
public final class Replayer {
    /// Where swap files go and how they are opened.
    public struct SwapFiles: Sendable {
        /// The path of area 0's file; area T's is `<path>.<T>`.
        public var path: String
        /// Remove the files when the replayer goes away.
        public var removeOnClose: Bool
        /// Open them with O_DIRECT.
        public var directIO: Bool

        /// Creates a swap file plan.
        public init(path: String, removeOnClose: Bool, directIO: Bool = false) {
            self.path = path
            self.removeOnClose = removeOnClose
            self.directIO = directIO
        }

        /// The file behind one area.
        public func path(for area: Int) -> String { area == 0 ? path : "\(path).\(area)" }
    }

    /// The frontend the trace drives.
    public let frontswap: Frontswap
    /// The backend's reclaimer, run on the replaying thread after each store that leaves the backend
    /// wanting pages back, so that a replay's answers do not depend on thread timing.
    public let reclaimer: Reclaimer
    private let corpus: PageCorpus
    private let swapFiles: SwapFiles
    private let wrapCorpus: Bool
    private var devices: [Int: SwapFile] = [:]
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: pageSize)
    /// The number of trace lines seen so far (for error messages).
    public private(set) var lineNumber = 0

    /// Creates a replayer.
    ///
    /// - Parameters:
    ///   - backend: The transcendent memory to replay against.
    ///   - corpus: Where `store TYPE OFFSET K` takes page K from.
    ///   - swapFiles: Where the areas' backing files go.
    ///   - exclusiveLoads: Loads from transcendent memory also drop the page there.
    ///   - wrapCorpus: Take `store`'s K modulo the corpus size instead of answering an out-of-range K
    ///     with an error (for traces recorded by a paged region, whose K counts its stores).
    public init(
        backend: any Backend, corpus: PageCorpus, swapFiles: SwapFiles, exclusiveLoads: Bool = false,
        wrapCorpus: Bool = false
    ) {
        reclaimer = Reclaimer(backend: backend)
        frontswap = Frontswap(
            backend: backend, configuration: .init(exclusiveLoads: exclusiveLoads), reclaimer: reclaimer)
        self.corpus = corpus
        self.swapFiles = swapFiles
        self.wrapCorpus = wrapCorpus
    }

    deinit { buffer.deallocate() }

    /// Replays one line and returns its answer (without a newline), or nil for a blank or comment line.
    ///
    /// - Parameter line: The line's bytes, without the newline.
    /// - Returns: The output line.
    public func replay(line: some Collection<UInt8>) -> String? {
        lineNumber += 1
        let operation: TraceOperation
        do throws(TraceSyntaxError) {
            guard let parsed = try TraceOperation.parse(line) else { return nil }
            operation = parsed
        } catch {
            return "error line \(lineNumber): \(error.message)"
        }
        return execute(operation)
    }

    /// Carries out one operation and returns its answer line.
    ///
    /// - Parameter operation: The operation.
    /// - Returns: The output line (`error ...` if it could not be carried out).
    public func execute(_ operation: TraceOperation) -> String {
        do {
            return try perform(operation)
        } catch {
            // Every error type here words its own one-line reason.
            return "error line \(lineNumber): \(error)"
        }
    }

    private func perform(_ operation: TraceOperation) throws -> String {
        switch operation {
        case .initArea(let area, let pages):
            try initArea(area, pages: pages)
            return "ok"
        case .store(let area, let offset, var k):
            if wrapCorpus { k %= corpus.pageCount }
            guard (0..<corpus.pageCount).contains(k) else {
                throw ReplayError.input("corpus page \(k) is out of range (the corpus has \(corpus.pageCount) pages)")
            }
            let result = try frontswap.store(SwapArea(area), offset: PageOffset(offset), page: corpus.page(k))
            if frontswap.backend.writebackWanted > 0 { reclaimer.reclaim() }
            switch result {
            case .tmem: return "tmem"
            case .disk: return "disk"
            }
        case .load(let area, let offset):
            switch try frontswap.load(SwapArea(area), offset: PageOffset(offset), into: buffer) {
            case .tmem: return "tmem " + hex16(fnv1a64(UnsafeRawBufferPointer(buffer)))
            case .disk: return "disk " + hex16(fnv1a64(UnsafeRawBufferPointer(buffer)))
            case .notStored: return "none"
            }
        case .invalidate(let area, let offset):
            try frontswap.invalidatePage(SwapArea(area), offset: PageOffset(offset))
            return "ok"
        case .invalidateArea(let area):
            try frontswap.invalidateArea(SwapArea(area))
            return "ok"
        case .shrink(let target):
            return "ok \(try frontswap.shrink(toPages: target))"
        case .stats:
            return frontswap.counters.description
        }
    }

    /// Initialises an area, making its swap file the first time; a re-init reuses it.
    private func initArea(_ area: Int, pages: Int) throws {
        let id = SwapArea(area)
        if let device = devices[area] {
            try frontswap.initArea(id, pages: pages, device: device)
            return
        }
        // No file for a request the frontend would refuse.
        try frontswap.checkNewArea(id, pages: pages)
        let device = try SwapFile(
            path: swapFiles.path(for: area), slots: pages,
            options: .init(directIO: swapFiles.directIO, removeOnClose: swapFiles.removeOnClose))
        try frontswap.initArea(id, pages: pages, device: device)
        devices[area] = device
    }
}
