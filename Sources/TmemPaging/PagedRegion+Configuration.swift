extension PagedRegion {
    /// How a region chooses victims, reads ahead, tracks writes and records.
    public struct Configuration: Sendable {
        /// The most bytes of the region mapped at once (rounded down to whole pages, at least
        /// ``PagedRegion/minimumResidentBudget``). Changeable while running with
        /// ``PagedRegion/setResidentBudget(_:)``.
        public var residentBudget: Int
        /// How victims are chosen when the region is at its budget.
        public var victimPolicy: VictimPolicy
        /// The largest readahead window, in pages; 0 turns readahead off. 32 pages (128 KiB) by default:
        /// past that, a sequential reader gains little (one fault per 128 KiB is already cheap next to
        /// decompressing 32 pages), while a mispredicted window costs more evictions; the window also never
        /// exceeds 1/8 of the budget.
        public var readaheadMaxPages: Int
        /// Use userfaultfd write-protection (when the kernel has it) to know which pages were written since
        /// they were loaded, so clean ones are dropped instead of stored again. Turning it off stores every
        /// evicted page, and makes it unsafe for another thread to write a page while it is being evicted
        /// (see the caveats of ``PagedRegion``).
        public var writeProtect: Bool
        /// Where the swap file behind the region's frontswap area lives.
        public var swapFile: SwapFileLocation
        /// Open the swap file with `O_DIRECT` (bypassing the page cache, as a swap device does; the file
        /// system must support it, which tmpfs does not).
        public var swapFileDirectIO: Bool
        /// When set, every frontswap operation of the region is written to this file as a `tmem replay`
        /// trace (see ``PagedRegion`` for the format).
        public var recordTrace: String?

        /// Creates a configuration.
        ///
        /// - Parameters:
        ///   - residentBudget: Bytes mapped at most; 64 MiB by default.
        ///   - victimPolicy: `.clock` (default) or `.fifo`.
        ///   - readaheadMaxPages: Largest readahead window in pages, 0 for none.
        ///   - writeProtect: Track writes with userfaultfd write-protection where available.
        ///   - swapFile: A temporary file (default) or a given path.
        ///   - swapFileDirectIO: Open the swap file with `O_DIRECT`.
        ///   - recordTrace: A path to record the frontswap operations to, or nil.
        public init(
            residentBudget: Int = 64 << 20, victimPolicy: VictimPolicy = .clock, readaheadMaxPages: Int = 32,
            writeProtect: Bool = true, swapFile: SwapFileLocation = .temporary(directory: nil),
            swapFileDirectIO: Bool = false, recordTrace: String? = nil
        ) {
            self.residentBudget = residentBudget
            self.victimPolicy = victimPolicy
            self.readaheadMaxPages = readaheadMaxPages
            self.writeProtect = writeProtect
            self.swapFile = swapFile
            self.swapFileDirectIO = swapFileDirectIO
            self.recordTrace = recordTrace
        }
    }

    /// Where a region's swap file lives.
    public enum SwapFileLocation: Sendable, Hashable {
        /// A new file, `tmem-paging-XXXXXX` in `directory` (nil: `$TMPDIR`, else /tmp), removed on close.
        case temporary(directory: String?)
        /// This path: a regular file (created if missing, sized to the region) or a block device. It is left
        /// in place on close (a device is not ours to remove), its contents meaningless.
        case path(String)
    }

    /// How the handler picks the page to evict.
    public enum VictimPolicy: String, Sendable, CaseIterable, CustomStringConvertible {
        /// CLOCK with refault-distance activation: the hand evicts the oldest page unless it has heat; a
        /// page earns heat when it faults back within one budget's worth of evictions of leaving (it would
        /// have stayed resident under LRU with a little more memory, the kernel's workingset test) and
        /// when it is written. Approximates LRU: hot pages stay, a one-pass scan does not push them out.
        case clock
        /// First in, first out: the oldest mapped page goes, whatever its history (CLOCK with no heat).
        /// The baseline the CLOCK policy is measured against.
        case fifo

        public var description: String { rawValue }
    }
}
