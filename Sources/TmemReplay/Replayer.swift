import Tmem
import TmemFrontswap
import TmemSwapFile

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Replays a swap trace against a frontswap frontend and answers each operation with one line: the
/// engine of `tmem replay`, kept apart from the command line so it can be tested directly.
///
/// Output per operation: init → `ok`; store → `tmem` or `disk`; load → `tmem HASH`, `disk HASH` or
/// `none`; invalidate and invalidate-area → `ok`; shrink → `ok N` (curr_pages afterwards); stats →
/// `succ_stores=A failed_stores=B loads=C invalidates=D curr_pages=E`. HASH is the FNV-1a 64-bit hash of
/// the page as 16 lowercase hex digits. A line that cannot be carried out answers `error ` and a reason,
/// and changes nothing else; a store whose swap file write fails answers an error and leaves that slot
/// empty (a later load answers `none`), never holding an older page.
///
/// Each area gets its own backing swap file, made on its first `init`: `<swapPath>` for area 0 and
/// `<swapPath>.<TYPE>` for the others, slot `o` at byte `o * 4096`; or, for ``SwapFiles/temporary(in:directIO:)``,
/// a file without a name. An `init` asks for no more slots, with those of the areas before it, than the
/// swap file's disk could hold (``SwapFile/checkSpace(forSlots:at:)``); it is answered with an error
/// otherwise. A swap file that cannot
/// be set up (opened, created, locked, sized; the corpus itself; someone else's data) is no line's error but
/// the replay's: ``run(_:)`` and ``replay(line:)`` throw ``ReplayError`` (``ReplayError/isSwapFile``).
///
/// Not thread-safe: one replayer reads one trace in order.
public final class Replayer {
    /// Where swap files go and how they are opened.
    public struct SwapFiles: Sendable {
        /// The path of area 0's file (area T's is `<path>.<T>`), or nil for files without a name.
        public var path: String?
        /// For ``path`` nil: the directory the nameless files go in (nil: `$TMPDIR`, else /tmp).
        public var temporaryDirectory: String?
        /// Unlink each named file as soon as it is open (``SwapFile/Options/removeOnClose``).
        public var removeOnClose: Bool
        /// Open them with O_DIRECT.
        public var directIO: Bool
        /// Overwrite existing files that hold data tmem did not write (`tmem replay --force`).
        public var allowExistingData: Bool

        /// Creates a plan of named swap files.
        ///
        /// - Parameters:
        ///   - path: Area 0's file; area T's is `<path>.<T>`.
        ///   - removeOnClose: Unlink each file once it is open.
        ///   - directIO: Open with O_DIRECT.
        ///   - allowExistingData: Overwrite unmarked existing files.
        public init(path: String, removeOnClose: Bool, directIO: Bool = false, allowExistingData: Bool = false) {
            self.path = path
            self.removeOnClose = removeOnClose
            self.directIO = directIO
            self.allowExistingData = allowExistingData
        }

        /// A plan of swap files without names (``SwapFile/temporary(in:slots:directIO:)``): nothing is left
        /// behind however the process ends.
        ///
        /// - Parameters:
        ///   - directory: Where their blocks go; nil: `$TMPDIR`, else /tmp.
        ///   - directIO: Open with O_DIRECT.
        /// - Returns: The plan.
        public static func temporary(in directory: String? = nil, directIO: Bool = false) -> SwapFiles {
            var files = SwapFiles(path: "", removeOnClose: true, directIO: directIO)
            (files.path, files.temporaryDirectory) = (nil, directory)
            return files
        }

        /// The file behind one area, or nil for nameless files.
        public func path(for area: Int) -> String? { path.map { area == 0 ? $0 : "\($0).\(area)" } }
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
    /// ``checkSwapFiles()`` has run; then whether area 0's path is a block device (no `PATH.T` beside it).
    private var checked = false
    private var baseIsBlockDevice = false
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
    /// - Throws: ``ReplayError`` when a swap file cannot be set up: the replay cannot go on.
    public func replay(line: some Collection<UInt8>) throws(ReplayError) -> String? {
        lineNumber += 1
        let operation: TraceOperation
        do throws(TraceSyntaxError) {
            guard let parsed = try TraceOperation.parse(line) else { return nil }
            operation = parsed
        } catch {
            return "error line \(lineNumber): \(error.message)"
        }
        return try run(operation)
    }

