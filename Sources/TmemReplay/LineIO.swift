#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem

/// Reads a file descriptor line by line in large chunks, handing each line's bytes (without `\n`) to a
/// closure without copying. A last line without a newline is still a line.
public struct LineReader {
    private let fd: Int32
    private let chunkSize: Int

    /// Creates a reader.
    ///
    /// - Parameters:
    ///   - fd: The descriptor to read (0 for standard input); not closed by the reader.
    ///   - chunkSize: How much to read per `read(2)`.
    public init(fd: Int32, chunkSize: Int = 1 << 20) {
        self.fd = fd
        self.chunkSize = chunkSize
    }

    /// Calls `body` with each line, in order, until end of input.
    ///
    /// - Parameter body: Receives one line's bytes, valid only during the call.
    /// - Throws: ``ReplayError`` if reading fails (not at end of input).
    public func forEachLine(_ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        var filled = 0
        while true {
            if filled == buffer.count { buffer.append(contentsOf: repeatElement(0, count: buffer.count)) }
            let n = try buffer.withUnsafeMutableBytes { raw in
                valueOrErrno { read(fd, raw.baseAddress! + filled, raw.count - filled) }
            }.mapError { ReplayError.input("cannot read the trace: \(describeErrno($0.rawValue))") }.get()
            let end = filled + n
            var start = 0
            try buffer.withUnsafeBufferPointer { bytes in
                var i = filled
                while i < end {
                    if bytes[i] == 10 {
                        try body(UnsafeBufferPointer(rebasing: bytes[start..<i]))
                        start = i + 1
                    }
                    i += 1
                }
                if n == 0 && start < end { try body(UnsafeBufferPointer(rebasing: bytes[start..<end])) }
            }
            if n == 0 { return }
            // Keep the partial last line at the front of the buffer.
            if start > 0 {
                buffer.withUnsafeMutableBytes { raw in
                    raw.baseAddress!.copyMemory(from: raw.baseAddress! + start, byteCount: end - start)
                }
            }
            filled = end - start
        }
    }
}

/// Collects output lines and writes them to a file descriptor in large writes.
public final class LineWriter {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private let flushAt: Int

    /// Creates a writer.
    ///
    /// - Parameters:
    ///   - fd: The descriptor to write (1 for standard output); not closed by the writer.
    ///   - flushAt: Buffer size that triggers a write.
    public init(fd: Int32, flushAt: Int = 1 << 16) {
        self.fd = fd
        self.flushAt = flushAt
        buffer.reserveCapacity(flushAt + 256)
    }

    deinit { flush() }

    /// Appends a line and a newline; writes out when the buffer is full.
    public func writeLine(_ line: String) {
        buffer.append(contentsOf: line.utf8)
        buffer.append(10)
        if buffer.count >= flushAt { flush() }
    }

    /// Writes out everything buffered. Output errors (a closed pipe) are ignored, as `print` ignores them.
    public func flush() {
        var written = 0
        buffer.withUnsafeBytes { raw in
            while written < raw.count {
                guard case .success(let n) = valueOrErrno({ write(fd, raw.baseAddress! + written, raw.count - written) }),
                    n > 0
                else { return }
                written += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
