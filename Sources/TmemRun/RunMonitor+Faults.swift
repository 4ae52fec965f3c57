#if canImport(Glibc)
import Glibc
#endif
import CTmemRun
import Tmem
import TmemPaging

extension RunMonitor {
    /// How one attempt at a fault went.
    enum FaultService: Equatable {
        case served
        /// Nothing to serve any more (the range is gone, or the process was ended).
        case dropped
        case waitingForEviction
        case waitingForRoom
        /// The program's mappings are changing (an event is queued): retried after the next message.
        case waitingForChange
    }

    /// One process's reader: each message read and handled under the process's lock before the next is read,
    /// and none read while an eviction batch is in flight (docs/RUN.md, "Order").
    func readLoop(_ process: TrackedProcess) {
        var message = uffd_msg()
        var placement = ReaderPlacement()
        while true {
            let (ended, paused, pidFD, retry) = process.state.withLock {
                ($0.ended, $0.pages.batchInFlight, $0.pidFD, $0.retryAfterChange)
            }
            if ended || stopping.load(ordering: .acquiring) {
                end(process, reason: nil)
                return
            }
            var fds = [
                pollfd(fd: paused ? -1 : process.uffd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: process.wakeFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: pidFD, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 3, retry && !paused ? 1 : -1)
            if ready < 0 {
                if errno == EINTR { continue }
                end(process, reason: "the monitor cannot poll its userfaultfd: \(describeErrno(errno))")
                return
            }
            if ready == 0 {
                let fatal = process.state.withLock { g -> String? in
                    guard !g.ended, !g.pages.batchInFlight else { return nil }
                    g.retryAfterChange = false
                    return retryDeferred(process, &g, overBudget: false)
                }
                if let fatal {
                    end(process, reason: fatal)
                    return
                }
                continue
            }
            if fds[1].revents != 0 { process.drainWake() }
            if fds[2].revents != 0 {
                end(process, reason: nil)  // it exited
                return
            }
            guard fds[0].revents & Int16(POLLIN) != 0 else {
                if fds[0].revents & Int16(POLLERR | POLLHUP) != 0 {
                    end(process, reason: nil)
                    return
                }
                continue
            }
            let fatal = process.state.withLock { g -> String? in
                guard !g.ended, !g.pages.batchInFlight else { return nil }
                let n = read(process.uffd, &message, MemoryLayout<uffd_msg>.size)
                guard n == MemoryLayout<uffd_msg>.size else {
                    if n < 0 && (errno == EAGAIN || errno == EINTR) { return nil }
                    return "reading its userfaultfd failed: \(n < 0 ? describeErrno(errno) : "a short message")"
                }
                var event = tmem_run_event()
                tmem_run_decode(&message, &event)
                if event.event == CTmemRun_EVENT_PAGEFAULT {
                    placement.follow(thread: event.tid, now: Self.monotonicNanoseconds())
                }
                let failure = handle(event, process, &g)
                if failure == nil && !g.pages.deferred.isEmpty { return retryDeferred(process, &g, overBudget: false) }
                return failure
            }
            if let fatal {
                end(process, reason: fatal)
                return
            }
        }
    }

    /// Handles one message. Returns a reason to end the process, or nil.
    private func handle(_ event: tmem_run_event, _ process: TrackedProcess, _ g: inout TrackedProcess.Guarded) -> String? {
        switch event.event {
        case CTmemRun_EVENT_PAGEFAULT:
            let address = event.address & ~4095
            if process.isLibraryArea(address) { return serveLibraryPage(process, address) }
            let started = Self.monotonicNanoseconds()
            let page = address >> 12
            let service = serve(page, process, &g, overBudget: false)
            switch service {
            case .served:
                counters.recordLatency(Self.monotonicNanoseconds() - started)
            case .dropped:
                break
            case .waitingForEviction:
                counters.add(counters.waitsForEviction)
                postpone(page, since: started, &g)
            case .waitingForRoom:
                counters.add(counters.directReclaims)
                postpone(page, since: started, &g)
                roomWanted.store(true, ordering: .releasing)
                signal(reclaimWakeFD)
            case .waitingForChange:
                postpone(page, since: started, &g)
                g.retryAfterChange = true
            }
            return nil
        case CTmemRun_EVENT_FORK:
            return adoptChild(of: process, &g, uffd: event.fd)
        case CTmemRun_EVENT_REMAP:
            g.pages.remap(from: event.address, to: event.to, length: event.len)
            counters.add(counters.remaps)
        case CTmemRun_EVENT_REMOVE, CTmemRun_EVENT_UNMAP:
            let before = g.pages.residentCount
            let slots = g.pages.drop(event.address, event.end, unmapped: event.event == CTmemRun_EVENT_UNMAP)
            if event.event == CTmemRun_EVENT_UNMAP { g.refused.remove(event.address, event.end) }
            counters.add(counters.droppedPages, slots.count + before - g.pages.residentCount)
            settle(&g)
            store.release(slots)
        default:
            break
        }
        return nil
    }

    private func postpone(_ page: UInt64, since started: UInt64, _ g: inout TrackedProcess.Guarded) {
        g.pages.deferFault(page)
        if g.waitingSince[page] == nil { g.waitingSince[page] = started }
    }

    /// Retries every waiting fault of a process (under its lock). Returns a reason to end it, or nil.
    func retryDeferred(_ process: TrackedProcess, _ g: inout TrackedProcess.Guarded, overBudget: Bool) -> String? {
        for page in g.pages.takeDeferred() {
            switch serve(page, process, &g, overBudget: overBudget) {
            case .served:
                if overBudget { counters.add(counters.budgetOverruns) }
                if let started = g.waitingSince.removeValue(forKey: page) {
                    counters.recordLatency(Self.monotonicNanoseconds() - started)
                }
            case .dropped:
                g.waitingSince.removeValue(forKey: page)
            case .waitingForRoom:
                g.pages.deferFault(page)
                roomWanted.store(true, ordering: .releasing)
            case .waitingForChange:
                g.pages.deferFault(page)
                // The reader may be asleep in poll without a timeout (this runs on the reclaimer too).
                if !g.retryAfterChange { process.wake() }
                g.retryAfterChange = true
            case .waitingForEviction:
                g.pages.deferFault(page)
            }
            if g.ended { return nil }
        }
        return nil
    }

    /// Serves one fault if it can (under the process's lock), with the pages after it in the same state
    /// when the process reads (or writes) sequentially: stored ones loaded, never-touched ones zero-filled,
    /// up to the readahead window, in one UFFDIO_COPY.
    func serve(_ page: UInt64, _ process: TrackedProcess, _ g: inout TrackedProcess.Guarded, overBudget: Bool)
        -> FaultService
    {
        let decision = g.pages.decide(page)
        if decision == .wait { return .waitingForEviction }
        if decision != .fillZeros(newlyResident: false) && !overBudget && !hasRoom() { return .waitingForRoom }
        // The run: this page, then the following ones that are in the same state, as far as the window,
        // the budget and the buffer allow.
        var room = overBudget ? Int.max : limit.load(ordering: .relaxed) - resident.load(ordering: .relaxed)
        let window = min(g.readahead.window(for: page), Self.readaheadPages)
        var slots: [Int] = []
        var count = 1
        switch decision {
        case .load(let slot):
            slots.append(slot)
            while count < window && room > count, case .load(let next) = g.pages.decide(page + UInt64(count)) {
                slots.append(next)
                count += 1
            }
        case .fillZeros(newlyResident: true):
            while count < window && room > count, g.pages.decide(page + UInt64(count)) == .fillZeros(newlyResident: true) {
                count += 1
            }
        default:
            break
        }
        room = 0
        let source: UnsafeRawPointer
        var fromDisk = 0
        if slots.isEmpty {
            source = UnsafeRawPointer(zeroPages.baseAddress!)
        } else {
            for (i, slot) in slots.enumerated() {
                do {
                    let page = UnsafeMutableRawBufferPointer(rebasing: process.fillBuffer[(i * 4096)..<((i + 1) * 4096)])
                    if try store.load(slot, into: page) { fromDisk += 1 }
                } catch {
                    kill(&g, "\(error)")
                    return .dropped
                }
            }
            source = UnsafeRawPointer(process.fillBuffer.baseAddress!)
        }
        let address = UnsafeMutableRawPointer(bitPattern: UInt(page << 12))!
        var copied = Userfaultfd.copy(process.uffd, to: address, from: source, length: count * 4096, mode: 0)
        if count > 1, copied.filled == 0, let error = copied.error, error.rawValue == ENOENT || error.rawValue == EFAULT {
            // The kernel checks the whole run first: one past the end of the mapping fails it all.
            count = 1
            copied = Userfaultfd.copy(process.uffd, to: address, from: source, length: 4096, mode: 0)
        }
        // A run's tail may fail (a page there got mapped meanwhile, the mapping ends): its prefix stands.
        let filled = copied.filled / 4096
        if let error = copied.error, filled == 0 {
            switch error.rawValue {
            case EEXIST:
                // Mapped already (another thread's fault on it was served first): wake the waiters.
                _ = Userfaultfd.wake(process.uffd, address, 4096)
            case EAGAIN:
                return .waitingForChange
            case ENOENT, EFAULT, ESRCH:
                return .dropped
            default:
                kill(&g, "UFFDIO_COPY failed: \(error)")
                return .dropped
            }
        }
        let served = max(filled, 1)
        for i in 0..<served {
            if let slot = g.pages.filled(page + UInt64(i)) { store.release(slot) }
        }
        g.readahead.served(page, count: served)
        settle(&g)
        if slots.isEmpty {
            counters.add(counters.zeroFills, served)
        } else {
            counters.add(counters.diskLoads, min(fromDisk, served))
            counters.add(counters.memoryLoads, served - min(fromDisk, served))
        }
        if served > 1 { counters.add(counters.readaheadPages, served - 1) }
        return .served
    }

    /// The largest readahead run, in pages (128 KiB, as the paging layer's).
    static let readaheadPages = 32

    /// The library's id page (a forked child asking for its token); nothing else of the library faults.
    private func serveLibraryPage(_ process: TrackedProcess, _ address: UInt64) -> String? {
        let buffer = process.fillBuffer
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        if address == process.idPage { buffer.storeBytes(of: process.id.littleEndian, as: UInt64.self) }
        let target = UnsafeMutableRawPointer(bitPattern: UInt(address))!
        let copied = Userfaultfd.copy(process.uffd, to: target, from: buffer.baseAddress!, length: 4096, mode: 0)
        if let error = copied.error, error.rawValue == EEXIST { _ = Userfaultfd.wake(process.uffd, target, 4096) }
        return nil
    }

    /// A FORK event: the child's table starts as the parent's, sharing its stored pages.
    private func adoptChild(of parent: TrackedProcess, _ g: inout TrackedProcess.Guarded, uffd: Int32) -> String? {
        guard uffd >= 0 else { return "a FORK event came without the child's userfaultfd" }
        var hello = tmem_run_hello()
        hello.scratch = parent.scratch
        hello.scratch_pages = UInt64(parent.scratchPages)
        hello.id_page = parent.idPage
        hello.stack = parent.stack
        hello.stack_len = parent.stackLength
        let child: TrackedProcess
        do {
            child = try TrackedProcess(id: nextID.wrappingAdd(1, ordering: .relaxed).oldValue, uffd: uffd, hello: hello)
        } catch {
            close(uffd)
            return "cannot follow its fork: \(error)"
        }
        let (pages, shared) = g.pages.forked()
        store.retain(shared)
        child.state.withLock { c in
            c.pages = pages
            c.refused = g.refused
            settle(&c)
        }
        counters.add(counters.forks)
        do { try add(child) } catch {
            end(child, reason: nil)
            return "cannot follow its fork: \(error)"
        }
        return nil
    }

    /// Kills a process whose page cannot be served (under its lock; the reader then ends it).
    func kill(_ g: inout TrackedProcess.Guarded, _ reason: String) {
        g.ended = true
        guard g.pid > 0 else { return }
        Glibc.kill(g.pid, SIGKILL)
        report("tmem run: killed pid \(g.pid): \(reason)")
    }

    /// Adds the table's change of resident pages to the total.
    func settle(_ g: inout TrackedProcess.Guarded) {
        let delta = g.pages.takeResidentDelta()
        let now = resident.wrappingAdd(delta, ordering: .relaxed).newValue
        // kswapd's wake-up: past the high watermark, the reclaimer starts before any fault needs room.
        if delta > 0 && now > highWatermark && !reclaiming.load(ordering: .relaxed) {
            reclaiming.store(true, ordering: .relaxed)
            signal(reclaimWakeFD)
        }
    }

    /// The watermarks (pages): eviction starts above the high one and goes on down to the low one,
    /// kswapd-style. The gap, at least 4 batches and 1/32 of the limit, is the headroom faults use while
    /// the reclaimer works ahead of them.
    var highWatermark: Int {
        let limit = limit.load(ordering: .relaxed)
        return max(limit - max(2 * batchPages, limit / 64), 1)
    }

    var lowWatermark: Int {
        let limit = limit.load(ordering: .relaxed)
        return max(limit - max(6 * batchPages, limit / 16), 0)
    }

    /// Whether one more paged page fits in the budget.
    func hasRoom() -> Bool {
        resident.load(ordering: .relaxed) < limit.load(ordering: .relaxed)
    }
}
