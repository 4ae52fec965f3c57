#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem
import TmemCompression

/// A read-only file of 4096-byte pages: page K is bytes K*4096..<(K+1)*4096. Used as the source of
/// page contents for `tmem replay` and `tmem bench`.
///
/// A plain file is mapped read-only (pages are paged in as they are used); a Zstandard-compressed file
/// (`.zst`, recognised by its magic number, such as ../shared/corpus/dev-pages.bin.zst) is decompressed
/// into memory once.
public final class PageCorpus: @unchecked Sendable {
    // @unchecked: `bytes` is immutable after init and freed only in deinit.
    private let bytes: UnsafeRawBufferPointer
    private let release: @Sendable (UnsafeRawBufferPointer) -> Void
    /// The number of whole pages.
    public let pageCount: Int
    /// Where the pages came from.
    public let path: String

    /// Opens a corpus.
    ///
    /// - Parameter path: A file of pages, raw or Zstandard-compressed. A trailing partial page is ignored.
    /// - Throws: ``ReplayError`` if the file cannot be read, is empty, or is corrupt.
    public init(path: String) throws(ReplayError) {
        self.path = path
        let fd = try valueOrErrno { open(path, O_RDONLY | O_CLOEXEC) }
            .mapError { ReplayError.input("cannot open corpus \(path): \(describeErrno($0.rawValue))") }.get()
        defer { close(fd) }
        var info = stat()
        if case .failure(let code) = valueOrErrno({ fstat(fd, &info) }) {
            throw .input("cannot stat corpus \(path): \(describeErrno(code.rawValue))")
        }
        let size = Int(info.st_size)
        guard size >= 4 else { throw .input("corpus \(path) holds no page (\(size) bytes)") }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw .input("cannot map corpus \(path): \(describeErrno(Errno.current.rawValue))")
        }
        let file = UnsafeRawBufferPointer(start: mapped, count: size)
        if Zstd.isFrame(file) {
            defer { munmap(mapped, size) }
            let decoded: [UInt8]
            do { decoded = try Zstd.decompressAll(file) } catch {
                throw .input("corpus \(path) is not valid Zstandard: \(error.message)")
            }
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(decoded.count, 1), alignment: pageSize)
            decoded.withUnsafeBytes { copy.copyMemory(from: $0) }
            bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(copy)[0..<decoded.count])
            release = { UnsafeMutableRawBufferPointer(mutating: $0).deallocate() }
        } else {
            bytes = file
            release = { munmap(UnsafeMutableRawPointer(mutating: $0.baseAddress), $0.count) }
        }
        pageCount = bytes.count / pageSize
        guard pageCount > 0 else { throw .input("corpus \(path) holds no whole page") }
    }

    deinit { release(bytes) }

    /// The bytes of page `index`.
    ///
    /// - Precondition: `index` is in 0..<pageCount.
    public func page(_ index: Int) -> UnsafeRawBufferPointer {
        precondition((0..<pageCount).contains(index), "corpus page \(index) is out of range")
        return UnsafeRawBufferPointer(rebasing: bytes[index * pageSize..<(index + 1) * pageSize])
    }
}
