#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
import Tmem
import TmemPaging
import TmemTestKit
import TmemZcache

/// What the kernel allows this test process: decided once, by making a small region.
enum Kernel {
    /// The kernel lets this process use userfaultfd at all (root, CAP_SYS_PTRACE,
    /// vm.unprivileged_userfaultfd=1, /dev/userfaultfd access, or UFFD_USER_MODE_ONLY).
    static let allowsUserfaultfd: Bool = probe.allowed
    /// Faults taken by the kernel itself (read(2) into the region) are served: not user-mode-only.
    static let servesKernelFaults: Bool = probe.kernelFaults
    /// Userfaultfd write-protection of anonymous memory works (Linux 5.7+ on x86-64).
    static let writeProtects: Bool = probe.writeProtect

    private static let probe: (allowed: Bool, kernelFaults: Bool, writeProtect: Bool) = {
        do {
            let region = try PagedRegion(size: 1 << 20, backend: RAMPool(capacity: 1 << 20))
            return (true, region.servesKernelFaults, region.isWriteTracking)
        } catch {
            print("userfaultfd unavailable to the paging tests: \(error)")
            return (false, false, false)
        }
    }()
}

/// The reason printed for tests skipped because the kernel refuses userfaultfd.
let refusedReason: Comment = """
    the kernel refuses userfaultfd to this process \
    (vm.unprivileged_userfaultfd=0, no CAP_SYS_PTRACE, no /dev/userfaultfd access)
    """

/// The backends tests page through.
enum BackendKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    /// A RAM pool that takes every page: faults come from transcendent memory.
    case ram
    /// A RAM pool with room for a quarter of the region: the rest goes to the swap file.
    case smallRAM
    /// Zcache with LZ4, whose limit makes it write cold pages back to the swap file.
    case zcache

    var testDescription: String { rawValue }

    func make(regionPages: Int) throws -> any Backend {
        switch self {
        case .ram: RAMPool(capacity: regionPages * pageSize)
        case .smallRAM: RAMPool(capacity: regionPages / 4 * pageSize)
        case .zcache: try Zcache(configuration: .init(compressor: .lz4, limit: regionPages / 8 * pageSize))
        }
    }
}

/// Page contents named by (page, version): a xorshift stream seeded from both, so a page that came back
/// from the wrong slot or an older version shows. Version 0 means never written (all zeros).
enum Pattern {
    static func fill(_ region: UnsafeMutableRawBufferPointer, page: Int, version: Int) {
        var state = seed(page, version)
        let base = page * pageSize
        for word in 0..<(pageSize / 8) {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            region.storeBytes(of: state, toByteOffset: base + word * 8, as: UInt64.self)
        }
    }

    /// Whether `page` holds `version` (all zeros for version 0), byte for byte.
    static func matches(_ region: UnsafeMutableRawBufferPointer, page: Int, version: Int) -> Bool {
        let base = page * pageSize
        if version == 0 {
            for word in 0..<(pageSize / 8) where region.load(fromByteOffset: base + word * 8, as: UInt64.self) != 0 {
                return false
            }
            return true
        }
        var state = seed(page, version)
        for word in 0..<(pageSize / 8) {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            if region.load(fromByteOffset: base + word * 8, as: UInt64.self) != state { return false }
        }
        return true
    }

    private static func seed(_ page: Int, _ version: Int) -> UInt64 {
        var z = UInt64(page) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(version) &* 0xC2B2_AE3D_27D4_EB4F
        z = (z ^ (z >> 31)) &* 0xBF58_476D_1CE4_E5B9
        return z | 1
    }
}

/// A Zipf-like sampler over `count` items (exponent 1): item ranks are shuffled over the pages with the
/// generator, so hot pages are spread through the region rather than packed at its start.
struct ZipfSampler {
    private var cumulative: [Double] = []
    private var pageOfRank: [Int]

    init(count: Int, exponent: Double = 1.0, generator: inout SeededGenerator) {
        var total = 0.0
        cumulative.reserveCapacity(count)
        for rank in 1...count {
            total += 1.0 / pow(Double(rank), exponent)
            cumulative.append(total)
        }
        cumulative = cumulative.map { $0 / total }
        pageOfRank = Array(0..<count)
        pageOfRank.shuffle(using: &generator)
    }

    func next(_ generator: inout SeededGenerator) -> Int {
        let u = Double(generator.next() >> 11) / Double(1 << 53)
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let mid = (low + high) / 2
            if cumulative[mid] < u { low = mid + 1 } else { high = mid }
        }
        return pageOfRank[low]
    }
}

/// A raw pointer that crosses to the test's worker threads, which finish before it is invalid.
struct SharedBytes: @unchecked Sendable {
    // @unchecked: used only inside `withUnsafeMutableBytes`, by threads joined before it returns, each
    // writing pages no other thread reads or writes at the same time.
    let bytes: UnsafeMutableRawBufferPointer
}

/// Whether a path exists.
func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }

/// A region of `pages` pages over a RAM pool that can hold all of them.
func ramRegion(pages: Int, configuration: PagedRegion.Configuration) throws -> PagedRegion {
    try PagedRegion(size: pages * pageSize, backend: RAMPool(capacity: pages * pageSize), configuration: configuration)
}

extension Pattern {
    /// Fills pages 0..<pages with their `version`.
    static func fillAll(_ bytes: UnsafeMutableRawBufferPointer, pages: Int, version: Int) {
        for page in 0..<pages { fill(bytes, page: page, version: version) }
    }
}

