import Glibc
import NIOCore
import Testing
import Tmem
import TmemRemote
import TmemTestKit
import TmemWire

/// A frame (or bytes) that breaks docs/PROTOCOL.md ("Limits"), sent on a connection of its own.
enum HostileFrame: String, CaseIterable, CustomStringConvertible {
    case badMagicBeforeAuth, badMagicAfterAuth, badVersion, unknownOp, payloadLongerThanAPage
    case oversizeHandshake, oversizeBatch, emptyBatch, batchEntryLongerThanAPage, opBeforeHello
    case opBeforeAuth, helloOnceAuthenticated, hostNoticeFromClient, reservedFlag, statusInRequest
    case checksumWithoutPayload, garbage, truncatedFrameThenClose

    var description: String { rawValue }

    /// Whether the connection authenticates before it misbehaves.
    var authenticates: Bool {
        switch self {
        case .badMagicBeforeAuth, .oversizeHandshake, .opBeforeHello, .opBeforeAuth, .garbage: false
        default: true
        }
    }

    /// What the host logs as the protocol error (nil: no protocol error, the client ends the connection).
    var reason: String? {
        switch self {
        case .badMagicBeforeAuth, .badMagicAfterAuth, .garbage: "bad magic"
        case .badVersion: "unsupported version 2"
        case .unknownOp: "unknown op 0x7f"
        case .payloadLongerThanAPage: "a 4097-byte PUT"
        case .oversizeHandshake: "a 129-byte HELLO before authentication"
        case .oversizeBatch: "a BATCH of 65 entries"
        case .emptyBatch: "a BATCH of 0 entries"
        case .batchEntryLongerThanAPage: "a 4097-byte BATCH entry"
        case .opBeforeHello: "GET before authentication"
        case .opBeforeAuth: "PUT before authentication"
        case .helloOnceAuthenticated: "HELLO from an authenticated client"
        case .hostNoticeFromClient: "SHRINK from an authenticated client"
        case .reservedFlag: "flags 0x40 on GET"
        case .statusInRequest: "a status in a request"
        case .checksumWithoutPayload: "a checksum without a payload"
        case .truncatedFrameThenClose: nil
        }
    }

    /// The bytes to send. None of them carries a payload the host would have to wait for: every rule
    /// is to be enforced from the header alone (except the truncated frame, which the client then ends).
    func bytes(_ rng: inout SeededGenerator) -> [UInt8] {
        switch self {
        case .badMagicBeforeAuth: Self.header(magic: 0x4854, op: WireOp.hello.rawValue)  // "TH": an HTTP-ish start
        case .badMagicAfterAuth: Self.header(magic: 0x746D, op: WireOp.ping.rawValue)  // byte-swapped
        case .badVersion: Self.header(version: 2, op: WireOp.ping.rawValue)
        case .unknownOp: Self.header(op: 0x7F)
        case .payloadLongerThanAPage: Self.header(op: WireOp.put.rawValue, length: UInt32(pageSize + 1), checksum: 1)
        case .oversizeHandshake: Self.header(op: WireOp.hello.rawValue, length: UInt32(Wire.maxHandshakePayload + 1), checksum: 1)
        case .oversizeBatch: Self.header(op: WireOp.batch.rawValue, count: UInt16(Wire.maxBatchEntries + 1))
        case .emptyBatch: Self.header(op: WireOp.batch.rawValue, count: 0)
        case .batchEntryLongerThanAPage:
            // One entry header claiming 4097 bytes: refused before any of them arrives.
            Self.header(op: WireOp.batch.rawValue, count: 1) + [WireOp.put.rawValue, 0, 0, 0] + [UInt8](repeating: 0, count: 12)
                + Self.le(UInt32(pageSize + 1)) + Self.le(UInt32(1))
        case .opBeforeHello: Self.header(op: WireOp.get.rawValue)
        case .opBeforeAuth:
            Self.hello + Self.header(op: WireOp.put.rawValue)
        case .helloOnceAuthenticated: Self.hello
        case .hostNoticeFromClient: Self.header(op: WireOp.shrink.rawValue)
        case .reservedFlag: Self.header(op: WireOp.get.rawValue, flags: 1 << 6)
        case .statusInRequest: Self.header(op: WireOp.flushPage.rawValue, status: WireStatus.miss.rawValue)
        case .checksumWithoutPayload: Self.header(op: WireOp.flushPage.rawValue, checksum: 0xDEAD)
        case .garbage:
            // Random bytes that do not start with the magic.
            [0xFF, 0x00] + (0..<4094).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        case .truncatedFrameThenClose:
            Self.header(op: WireOp.put.rawValue, length: UInt32(pageSize), checksum: 1) + [UInt8](repeating: 7, count: 100)
        }
    }

