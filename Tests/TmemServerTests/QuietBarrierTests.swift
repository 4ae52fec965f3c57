import NIOCore
import Testing
import Tmem
import TmemHost
import TmemTestKit
import TmemWire

/// QUIET and BARRIER, exactly as docs/PROTOCOL.md says them: QUIET on PUT, FLUSH_PAGE, FLUSH_OBJECT,
/// DESTROY_POOL and BATCH means no reply when every outcome is ok; it never hides an error, a refusal, a
/// miss or a get's page. BARRIER is answered ok after every earlier request of the connection is
/// answered, and the host answers one connection's requests in the order it received them.
///
/// The model-based test pipelines a random mix of quiet and plain requests (a writer thread sends while
/// the test reads) and compares the replies, in order, with the model's: which requests are answered,
/// with what status and which page.
@Suite struct QuietBarrierTests {
    /// What the model says one request's reply must be (nil: no reply).
    struct Expected: CustomStringConvertible {
        var id: UInt32
        var op: WireOp
        var status: WireStatus
        /// The tag of the page a get returns.
        var page: UInt64?
        /// A BATCH reply's entries: status and page tag.
        var entries: [(status: WireStatus, page: UInt64?)] = []
        var description: String { "\(op) \(id) \(status)" + (entries.isEmpty ? "" : " \(entries.map { "\($0.status)" })") }
    }

