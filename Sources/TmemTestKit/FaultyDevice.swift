import Synchronization
import Tmem

/// A backing device that wraps another and fails on demand (the faults a real disk shows rarely: EIO on
/// a read, ENOSPC on a write), for testing that no page is lost or stale when the device fails. For a
/// real full disk, tests use a ``SmallFileSystem`` (a filled tmpfs, as root).
public final class FaultyDevice: BackingDevice {
    /// The device that does the real work.
    public let inner: any BackingDevice
    private let failWrites = Atomic<Bool>(false)
    private let failReads = Atomic<Bool>(false)

    /// Wraps a device.
    public init(wrapping inner: any BackingDevice) { self.inner = inner }

    /// While true, writes fail with ENOSPC (``Errno/noSpace``).
    public func setFailWrites(_ fail: Bool) { failWrites.store(fail, ordering: .relaxed) }
    /// While true, reads fail with EIO (``Errno/io``).
    public func setFailReads(_ fail: Bool) { failReads.store(fail, ordering: .relaxed) }

    public var slotCount: Int { inner.slotCount }

    public func write(slot: Int, page: UnsafeRawBufferPointer) throws(BackingDeviceError) {
        if failWrites.load(ordering: .relaxed) {
            throw BackingDeviceError(errno: .noSpace, message: "writing slot \(slot): No space left on device (injected)")
        }
        try inner.write(slot: slot, page: page)
    }

    public func read(slot: Int, into page: UnsafeMutableRawBufferPointer) throws(BackingDeviceError) {
        if failReads.load(ordering: .relaxed) {
            throw BackingDeviceError(errno: .io, message: "reading slot \(slot): Input/output error (injected)")
        }
        try inner.read(slot: slot, into: page)
    }
}
