#if canImport(Glibc)
import Glibc
#endif
import CTmemRun
import CUserfaultfd
import Tmem
import TmemPaging

extension RunMonitor {
    /// Accepts connections until stopped; each one's first message is a hello or a PREPARE_FORK request.
    func listenLoop() {
        while !stopping.load(ordering: .acquiring) {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0), pollfd(fd: stopFD, events: Int16(POLLIN), revents: 0)]
            guard poll(&fds, 2, -1) >= 0 || errno == EINTR else { return }
            if fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            let connection = tmem_run_accept(listener)
            guard connection >= 0 else { continue }
            if !serveFirstMessage(connection) { close(connection) }
        }
    }

    /// Reads and answers a connection's first message.
    ///
    /// - Returns: Whether the connection was kept (it became a helper's socket or a prepared fork's).
    private func serveFirstMessage(_ connection: Int32) -> Bool {
        // A client that connects and says nothing must not hold the listener up.
        var ready = [pollfd(fd: connection, events: Int16(POLLIN), revents: 0)]
        guard poll(&ready, 1, 5000) == 1 else { return false }
        let size = max(MemoryLayout<tmem_run_hello>.size, MemoryLayout<tmem_run_request>.size)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
        defer { buffer.deallocate() }
        var fd: Int32 = -1
        let n = tmem_run_recv(connection, buffer.baseAddress, UInt(size), &fd)
        let peer = tmem_run_peer_pid(connection)
        guard tmem_run_peer_uid(connection) == getuid() else {
            if fd >= 0 { close(fd) }
            answer(connection, status: EPERM, "the monitor serves only its own user's processes")
            return false
        }
        if n == MemoryLayout<tmem_run_hello>.size {
            let hello = buffer.load(as: tmem_run_hello.self)
            guard hello.magic == TMEM_RUN_MAGIC, hello.pid == peer else {
                if fd >= 0 { close(fd) }
                answer(connection, status: EPROTO, "a malformed hello (wrong magic, or a pid that is not the sender's)")
                return false
            }
            if hello.kind == UInt32(TMEM_RUN_HELLO_NEW.rawValue) { return welcome(connection, hello, uffd: fd) }
            if fd >= 0 { close(fd) }
            if hello.kind == UInt32(TMEM_RUN_HELLO_FORK.rawValue) { return welcomeChild(connection, hello) }
            answer(connection, status: EPROTO, "a hello of unknown kind \(hello.kind)")
            return false
        }
        if fd >= 0 { close(fd) }
        if n == MemoryLayout<tmem_run_request>.size {
            let request = buffer.load(as: tmem_run_request.self)
            if request.magic == TMEM_RUN_MAGIC, request.op == UInt32(TMEM_RUN_OP_PREPARE_FORK.rawValue),
                request.addr.0 == UInt64(peer)
            {
                return prepareFork(connection, pid: peer)
            }
        }
        answer(connection, status: EPROTO, "a malformed first message (\(n) bytes)")
        return false
    }

    /// A new program image: takes its userfaultfd, registers its memory, and lets it run.
    private func welcome(_ connection: Int32, _ hello: tmem_run_hello, uffd: Int32) -> Bool {
        guard uffd >= 0 else {
            answer(connection, status: EPROTO, "the hello came without a userfaultfd")
            return false
        }
        guard hello.flags & UInt32(TMEM_RUN_USER_MODE_ONLY.rawValue) == 0 else {
            close(uffd)
            answer(
                connection, status: EPERM,
                "this process may make only a user-mode-only userfaultfd (vm.unprivileged_userfaultfd is 0 and "
                    + "it lacks CAP_SYS_PTRACE): a read(2) into an evicted page would fail with EFAULT, so tmem "
                    + "run will not page it; run it as root or set vm.unprivileged_userfaultfd=1")
            return false
        }
        // An exec: the old image of this pid is gone.
        for old in processes.withLock({ Array($0.values) }) where old.state.withLock({ $0.pid == hello.pid }) {
            end(old, reason: nil)
            counters.add(counters.execs)
        }
        let events =
            CTmemRun_FEATURE_EVENT_REMAP | CTmemRun_FEATURE_EVENT_REMOVE | CTmemRun_FEATURE_EVENT_UNMAP
            | CUserfaultfd_FEATURE_THREAD_ID
        var noForkEvents = !configuration.forkEvents
        var handshake = Userfaultfd.handshake(uffd, features: events | (noForkEvents ? 0 : CTmemRun_FEATURE_EVENT_FORK))
        if case .failure(let error) = handshake, error.rawValue == EPERM, !noForkEvents {
            noForkEvents = true
            handshake = Userfaultfd.handshake(uffd, features: events)
        }
        if case .failure(let error) = handshake {
            close(uffd)
            answer(connection, status: error.rawValue, "UFFDIO_API on the program's userfaultfd failed: \(error)")
            return false
        }
        let process: TrackedProcess
        do {
            process = try TrackedProcess(id: nextID.wrappingAdd(1, ordering: .relaxed).oldValue, uffd: uffd, hello: hello)
        } catch {
            close(uffd)
            answer(connection, status: EIO, error.description)
            return false
        }
        let failure = process.state.withLock { g -> String? in
            g.pid = hello.pid
            g.helper = connection
            g.pidFD = tmem_run_pidfd_open(hello.pid)
            g.noForkEvents = noForkEvents
            if case .failure(let error) = Userfaultfd.register(
                uffd, UnsafeMutableRawPointer(bitPattern: UInt(process.idPage))!, 4096,
                mode: CUserfaultfd_REGISTER_MODE_MISSING)
            {
                return "cannot register the library's id page: \(error)"
            }
            // The library's areas are never paged: marked as covered, so no scan registers them.
            g.pages.registered.insert(process.idPage, process.idPage + 4096)
            g.pages.registered.insert(process.scratch, process.scratch + UInt64(process.scratchPages) * 4096)
            g.pages.registered.insert(process.stack, process.stack + process.stackLength)
            registerNewMappings(process, &g)
            return nil
        }
        if let failure {
            answer(connection, status: EIO, failure)
            process.state.withLock { $0.helper = -1 }
            return false
        }
        counters.add(counters.processes)
        let flags = noForkEvents ? UInt32(TMEM_RUN_NO_FORK_EVENTS.rawValue) : 0
        do {
            try add(process)
        } catch {
            answer(connection, status: EIO, error.description)
            end(process, reason: nil)
            return true
        }
        answer(connection, status: 0, "", flags: flags)
        return true
    }

    /// A forked child naming itself with its token: its helper's socket, and its userfaultfd back.
    private func welcomeChild(_ connection: Int32, _ hello: tmem_run_hello) -> Bool {
        guard let child = processes.withLock({ $0[hello.token] }),
            child.state.withLock({ g -> Bool in
                guard g.pid == 0, !g.ended else { return false }
                g.pid = hello.pid
                g.helper = connection
                g.pidFD = tmem_run_pidfd_open(hello.pid)
                return true
            })
        else {
            answer(connection, status: ESRCH, "the monitor knows no forked child with token \(hello.token)")
            return false
        }
        counters.add(counters.processes)
        answer(connection, status: 0, "", fd: child.uffd)
        child.wake()
        return true
    }

    /// A fork without FORK events: every page comes back and eviction holds until the connection closes.
    private func prepareFork(_ connection: Int32, pid: Int32) -> Bool {
        guard let process = processes.withLock({ $0.values.first { p in p.state.withLock { $0.pid == pid && !$0.ended } } })
        else {
            respond(connection, result: ESRCH)
            return false
        }
        // Holding eviction first means no new batch starts; one in flight finishes on its own.
        process.state.withLock { $0.pages.holdEviction = true }
        while process.state.withLock({ $0.pages.batchInFlight }) { sched_yield() }
        let failed = process.state.withLock { g -> Bool in
            for (page, slot) in g.pages.storedPages {
                do { _ = try store.load(slot, into: process.fillBuffer) } catch { return true }
                let address = UnsafeMutableRawPointer(bitPattern: UInt(page << 12))!
                let copied = Userfaultfd.copy(process.uffd, to: address, from: process.fillBuffer.baseAddress!, length: 4096, mode: 0)
                if let error = copied.error, error.rawValue != EEXIST { return true }
                if let slot = g.pages.filled(page) { store.release(slot) }
            }
            resident.wrappingAdd(g.pages.takeResidentDelta(), ordering: .relaxed)
            return false
        }
        if failed {
            end(process, reason: "its pages could not be brought back before a fork")
            respond(connection, result: EIO)
            return false
        }
        respond(connection, result: 0)
        // Eviction resumes when the library closes this connection (its parent handler ran).
        do {
            try spawn { _ in
                var byte: UInt8 = 0
                while recv(connection, &byte, 1, 0) < 0 && errno == EINTR {}
                process.state.withLock { $0.pages.holdEviction = false }
                close(connection)
            }
        } catch {
            process.state.withLock { $0.pages.holdEviction = false }
            return false
        }
        return true
    }

    private func answer(_ connection: Int32, status: Int32, _ message: String, flags: UInt32 = 0, fd: Int32 = -1) {
        var reply = tmem_run_reply()
        reply.magic = TMEM_RUN_MAGIC
        reply.status = status
        reply.flags = flags
        withUnsafeMutableBytes(of: &reply.message) { bytes in
            for (i, byte) in message.utf8.prefix(bytes.count - 1).enumerated() { bytes[i] = byte }
        }
        _ = tmem_run_send(connection, &reply, UInt(MemoryLayout<tmem_run_reply>.size), fd)
    }

    private func respond(_ connection: Int32, result: Int32) {
        var response = tmem_run_response()
        response.magic = TMEM_RUN_MAGIC
        response.op = UInt32(TMEM_RUN_OP_PREPARE_FORK.rawValue)
        response.result.0 = result
        _ = tmem_run_send(connection, &response, UInt(MemoryLayout<tmem_run_response>.size), -1)
    }
}
