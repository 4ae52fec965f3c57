#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import Tmem

/// A file read through a small in-process page cache with cleancache behind it and the file behind
/// that: the shape of a database's pager, usable by any Swift program.
///
/// - Reads: a page comes from the in-process cache, else from cleancache, else from the file (with
///   `O_DIRECT` where the file system supports it, so the kernel's page cache does not hide what
///   cleancache saves). A page the in-process cache drops is offered to cleancache (a victim cache:
///   pages enter it when they leave the program's own memory).
/// - Writes go through to the file at once; every page they touch is invalidated in cleancache first
///   and refreshed in the in-process cache, so no read returns bytes older than a write.
/// - The file changed behind the cache's back (size, mtime or ctime differ from when it was opened or
///   last written here; an inode reused by another file): ``revalidate()`` drops its cached pages.
///   It runs on open; a consumer that knows better (a database that checks its own change counter)
///   calls ``invalidate()`` or ``invalidate(pages:)`` itself.
///
/// Thread-safe: reads and writes from several threads are serialised per file (the in-process cache's
/// mutex), each system call outside it.
public final class CachedFile: Sendable {
    /// The file's path, for messages.
    public let path: String
    public let cleancache: Cleancache
    public let pool: FSPool
    /// Whether reads bypass the kernel's page cache (`O_DIRECT` was accepted).
    public let directIO: Bool
    private let readFD: Int32
    private let writeFD: Int32
    /// The file's key in its pool (``FileIdentity/fileKey``: device and inode).
    private let fileKey: UInt64
    /// The file's identity when this instance last checked it or wrote it.
    private let identity: Mutex<FileIdentity>
    private let local: Mutex<LocalPages>
    private let counters = CachedFileCounters()
    private let closed = Atomic<Bool>(false)
    /// Whether a cleancache hit leaves the page in cleancache (an inclusive pool).
    private let keepsHits: Bool

    /// Opens `path` for reading and writing (or reading only), checks it against what cleancache
    /// recorded for its inode, and caches up to `cachePages` pages in this process.
    ///
    /// - Throws: ``TmemError`` naming the path and the failure of `open` or `fstat`.
    public init(path: String, cleancache: Cleancache, pool: FSPool, cachePages: Int = 256, writable: Bool = true) throws(TmemError) {
        precondition(cachePages >= 1, "the in-process cache holds at least one page")
        self.path = path
        self.cleancache = cleancache
        self.pool = pool
        keepsHits = !cleancache.exclusiveGets(pool)
        let flags = writable ? O_RDWR : O_RDONLY
        let buffered = open(path, flags | O_CLOEXEC)
        guard buffered >= 0 else { throw .unavailable("cannot open \(path): \(Errno.current)") }
        let direct = open(path, O_RDONLY | O_CLOEXEC | openDirectFlag)
        readFD = direct >= 0 ? direct : buffered
        writeFD = buffered
        directIO = direct >= 0
        let identity: FileIdentity
        do throws(TmemError) {
            identity = try FileIdentity(descriptor: buffered)
        } catch {
            if direct >= 0 { close(direct) }
            close(buffered)
            throw .unavailable("\(path): \(error.message)")
        }
        fileKey = identity.fileKey
        self.identity = Mutex(identity)
        local = Mutex(LocalPages(capacity: cachePages))
        cleancache.revalidate(pool, identity: identity)
    }

    deinit {
        closeDescriptors()
        // The pages this process drops now are still clean: offer them to cleancache.
        for page in local.withLock({ $0.drain() }) { offer(page) }
    }

    /// Closes the file's descriptors now (else when the instance goes), for a caller that must control
    /// when: closing any descriptor of a file drops every POSIX lock the process holds on it, so a
    /// database closes them only while no connection of its own holds a lock. No read, write or
    /// revalidation may follow; the cached pages stay, and go to cleancache when the instance goes.
    public func closeDescriptors() {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if readFD != writeFD { close(readFD) }
        close(writeFD)
    }

    /// The file's size as of its opening, this instance's last write or truncation, or the last
    /// ``revalidate()`` (a read does not stat the file: a change behind the cache's back is seen by
    /// ``revalidate()``).
    public var size: Int { Int(identity.withLock { $0.size }) }