    /// Replays one line as ``LineReader`` hands it over: a line over the reader's limit answers
    /// `error line N: line longer than L bytes`, unless it is a comment.
    ///
    /// - Parameters:
    ///   - line: The line.
    ///   - maxLineLength: The reader's limit, for the message.
    /// - Returns: The output line, or nil for a blank or comment line.
    /// - Throws: ``ReplayError`` when a swap file cannot be set up.
    public func replay(_ line: LineReader.Line, maxLineLength: Int) throws(ReplayError) -> String? {
        switch line {
        case .complete(let bytes): return try replay(line: bytes)
        case .tooLong(let prefix):
            lineNumber += 1
            // A long comment is skipped as a short one is (its first non-blank byte is '#').
            if prefix.first(where: { $0 != 32 && $0 != 9 && $0 != 13 }) == UInt8(ascii: "#") { return nil }
            return "error line \(lineNumber): line longer than \(maxLineLength) bytes"
        }
    }

    /// Carries out one operation and returns its answer line.
    ///
    /// - Parameter operation: The operation.
    /// - Returns: The output line (`error ...` if it could not be carried out).
    /// - Throws: ``ReplayError`` when a swap file cannot be set up.
    public func run(_ operation: TraceOperation) throws(ReplayError) -> String {
        do {
            return try perform(operation)
        } catch let error as ReplayError where error.isSwapFile {
            throw error
        } catch {
            // Every error type here words its own one-line reason.
            return "error line \(lineNumber): \(error)"
        }
    }

    /// Carries out one operation and returns its answer line; a swap file that cannot be set up is
    /// answered as an error too (for callers that drive operations directly and look at every answer).
    ///
    /// - Parameter operation: The operation.
    /// - Returns: The output line (`error ...` if it could not be carried out).
    public func execute(_ operation: TraceOperation) -> String {
        do throws(ReplayError) {
            return try run(operation)
        } catch {
            return "error line \(lineNumber): \(error)"
        }
    }

    /// Checks the swap file plan before anything is written: area 0's path, if it exists, is a regular file
    /// or a block device, and is not the corpus. Runs by itself before the first area is made; callers
    /// call it early to refuse before reading any input.
    ///
    /// - Throws: ``ReplayError`` (``ReplayError/isSwapFile``) saying what is wrong.
    public func checkSwapFiles() throws(ReplayError) {
        guard let path = swapFiles.path else { return }
        do throws(BackingDeviceError) { try SwapFile.checkUsable(path: path) } catch {
            throw .swapFile(error.message, errno: error.errno)
        }
        try checkNotCorpus(path)
        var info = stat()
        baseIsBlockDevice = stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFBLK
        checked = true
    }

    private func checkNotCorpus(_ path: String) throws(ReplayError) {
        if let identity = PageCorpus.FileIdentity(path: path), identity == corpus.identity {
            throw .swapFile("swap file \(path) is the corpus \(corpus.path): refusing to write over it")
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
                let count = corpus.pageCount
                throw ReplayError.input("corpus page \(k) is out of range (the corpus has \(count) page\(count == 1 ? "" : "s"))")
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
        // No file for a request the frontend would refuse, or that the disk could not hold.
        try frontswap.checkNewArea(id, pages: pages)
        if !checked { try checkSwapFiles() }
        let path = swapFiles.path(for: area)
        if area != 0 && baseIsBlockDevice, let base = swapFiles.path {
            throw ReplayError.input("area \(area) needs a swap file of its own, but \(base) is a block device")
        }
        // The areas made before hold their sparse files' promise too (their slots take disk only as they
        // are written): count them, so that many areas cannot each pass alone on a disk too small for all.
        let earlier = devices.values.reduce(0) { $0 + $1.slotCount }
        do throws(BackingDeviceError) {
            try SwapFile.checkSpace(
                forSlots: pages + earlier,
                at: path ?? swapFiles.temporaryDirectory ?? environmentValue("TMPDIR") ?? "/tmp")
        } catch {
            let context = earlier > 0 ? "with the \(earlier) slots of the areas before it, " : ""
            throw ReplayError.input("init \(area) \(pages): \(context)\(error.message)")
        }
        if let path { try checkNotCorpus(path) }
        let device: SwapFile
        do throws(BackingDeviceError) {
            if let path {
                device = try SwapFile(
                    path: path, slots: pages,
                    options: .init(
                        directIO: swapFiles.directIO, removeOnClose: swapFiles.removeOnClose,
                        allowExistingData: swapFiles.allowExistingData))
            } else {
                device = try SwapFile.temporary(in: swapFiles.temporaryDirectory, slots: pages, directIO: swapFiles.directIO)
            }
        } catch {
            throw ReplayError.swapFile(error.message, errno: error.errno)
        }
        try frontswap.initArea(id, pages: pages, device: device)
        devices[area] = device
    }
}
