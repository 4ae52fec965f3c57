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

/// One compressor per thread.
final class CompressorBoxes: Sendable {
    final class Box: Sendable {
        // @unchecked-free: a Mutex, although each is only ever used by its own thread.
        let compressor: Mutex<Holder>
        init(_ holder: consuming Holder) { compressor = Mutex(holder) }
    }

    // @unchecked: only reached through its Box's Mutex.
    struct Holder: ~Copyable, @unchecked Sendable { var value: PageCompressor }

    private let boxes: [Box]

    init(count: Int, algorithm: CompressionAlgorithm, level: Int?) throws(CompressionError) {
        var boxes: [Box] = []
        for _ in 0..<count { boxes.append(Box(Holder(value: try PageCompressor(algorithm: algorithm, level: level)))) }
        self.boxes = boxes
    }

    func compress(_ t: Int, _ page: UnsafeRawBufferPointer, into corpus: CompressedCorpus, slot: Int) {
        // A destination of the compressor's worst-case bound: plain compression, no early stop.
        let dst = UnsafeMutableRawBufferPointer(start: corpus.storage + slot * CompressedCorpus.stride, count: CompressedCorpus.stride)
        let length = boxes[t].compressor.withLock { $0.value.compress(page, into: dst) } ?? pageSize
        if length >= pageSize {
            dst.copyMemory(from: page)  // does not fit a page: kept as it is, like zram's huge pages
            corpus.lengths[slot] = pageSize
        } else {
            corpus.lengths[slot] = length
        }
    }

    func decompress(_ t: Int, _ corpus: CompressedCorpus, slot: Int, into page: UnsafeMutableRawBufferPointer) throws {
        let length = corpus.lengths[slot]
        let src = UnsafeRawBufferPointer(start: corpus.storage + slot * CompressedCorpus.stride, count: length)
        if length == pageSize {
            page.copyMemory(from: src)
            return
        }
        try boxes[t].compressor.withLock { (holder: inout Holder) throws(CompressionError) in
            try holder.value.decompress(src, into: page)
        }
    }
}
