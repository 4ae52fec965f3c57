#if canImport(Glibc)
import Glibc
#endif
import CTmemRun
import Tmem
import TmemPaging

extension RunMonitor {
    /// The reclaimer: every scan interval it registers new mappings and measures the tree's resident
    /// memory (which sets the paged pages' limit); whenever the paged pages pass the high watermark (a
    /// reader wakes it then), or a fault waits for room, it evicts batches until they are below the low
    /// watermark, then serves the waiting faults.
    func reclaimLoop() {
        var lastScan: UInt64 = 0
        var lastInterval = Self.monotonicNanoseconds()
        while !stopping.load(ordering: .acquiring) {
            var fds = [pollfd(fd: reclaimWakeFD, events: Int16(POLLIN), revents: 0)]
            let timeout = Int32(max(1, configuration.scanIntervalNanoseconds / 1_000_000))
            if poll(&fds, 1, timeout) > 0 {
                var value: UInt64 = 0
                _ = read(reclaimWakeFD, &value, 8)
            }
            if stopping.load(ordering: .acquiring) { return }
            let now = Self.monotonicNanoseconds()
            if now - lastScan >= configuration.scanIntervalNanoseconds {
                scan()
                lastScan = now
            }
            evictWhileAboveWatermarks()
            if let interval, now - lastInterval >= interval.nanoseconds {
                interval.call(statistics())
                lastInterval = now
            }
        }
    }

    private func evictWhileAboveWatermarks() {
        defer { reclaiming.store(false, ordering: .relaxed) }
        guard resident.load(ordering: .relaxed) > highWatermark || roomWanted.load(ordering: .acquiring) else { return }
        reclaiming.store(true, ordering: .relaxed)
        var stalled = false
        while !stopping.load(ordering: .acquiring) && resident.load(ordering: .relaxed) > lowWatermark {
            // The largest first; when its batch is refused whole (pages it shares copy-on-write with a
            // forked child give EBUSY), the next one.
            guard evictionCandidates().contains(where: { evictBatch(from: $0) > 0 }) else {
                stalled = true
                break
            }
            if roomWanted.load(ordering: .acquiring) { serveWaitingFaults(overBudget: false) }
        }
        roomWanted.store(false, ordering: .releasing)
        // Nothing more can be evicted (every resident page is shared copy-on-write, or held for a fork):
        // the waiting faults are served over the budget rather than left hanging.
        serveWaitingFaults(overBudget: stalled)
    }

    /// The processes with resident pages that can be evicted from now, the most resident first; those
    /// whose last batch was refused whole come last, within ``refusedBackoffNanoseconds`` of it.
    private func evictionCandidates() -> [TrackedProcess] {
        let now = Self.monotonicNanoseconds()
        return processes.withLock({ Array($0.values) }).map { process in
            process.state.withLock { g in
                let count = g.ended || g.helper < 0 || g.pid <= 0 || g.pages.holdEviction ? 0 : g.pages.residentCount
                return (process, count, g.refusedUntil > now)
            }
        }.filter { $0.1 > 0 }.sorted { ($0.2 ? 0 : 1, $0.1) > ($1.2 ? 0 : 1, $1.1) }.map(\.0)
    }

    /// How long a process whose batch was refused whole goes to the end of the reclaimer's list.
    static let refusedBackoffNanoseconds: UInt64 = 50_000_000

    /// Serves every process's waiting faults that fit (all of them with `overBudget`).
    func serveWaitingFaults(overBudget: Bool) {
        for process in processes.withLock({ Array($0.values) }) {
            let fatal = process.state.withLock { g -> String? in
                guard !g.ended, !g.pages.deferred.isEmpty else { return nil }
                return retryDeferred(process, &g, overBudget: overBudget)
            }
            if let fatal { end(process, reason: fatal) }
        }
    }

