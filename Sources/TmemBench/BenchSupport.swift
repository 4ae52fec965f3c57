import Synchronization
import Tmem
import TmemCompression

/// One page-aligned 4 KiB buffer per thread.
final class PageBuffers: @unchecked Sendable {
    // @unchecked: thread t uses only buffer t; the buffers live as long as this object.
    private let base: UnsafeMutableRawPointer
    private let count: Int

    init(count: Int) {
        self.count = count
        base = .allocate(byteCount: count * pageSize, alignment: pageSize)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: count * pageSize)
    }

    deinit { base.deallocate() }

    subscript(t: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base + t * pageSize, count: pageSize)
    }
}

/// Every page's compressed form, one 4 KiB slot per page, for the raw compressor baseline.
final class CompressedCorpus: @unchecked Sendable {
    // @unchecked: each slot is written by one thread in the compress phase and read after it.
    let storage: UnsafeMutableRawPointer
    let lengths: UnsafeMutablePointer<Int>
    let pages: Int
    /// Room per page: LZ4_compressBound(4096) and ZSTD_compressBound(4096) are both under 4200 bytes.
    static let stride = 2 * pageSize

    init(pages: Int) {
        self.pages = pages
        storage = .allocate(byteCount: pages * Self.stride, alignment: pageSize)
        lengths = .allocate(capacity: pages)
        lengths.initialize(repeating: 0, count: pages)
        // Touch every page now, so the compress phase measures compression, not first-touch page faults.
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: pages * Self.stride)
    }

    deinit {
        storage.deallocate()
        lengths.deallocate()
    }

    var totalBytes: Int { (0..<pages).reduce(0) { $0 + lengths[$1] } }
}

extension CompressedCorpus {
    /// Compresses a page into its slot with one of `compressors`, into a destination of the worst-case
    /// bound (plain compression, no early stop); a page that does not shrink is kept as it is, like
    /// zram's huge pages.
    func compress(_ page: UnsafeRawBufferPointer, slot: Int, with compressors: CompressorPool) {
        let dst = UnsafeMutableRawBufferPointer(start: storage + slot * Self.stride, count: Self.stride)
        let length = compressors.with { $0.compressor.compress(page, into: dst) } ?? pageSize
        if length >= pageSize {
            dst.copyMemory(from: page)
            lengths[slot] = pageSize
        } else {
            lengths[slot] = length
        }
    }

    /// Decompresses a slot's page into `page`.
    func decompress(slot: Int, into page: UnsafeMutableRawBufferPointer, with compressors: CompressorPool) throws {
        let src = UnsafeRawBufferPointer(start: storage + slot * Self.stride, count: lengths[slot])
        if src.count == pageSize {
            page.copyMemory(from: src)
            return
        }
        try compressors.with { (slot: inout CompressorPool.Slot) throws(CompressionError) in
            try slot.compressor.decompress(src, into: page)
        }
    }
}
