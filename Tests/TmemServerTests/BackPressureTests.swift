import Glibc
import NIOCore
import Testing
import Tmem
import TmemRemote
import TmemTestKit
import TmemWire

/// Back-pressure (docs/PROTOCOL.md, "Limits": the host stops reading a connection whose replies its peer
/// does not read, so a slow client costs it a bounded buffer): a raw client pipelines 60,000 GETs of
/// incompressible pages (about 240 MiB of replies) and reads none of them.
///
/// The bound: the daemon's resident memory (VmRSS) stays under what it was before plus 64 MiB at every
/// sample while the client writes, and the host stops reading long before the client has sent every
/// request. Meanwhile other clients are served. Then the slow client reads: every reply arrives, in
/// order, with the right page.
@Suite struct BackPressureTests {
    static let requests = 60_000
    static let boundBytes = 64 << 20
    /// How long the writer waits for the socket to take more bytes before it calls the host stopped.
    /// Only when the samples are taken depends on it, not what the test asserts: a host that kept
    /// reading would be caught by the memory bound or by the writer finishing.
    static let stallSeconds = 1.0

    @Test func aClientThatReadsNoRepliesCostsTheHostABoundedBuffer() throws {
        let seed = testSeed("aClientThatReadsNoRepliesCostsTheHostABoundedBuffer", default: 0xB9)
        let daemon = try TmemdProcess()
        let slow = try daemon.rawClient(name: "slow")
        let pool = try slow.createPool()
        let pages = (0..<64).map { taggedPage(UInt64($0), seed: seed, kind: .random) }
        for (i, page) in pages.enumerated() {
            let reply = try slow.request(FrameHeader(op: .put, requestID: 10, pool: pool, index: UInt32(i)), payload: page)
            #expect(reply.header.status == .ok)
        }
        let other = try daemon.client(name: "other")
        let otherPool = try other.createPool(.persistent)
        #expect(other.put(key(otherPool, 0, 0), pages[0]) == .stored)
        let base = try daemon.residentBytes()

        var stream = ByteBuffer()
        for n in 0..<Self.requests {
            stream.writeFrame(FrameHeader(op: .get, requestID: UInt32(1000 + n), pool: pool, index: UInt32(n % 64)))
        }
        let total = stream.readableBytes
        var offset = 0
        var largest = base
        var sampledAt = 0
        // Write until the host stops taking bytes (or everything is written), sampling its memory.
        while offset < total {
            var entry = pollfd(fd: slow.fd, events: Int16(POLLOUT), revents: 0)
            guard Glibc.poll(&entry, 1, Int32(Self.stallSeconds * 1000)) > 0 else { break }
            offset += try sendSome(slow.fd, stream, from: offset)
            if offset - sampledAt >= 32 * 1024 {
                largest = max(largest, try daemon.residentBytes())
                sampledAt = offset
            }
        }
        largest = max(largest, try daemon.residentBytes())
        let sent = offset / Wire.headerSize
        print("back-pressure: the host stopped reading after \(sent) of \(Self.requests) requests; VmRSS \(base >> 10) KiB before, at most \(largest >> 10) KiB while stalled")
        #expect(offset < total, "the host read all \(Self.requests) requests although none of their replies was read")
        #expect(largest < base + Self.boundBytes, "VmRSS grew from \(base) to \(largest) bytes")

        // Other clients are served meanwhile, on connections old and new.
        for i in 1..<16 { #expect(other.put(key(otherPool, 0, UInt32(i)), pages[i]) == .stored) }
        for i in 0..<16 { #expect(try other.page(key(otherPool, 0, UInt32(i))) == pages[i]) }
        let newcomer = try daemon.rawClient(name: "newcomer")
        #expect(try newcomer.request(FrameHeader(op: .ping, requestID: 3)).header.status == .ok)

        // Now the slow client reads (and writes the rest as the host takes it): every reply, in order.
        var received = 0
        var wrong: [String] = []
        func take(_ frame: Frame) {
            let expected = UInt32(1000 + received)
            let page = pages[received % 64]
            let good = frame.header.op == .get && frame.header.requestID == expected && frame.header.status == .ok
                && frame.payload.readableBytes == pageSize
                && frame.payload.withUnsafeReadableBytes { raw in page.withUnsafeBytes { memcmp(raw.baseAddress!, $0.baseAddress!, pageSize) == 0 } }
            if !good && wrong.count < 10 { wrong.append("reply \(received): \(frame.header.op) \(frame.header.requestID) \(frame.header.status)") }
            received += 1
        }
        while received < Self.requests {
            var entry = pollfd(fd: slow.fd, events: Int16(offset < total ? POLLIN | POLLOUT : POLLIN), revents: 0)
            guard Glibc.poll(&entry, 1, 30_000) > 0 else { throw DaemonTestFailure("the host went silent after \(received) replies") }
            if entry.revents & Int16(POLLOUT) != 0 { offset += try sendSome(slow.fd, stream, from: offset) }
            guard entry.revents & Int16(POLLIN | POLLHUP) != 0 else { continue }
            guard let frame = try slow.next(seconds: 30) else { throw DaemonTestFailure("the host closed after \(received) replies") }
            take(frame)
            while received < Self.requests, let frame = try slow.nextBuffered() { take(frame) }
        }
        #expect(wrong.count == 0, "\(wrong.joined(separator: "\n"))")
        #expect(try slow.request(FrameHeader(op: .ping, requestID: 7)).header.requestID == 7, "a reply more than asked for")
    }

    /// Writes what the socket takes now of `stream` from `offset` (without blocking).
    private func sendSome(_ fd: Int32, _ stream: ByteBuffer, from offset: Int) throws -> Int {
        let n = stream.withUnsafeReadableBytes { raw in
            Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
        }
        if n < 0 {
            guard errno == EAGAIN || errno == EINTR else { throw DaemonTestFailure("send failed: \(Errno(errno))") }
            return 0
        }
        return n
    }
}
