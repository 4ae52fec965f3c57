/// The real device behind a swap area: a file (or block device) of page-sized slots.
///
/// Frontswap writes a page here when transcendent memory refuses it, and when it repatriates a page
/// during `Frontswap.shrink(toPages:)`; the paging layer can be given one directly. `TmemSwapFile.SwapFile`
/// is the implementation over a real file; the test kit has a fault-injecting one (`FaultyDevice`).
///
/// The protocol lives in the core because it is only a contract (no I/O): a device can be written,
/// wrapped and passed around without the frontswap module.
///
/// Calls for distinct slots may run on several threads at once; frontswap never issues two calls for the
/// same slot at once.
public protocol BackingDevice: AnyObject, Sendable {
    /// The number of page slots; valid slots are 0..<slotCount.
    var slotCount: Int { get }

    /// Writes one page to a slot. When this returns, a later ``read(slot:into:)`` returns these bytes.
    ///
    /// - Parameters:
    ///   - slot: The slot, in 0..<slotCount.
    ///   - page: Exactly 4096 bytes.
    /// - Throws: ``BackingDeviceError`` when the write did not complete (full disk, I/O error).
    func write(slot: Int, page: UnsafeRawBufferPointer) throws(BackingDeviceError)

    /// Reads one page from a slot.
    ///
    /// - Parameters:
    ///   - slot: The slot, in 0..<slotCount.
    ///   - page: Exactly 4096 bytes to fill.
    /// - Throws: ``BackingDeviceError`` when the read did not complete.
    func read(slot: Int, into page: UnsafeMutableRawBufferPointer) throws(BackingDeviceError)
}

/// A backing device's failure: the `errno` it ended with, and what failed and why, in words.
public struct BackingDeviceError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The `errno` the failing system call left. A failure that was no system call's is given the code
    /// that best names it: a transfer of 0 bytes is ``Errno/noSpace`` on a write and ``Errno/io`` on a
    /// read; a slot out of range is ``Errno/invalidArgument``.
    public let errno: Errno
    /// One line for people: what failed and why, e.g. "writing slot 5 of /tmp/swap: No space left on device".
    public let message: String

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - errno: The failing call's errno.
    ///   - message: What failed and why.
    public init(errno: Errno, message: String) {
        self.errno = errno
        self.message = message
    }

    public var description: String { message }
}
