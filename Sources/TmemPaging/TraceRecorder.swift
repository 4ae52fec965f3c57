#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem

/// Writes a region's frontswap operations as a `tmem replay` trace, one line per operation:
/// `init TYPE PAGES`, `store TYPE OFFSET K`, `load TYPE OFFSET`, `invalidate TYPE OFFSET`,
/// `invalidate-area TYPE` (the grammar of TmemReplay's `TraceOperation`).
///
/// In `store TYPE OFFSET K`, K is a running count of the region's stores (0, 1, 2...): the trace records
/// which slots are stored, loaded and invalidated, not the bytes, and a replay stores corpus page K for the
/// K-th store, so every store carries other contents, as the workload's did. Replaying it needs a corpus
/// of at least as many pages as the trace has stores.
///
/// Lines are formatted into a 64 KiB buffer without allocating and written when it fills and at
/// ``finish()``. The first write error stops recording and is kept in ``failure``; the workload goes on.
/// Owned by the fault handler thread while it runs, then by the region's close.
struct TraceRecorder: ~Copyable {
    private let fd: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    private var used = 0
    private var stores = 0
    /// The first write error, as a message; nil while recording works.
    private(set) var failure: String?
    private let path: String

    /// Bytes buffered before a write: large enough that recording costs one write(2) per ~2000 faults.
    static let bufferSize = 64 * 1024

    /// Creates the trace file, or takes an empty regular file of that name: a file with something in it
    /// (or anything but a regular file) is refused, never truncated.
    ///
    /// - Throws: ``PagingError`` if the file cannot be created, or holds data.
    init(path: String) throws(PagingError) {
        var fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 && errno == EEXIST {
            fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY)
            var info = stat()
            if fd >= 0, fstat(fd, &info) != 0 || info.st_mode & S_IFMT != S_IFREG || info.st_size > 0 {
                close(fd)
                throw .trace("refusing to write a trace over \(path), which exists and is not an empty file", Errno(EEXIST))
            }
        }
        guard fd >= 0 else { throw .trace("cannot create the trace file \(path)", .current) }
        self.fd = fd
        self.path = path
        buffer = .allocate(byteCount: Self.bufferSize, alignment: 16)
    }

    deinit {
        close(fd)
        buffer.deallocate()
    }

    /// `init TYPE PAGES`.
    mutating func initArea(_ area: Int, pages: Int) { line("init ", area, pages) }
    /// `store TYPE OFFSET K`, K being the running store count.
    mutating func store(_ area: Int, offset: Int) {
        line("store ", area, offset, stores)
        stores += 1
    }
    /// `load TYPE OFFSET`.
    mutating func load(_ area: Int, offset: Int) { line("load ", area, offset) }
    /// `invalidate TYPE OFFSET`.
    mutating func invalidate(_ area: Int, offset: Int) { line("invalidate ", area, offset) }
    /// `invalidate-area TYPE`.
    mutating func invalidateArea(_ area: Int) { line("invalidate-area ", area) }

    /// Writes what is buffered.
    mutating func finish() { flush() }

    private mutating func line(_ verb: StaticString, _ a: Int, _ b: Int = -1, _ c: Int = -1) {
        guard failure == nil else { return }
        if used + 96 > buffer.count { flush() }
        append(verb)
        append(a)
        if b >= 0 {
            appendByte(32)
            append(b)
        }
        if c >= 0 {
            appendByte(32)
            append(c)
        }
        appendByte(10)
    }

    private mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { bytes in
            for byte in bytes {
                buffer[used] = byte
                used += 1
            }
        }
    }

    private mutating func appendByte(_ byte: UInt8) {
        buffer[used] = byte
        used += 1
    }

    private mutating func append(_ value: Int) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for any Int's digits
        var n = UInt(value)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { scratch in
            repeat {
                scratch[count] = UInt8(truncatingIfNeeded: 48 + n % 10)
                n /= 10
                count += 1
            } while n > 0
            for i in stride(from: count - 1, through: 0, by: -1) {
                buffer[used] = scratch[i]
                used += 1
            }
        }
    }

    private mutating func flush() {
        var done = 0
        while done < used && failure == nil {
            let n = write(fd, buffer.baseAddress! + done, used - done)
            if n > 0 {
                done += n
            } else if n < 0 && Errno.current == .interrupted {
                continue
            } else {
                let code = n < 0 ? Errno.current : .noSpace
                failure = "writing the trace \(path) failed: \(code); recording stopped"
            }
        }
        used = 0
    }
}