    /// One batch: choose, move (the helper), read, store, commit.
    ///
    /// - Returns: The pages evicted.
    private func evictBatch(from process: TrackedProcess) -> Int {
        let (pages, pid, helper, pidFD) = process.state.withLock { g -> ([UInt64], Int32, Int32, Int32) in
            guard !g.ended, g.helper >= 0, g.pid > 0 else { return ([], 0, -1, -1) }
            return (g.pages.startBatch(limit: batchPages) { process.isLibraryArea($0 << 12) }, g.pid, g.helper, g.pidFD)
        }
        guard !pages.isEmpty else { return 0 }
        defer { process.wake() }
        var request = tmem_run_request()
        request.magic = TMEM_RUN_MAGIC
        request.op = UInt32(TMEM_RUN_OP_MOVE.rawValue)
        request.count = UInt32(pages.count)
        withUnsafeMutableBytes(of: &request.addr) { raw in
            for (i, page) in pages.enumerated() { raw.storeBytes(of: page << 12, toByteOffset: i * 8, as: UInt64.self) }
        }
        counters.add(counters.batches)
        var moved = [Bool](repeating: false, count: pages.count)
        var slots = [Int?](repeating: nil, count: pages.count)
        let buffer = batchBuffer
        if tmem_run_send(helper, &request, UInt(MemoryLayout<tmem_run_request>.size), -1) < 0 {
            return finish(process, pages: pages, moved: moved, slots: slots)
        }
        let answer = awaitResponse(helper, pidFD: pidFD, count: pages.count)
        guard case .answered(let results) = answer else {
            let evicted = finish(process, pages: pages, moved: moved, slots: slots)
            // Some pages may be out of the program already, and a late answer would be taken for the next
            // request's: it must not run on.
            switch answer {
            case .silent:
                end(process, reason: "its helper thread did not answer an eviction request for \(Self.helperPatienceMilliseconds / 1000) s")
            case .malformed:
                end(process, reason: "its helper thread answered an eviction request with a malformed message")
            default:
                break
            }
            return evicted
        }
        for i in pages.indices {
            moved[i] = results[i] == 0
            if !moved[i] { counters.add(counters.evictionsRefused) }
        }
        if !moved.contains(true) {
            process.state.withLock { $0.refusedUntil = Self.monotonicNanoseconds() + Self.refusedBackoffNanoseconds }
        }
        // The moved pages, one process_vm_readv per run of consecutive slots.
        var i = 0
        while i < pages.count {
            guard moved[i] else {
                i += 1
                continue
            }
            var j = i
            while j + 1 < pages.count && moved[j + 1] { j += 1 }
            let length = (j - i + 1) * 4096
            let n = tmem_run_read_remote(pid, buffer.baseAddress! + i * 4096, UInt(length), process.scratch + UInt64(i) * 4096)
            if n != length {
                // The pages are out of the program and cannot be read: it must not run on without them.
                let code = errno
                _ = finish(process, pages: pages, moved: moved, slots: slots, readFailed: true)
                end(process, reason: "its evicted pages could not be read from its scratch: \(describeErrno(code))")
                return 0
            }
            i = j + 1
        }
        // Staged, not yet compressed: the batch is committed (and the reader goes on) first.
        for k in pages.indices where moved[k] {
            slots[k] = store.stage(UnsafeRawPointer(buffer.baseAddress! + k * 4096))
        }
        let evicted = finish(process, pages: pages, moved: moved, slots: slots)
        let committed = store.commitStaged()
        counters.add(counters.evictionsToDisk, committed.onDisk)
        if committed.kept > 0, let error = committed.firstError {
            report("tmem run: \(committed.kept) evicted pages are kept uncompressed in the monitor: \(error)")
        }
        return evicted
    }

    /// What came of an eviction request.
    private enum HelperAnswer {
        case answered([Int32])
        /// The process ended, or the monitor is stopping.
        case gone
        case malformed
        /// No answer within ``helperPatienceMilliseconds``.
        case silent
    }

    /// How long the reclaimer waits for a helper's answer before it ends the process. The helper only
    /// moves pages (microseconds); one that does not answer is stopped (SIGSTOP) or stuck on a fault that
    /// no reader will read while its batch is in flight.
    static let helperPatienceMilliseconds = 10_000

    /// Waits for the helper's answer; while waiting, faults waiting for room are served over the budget
    /// every 20 ms, so that a process whose helper is slow (stopped, say) does not stall the others.
    private func awaitResponse(_ helper: Int32, pidFD: Int32, count: Int) -> HelperAnswer {
        var fds = [pollfd(fd: helper, events: Int16(POLLIN), revents: 0), pollfd(fd: pidFD, events: Int16(POLLIN), revents: 0)]
        let deadline = Self.monotonicNanoseconds() + UInt64(Self.helperPatienceMilliseconds) * 1_000_000
        while true {
            let ready = poll(&fds, 2, 20)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 || fds[1].revents != 0 || stopping.load(ordering: .acquiring) { return .gone }
            if ready == 0 {
                if roomWanted.load(ordering: .acquiring) { serveWaitingFaults(overBudget: true) }
                if Self.monotonicNanoseconds() > deadline { return .silent }
                continue
            }
            break
        }
        var response = tmem_run_response()
        var fd: Int32 = -1
        let n = tmem_run_recv(helper, &response, UInt(MemoryLayout<tmem_run_response>.size), &fd)
        if fd >= 0 { close(fd) }
        guard n == MemoryLayout<tmem_run_response>.size, response.magic == TMEM_RUN_MAGIC, Int(response.count) == count
        else { return n == 0 ? .gone : .malformed }
        return .answered(withUnsafeBytes(of: &response.result) { raw in
            (0..<count).map { raw.load(fromByteOffset: $0 * 4, as: Int32.self) }
        })
    }

    /// Commits a batch under the process's lock, serves its waiting faults, and wakes its reader.
    private func finish(
        _ process: TrackedProcess, pages: [UInt64], moved: [Bool], slots: [Int?], readFailed: Bool = false
    ) -> Int {
        var evicted = 0
        let fatal = process.state.withLock { g -> String? in
            let outcomes = g.pages.finishBatch(moved: readFailed ? moved.map { _ in false } : moved, slots: slots)
            settle(&g)
            var failure: String?
            for (k, outcome) in outcomes.enumerated() {
                switch outcome {
                case .stored:
                    evicted += 1
                    counters.add(counters.evictions)
                case .keptResident:
                    break
                case .discarded:
                    if let slot = slots[k] { store.release(slot) }
                case .restore(let page):
                    // No slot for it (the swap file is full): the bytes go back where they were.
                    let address = UnsafeMutableRawPointer(bitPattern: UInt(page << 12))!
                    let copied = Userfaultfd.copy(
                        process.uffd, to: address, from: batchBuffer.baseAddress! + k * 4096, length: 4096, mode: 0)
                    if let error = copied.error, error.rawValue != EEXIST {
                        failure = "an evicted page could be neither stored nor put back: \(error)"
                    }
                }
            }
            if failure == nil && !g.pages.deferred.isEmpty { failure = retryDeferred(process, &g, overBudget: false) }
            return failure
        }
        if let fatal { end(process, reason: fatal) }
        return evicted
    }
}
