import Glibc
import NIOCore
import Tmem
import TmemWire

/// A tiny blocking client that speaks frames by hand (TmemWire's encoder and parser over a plain
/// socket), so a test can send what no well-behaved client would: other sessions' pool ids, broken
/// headers, garbage, requests it never reads the replies of.
///
/// Every read has a deadline (poll), so a test never hangs on a host that does not answer; writes use
/// MSG_NOSIGNAL, so a host that closed the connection is an error, not a SIGPIPE.
///
/// `@unchecked Sendable`: a test may write from one thread while it reads on another (a socket's two
/// directions are independent); the received bytes and the parser are touched only by the one thread
/// that reads, and no two threads write at once.
final class RawClient: @unchecked Sendable {
    let fd: Int32
    private var input = ByteBuffer()
    private let parser = FrameParser(direction: .toClient)
    /// The session, once ``handshake(name:secret:join:)`` succeeded.
    private(set) var welcome: Welcome?

    /// Connects (blocking).
    ///
    /// - Throws: ``DaemonTestFailure`` when the host does not accept.
    init(_ address: HostAddress) throws {
        switch address {
        case .unix(let path):
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
            var addr = sockaddr_un()
            addr.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            precondition(bytes.count < MemoryLayout.size(ofValue: addr.sun_path), "socket path too long: \(path)")
            withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard rc == 0 else { throw failure("connect to \(path)") }
        case .tcp(let host, let port):
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { throw failure("parse \(host)") }
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0 else { throw failure("connect to \(host):\(port)") }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        // A blocking write gives up after 30 s (EAGAIN), so a host that stopped reading fails the test
        // instead of hanging it.
        var limit = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    private func failure(_ what: String) -> DaemonTestFailure {
        let code = errno
        close(fd)
        return DaemonTestFailure("cannot \(what): \(Errno(code))")
    }

    // MARK: Writing

    /// Writes every byte (blocking, at most 30 s without progress).
    ///
    /// - Throws: ``DaemonTestFailure`` when the host closed the connection (EPIPE, ECONNRESET) or took
    ///   nothing for 30 s.
    func send(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.send(fd, bytes.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw DaemonTestFailure("send failed: \(Errno(errno))") }
            done += n
        }
    }

    func send(_ buffer: ByteBuffer) throws { try buffer.withUnsafeReadableBytes { try send($0) } }
    func send(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try send($0) } }

    /// Writes one frame (`length` and `checksum` set from the payload).
    func send(_ header: FrameHeader, payload: [UInt8] = []) throws {
        var buffer = ByteBuffer()
        payload.withUnsafeBytes { buffer.writeFrame(header, payload: $0) }
        try send(buffer)
    }

