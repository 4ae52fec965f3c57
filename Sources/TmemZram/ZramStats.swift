/// One reading of `/sys/block/zramN/mm_stat`: the memory side of a zram device.
///
/// Field names and meanings are the kernel's (Documentation/admin-guide/blockdev/zram.rst,
/// "mm_stat"); sizes are in bytes, counts in pages. The file grew over time: 7 columns since
/// Linux 4.1, `huge_pages` since 4.19, `huge_pages_since` since 5.15; the newer fields are `nil`
/// on kernels without them.
public struct ZramStats: Equatable, Sendable {
    /// `orig_data_size`: uncompressed size of the data stored (same-filled pages included).
    public var origDataSize: Int
    /// `compr_data_size`: compressed size of the data stored (same-filled pages take none).
    public var comprDataSize: Int
    /// `mem_used_total`: memory the allocator (zsmalloc) holds for this device, metadata and
    /// fragmentation included. The honest "RAM it costs" figure.
    public var memUsedTotal: Int
    /// `mem_limit`: the most memory the device may use; 0 means no limit.
    public var memLimit: Int
    /// `mem_used_max`: the high-water mark of `memUsedTotal`.
    public var memUsedMax: Int
    /// `same_pages`: pages stored as one repeated word (zero pages among them), which use no memory.
    public var samePages: Int
    /// `pages_compacted`: allocator pages freed by compaction.
    public var pagesCompacted: Int
    /// `huge_pages`: pages stored uncompressed because they compressed poorly; `nil` before 4.19.
    public var hugePages: Int?
    /// `huge_pages_since`: such pages stored since the device was set up; `nil` before 5.15.
    public var hugePagesSince: Int?

    /// Creates a reading from explicit values (tests, reports).
    ///
    /// - Parameters: One per field, in mm_stat's column order.
    public init(
        origDataSize: Int,
        comprDataSize: Int,
        memUsedTotal: Int,
        memLimit: Int,
        memUsedMax: Int,
        samePages: Int,
        pagesCompacted: Int,
        hugePages: Int? = nil,
        hugePagesSince: Int? = nil
    ) {
        self.origDataSize = origDataSize
        self.comprDataSize = comprDataSize
        self.memUsedTotal = memUsedTotal
        self.memLimit = memLimit
        self.memUsedMax = memUsedMax
        self.samePages = samePages
        self.pagesCompacted = pagesCompacted
        self.hugePages = hugePages
        self.hugePagesSince = hugePagesSince
    }

    /// Parses the text of an `mm_stat` file: whitespace-separated decimal columns.
    ///
    /// - Parameter mmStat: The file's content, e.g. `"  8192  97  12288  0  12288  1  0  0  0\n"`.
    ///   Columns beyond the nine known ones (from a newer kernel) are ignored.
    /// - Returns: The reading, or `nil` if there are fewer than 7 columns or one is not a number.
    /// - Complexity: O(length of the text).
    public init?(mmStat: String) {
        var columns: [Int] = []
        for field in mmStat.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }) {
            guard let value = Int(field), value >= 0 else {
                return nil
            }
            columns.append(value)
        }
        guard columns.count >= 7 else {
            return nil
        }
        self.init(
            origDataSize: columns[0],
            comprDataSize: columns[1],
            memUsedTotal: columns[2],
            memLimit: columns[3],
            memUsedMax: columns[4],
            samePages: columns[5],
            pagesCompacted: columns[6],
            hugePages: columns.count > 7 ? columns[7] : nil,
            hugePagesSince: columns.count > 8 ? columns[8] : nil
        )
    }

    /// `origDataSize / memUsedTotal`: how many bytes of pages each byte of RAM holds, the figure
    /// zram users quote; `nil` while nothing is allocated.
    public var effectiveRatio: Double? {
        memUsedTotal > 0 ? Double(origDataSize) / Double(memUsedTotal) : nil
    }
}
