import Glibc
import Tmem
import TmemWire

/// A connected, non-blocking stream socket to the host, used by the calling threads themselves: every
/// wait is a `poll` with a CLOCK_MONOTONIC deadline, so no call blocks past it.
///
/// Why not an event loop: a synchronous caller that hands its request to an event-loop thread and
/// sleeps until that thread hands the reply back pays two thread wake-ups per request on top of the
/// host's; on the 2-vCPU development VM that doubled the time of a synchronous get (see
/// ``RemoteConnection``). Here the caller writes its own request and, as the connection's reader,
/// reads its own reply.
struct ClientSocket: ~Copyable {
    let fd: Int32

    /// Connects to `address` within `timeoutNanoseconds`.
    ///
    /// - Throws: ``TmemError/unavailable(_:)`` naming the address and the reason.
    init(connectingTo address: HostAddress, timeoutNanoseconds: UInt64) throws(TmemError) {
        let deadline = monotonicNanoseconds() + timeoutNanoseconds
        switch address {
        case .unix(let path):
            var socketAddress = sockaddr_un()
            socketAddress.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: socketAddress.sun_path) else {
                throw .unavailable("the socket path \(path) is too long")
            }
            withUnsafeMutableBytes(of: &socketAddress.sun_path) { $0.copyBytes(from: bytes) }
            let raw = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<sockaddr_un>.size, alignment: 8)
            defer { raw.deallocate() }
            raw.storeBytes(of: socketAddress, as: sockaddr_un.self)
            fd = try Self.connect(family: AF_UNIX, address: raw, length: MemoryLayout<sockaddr_un>.size,
                                  deadline: deadline, naming: address)
        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_family = AF_UNSPEC
            var list: UnsafeMutablePointer<addrinfo>?
            let rc = getaddrinfo(host, String(port), &hints, &list)
            guard rc == 0, let first = list else {
                throw .unavailable("cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
            }
            defer { freeaddrinfo(list) }
            var lastError: TmemError = .unavailable("\(host) has no address")
            var entry: UnsafeMutablePointer<addrinfo>? = first
            var connected: Int32?
            while let info = entry, connected == nil {
                do throws(TmemError) {
                    connected = try Self.connect(family: info.pointee.ai_family, address: UnsafeRawPointer(info.pointee.ai_addr),
                                                 length: Int(info.pointee.ai_addrlen), deadline: deadline, naming: address)
                } catch { lastError = error }
                entry = info.pointee.ai_next
            }
            guard let connected else { throw lastError }
            var one: Int32 = 1
            setsockopt(connected, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            fd = connected
        }
    }

    private static func connect(
        family: Int32, address: UnsafeRawPointer, length: Int, deadline: UInt64, naming name: HostAddress
    ) throws(TmemError) -> Int32 {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .unavailable("cannot make a socket: \(Errno.current)") }
        var rc = Glibc.connect(fd, address.assumingMemoryBound(to: sockaddr.self), socklen_t(length))
        // On a Unix socket EAGAIN means the listener's backlog is full and nothing is in progress:
        // try again until the deadline.
        while rc != 0 && errno == EAGAIN && family == AF_UNIX && monotonicNanoseconds() < deadline {
            usleep(1000)
            rc = Glibc.connect(fd, address.assumingMemoryBound(to: sockaddr.self), socklen_t(length))
        }
        if rc != 0 {
            let error = errno
            guard error == EINPROGRESS || error == EINTR || (error == EAGAIN && family != AF_UNIX) else {
                close(fd)
                throw .unavailable("cannot connect to the host at \(name): \(Errno(error))")
            }
            guard wait(fd, for: Int16(POLLOUT), deadline: deadline) else {
                close(fd)
                throw .unavailable("cannot connect to the host at \(name): timed out")
            }
            var failure: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &size)
            guard failure == 0 else {
                close(fd)
                throw .unavailable("cannot connect to the host at \(name): \(Errno(failure))")
            }
        }
        return fd
    }

    deinit { close(fd) }

    /// Ends both directions, waking a thread in ``read(into:deadline:)`` (the descriptor stays open until
    /// the socket is dropped, so it is never reused under another thread's feet).
    func shutdownBoth() { _ = shutdown(fd, Int32(SHUT_RDWR)) }

    /// Writes every byte of `bytes` by `deadline`.
    ///
    /// - Returns: nil when all were written; otherwise why not (timed out, or the socket failed). A
    ///   partial write leaves the stream mid-frame: the caller must then give the connection up.
    func writeAll(_ bytes: UnsafeRawBufferPointer, deadline: UInt64) -> String? {
        var done = 0
        while done < bytes.count {
            let n = send(fd, bytes.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL))
            if n > 0 {
                done += n
            } else if n < 0 && (errno == EAGAIN || errno == EINTR) {
                guard Self.wait(fd, for: Int16(POLLOUT), deadline: deadline) else { return "timed out writing to the host" }
            } else {
                return "cannot write to the host: \(Errno.current)"
            }
        }
        return nil
    }

    /// What one read gave.
    enum ReadResult {
        case bytes(Int)
        case timedOut
        case closed(String)
    }

    /// Reads what is there (waiting until `deadline` for something) into `buffer`'s writable bytes.
    func read(into buffer: UnsafeMutableRawBufferPointer, deadline: UInt64) -> ReadResult {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .closed("the host closed the connection") }
            guard errno == EAGAIN || errno == EINTR else { return .closed("the connection failed: \(Errno.current)") }
            guard Self.wait(fd, for: Int16(POLLIN), deadline: deadline) else { return .timedOut }
        }
    }

    /// Polls `fd` for `events` until `deadline`: whether it became ready (or failed, which the next
    /// call then reports).
    static func wait(_ fd: Int32, for events: Int16, deadline: UInt64) -> Bool {
        while true {
            let now = monotonicNanoseconds()
            guard now < deadline else { return false }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let milliseconds = Int32(clamping: (deadline - now + 999_999) / 1_000_000)
            let rc = poll(&entry, 1, milliseconds)
            if rc > 0 { return true }
            if rc < 0 && errno != EINTR { return true }
        }
    }
}
