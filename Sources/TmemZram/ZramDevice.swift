#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Tmem

/// A zram block device of our own, created for a benchmark and removed afterwards: the kernel's
/// compressed RAM disk as a baseline for Tmem's compressed backend on the same pages.
///
/// ```swift
/// guard ZramDevice.availability() == .available else { ... }
/// let device = try ZramDevice(algorithm: "lz4", diskSize: 64 << 20)
/// defer { device.remove() }
/// let fd = try device.openForDirectIO()
/// var buffer = try AlignedPageBuffer(pages: 1)
/// try buffer.withPage(0) { page throws(ZramError) in try device.write(page: page, at: 7, fd: fd) }
/// print(try device.stats().memUsedTotal)
/// ```
///
/// ## Never touches other devices
/// A device is created with `/sys/class/zram-control/hot_add` (which always makes a new one and
/// returns its number), configured, and removed with `reset` then `hot_remove` of that number
/// only. Existing devices (a system's `zram0` swap) are never opened, read or written; reads and
/// writes accept only descriptors this object opened.
///
/// ## Thread safety
/// `Sendable`: `write`, `read` and `stats` may run on several threads at once (use one descriptor
/// per thread or share one; `pread`/`pwrite` carry their own offset). Call `remove()` only after
/// every I/O has returned. The set of open descriptors and the removed flag are guarded by `state`.
///
/// ## Implementation Notes
/// - I/O is O_DIRECT, one page at a time at page-aligned offsets, so it bypasses the page cache
///   and each write reaches zram's `zram_write_page` (compress + zsmalloc) synchronously, as swap
///   out would. Buffers must be page-aligned: use `AlignedPageBuffer`.
/// - Removal retries EBUSY for up to a second, because udev may briefly open a new or reset
///   device to probe it. If the process dies before `remove()` or `deinit`, the device stays
///   behind: `echo 1 > /sys/block/zramN/reset; echo N > /sys/class/zram-control/hot_remove`.
/// - The page size is 4 KiB; zram's logical block size equals the kernel's page size, so on a
///   kernel with larger pages O_DIRECT I/O of 4 KiB fails with EINVAL.
public final class ZramDevice: Sendable {
    /// The unit of I/O: one 4 KiB page.
    public static let pageSize = AlignedPageBuffer.pageSize

    /// How long `remove()` keeps retrying a removal the kernel refuses with EBUSY.
    /// One second: udev's probe of a fresh device takes milliseconds.
    static let removalRetries = (count: 100, milliseconds: 10)

    /// The device number N, as in `/dev/zramN`.
    public let number: Int
    /// `/dev/zramN`.
    public let devicePath: String
    /// The compression algorithm in use, as given to `init`.
    public let algorithm: String
    /// The algorithms this kernel's zram offers, as listed by `comp_algorithm`.
    public let offeredAlgorithms: [String]
    /// The device size in bytes as the kernel set it (`disksize`, rounded up to whole pages).
    public let diskSize: Int
    /// The number of page slots, `diskSize / pageSize`: valid slots are `0..<slotCount`.
    public var slotCount: Int { diskSize / Self.pageSize }

    private struct State {
        var removed = false
        var descriptors: Set<Int32> = []
    }

    /// Open descriptors and whether the device is gone.
    private let state = Mutex(State())

    /// Tells whether this process can create zram devices, and if not, why.
    ///
    /// - Returns: `.available`, or `.unavailable(reason:)` when not root, when the kernel has no
    ///   zram (or the module is not loaded), or when sysfs is read-only (a container).
    /// - Complexity: A few `access(2)` calls; nothing is created.
    public static func availability() -> ZramAvailability {
        guard geteuid() == 0 else {
            return .unavailable(reason: "zram devices can only be created by root (hot_add in \(Sysfs.control))")
        }
        guard Sysfs.exists(Sysfs.control) else {
            return .unavailable(
                reason: "no \(Sysfs.control): the kernel has no zram, or the module is not loaded (modprobe zram)"
            )
        }
        for attribute in ["hot_add", "hot_remove"] where access("\(Sysfs.control)/\(attribute)", W_OK) != 0 {
            let cause = describeErrno(Errno.current.rawValue)
            return .unavailable(reason: "\(Sysfs.control)/\(attribute) is not writable: \(cause) (read-only sysfs?)")
        }
        return .available
    }