    private static var hello: [UInt8] {
        let (header, payload) = Hello(name: "hostile").frame(requestID: 1)
        var buffer = ByteBuffer()
        buffer.writeFrame(header, payload: payload)
        return Array(buffer: buffer)
    }

    /// A 36-byte header written field by field, so that any field may be wrong.
    private static func header(
        magic: UInt16 = Wire.magic, version: UInt8 = Wire.version, op: UInt8 = WireOp.ping.rawValue, flags: UInt8 = 0,
        status: UInt8 = 0, count: UInt16 = 0, length: UInt32 = 0, checksum: UInt32 = 0
    ) -> [UInt8] {
        le(magic) + [version, op, flags, status] + le(count) + le(UInt32(77)) + le(UInt32(1)) + le(UInt64(0)) + le(UInt32(0))
            + le(length) + le(checksum)
    }

    private static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
}

/// Hostile frames close only their own connection (docs/PROTOCOL.md, "Limits": a protocol error closes
/// that connection at once; no other client's data is touched): each case on a connection of its own
/// must be answered by end of file, while a bystander session (a remote backend, busy on another thread
/// the whole time, and a raw connection pinged between cases) is served throughout and keeps its pages;
/// and the daemon keeps serving new clients afterwards.
@Suite struct HostileFrameTests {
    @Test func eachHostileFrameClosesOnlyItsConnection() throws {
        let seed = testSeed("eachHostileFrameClosesOnlyItsConnection", default: 0x2BAD)
        let daemon = try TmemdProcess()
        let bystander = try daemon.client(name: "bystander", overTCP: true)
        let pool = try bystander.createPool(.persistent)
        for i in 0..<64 { #expect(bystander.put(key(pool, 0, UInt32(i)), taggedPage(UInt64(i), seed: seed)) == .stored) }
        let watcher = try daemon.rawClient(name: "watcher")

        let (unix, tcp, secret) = (daemon.unix, daemon.tcp, daemon.secret)
        let stillOpen = Locked<[String]>([])
        let bystanderOps = Locked(0)
        let done = Locked(false)
        try runConcurrently(threads: 2) { thread in
            if thread == 1 {
                // The bystander's own work, all through the attacks: a re-put and a checked get per round.
                var round: UInt64 = 1
                while !done.value {
                    let i = UInt32(round % 64)
                    let tag = UInt64(i) | round << 8
                    guard bystander.put(key(pool, 1, i), taggedPage(tag, seed: seed)) == .stored,
                        try bystander.page(key(pool, 1, i)) == taggedPage(tag, seed: seed)
                    else { throw DaemonTestFailure("the bystander's round \(round) failed") }
                    bystanderOps.withLock { $0 += 2 }
                    round += 1
                }
                return
            }
            defer { done.withLock { $0 = true } }
            var rng = SeededGenerator(seed: seed)
            for (n, hostile) in HostileFrame.allCases.enumerated() {
                let client = try RawClient(n % 2 == 0 ? unix : tcp)
                if hostile.authenticates {
                    guard try client.handshake(name: "hostile", secret: secret) == .ok else {
                        throw DaemonTestFailure("\(hostile): the handshake failed")
                    }
                }
                try client.send(hostile.bytes(&rng))
                if hostile == .truncatedFrameThenClose { client.shutdownWrite() }
                if !client.closedByHost() { stillOpen.withLock { $0.append(hostile.description) } }
            }
        }
        #expect(stillOpen.value.isEmpty, "connections the host left open: \(stillOpen.value)")
        // Each for the reason it was sent for: the host logs the protocol error before it closes.
        let logged = daemon.standardError.split(separator: "\n").compactMap { line in
            line.range(of: "protocol error: ").map { String(line[$0.upperBound...]) }
        }
        #expect(logged == HostileFrame.allCases.compactMap(\.reason), "tmemd's standard error:\n\(daemon.standardError)")
        print("hostile frames: the bystander did \(bystanderOps.value) operations meanwhile")
        #expect(bystanderOps.value > 0)

        // The bystander's connections were never touched: same session, same pages.
        #expect(try watcher.request(FrameHeader(op: .ping, requestID: 5)).header.status == .ok)
        #expect(bystander.statistic("sessions_lost") == 0 && bystander.statistic("reconnects") == 0)
        for i in 0..<64 {
            #expect(try bystander.page(key(pool, 0, UInt32(i))) == taggedPage(UInt64(i), seed: seed), "page \(i) changed")
        }
        // And the daemon serves newcomers.
        #expect(daemon.isRunning)
        let newcomer = try daemon.client(name: "newcomer")
        let fresh = try newcomer.createPool(.ephemeral)
        #expect(newcomer.put(key(fresh, 0, 0), taggedPage(99, seed: seed)) == .stored)
        #expect(try newcomer.page(key(fresh, 0, 0)) == taggedPage(99, seed: seed))
    }
}
