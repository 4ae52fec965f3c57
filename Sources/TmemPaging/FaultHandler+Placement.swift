#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CUserfaultfd

/// Which CPU the handler thread is pinned to, and what it last checked. Handler thread only.
struct Placement {
    /// The thread whose fault came last.
    var thread: UInt32 = 0
    /// Faults served since the last look-up.
    var faultsSinceCheck = 0
    /// When the last look-up was (CLOCK_MONOTONIC nanoseconds).
    var checkedAt: UInt64 = 0
    /// The CPU the handler is pinned to, or -1 while it is not pinned.
    var cpu: Int = -1
    /// Changes of faulting thread since `windowStart`.
    var changes = 0
    /// Start of the current window of `minimumInterval` in which `changes` are counted.
    var windowStart: UInt64 = 0
    /// Faults in a row from `thread`.
    var sameThreadFaults = 0
    /// Several threads fault in turn: no thread is followed (or pinned) until one has faulted
    /// `recheckFaults` times in a row. Following them would move the handler between CPUs every
    /// millisecond, and `.pinFaultingThread` could pin them all to one CPU.
    var shared = false
    /// Threads pinned under `.pinFaultingThread`, unpinned again when several threads fault in turn.
    var pinnedThreads: [UInt32] = []

    /// A look-up costs an open/read/close of /proc (about 10 µs): at most one per millisecond when the
    /// faulting thread changes, and one per 1024 faults of one thread (it may have been moved to another
    /// CPU).
    static let minimumInterval: UInt64 = 1_000_000
    static let recheckFaults = 1024
    /// More changes of faulting thread than this within `minimumInterval`: several threads are faulting.
    static let changesWhenShared = 8
}

extension FaultHandler {
    /// Pins the handler thread to the CPU the faulting thread `tid` last ran on (where it sleeps until
    /// this fault is served), and under `.pinFaultingThread` pins that thread there too. See
    /// ``PagedRegion/Colocation`` for why. While several threads fault in turn, nothing is pinned: the
    /// handler and the threads run where the scheduler puts them.
    func follow(thread tid: UInt32, now: UInt64) {
        let changed = tid != placement.thread
        placement.thread = tid
        if changed {
            placement.sameThreadFaults = 0
            if now &- placement.windowStart >= Placement.minimumInterval {
                placement.windowStart = now
                placement.changes = 0
            }
            placement.changes += 1
            if placement.changes > Placement.changesWhenShared && !placement.shared { stopFollowing() }
        } else {
            placement.sameThreadFaults += 1
            if placement.shared && placement.sameThreadFaults >= Placement.recheckFaults {
                placement.shared = false
                placement.faultsSinceCheck = Placement.recheckFaults
                placement.checkedAt = 0
            }
        }
        guard !placement.shared else { return }
        placement.faultsSinceCheck += 1
        guard changed || placement.faultsSinceCheck >= Placement.recheckFaults else { return }
        guard now &- placement.checkedAt >= Placement.minimumInterval else { return }
        placement.faultsSinceCheck = 0
        placement.checkedAt = now
        guard let cpu = cpu(ofThread: tid), cpu < 64 * Self.affinityWords else { return }
        if colocation == .pinFaultingThread && pin(thread: Int32(bitPattern: tid), to: cpu)
            && !placement.pinnedThreads.contains(tid)
        {
            placement.pinnedThreads.append(tid)
        }
        // A cpuset may forbid that CPU: then stay where the scheduler puts us.
        if cpu != placement.cpu && pin(thread: 0, to: cpu) { placement.cpu = cpu }
    }

    /// Several threads fault in turn: unpins the handler and the threads it pinned.
    private func stopFollowing() {
        placement.shared = true
        if placement.cpu >= 0 && Self.allowEveryCPU(thread: 0) { placement.cpu = -1 }
        // A thread that has exited meanwhile refuses (ESRCH): nothing to undo for it.
        for tid in placement.pinnedThreads { _ = Self.allowEveryCPU(thread: Int32(bitPattern: tid)) }
        placement.pinnedThreads.removeAll(keepingCapacity: true)
    }

    /// sched_setaffinity of one thread (0: this one) to one CPU.
    private func pin(thread tid: Int32, to cpu: Int) -> Bool {
        var mask = (
            UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0),
            UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0)
        )
        return withUnsafeMutableBytes(of: &mask) { raw in
            let words = raw.bindMemory(to: UInt64.self)
            words[cpu / 64] = 1 << UInt64(cpu % 64)
            return CUserfaultfd_sched_setaffinity(tid, UInt(raw.count), words.baseAddress!) == 0
        }
    }

    /// Lets a thread (0: the calling one) run on every CPU: sched_setaffinity with every bit of the mask set.
    static func allowEveryCPU(thread tid: Int32 = 0) -> Bool {
        var mask = (
            UInt64.max, UInt64.max, UInt64.max, UInt64.max, UInt64.max, UInt64.max, UInt64.max, UInt64.max,
            UInt64.max, UInt64.max, UInt64.max, UInt64.max, UInt64.max, UInt64.max, UInt64.max, UInt64.max
        )
        return withUnsafeMutableBytes(of: &mask) { raw in
            CUserfaultfd_sched_setaffinity(tid, UInt(raw.count), raw.baseAddress!.assumingMemoryBound(to: UInt64.self)) == 0
        }
    }

    /// CPUs a pin can name: 1024, the kernel's default NR_CPUS on x86-64.
    static let affinityWords = 16

    /// The CPU a thread of this process last ran on: field 39 ("processor") of /proc/self/task/TID/stat.
    /// Reads into a stack buffer, without allocating.
    private func cpu(ofThread tid: UInt32) -> Int? {
        var path = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))  // 48 bytes
        return withUnsafeMutableBytes(of: &path) { pathBytes -> Int? in
            var length = 0
            func put(_ text: StaticString) {
                text.withUTF8Buffer { for byte in $0 { pathBytes[length] = byte; length += 1 } }
            }
            put("/proc/self/task/")
            var value = tid
            var reversed = (UInt64(0), UInt64(0))  // a UInt32 has at most 10 digits
            var count = 0
            withUnsafeMutableBytes(of: &reversed) { scratch in
                repeat {
                    scratch[count] = UInt8(48 + value % 10)
                    value /= 10
                    count += 1
                } while value > 0
                for i in stride(from: count - 1, through: 0, by: -1) { pathBytes[length] = scratch[i]; length += 1 }
            }
            put("/stat")
            pathBytes[length] = 0
            let fd = open(pathBytes.baseAddress!.assumingMemoryBound(to: CChar.self), O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            var text = (
                (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0)),
                (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0)),
                (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0)),
                (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0)),
                (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0)),
                (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0)),
                (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0)),
                (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            )  // 512 bytes
            return withUnsafeMutableBytes(of: &text) { buffer -> Int? in
                let n = read(fd, buffer.baseAddress!, buffer.count)
                guard n > 0 else { return nil }
                // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
                var i = n - 1
                while i > 0 && buffer[i] != 41 { i -= 1 }  // ')'
                var field = 2
                var value = 0
                var inNumber = false
                i += 1
                while i < n {
                    let byte = buffer[i]
                    if byte == 32 {
                        if field == 39 && inNumber { return value }
                        field += 1
                        inNumber = false
                        value = 0
                    } else if field == 39, byte >= 48, byte <= 57 {
                        value = value * 10 + Int(byte - 48)
                        inNumber = true
                    }
                    i += 1
                }
                return nil
            }
        }
    }
}