    /// Lists the compression algorithms this kernel's zram offers, e.g. `["lzo-rle", "lzo", "lz4"]`.
    ///
    /// The list is per device, so this adds a scratch device, reads its `comp_algorithm` and
    /// removes it again; existing devices are not read.
    ///
    /// - Returns: The names `init(algorithm:diskSize:)` accepts.
    /// - Throws: `ZramError` with code `.unavailable` (see `availability()`) or `.sysfs`.
    /// - Complexity: A few sysfs accesses; no memory is allocated for the scratch device.
    public static func offeredAlgorithms() throws(ZramError) -> [String] {
        if case .unavailable(let reason) = availability() {
            throw ZramError(.unavailable, reason)
        }
        let number = try Sysfs.readInt("\(Sysfs.control)/hot_add")
        defer {
            _ = reset(number)
            _ = hotRemove(number)
        }
        return parseAlgorithms(try Sysfs.read("\(Sysfs.block(number))/comp_algorithm"))
    }

    /// Creates, configures and initialises a new zram device.
    ///
    /// Mirrors `zramctl --find --size S --algorithm A`: `hot_add`, then `comp_algorithm`, then
    /// `disksize`. If a step fails, the half-made device is removed again.
    ///
    /// - Parameters:
    ///   - algorithm: The compressor, one of the names in the new device's `comp_algorithm`
    ///     (e.g. `lzo-rle`, `lz4`, `zstd`; which exist depends on the kernel's configuration).
    ///   - diskSize: The device size in bytes; must be positive. The kernel rounds it up to whole
    ///     pages. This is address space, not memory: zram allocates only for pages written.
    /// - Throws: `ZramError` with code `.unavailable` (see `availability()`),
    ///   `.unsupportedAlgorithm` (the message lists what the kernel offers), `.notFresh` (another
    ///   process configured the new device first; it is left alone), `.deviceNodeMissing`, or
    ///   `.sysfs` when the kernel refuses a setting (errno tells why).
    /// - Complexity: A handful of sysfs accesses; the kernel allocates the slot table
    ///   (`diskSize / 4096 * 16` bytes on 64-bit) when `disksize` is written.
    public init(algorithm: String, diskSize: Int) throws(ZramError) {
        precondition(diskSize > 0, "a zram device needs a positive size, not \(diskSize)")
        if case .unavailable(let reason) = Self.availability() {
            throw ZramError(.unavailable, reason)
        }
        let number = try Sysfs.readInt("\(Sysfs.control)/hot_add")
        let block = Sysfs.block(number)
        // Until `self` exists, failures remove the device by hand; `deinit` does not run yet.
        func discard(_ error: ZramError) -> ZramError {
            _ = Self.reset(number)
            _ = Self.hotRemove(number)
            return error
        }

        // hot_add returns a device nobody else knows of yet; if it is configured already, a
        // careless process got there first, and a device in someone's use is not ours to touch.
        let initialSize = try Sysfs.readInt("\(block)/disksize")
        guard initialSize == 0 else {
            throw ZramError(.notFresh, "zram\(number) from hot_add already has disksize \(initialSize); left untouched")
        }
        let offered: [String]
        do throws(ZramError) {
            offered = Self.parseAlgorithms(try Sysfs.read("\(block)/comp_algorithm"))
            guard offered.contains(algorithm) else {
                throw ZramError(
                    .unsupportedAlgorithm,
                    "zram on this kernel offers \(offered.joined(separator: ", ")); not \(algorithm.debugDescription)"
                )
            }
            try Sysfs.write(algorithm, to: "\(block)/comp_algorithm")
            try Sysfs.write(String(diskSize), to: "\(block)/disksize")
        } catch {
            throw discard(error)
        }
        let devicePath = "/dev/zram\(number)"
        guard Sysfs.exists(devicePath) else {
            throw discard(ZramError(.deviceNodeMissing, "\(devicePath) did not appear (is /dev a devtmpfs?)"))
        }
        let configuredSize: Int
        do throws(ZramError) {
            configuredSize = try Sysfs.readInt("\(block)/disksize")
        } catch {
            throw discard(error)
        }
        self.number = number
        self.devicePath = devicePath
        self.algorithm = algorithm
        self.offeredAlgorithms = offered
        self.diskSize = configuredSize
    }

