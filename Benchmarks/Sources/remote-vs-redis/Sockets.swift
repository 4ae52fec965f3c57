// remote-vs-redis: blocking stream sockets (TCP on loopback, Unix-domain) and the byte buffers the load
// generator sends from and receives into. The same code carries both servers' traffic.
#if canImport(Glibc)
    import Glibc
#endif

/// Where a server listens: a loopback TCP port or a Unix-domain socket path.
enum Endpoint: CustomStringConvertible {
    case tcp(port: UInt16)
    case unix(path: String)

    var description: String {
        switch self {
        case .tcp(let port): "127.0.0.1:\(port)"
        case .unix(let path): path
        }
    }
}

/// One connected, blocking stream socket. Reads time out (`SO_RCVTIMEO`), so a server that stops
/// answering is an error, not a hang.
///
/// Implementation Notes: both directions get a 1 MiB buffer, more than 16 requests or replies in
/// flight ever need (16 x 4.1 KB), so a blocking `write` to one connection can never wait on the
/// server while its replies on another connection go unread.
final class Socket {
    let fd: Int32
    let endpoint: Endpoint

    /// Connects to `endpoint`; on TCP sets `TCP_NODELAY`, so each request leaves at once.
    ///
    /// - Parameter timeoutSeconds: The longest a read may wait for bytes.
    /// - Throws: `BenchError` with the errno text if the socket cannot be made or connected.
    init(connectingTo endpoint: Endpoint, timeoutSeconds: Int = 30) throws {
        self.endpoint = endpoint
        switch endpoint {
        case .tcp(let port):
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw BenchError("socket: \(errnoText(errno))") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            if rc != 0 { let code = errno; close(fd); throw BenchError("connect \(endpoint): \(errnoText(code))") }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        case .unix(let path):
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw BenchError("socket: \(errnoText(errno))") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let pathBytes = Array(path.utf8)
            guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
                close(fd)
                throw BenchError("unix socket path too long: \(path)")
            }
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: pathBytes) }
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            if rc != 0 { let code = errno; close(fd); throw BenchError("connect \(endpoint): \(errnoText(code))") }
        }
        var size: Int32 = 1 << 20
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Writes all of `bytes`, retrying short writes and EINTR.
    ///
    /// - Throws: `BenchError` if the peer has gone (EPIPE, ECONNRESET) or the write times out.
    func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw BenchError("write to \(endpoint): \(errnoText(errno))")
            }
            done += n
        }
    }

    /// One `read` into the free space of `buffer` (which must have some).
    ///
    /// - Returns: The bytes read, at least 1.
    /// - Throws: `BenchError` on end of stream (the server closed the connection), a timeout, or an error.
    @discardableResult
    func readSome(into buffer: IOBuffer) throws -> Int {
        while true {
            let n = read(fd, buffer.writePointer, buffer.freeCount)
            if n > 0 { buffer.didWrite(n); return n }
            if n == 0 { throw BenchError("\(endpoint) closed the connection") }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw BenchError("no reply from \(endpoint) in time") }
            throw BenchError("read from \(endpoint): \(errnoText(errno))")
        }
    }

    /// Asks the kernel for a free loopback TCP port (bind to port 0, read it back, release it). Another
    /// process could take it before the server binds; the server then fails to start, with its stderr.
    static func freeLoopbackPort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket: \(errnoText(errno))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else { throw BenchError("cannot find a free loopback port: \(errnoText(errno))") }
        return UInt16(bigEndian: address.sin_port)
    }
}

/// A byte buffer with a read cursor and a write cursor: requests are appended and written out whole;
/// replies are read in and parsed from the front. Allocated once per connection; nothing allocates per
/// request.
final class IOBuffer {
    private let storage: UnsafeMutableRawBufferPointer
    private(set) var readIndex = 0
    private(set) var writeIndex = 0

    init(capacity: Int) {
        storage = .allocate(byteCount: capacity, alignment: 64)
    }

    deinit { storage.deallocate() }

    /// The unread bytes.
    var readable: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: storage[readIndex..<writeIndex])
    }

    var readableCount: Int { writeIndex - readIndex }
    var freeCount: Int { storage.count - writeIndex }
    var writePointer: UnsafeMutableRawPointer { storage.baseAddress! + writeIndex }

    /// Marks `count` bytes after the write cursor as filled.
    func didWrite(_ count: Int) {
        precondition(count <= freeCount, "IOBuffer overrun")
        writeIndex += count
    }

    /// Drops `count` bytes from the front; when nothing is left, both cursors return to 0.
    func consume(_ count: Int) {
        precondition(count <= readableCount, "IOBuffer underrun")
        readIndex += count
        if readIndex == writeIndex { readIndex = 0; writeIndex = 0 }
    }

    /// Moves a partial reply at the front to offset 0, so the next read has room for the rest.
    func compact() {
        guard readIndex > 0 else { return }
        let count = readableCount
        if count > 0 { storage.baseAddress!.copyMemory(from: storage.baseAddress! + readIndex, byteCount: count) }
        readIndex = 0
        writeIndex = count
    }

    func clear() { readIndex = 0; writeIndex = 0 }

    /// Appends raw bytes.
    func append(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= freeCount, "IOBuffer overrun")
        if bytes.count > 0 { writePointer.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        writeIndex += bytes.count
    }

    func append(_ bytes: [UInt8]) { bytes.withUnsafeBytes { append($0) } }

    /// Appends one byte.
    @inline(__always)
    func append(byte: UInt8) {
        precondition(freeCount >= 1, "IOBuffer overrun")
        storage[writeIndex] = byte
        writeIndex += 1
    }

    /// Appends the decimal digits of `value` (no allocation).
    func appendDecimal(_ value: Int) {
        precondition(value >= 0, "negative decimal")
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // room for 24 digits
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { raw in
            repeat {
                raw[count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            } while rest > 0
            for i in stride(from: count - 1, through: 0, by: -1) { append(byte: raw[i]) }
        }
    }

    /// Reserves `count` bytes at the write cursor for the caller to fill in place, and marks them written.
    ///
    /// - Returns: Where they start.
    func reserve(_ count: Int) -> UnsafeMutableRawBufferPointer {
        precondition(count <= freeCount, "IOBuffer overrun")
        let start = writeIndex
        writeIndex += count
        return UnsafeMutableRawBufferPointer(rebasing: storage[start..<writeIndex])
    }

    /// Gives back the last `count` reserved bytes (a compressed page that came out shorter than reserved).
    func unreserve(_ count: Int) {
        precondition(count <= readableCount, "IOBuffer underrun")
        writeIndex -= count
    }
}
