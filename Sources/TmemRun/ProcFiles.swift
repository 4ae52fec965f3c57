#if canImport(Glibc)
import Glibc
#endif

/// One line of /proc/PID/maps.
struct Mapping: Equatable, Sendable {
    var start: UInt64
    var end: UInt64
    /// "rw-p" and the like.
    var permissions: String
    var inode: UInt64
    /// The path, "[heap]", "[stack]", "[anon:name]", or "" for anonymous memory.
    var name: String

    /// Private anonymous read-write memory: what `tmem run` pages. The main thread's `[stack]` is left
    /// out (it grows down, below what was registered), as are special mappings (`[vvar]`, `[vdso]`...).
    var isPrivateAnonymousReadWrite: Bool {
        guard permissions == "rw-p", inode == 0 else { return false }
        return name.isEmpty || name == "[heap]" || name.hasPrefix("[anon:")
    }

    /// Private anonymous memory reserved without access (`---p`): glibc's thread arenas (64 MiB each,
    /// made accessible piece by piece with mprotect), runtimes' heap reservations. Registered ahead, since
    /// a part that mprotect opens keeps its registration and so faults from its first touch.
    var isPrivateAnonymousReservation: Bool {
        permissions == "---p" && inode == 0 && (name.isEmpty || name.hasPrefix("[anon:"))
    }

    /// What the monitor registers (at least the threshold large).
    var isPaged: Bool { isPrivateAnonymousReadWrite || isPrivateAnonymousReservation }
}

/// Reading a process's /proc files: its mappings, which of its pages are present, its resident size.
enum ProcFiles {
    /// The whole content of a (small, virtual) file, or nil if it cannot be read (the process is gone).
    static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { return nil }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<n])
        }
    }

    /// The mappings of `pid`, or nil if the process is gone.
    static func mappings(of pid: Int32) -> [Mapping]? {
        guard let bytes = read("/proc/\(pid)/maps") else { return nil }
        return parseMaps(bytes)
    }

    /// Parses the text of /proc/PID/maps; lines that do not parse are skipped (the format is the kernel's).
    static func parseMaps(_ bytes: [UInt8]) -> [Mapping] {
        var result: [Mapping] = []
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            // start-end perms offset dev inode [name]
            let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 5 else { continue }
            let range = fields[0].split(separator: UInt8(ascii: "-"))
            guard range.count == 2, let start = hex(range[0]), let end = hex(range[1]),
                let inode = UInt64(String(decoding: fields[4], as: UTF8.self))
            else { continue }
            var name = ""
            if fields.count == 6 {
                name = String(decoding: fields[5], as: UTF8.self)
                while name.first == " " { name.removeFirst() }
            }
            result.append(
                Mapping(
                    start: start, end: end, permissions: String(decoding: fields[1], as: UTF8.self), inode: inode,
                    name: name))
        }
        return result
    }

    /// The resident size of `pid` in pages (the second field of /proc/PID/statm), or nil if it is gone.
    static func residentPages(of pid: Int32) -> Int? {
        guard let bytes = read("/proc/\(pid)/statm") else { return nil }
        let fields = bytes.split(separator: UInt8(ascii: " "))
        guard fields.count >= 2 else { return nil }
        return Int(String(decoding: fields[1], as: UTF8.self))
    }

    /// The proportional set size of `pid` in pages (the `Pss:` line of /proc/PID/smaps_rollup: a page
    /// shared by n processes counts 1/n in each), or nil if it is gone. It walks the page tables: dearer
    /// than statm, so it is read only while processes may share pages.
    static func proportionalPages(of pid: Int32) -> Int? {
        guard let bytes = read("/proc/\(pid)/smaps_rollup") else { return nil }
        for line in bytes.split(separator: UInt8(ascii: "\n")) where line.starts(with: Array("Pss:".utf8)) {
            let fields = line.split(separator: UInt8(ascii: " "))
            guard fields.count >= 2, let kilobytes = Int(String(decoding: fields[1], as: UTF8.self)) else { return nil }
            return kilobytes / 4
        }
        return nil
    }

    /// The present pages of `[start, end)` in `pid`, from /proc/PID/pagemap (bit 63 of each 8-byte entry),
    /// as page numbers; nil if the file cannot be read.
    static func presentPages(of pid: Int32, _ start: UInt64, _ end: UInt64) -> [UInt64]? {
        let fd = open("/proc/\(pid)/pagemap", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var present: [UInt64] = []
        var entries = [UInt64](repeating: 0, count: 4096)
        var page = start >> 12
        let last = end >> 12
        while page < last {
            let want = Int(min(UInt64(entries.count), last - page))
            let n = entries.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want * 8, off_t(page * 8)) }
            guard n > 0 else { return n == 0 ? present : nil }
            for i in 0..<(n / 8) where entries[i] & (1 << 63) != 0 { present.append(page + UInt64(i)) }
            page += UInt64(n / 8)
        }
        return present
    }

    /// Whether one page of `pid` is present (nil: cannot tell).
    static func isPresent(pid: Int32, page: UInt64) -> Bool? {
        presentPages(of: pid, page << 12, (page + 1) << 12).map { !$0.isEmpty }
    }

    private static func hex(_ digits: ArraySlice<UInt8>) -> UInt64? {
        UInt64(String(decoding: digits, as: UTF8.self), radix: 16)
    }
}
