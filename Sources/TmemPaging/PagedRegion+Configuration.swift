import Tmem
import TmemFrontswap

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
        /// Where the swap file behind the region's frontswap area lives, or the device to use instead.
        public var swapFile: SwapFileLocation
        /// Open the swap file with `O_DIRECT` (bypassing the page cache, as a swap device does; the file
        /// system must support it, which tmpfs does not). Ignored for ``SwapFileLocation/device(_:)``.
        public var swapFileDirectIO: Bool
        /// When set, every frontswap operation of the region is written to this file as a `tmem replay`
        /// trace (see ``PagedRegion`` for the format).
        public var recordTrace: String?
        /// Where the handler thread runs relative to the threads whose faults it serves.
        public var colocation: Colocation
        /// The reclaimer of the region's backend, when several regions (or other frontends) share the
        /// backend and should give memory back fairly; nil: the region starts one of its own, which
        /// repatriates its cold pages to its swap file off the fault path, and stops it on close.
        public var reclaimer: Reclaimer?

        /// Creates a configuration.
        ///
        /// - Parameters:
        ///   - residentBudget: Bytes mapped at most; 64 MiB by default.
        ///   - victimPolicy: `.segmented` (default) or `.fifo`.
        ///   - readaheadMaxPages: Largest readahead window in pages, 0 for none.
        ///   - writeProtect: Track writes with userfaultfd write-protection where available.
        ///   - swapFile: A temporary file (default), a given path, or a given backing device.
        ///   - swapFileDirectIO: Open the swap file with `O_DIRECT`.
        ///   - recordTrace: A path to record the frontswap operations to, or nil.
        ///   - colocation: Where the handler runs relative to faulting threads.
        ///   - reclaimer: A shared reclaimer of the backend, or nil for one of the region's own.
        public init(
            residentBudget: Int = 64 << 20,
            victimPolicy: VictimPolicy = .segmented,
            readaheadMaxPages: Int = 32,
            writeProtect: Bool = true,
            swapFile: SwapFileLocation = .temporary(directory: nil),
            swapFileDirectIO: Bool = false,
            recordTrace: String? = nil,
            colocation: Colocation = .followFaultingThread,
            reclaimer: Reclaimer? = nil
        ) {
            self.residentBudget = residentBudget
            self.victimPolicy = victimPolicy
            self.readaheadMaxPages = readaheadMaxPages
            self.writeProtect = writeProtect
            self.swapFile = swapFile
            self.swapFileDirectIO = swapFileDirectIO
            self.recordTrace = recordTrace
            self.colocation = colocation
            self.reclaimer = reclaimer
        }
    }

    /// Where the fault handler thread runs.
    ///
    /// A userfaultfd fault is a hand-off: the faulting thread sleeps, the handler wakes, serves, and wakes
    /// it again. On one CPU that is two context switches (5 µs per round trip measured on the 2-vCPU
    /// development VM); across CPUs it is two wake-ups of an idle CPU, which a virtual machine without
    /// guest halt-polling pays for with exits to the host (65 µs per round trip measured). The scheduler
    /// does not keep the two together on its own: it wakes the faulting thread on the idle CPU, because
    /// the handler is still running on the thread's own.
    public enum Colocation: String, Sendable, CaseIterable, CustomStringConvertible {
        /// The handler runs wherever the scheduler puts it.
        case none
        /// The handler pins itself to the CPU the faulting thread last ran on (looked up in /proc when the
        /// faulting thread changes, at most once a millisecond, and every 1024 faults). Effective when the
        /// program keeps its threads on their CPUs (`taskset`, `sched_setaffinity`); harmless otherwise.
        case followFaultingThread
        /// As ``followFaultingThread``, and also pins each faulting thread to the CPU it faulted on
        /// (when the handler looks it up), so the two stay together. This changes the program's own
        /// threads' affinity: meant for programs whose threads exist to work on the region (benchmarks,
        /// `tmem demo`). Measured on the development VM: 11.5 µs per random major fault, against 75 µs
        /// with ``none``.
        ///
        /// Both following modes stand aside while several threads fault in turn (more than 8 changes of
        /// faulting thread within a millisecond): the handler and the threads it pinned are unpinned,
        /// and run where the scheduler puts them, until one thread has faulted 1024 times in a row.
        case pinFaultingThread

        public var description: String { rawValue }

        /// Lets the calling thread run on every CPU again: undoes the pin ``pinFaultingThread`` put on it,
        /// or one a new thread inherited from the thread that created it (threads inherit affinity).
        ///
        /// - Returns: false if the kernel refused (a cpuset may forbid some CPUs; then nothing changed).
        @discardableResult
        public static func unpinCallingThread() -> Bool { FaultHandler.allowEveryCPU() }
    }

    /// Where a region's swap file lives, or which backing device stands in for it.
    ///
    /// Not `Hashable`: a backing device is an object with behaviour, not a value.
    public enum SwapFileLocation: Sendable {
        /// A new file, `tmem-paging-XXXXXX` in `directory` (nil: `$TMPDIR`, else /tmp), unlinked as soon as it is open, so it cannot outlive the process.
        case temporary(directory: String?)
        /// This path: a regular file (created if missing, sized to the region) or a block device. It is left
        /// in place on close (a device is not ours to remove), its contents meaningless.
        case path(String)
        /// This backing device, used as it is: it must have at least as many slots as the region has pages
        /// (else the region is refused with a frontswap error). The region writes and reads its slots from
        /// the handler thread and never closes it; ``PagedRegion/Configuration/swapFileDirectIO`` does not
        /// apply. For a device of one's own (a fault-injecting one in tests, a block device opened
        /// elsewhere).
        case device(any BackingDevice)
    }

    /// How the handler picks the page to evict.
    ///
    /// Reads of a mapped page are invisible to userspace (no accessed bit reaches it), so no policy here
    /// can be LRU. What the handler does see is each page's fault history: when it left, and when it came
    /// back. ``segmented`` uses it as the kernel's workingset detection does.
    public enum VictimPolicy: String, Sendable, CaseIterable, CustomStringConvertible {
        /// Segmented FIFO with refault-distance activation (the kernel's inactive/active lists, fed by
        /// `mm/workingset.c`'s refault test). A page mapped for the first time, read ahead, or faulting
        /// back long after its eviction joins the *probation* list; a page faulting back within one
        /// budget's worth of evictions of leaving (under LRU, a little more memory would have kept it:
        /// it is hot) joins the *protected* list, which may hold 3/4 of the budget and demotes its oldest
        /// page to probation beyond that. Victims come from the probation head; a page written since it
        /// was mapped (a WP fault) is promoted there instead. A one-pass scan stays on probation and does
        /// not push the hot set out. On a Zipf read pattern it removes two thirds of the faults that LRU
        /// would save over FIFO (simulated and measured; see the paging tests).
        case segmented
        /// First in, first out: the oldest mapped page goes, whatever its history (one list, no
        /// activation). The baseline the segmented policy is measured against.
        case fifo

        public var description: String { rawValue }
    }
}