    /// Reads `buffer.count` bytes at `offset` (page by page through the caches).
    ///
    /// - Returns: Bytes read: fewer than asked at the end of the file.
    /// - Throws: ``TmemError`` when the file cannot be read.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(TmemError) -> Int {
        precondition(offset >= 0, "a file offset is not negative")
        let end = min(offset + buffer.count, size)
        var done = 0
        var position = offset
        while position < end {
            let index = position / pageSize
            let within = position - index * pageSize
            let count = min(pageSize - within, end - position)
            try withPage(index) { page in
                (buffer.baseAddress! + done).copyMemory(from: page.baseAddress! + within, byteCount: count)
            }
            done += count
            position += count
        }
        return done
    }

    /// Writes `bytes` at `offset`, through to the file (extending it when the write ends past it).
    ///
    /// - Throws: ``TmemError`` when the file cannot be written; what was cached for the touched pages
    ///   is gone either way.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(TmemError) {
        precondition(offset >= 0, "a file offset is not negative")
        guard bytes.count > 0 else { return }
        try changing(bytes: offset..<(offset + bytes.count)) { () throws(TmemError) in
            var done = 0
            while done < bytes.count {
                let n = pwrite(writeFD, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw .unavailable("cannot write \(path): \(Errno.current)")
                }
                done += n
            }
        }
    }

    /// Cuts or extends the file to `size` bytes; the pages past the new end are invalidated.
    public func truncate(to size: Int) throws(TmemError) {
        let old = self.size
        try changing(bytes: min(old, size)..<(max(old, size) + 1)) { () throws(TmemError) in
            guard ftruncate(writeFD, off_t(size)) == 0 else { throw .unavailable("cannot truncate \(path): \(Errno.current)") }
        }
    }

    /// Runs `body`, which changes the file's bytes in `range` (a write, a truncation, through this
    /// instance or through the caller's own descriptor of the same file), keeping both caches coherent:
    /// - before it, a change made behind the cache's back since this instance last looked (the file's
    ///   identity moved) drops every cached page of the file, and the pages in `range` go (so no reader
    ///   keeps the old bytes past the change);
    /// - after it, the file's new identity is recorded as this instance's (so its own change does not
    ///   later read as a foreign one) and the pages in `range` go again (so none that a reader read
    ///   while the change was under way is cached: its token and local generation are then stale).
    ///
    /// The caller serialises changes against other writers of the file (a database's write lock): a
    /// foreign change made while `body` runs would be taken for this instance's.
    public func changing<R, E: Error>(bytes range: Range<Int>, _ body: () throws(E) -> R) throws(E) -> R {
        precondition(range.lowerBound >= 0, "a file offset is not negative")
        let pages = (range.lowerBound / pageSize)...(max(range.lowerBound, range.upperBound - 1) / pageSize)
        if let now = try? FileIdentity(descriptor: writeFD), now != identity.withLock({ $0 }) { invalidate() }
        // A large truncation (a VACUUM that shrinks the file) drops the whole file rather than page by page.
        let whole = pages.count > Self.pagesInvalidatedOneByOne
        let invalidateTouched = { whole ? self.invalidate() : self.invalidate(pages: pages) }
        invalidateTouched()
        defer {
            recordOwnWrite()
            invalidateTouched()
        }
        counters.writes.add(1, ordering: .relaxed)
        return try body()
    }

    /// Past this many pages, a change invalidates the whole file at once.
    static let pagesInvalidatedOneByOne = 1024

    /// After this instance's own write: its new identity is the file's (in cleancache's record and this
    /// instance's), so the write's new times do not drop the whole file.
    private func recordOwnWrite() {
        guard let now = try? FileIdentity(descriptor: writeFD) else { return }
        identity.withLock { $0 = now }
        cleancache.record(pool, identity: now)
    }

    /// Drops the given pages from both caches (before they change in the file).
    public func invalidate(pages: ClosedRange<Int>) {
        local.withLock { l in for index in pages { l.remove(index) } }
        for index in pages { cleancache.invalidatePage(pool, file: fileKey, index: UInt32(truncatingIfNeeded: index)) }
    }

    /// Drops every page of the file from both caches.
    public func invalidate() {
        _ = local.withLock { $0.drain() }
        cleancache.invalidateFile(pool, file: fileKey)
    }

    /// The consumer knows the file changed behind the cache (a database's change counter moved): every
    /// cached page of it goes, and its identity (and size) is taken afresh.
    public func reload() throws(TmemError) {
        invalidate()
        try revalidate()
    }

    /// Checks the file against the identity this instance recorded when it opened or last wrote it (and
    /// against cleancache's record): when it changed behind the cache's back, every cached page of it
    /// goes. A change that keeps size, mtime and ctime (a same-size rewrite within one timestamp tick)
    /// is not seen: a consumer that knows better invalidates itself.
    ///
    /// - Returns: false when it had changed.
    @discardableResult
    public func revalidate() throws(TmemError) -> Bool {
        let now = try FileIdentity(descriptor: writeFD)
        // Under the identity's lock from the comparison until both caches are clean: a second
        // revalidate meanwhile waits, so it cannot see the new identity while old pages remain.
        return identity.withLock { mine -> Bool in
            let unchangedHere = mine == now
            let unchangedShared = cleancache.revalidate(pool, identity: now)
            if !(unchangedHere && unchangedShared) {
                // Changed since this instance last looked (perhaps through another instance, which
                // then dropped cleancache's pages but not this one's own).
                _ = local.withLock { $0.drain() }
                if unchangedShared { cleancache.invalidateFile(pool, file: fileKey) }
            }
            mine = now
            return unchangedHere && unchangedShared
        }
    }

    // MARK: Pages

    /// Runs `body` on page `index`'s bytes (zero past the end of the file), under the local cache.
    private func withPage(_ index: Int, _ body: (UnsafeRawBufferPointer) -> Void) throws(TmemError) {
        // One lock: the page on a hit, else the generation a later insert is checked against.
        guard let since = local.withLock({ l in l.use(index, body) ? nil : l.generation }) else {
            counters.localHits.add(1, ordering: .relaxed)
            return
        }
        let page = LocalPage(index: index, token: cleancache.token(pool, file: fileKey))
        if cleancache.get(pool, file: fileKey, index: UInt32(truncatingIfNeeded: index), into: page.bytes) {
            counters.cleancacheHits.add(1, ordering: .relaxed)
            page.inCleancache = keepsHits
        } else {
            try readFromFile(page)
            counters.fileReads.add(1, ordering: .relaxed)
        }
        let victim = local.withLock { l -> LocalPage? in
            body(UnsafeRawBufferPointer(page.bytes))
            return l.insert(page, readAt: since)
        }
        if let victim { offer(victim) }
    }

    private func readFromFile(_ page: LocalPage) throws(TmemError) {
        var done = 0
        while done < pageSize {
            let n = pread(readFD, page.bytes.baseAddress! + done, pageSize - done, off_t(page.index * pageSize + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw .unavailable("cannot read \(path) at page \(page.index): \(Errno.current)")
            }
            if n == 0 { break }
            done += n
            // O_DIRECT reads whole blocks: a short read is the end of the file.
            if directIO && done % 512 != 0 { break }
        }
        if done < pageSize { (page.bytes.baseAddress! + done).initializeMemory(as: UInt8.self, repeating: 0, count: pageSize - done) }
    }

    /// Offers a page leaving the in-process cache to cleancache, under the token of its read (unless
    /// cleancache still holds the copy it came from: an inclusive hit since which nothing invalidated it,
    /// or the page would not be in the local cache).
    private func offer(_ page: LocalPage) {
        guard !page.inCleancache else { return }
        cleancache.put(pool, file: fileKey, index: UInt32(truncatingIfNeeded: page.index), page: UnsafeRawBufferPointer(page.bytes), since: page.token)
    }

    /// `local_hits` (the in-process cache), `cleancache_hits`, `file_reads` (disk reads not avoided),
    /// `writes`.
    public var namedStatistics: [(name: String, value: Int)] {
        [("local_hits", counters.localHits.load(ordering: .relaxed)), ("cleancache_hits", counters.cleancacheHits.load(ordering: .relaxed)),
         ("file_reads", counters.fileReads.load(ordering: .relaxed)), ("writes", counters.writes.load(ordering: .relaxed))]
    }
}

final class CachedFileCounters: Sendable {
    let localHits = Atomic<Int>(0)
    let cleancacheHits = Atomic<Int>(0)
    let fileReads = Atomic<Int>(0)
    let writes = Atomic<Int>(0)
}