    deinit {
        remove()
    }

    /// Opens the device for O_DIRECT reads and writes.
    ///
    /// - Returns: A descriptor opened `O_RDWR | O_DIRECT | O_CLOEXEC`. Close it with
    ///   `closeDescriptor(_:)` (not `close(2)`): the device tracks its descriptors so that
    ///   `remove()` can close any left open, and a descriptor closed behind its back could be a
    ///   reused number by then.
    /// - Throws: `ZramError` with code `.io` if `open(2)` fails.
    /// - Complexity: One system call.
    public func openForDirectIO() throws(ZramError) -> Int32 {
        try state.withLock { state throws(ZramError) in
            precondition(!state.removed, "zram\(number) has been removed")
            let fd = try valueOrErrno { open(devicePath, O_RDWR | directIOFlag | O_CLOEXEC) }
                .mapError { ZramError(.io, "cannot open \(devicePath) with O_DIRECT", errno: $0) }.get()
            state.descriptors.insert(fd)
            return fd
        }
    }

    /// Closes a descriptor from `openForDirectIO()`.
    ///
    /// - Parameter fd: A descriptor this device opened and has not closed (traps otherwise).
    /// - Complexity: One system call.
    public func closeDescriptor(_ fd: Int32) {
        state.withLock { state in
            precondition(state.descriptors.remove(fd) != nil, "descriptor \(fd) is not open on zram\(number)")
            _ = close(fd)
        }
    }

    /// Writes one page to a slot, as swap-out would: zram compresses and stores it before returning.
    ///
    /// - Parameters:
    ///   - page: Exactly 4096 bytes at a 4096-aligned address (`AlignedPageBuffer`); traps otherwise.
    ///   - slot: The page index on the device, in `0..<slotCount` (traps otherwise).
    ///   - fd: A descriptor from `openForDirectIO()` on this device (traps otherwise).
    /// - Throws: `ZramError` with code `.io` if `pwrite(2)` fails or is short (ENOMEM: `mem_limit`
    ///   reached or memory exhausted).
    /// - Complexity: One system call; compresses one page in the kernel.
    public func write(page: UnsafeRawBufferPointer, at slot: Int, fd: Int32) throws(ZramError) {
        checkDirectIO(page.baseAddress, count: page.count, slot: slot, fd: fd)
        let done = valueOrErrno { pwrite(fd, page.baseAddress, Self.pageSize, off_t(slot * Self.pageSize)) }
        guard case .success(Self.pageSize) = done else {
            throw ZramError(.io, "pwrite of slot \(slot) on \(devicePath) returned \(done.count)", errno: done.error)
        }
    }