    @Test func quietRequestsAreAnsweredOnlyWhenSomethingIsNotOk() throws {
        let seed = testSeed("quietRequestsAreAnsweredOnlyWhenSomethingIsNotOk", default: 0x0417)
        var rng = SeededGenerator(seed: seed)
        let local = try LocalHost()
        defer { local.stop() }
        let client = try RawClient(local.unix)
        try client.handshake(name: "quiet", secret: local.secret)
        let pool = try client.createPool()

        // The model: slot (object * 8 + index) → the tag of the page held.
        var held: [Int: UInt64] = [:]
        var stream = ByteBuffer()
        var expected: [Expected] = []
        var nextID: UInt32 = 100
        var nextTag: UInt64 = 1
        for _ in 0..<3000 {
            nextID += 1
            let id = nextID
            let slot = Int(rng.next() % 24)
            let (object, index) = (UInt64(slot / 8), UInt32(slot % 8))
            let header = FrameHeader(op: .put, requestID: id, pool: pool, object: object, index: index)
            func with(_ op: WireOp, _ flags: WireFlags = .quiet, pool other: UInt32? = nil) -> FrameHeader {
                var h = header
                h.op = op
                h.flags = flags
                if let other { h.pool = other }
                return h
            }
            switch rng.next() % 12 {
            case 0, 1:  // a quiet put that succeeds: silent
                let page = taggedPage(nextTag, seed: seed)
                page.withUnsafeBytes { stream.writeFrame(with(.put), payload: $0) }
                held[slot] = nextTag
                nextTag += 1
            case 2:  // a quiet put with a wrong checksum: answered, and the key is flushed
                var h = with(.put)
                h.length = UInt32(pageSize)
                h.checksum = 0xBAD
                stream.writeFrameHeader(h)
                stream.writeBytes(taggedPage(nextTag, seed: seed))
                held[slot] = nil
                expected.append(Expected(id: id, op: .put, status: .checksumMismatch))
            case 3:  // a quiet put of a short page: bad request, flushed; a quiet put to no pool: no such pool
                if rng.next() % 2 == 0 {
                    [UInt8](repeating: 1, count: 100).withUnsafeBytes { stream.writeFrame(with(.put), payload: $0) }
                    held[slot] = nil
                    expected.append(Expected(id: id, op: .put, status: .badRequest))
                } else {
                    taggedPage(0, seed: seed).withUnsafeBytes { stream.writeFrame(with(.put, pool: 999), payload: $0) }
                    expected.append(Expected(id: id, op: .put, status: .noSuchPool))
                }
            case 4:  // a plain put: answered ok
                taggedPage(nextTag, seed: seed).withUnsafeBytes { stream.writeFrame(with(.put, []), payload: $0) }
                held[slot] = nextTag
                nextTag += 1
                expected.append(Expected(id: id, op: .put, status: .ok))
            case 5:  // a get: always answered, with the page or a miss
                stream.writeFrame(with(.get, []))
                expected.append(Expected(id: id, op: .get, status: held[slot] == nil ? .miss : .ok, page: held[slot]))
            case 6:  // quiet flushes: silent whether or not the page was held; to no pool: answered
                if rng.next() % 4 == 0 {
                    stream.writeFrame(with(.flushPage, pool: 999))
                    expected.append(Expected(id: id, op: .flushPage, status: .noSuchPool))
                } else {
                    stream.writeFrame(with(.flushPage))
                    held[slot] = nil
                }
            case 7:  // a quiet flush of the object: silent
                stream.writeFrame(with(.flushObject))
                for i in 0..<8 { held[Int(object) * 8 + i] = nil }
            case 8:  // a quiet destroy of a pool that does not exist: ok, so silent
                stream.writeFrame(with(.destroyPool, pool: 4242))
            case 9:  // a barrier: answered, after everything before it
                stream.writeFrame(with(.barrier, []))
                expected.append(Expected(id: id, op: .barrier, status: .ok))
            default:  // a quiet batch: silent only if every entry's outcome is ok and none is a get
                var batch = with(.batch)
                let count = 1 + Int(rng.next() % 6)
                batch.count = UInt16(count)
                stream.writeFrameHeader(batch)
                var answer = Expected(id: id, op: .batch, status: .ok)
                var silent = true
                for n in 0..<count {
                    let entrySlot = Int(object) * 8 + (slot + n) % 8
                    let entryIndex = UInt32(entrySlot % 8)
                    switch rng.next() % 5 {
                    case 0, 1:
                        taggedPage(nextTag, seed: seed).withUnsafeBytes { stream.writeBatchEntry(op: .put, object: object, index: entryIndex, payload: $0) }
                        held[entrySlot] = nextTag
                        nextTag += 1
                        answer.entries.append((.ok, nil))
                    case 2:
                        // A wrong checksum: the entry is refused (and its key flushed), the batch answered.
                        stream.writeBatchEntryClaiming(checksum: 0xBAD, object: object, index: entryIndex, page: taggedPage(nextTag, seed: seed))
                        held[entrySlot] = nil
                        answer.entries.append((.checksumMismatch, nil))
                        silent = false
                    case 3:
                        stream.writeBatchEntry(op: .flushPage, object: object, index: entryIndex)
                        // A FLUSH_PAGE entry: ok if the host held the page, miss if not (not hidden).
                        if held[entrySlot] == nil { silent = false }
                        answer.entries.append((held[entrySlot] == nil ? .miss : .ok, nil))
                        held[entrySlot] = nil
                    default:
                        stream.writeBatchEntry(op: .get, object: object, index: entryIndex)
                        answer.entries.append((held[entrySlot] == nil ? .miss : .ok, held[entrySlot]))
                        silent = false
                    }
                }
                if !silent { expected.append(answer) }
            }
        }
        nextID += 1
        stream.writeFrame(FrameHeader(op: .barrier, requestID: nextID))
        expected.append(Expected(id: nextID, op: .barrier, status: .ok))

        // Send on one thread, read here: the replies, in order, are the model's.
        let bytes = stream
        let replies = expected.count
        let received = Locked<[Frame]>([])
        try runConcurrently(threads: 2) { thread in
            if thread == 0 { return try client.send(bytes) }
            // Fewer replies than the model's end in a timeout, after which the ones that came are compared.
            for _ in 0..<replies {
                guard let frame = try? client.nextReply(seconds: 30) else { return }
                received.withLock { $0.append(frame) }
            }
        }
        // Right after the last BARRIER's reply, the host has done everything before it.
        let stats = local.host.statistics()
        #expect(stats.pages == held.count, "the host holds \(stats.pages) pages after the barrier, the model \(held.count)")
        let frames = received.value
        var mismatches: [String] = []
        for (want, got) in zip(expected, frames) where !Self.matches(got, want, seed: seed) {
            mismatches.append("expected \(want), got \(got.header.op) \(got.header.requestID) \(got.header.status) \(got.entries.map(\.status))")
            if mismatches.count == 10 { break }
        }
        print("quiet: \(expected.count) replies expected for 3001 requests, \(frames.count) received")
        #expect(frames.count == expected.count)
        #expect(mismatches.count == 0, "\(mismatches.joined(separator: "\n"))")
        // Nothing more was sent: the next reply is the next request's.
        #expect(try client.request(FrameHeader(op: .ping, requestID: 1)).header.op == .ping)
    }