    /// Half-closes: the host reads end of file after what was sent.
    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }

    // MARK: Reading

    /// The next frame from the host, waiting at most `seconds`.
    ///
    /// - Returns: The frame, or nil when the host closed the connection (end of file or a reset).
    /// - Throws: ``DaemonTestFailure`` on a timeout, or when the host's bytes break the protocol.
    func next(seconds: Double = 30) throws -> Frame? {
        let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
        while true {
            do throws(WireProtocolError) {
                if let frame = try parser.parse(&input) { return frame }
            } catch {
                throw DaemonTestFailure("the host sent a broken frame: \(error.reason)")
            }
            switch try fill(until: deadline) {
            case .data: continue
            case .closed: return nil
            case .timedOut: throw DaemonTestFailure("no frame from the host within \(seconds) s")
            }
        }
    }

    /// The next whole frame among the bytes already received, without waiting for more.
    func nextBuffered() throws -> Frame? {
        do throws(WireProtocolError) {
            return try parser.parse(&input)
        } catch {
            throw DaemonTestFailure("the host sent a broken frame: \(error.reason)")
        }
    }

    /// The next frame that is not a host notice (SHRINK, GO_AWAY), or nil at end of file.
    func nextReply(seconds: Double = 30) throws -> Frame? {
        while let frame = try next(seconds: seconds) {
            if frame.header.op != .shrink && frame.header.op != .goAway { return frame }
        }
        return nil
    }

    /// Sends one request and waits for its reply.
    func request(_ header: FrameHeader, payload: [UInt8] = [], seconds: Double = 30) throws -> Frame {
        try send(header, payload: payload)
        guard let reply = try nextReply(seconds: seconds) else {
            throw DaemonTestFailure("the host closed the connection instead of answering \(header.op)")
        }
        return reply
    }

    /// Reads (and drops) whatever comes until the host closes the connection.
    ///
    /// - Returns: true if it closed within `seconds`, false if it was still open then.
    func closedByHost(seconds: Double = 30) -> Bool {
        let deadline = monotonicNanoseconds() + UInt64(seconds * 1e9)
        while true {
            input.clear()
            switch (try? fill(until: deadline)) ?? .closed {
            case .data: continue
            case .closed: return true
            case .timedOut: return false
            }
        }
    }

    private enum Fill { case data, closed, timedOut }

    /// Waits for bytes until `deadline` and appends them to `input`.
    private func fill(until deadline: UInt64) throws -> Fill {
        while true {
            let now = monotonicNanoseconds()
            guard now < deadline else { return .timedOut }
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = Glibc.poll(&entry, 1, Int32(min(Int(deadline - now) / 1_000_000 + 1, Int(Int32.max))))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            // Frames already taken are slices of their own; the bytes before them need not be kept.
            if input.readerIndex >= 1 << 20 { input.discardReadBytes() }
            var failed: Int32 = 0
            let n = input.writeWithUnsafeMutableBytes(minimumWritableBytes: 64 * 1024) { raw in
                let n = recv(fd, raw.baseAddress, raw.count, 0)
                failed = n < 0 ? errno : 0
                return max(n, 0)
            }
            if n > 0 { return .data }
            if failed == EINTR || failed == EAGAIN { continue }
            // End of file, or a reset (the host closed with unread bytes in its buffer): closed either way.
            if failed == 0 || failed == ECONNRESET { return .closed }
            throw DaemonTestFailure("recv failed: \(Errno(failed))")
        }
    }

    // MARK: The handshake

    /// HELLO, CHALLENGE, AUTH (the proof of `secret`, or empty), WELCOME.
    ///
    /// - Returns: WELCOME's status (ok, or auth failed: the host then closes).
    @discardableResult
    func handshake(name: String, secret: [UInt8]?, join: SessionJoin? = nil) throws -> WireStatus {
        let (header, payload) = Hello(name: name, join: join).frame(requestID: 1)
        let challengeFrame = try request(header, payload: Array(buffer: payload))
        guard challengeFrame.header.op == .challenge else {
            throw DaemonTestFailure("HELLO was answered with \(challengeFrame.header.op)")
        }
        let challenge = try Challenge.decode(challengeFrame.payload)
        let proof = secret.map { Authentication.proof(secret: $0, nonce: challenge.nonce, name: name, join: join) } ?? []
        let answer = try request(FrameHeader(op: .auth, requestID: 2), payload: proof)
        guard answer.header.op == .welcome else { throw DaemonTestFailure("AUTH was answered with \(answer.header.op)") }
        if answer.header.status == .ok { welcome = try Welcome.decode(answer.payload) }
        return answer.header.status
    }

    /// Makes a pool of this session.
    func createPool(ephemeral: Bool = false, requestID: UInt32 = 3) throws -> UInt32 {
        let reply = try request(FrameHeader(op: .createPool, flags: ephemeral ? .ephemeral : [], requestID: requestID))
        guard reply.header.status == .ok else { throw DaemonTestFailure("CREATE_POOL gave \(reply.header.status)") }
        return reply.header.pool
    }
}

extension Array where Element == UInt8 {
    /// A buffer's readable bytes.
    init(buffer: ByteBuffer) { self = buffer.getBytes(at: buffer.readerIndex, length: buffer.readableBytes) ?? [] }
}