    /// Reads one page from a slot, as swap-in would; a slot never written reads as zeros.
    ///
    /// - Parameters:
    ///   - buffer: Exactly 4096 bytes at a 4096-aligned address (`AlignedPageBuffer`); traps otherwise.
    ///   - slot: The page index on the device, in `0..<slotCount` (traps otherwise).
    ///   - fd: A descriptor from `openForDirectIO()` on this device (traps otherwise).
    /// - Throws: `ZramError` with code `.io` if `pread(2)` fails or is short.
    /// - Complexity: One system call; decompresses one page in the kernel.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at slot: Int, fd: Int32) throws(ZramError) {
        checkDirectIO(buffer.baseAddress, count: buffer.count, slot: slot, fd: fd)
        let done = valueOrErrno { pread(fd, buffer.baseAddress, Self.pageSize, off_t(slot * Self.pageSize)) }
        guard case .success(Self.pageSize) = done else {
            throw ZramError(.io, "pread of slot \(slot) on \(devicePath) returned \(done.count)", errno: done.error)
        }
    }

    /// Reads the device's memory statistics (`/sys/block/zramN/mm_stat`).
    ///
    /// - Returns: The parsed reading; fields newer than the running kernel are `nil`.
    /// - Throws: `ZramError` with code `.sysfs` if the file cannot be read or parsed.
    /// - Complexity: One sysfs read.
    public func stats() throws(ZramError) -> ZramStats {
        precondition(!isRemoved, "zram\(number) has been removed")
        let path = "\(Sysfs.block(number))/mm_stat"
        let text = try Sysfs.read(path)
        guard let stats = ZramStats(mmStat: text) else {
            throw ZramError(.sysfs, "cannot parse \(path): \(text.debugDescription)")
        }
        return stats
    }

    /// Whether `remove()` has completed, i.e. the device no longer exists.
    public var isRemoved: Bool {
        state.withLock { $0.removed }
    }

    /// Closes any descriptors still open, resets the device (freeing its memory) and removes it.
    ///
    /// Idempotent: later calls do nothing and succeed. Also called by `deinit`. Call it only when
    /// no `read` or `write` is in flight.
    ///
    /// - Returns: `.success` once `/sys/block/zramN` is gone, or the error of the `reset` or
    ///   `hot_remove` the kernel refused (EBUSY after a second of retries: someone else has
    ///   `/dev/zramN` open). Callers that only tear down may ignore it.
    /// - Complexity: A few system calls; up to a second of retries when the device is busy.
    @discardableResult
    public func remove() -> Result<Void, ZramError> {
        state.withLock { state in
            if state.removed {
                return .success(())
            }
            for fd in state.descriptors {
                _ = close(fd)
            }
            state.descriptors.removeAll()
            if case .failure(let error) = Self.reset(number) {
                return .failure(error)
            }
            if case .failure(let error) = Self.hotRemove(number) {
                return .failure(error)
            }
            state.removed = true
            return .success(())
        }
    }

    // MARK: - Private

    /// Traps on misuse of the O_DIRECT calls: these are programmer errors, not conditions.
    private func checkDirectIO(_ address: UnsafeRawPointer?, count: Int, slot: Int, fd: Int32) {
        precondition(count == Self.pageSize, "O_DIRECT I/O is one page of \(Self.pageSize) bytes, not \(count)")
        precondition(
            Int(bitPattern: address) % Self.pageSize == 0,
            "O_DIRECT buffers must be \(Self.pageSize)-aligned (use AlignedPageBuffer)"
        )
        precondition(slot >= 0 && slot < slotCount, "slot \(slot) outside 0..<\(slotCount) of zram\(number)")
        precondition(state.withLock { $0.descriptors.contains(fd) }, "descriptor \(fd) is not open on zram\(number)")
    }

    /// Splits `comp_algorithm` ("lzo [lz4] zstd") into names, dropping the brackets of the current one.
    static func parseAlgorithms(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map { word in
            String(word.filter { $0 != "[" && $0 != "]" })
        }
    }

    /// Writes `reset`, retrying EBUSY; a device that no longer exists counts as reset.
    private static func reset(_ number: Int) -> Result<Void, ZramError> {
        let path = "\(Sysfs.block(number))/reset"
        guard Sysfs.exists(Sysfs.block(number)) else {
            return .success(())
        }
        return retryingWhileBusy { () throws(ZramError) in try Sysfs.write("1", to: path) }
    }

    /// Writes N to `hot_remove`, retrying EBUSY, and checks that `/sys/block/zramN` went away.
    private static func hotRemove(_ number: Int) -> Result<Void, ZramError> {
        guard Sysfs.exists(Sysfs.block(number)) else {
            return .success(())
        }
        let result = retryingWhileBusy { () throws(ZramError) in
            try Sysfs.write(String(number), to: "\(Sysfs.control)/hot_remove")
        }
        if case .success = result, Sysfs.exists(Sysfs.block(number)) {
            return .failure(ZramError(.sysfs, "zram\(number) still exists after hot_remove"))
        }
        return result
    }

    /// Runs `body` until it does not fail with EBUSY, at most `removalRetries.count` times.
    private static func retryingWhileBusy(_ body: () throws(ZramError) -> Void) -> Result<Void, ZramError> {
        var attempt = 0
        while true {
            do {
                try body()
                return .success(())
            } catch where error.errno == .busy && attempt < removalRetries.count {
                attempt += 1
                Sysfs.pause(milliseconds: removalRetries.milliseconds)
            } catch {
                return .failure(error)
            }
        }
    }
}
