#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem

/// Reads a file descriptor line by line in large chunks, handing each line's bytes (without `\n`) to a
/// closure without copying. A last line without a newline is still a line.
///
/// Lines are bounded: a line longer than ``maxLineLength`` is reported as ``Line/tooLong(prefix:)`` once,
/// and the rest of it, up to the next newline, is skipped; memory stays one chunk whatever the input
/// (`< /dev/zero` included).
public struct LineReader {
    /// One line of input.
    public enum Line {
        /// A whole line, without its newline; valid only during the call.
        case complete(UnsafeBufferPointer<UInt8>)
        /// A line longer than the limit: its first `maxLineLength` bytes (valid only during the call); the
        /// rest is skipped.
        case tooLong(prefix: UnsafeBufferPointer<UInt8>)
    }

    private let fd: Int32
    private let chunkSize: Int
    /// The longest line delivered whole, in bytes (without the newline).
    public let maxLineLength: Int

    /// Creates a reader.
    ///
    /// - Parameters:
    ///   - fd: The descriptor to read (0 for standard input); not closed by the reader.
    ///   - chunkSize: How much to read per `read(2)`; raised to `maxLineLength + 1` if smaller.
    ///   - maxLineLength: The longest line delivered whole (4096 by default: a trace line is a few dozen
    ///     bytes, so anything near this is not a trace).
    public init(fd: Int32, chunkSize: Int = 1 << 20, maxLineLength: Int = 4096) {
        precondition(maxLineLength > 0, "a line limit admits at least one byte")
        self.fd = fd
        self.maxLineLength = maxLineLength
        self.chunkSize = max(chunkSize, maxLineLength + 1)
    }

    /// Calls `body` with each line, in order, until end of input.
    ///
    /// - Parameters:
    ///   - beforeRead: Called before every `read(2)`, each of which may block waiting for input: where a
    ///     caller flushes what it owes a peer that waits for it.
    ///   - body: Receives each line, in order.
    /// - Throws: ``ReplayError`` if reading fails (not at end of input); whatever `beforeRead` or `body`
    ///   throws, which ends the reading.
    public func forEachLine(beforeRead: () throws -> Void = {}, _ body: (Line) throws -> Void) throws {
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        var filled = 0
        var skipping = false
        while true {
            try beforeRead()
            let n = try buffer.withUnsafeMutableBytes { raw in
                valueOrErrno { read(fd, raw.baseAddress! + filled, raw.count - filled) }
            }.mapError { ReplayError.input("cannot read the trace: \(describeErrno($0.rawValue))") }.get()
            let end = filled + n
            var start = 0
            try buffer.withUnsafeBufferPointer { bytes in
                func deliver(_ range: Range<Int>) throws {
                    if range.count > maxLineLength {
                        try body(.tooLong(prefix: UnsafeBufferPointer(rebasing: bytes[range.prefix(maxLineLength)])))
                    } else {
                        try body(.complete(UnsafeBufferPointer(rebasing: bytes[range])))
                    }
                }
                var i = filled
                while i < end {
                    if bytes[i] == 10 {
                        if skipping { skipping = false } else { try deliver(start..<i) }
                        start = i + 1
                    }
                    i += 1
                }
                if n == 0 && start < end && !skipping { try deliver(start..<end) }
                if n > 0 && !skipping && end - start > maxLineLength {
                    try deliver(start..<end)
                    skipping = true
                }
            }
            if n == 0 { return }
            // Keep the partial last line at the front of the buffer; drop what is being skipped.
            if skipping { start = end }
            if start > 0 {
                buffer.withUnsafeMutableBytes { raw in
                    raw.baseAddress!.copyMemory(from: raw.baseAddress! + start, byteCount: end - start)
                }
            }
            filled = end - start
        }
    }

    /// Calls `body` with each whole line, in order, until end of input.
    ///
    /// - Parameter body: Receives one line's bytes, valid only during the call.
    /// - Throws: ``ReplayError`` if reading fails or a line is longer than ``maxLineLength``; whatever
    ///   `body` throws.
    public func forEachLine(_ body: (UnsafeBufferPointer<UInt8>) throws -> Void) throws {
        var number = 0
        try forEachLine { (line: Line) in
            number += 1
            switch line {
            case .complete(let bytes): try body(bytes)
            case .tooLong: throw ReplayError.input("line \(number) is longer than \(maxLineLength) bytes")
            }
        }
    }
}

/// Collects output lines and writes them to a file descriptor in large writes.
///
/// Write errors are not ignored: the first one (a full disk, a closed pipe) is kept in ``failure``, and
/// everything after it is dropped, so that a caller checks once (``finish()``) and reports it. A closed
/// pipe gives `EPIPE` only where `SIGPIPE` is ignored; otherwise the signal ends the process.
public final class LineWriter {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private let flushAt: Int
    /// The first write error, if any; once set, nothing more is written.
    public private(set) var failure: Errno?

    /// Creates a writer.
    ///
    /// - Parameters:
    ///   - fd: The descriptor to write (1 for standard output); not closed by the writer.
    ///   - flushAt: Buffer size that triggers a write (0: write every line at once).
    public init(fd: Int32, flushAt: Int = 1 << 16) {
        self.fd = fd
        self.flushAt = flushAt
        buffer.reserveCapacity(flushAt + 256)
    }

    /// Appends a line and a newline; writes out when the buffer is full.
    ///
    /// - Parameter line: The text, without a newline.
    public func writeLine(_ line: String) {
        guard failure == nil else { return }
        buffer.append(contentsOf: line.utf8)
        buffer.append(10)
        if buffer.count >= flushAt { flush() }
    }

    /// Writes out everything buffered. A failure is kept in ``failure`` (the first one only).
    public func flush() {
        guard failure == nil, !buffer.isEmpty else { return }
        var written = 0
        buffer.withUnsafeBytes { raw in
            while written < raw.count {
                switch valueOrErrno({ write(fd, raw.baseAddress! + written, raw.count - written) }) {
                case .success(let n) where n > 0: written += n
                case .success: failure = .noSpace
                case .failure(let code): failure = code
                }
                if failure != nil { return }
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes out everything buffered and reports the first write error of the writer's life.
    ///
    /// - Throws: The `Errno` of the first write that failed.
    public func finish() throws(Errno) {
        flush()
        if let failure { throw failure }
    }

    deinit { flush() }
}
