#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem
import TmemCompression
import TmemZcache

/// A read-only file of 4096-byte pages: page K is bytes K*4096..<(K+1)*4096. Used as the source of
/// page contents for `tmem replay` and `tmem bench`.
///
/// The file is read into memory once, whole: a plain file as it is, a Zstandard-compressed one (`.zst`,
/// recognised by its magic number, such as ../shared/corpus/dev-pages.bin.zst) decompressed. Reading
/// rather than mapping means a file truncated or rewritten while in use changes nothing here (a mapping
/// would die of SIGBUS), and a pipe works too.
///
/// Its size is bounded (``defaultSizeLimit`` unless the caller raises it): a raw file larger than the limit
/// is refused before it is read, a compressed one whose frame header declares more content is refused
/// before it is decompressed, and decompression stops at the limit when the header declares nothing
/// (a 36 KB zstd file can expand to 1 GiB).
public final class PageCorpus: @unchecked Sendable {
    // @unchecked: `bytes` is immutable after init and freed only in deinit.
    private let bytes: UnsafeMutableRawBufferPointer
    /// The number of whole pages.
    public let pageCount: Int
    /// Where the pages came from.
    public let path: String
    /// The file's device and inode numbers (`st_dev`, `st_ino`), so that a caller can refuse to write
    /// over the corpus (as a swap file, say).
    public let identity: FileIdentity

    /// A file's identity on this machine: two paths name the same file when these are equal.
    public struct FileIdentity: Hashable, Sendable {
        /// `st_dev`.
        public var device: UInt64
        /// `st_ino`.
        public var inode: UInt64

        /// The identity of the file at `path` (following symbolic links), or nil if it cannot be examined.
        ///
        /// - Parameter path: Any path.
        /// - Returns: Its `st_dev` and `st_ino`.
        public init?(path: String) {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            self.init(info)
        }

        init(_ info: stat) {
            device = UInt64(info.st_dev)
            inode = UInt64(info.st_ino)
        }
    }

    /// The size limit when none is given: 1 GiB, or a quarter of physical memory if that is less. The
    /// dev corpus is 64 MiB; a limit far above what the machine holds would only trade a clear refusal for
    /// the OOM killer.
    public static let defaultSizeLimit = min(1 << 30, max(physicalMemoryBytes() / 4, 1 << 20))

    /// Opens a corpus and reads it into memory.
    ///
    /// - Parameters:
    ///   - path: A file of pages, raw or Zstandard-compressed, or a pipe. A trailing partial page is ignored.
    ///   - sizeLimit: The most bytes of pages to hold (after decompression), at least 4096.
    /// - Throws: ``ReplayError`` if the file cannot be read, is a directory, is empty, is corrupt, or
    ///   holds more than `sizeLimit` bytes (``ReplayError/isLimit``).
    public init(path: String, sizeLimit: Int = PageCorpus.defaultSizeLimit) throws(ReplayError) {
        precondition(sizeLimit >= pageSize, "a corpus limit below one page admits nothing")
        self.path = path
        let fd = try valueOrErrno { open(path, O_RDONLY | O_CLOEXEC) }
            .mapError { ReplayError.input("cannot open corpus \(path): \(describeErrno($0.rawValue))") }.get()
        defer { close(fd) }
        var info = stat()
        if case .failure(let code) = valueOrErrno({ fstat(fd, &info) }) {
            throw .input("cannot stat corpus \(path): \(describeErrno(code.rawValue))")
        }
        if info.st_mode & S_IFMT == S_IFDIR { throw .input("corpus \(path) is a directory, not a file of pages") }
        identity = FileIdentity(info)
        let limitText = formatByteCount(sizeLimit)
        if info.st_mode & S_IFMT == S_IFREG && Int(info.st_size) > sizeLimit {
            throw .limit("corpus \(path) is \(formatByteCount(Int(info.st_size))), more than the limit of \(limitText)")
        }
        let file = try PageCorpus.readAll(fd, path: path, expected: Int(info.st_size), limit: sizeLimit)
        if Zstd.isFrame(UnsafeRawBufferPointer(file)) {
            defer { file.deallocate() }
            if let declared = Zstd.declaredContentSize(UnsafeRawBufferPointer(file)), declared > UInt64(sizeLimit) {
                throw .limit(
                    "corpus \(path) declares \(formatByteCount(Int(clamping: declared))) of pages "
                        + "(its Zstandard frame header), more than the limit of \(limitText)")
            }
            let decoded: [UInt8]
            do { decoded = try Zstd.decompressAll(UnsafeRawBufferPointer(file), limit: sizeLimit) } catch {
                if error.code == .inputTooLarge {
                    throw .limit("corpus \(path) expands to more than the limit of \(limitText)")
                }
                throw .input("corpus \(path) is not valid Zstandard: \(error.message)")
            }
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(decoded.count, 1), alignment: pageSize)
            decoded.withUnsafeBytes { copy.copyMemory(from: $0) }
            bytes = copy
            pageCount = decoded.count / pageSize
        } else {
            bytes = file
            pageCount = file.count / pageSize
        }
        guard pageCount > 0 else {
            bytes.deallocate()
            throw .input("corpus \(path) holds no whole page")
        }
    }

    deinit { bytes.deallocate() }

    /// The bytes of page `index`.
    ///
    /// - Precondition: `index` is in 0..<pageCount.
    public func page(_ index: Int) -> UnsafeRawBufferPointer {
        precondition((0..<pageCount).contains(index), "corpus page \(index) is out of range")
        return UnsafeRawBufferPointer(rebasing: bytes[index * pageSize..<(index + 1) * pageSize])
    }

    /// Reads `fd` to its end into a page-aligned buffer of exactly the bytes read (at least one byte of
    /// capacity), refusing more than `limit` bytes.
    private static func readAll(
        _ fd: Int32, path: String, expected: Int, limit: Int
    ) throws(ReplayError) -> UnsafeMutableRawBufferPointer {
        var buffer = UnsafeMutableRawBufferPointer.allocate(
            byteCount: min(max(expected, 1 << 16), limit) + 1, alignment: pageSize)
        var filled = 0
        reading: while true {
            if filled == buffer.count {
                guard filled <= limit else {
                    buffer.deallocate()
                    throw .limit("corpus \(path) holds more than the limit of \(formatByteCount(limit))")
                }
                let grown = UnsafeMutableRawBufferPointer.allocate(
                    byteCount: min(buffer.count * 2, limit == .max ? .max : limit + 1), alignment: pageSize)
                grown.copyMemory(from: UnsafeRawBufferPointer(buffer))
                buffer.deallocate()
                buffer = grown
            }
            switch valueOrErrno({ read(fd, buffer.baseAddress! + filled, buffer.count - filled) }) {
            case .success(0): break reading
            case .success(let n): filled += n
            case .failure(let code):
                buffer.deallocate()
                throw .input("cannot read corpus \(path): \(describeErrno(code.rawValue))")
            }
        }
        if filled > limit {
            buffer.deallocate()
            throw .limit("corpus \(path) holds more than the limit of \(formatByteCount(limit))")
        }
        if filled == 0 {
            buffer.deallocate()
            throw .input("corpus \(path) holds no page (0 bytes)")
        }
        return UnsafeMutableRawBufferPointer(rebasing: buffer[..<filled])
    }
}