    @Test func aBarrierIsAnsweredOnlyOnceEveryQuietPutIsDone() throws {
        let seed = testSeed("aBarrierIsAnsweredOnlyOnceEveryQuietPutIsDone", default: 0x0418)
        let local = try LocalHost(clients: ["capped": ClientPolicy(cap: 0)])
        defer { local.stop() }
        let client = try RawClient(local.unix)
        try client.handshake(name: "bulk", secret: local.secret)
        let pool = try client.createPool()
        var stream = ByteBuffer()
        for i in 0..<512 {
            taggedPage(UInt64(i), seed: seed).withUnsafeBytes {
                stream.writeFrame(FrameHeader(op: .put, flags: .quiet, requestID: UInt32(i), pool: pool, index: UInt32(i)), payload: $0)
            }
        }
        stream.writeFrame(FrameHeader(op: .barrier, requestID: 9999))
        let bytes = stream
        let reply = Locked<Frame?>(nil)
        try runConcurrently(threads: 2) { thread in
            if thread == 0 { return try client.send(bytes) }
            let frame = try client.nextReply()
            reply.withLock { $0 = frame }
        }
        // The first reply is the barrier's (every put succeeded, silently), and the host holds them all.
        #expect(reply.value?.header.op == .barrier && reply.value?.header.requestID == 9999)
        #expect(local.host.statistics().pages == 512)

        // A refusal is never quiet: a client at its cap hears of every refused put, before the barrier.
        let capped = try RawClient(local.unix)
        try capped.handshake(name: "capped", secret: local.secret)
        let cappedPool = try capped.createPool()
        for i in 0..<8 {
            try taggedPage(UInt64(i), seed: seed).withUnsafeBytes {
                var one = ByteBuffer()
                one.writeFrame(FrameHeader(op: .put, flags: .quiet, requestID: UInt32(i), pool: cappedPool, index: UInt32(i)), payload: $0)
                try capped.send(one)
            }
        }
        try capped.send(FrameHeader(op: .barrier, requestID: 100))
        for i in 0..<8 {
            let frame = try #require(try capped.nextReply())
            #expect(frame.header.op == .put && frame.header.requestID == UInt32(i) && frame.header.status == .refusedCap)
        }
        #expect(try capped.nextReply()?.header.op == .barrier)
    }

    static func matches(_ frame: Frame, _ want: Expected, seed: UInt64) -> Bool {
        func page(_ payload: ByteBuffer, _ tag: UInt64?) -> Bool {
            guard let tag else { return payload.readableBytes == 0 }
            return Array(buffer: payload) == taggedPage(tag, seed: seed)
        }
        let h = frame.header
        guard h.op == want.op, h.requestID == want.id, h.status == want.status else { return false }
        guard want.op == .batch else { return page(frame.payload, want.page) }
        return frame.entries.count == want.entries.count
            && zip(frame.entries, want.entries).allSatisfy { $0.status == $1.status && page($0.payload, $1.page) }
    }
}

extension ByteBuffer {
    /// A BATCH entry of a PUT whose header claims `checksum`, whatever the page's is.
    mutating func writeBatchEntryClaiming(checksum: UInt32, object: UInt64, index: UInt32, page: [UInt8]) {
        writeInteger(WireOp.put.rawValue)
        writeInteger(UInt8(0))
        writeInteger(UInt8(0))
        writeInteger(UInt8(0))
        writeInteger(index, endianness: .little)
        writeInteger(object, endianness: .little)
        writeInteger(UInt32(page.count), endianness: .little)
        writeInteger(checksum, endianness: .little)
        writeBytes(page)
    }
}
