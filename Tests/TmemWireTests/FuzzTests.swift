import NIOCore
import Testing
import Tmem
import TmemTestKit
import TmemWire

/// Random and mutated frames against each kind of reader: the parser never traps, every outcome is a
/// frame within the limits, nil (more bytes needed, none consumed, and never once a legal frame's worth
/// is buffered) or a ``WireProtocolError``; intact frames come back whole and their prefixes wait.
///
/// `TMEM_WIRE_FUZZ_ITERATIONS` sets the number of inputs, shared evenly by the three readers (default
/// 1,000,000: about 6 s in a debug build on 2 cores); `TMEM_TEST_SEED` sets the seed.
@Suite struct FuzzTests {
    static let total = environmentValue("TMEM_WIRE_FUZZ_ITERATIONS").flatMap { Int($0) } ?? 1_000_000
    static let iterations = (total + Reader.allCases.count - 1) / Reader.allCases.count

    /// How one input was made from the corpus.
    enum Mutation: CaseIterable {
        case intact, truncated, flipped, spliced, garbage
    }

    struct Outcomes {
        var frames = 0, waits = 0, errors = 0
        var failures: [String] = []

        mutating func fail(_ message: @autoclosure () -> String) {
            if failures.count < 10 { failures.append(message()) }
        }
    }

    @Test(arguments: Reader.allCases)
    func mutatedFramesAreParsedOrRefusedWithinBounds(_ reader: Reader) throws {
        var rng = seededGenerator("mutatedFramesAreParsedOrRefusedWithinBounds(\(reader))", default: 0x7133_F022)
        let corpus = Self.corpus(for: reader, using: &rng)
        let parser = reader.parser
        var work = ByteBuffer()
        work.reserveCapacity(3 * largestLegalFrame)
        var outcomes = Outcomes()
        var tail = 0
        // More bytes than the largest legal frame: a parser that waited on a header claiming more would
        // hold them all.
        let tails = [0x00, 0x12, 0xFF].map { ByteBuffer(bytes: [UInt8](repeating: $0, count: largestLegalFrame)) }
        let mutations = Mutation.allCases
        let noise = ByteBuffer(bytes: randomBytes(1 << 16, using: &rng))
        var magicAndVersion = ByteBuffer()
        magicAndVersion.writeInteger(Wire.magic, endianness: .little)
        magicAndVersion.writeInteger(Wire.version)
        let clock = ContinuousClock()
        let start = clock.now
        var done = 0
        for _ in 0..<Self.iterations {
            done += 1
            work.clear()
            let (frame, bytes) = corpus[Int(rng.next() % UInt64(corpus.count))]
            let mutation = mutations[Int(rng.next() % UInt64(mutations.count))]
            switch mutation {
            case .intact:
                work.writeImmutableBuffer(bytes)
            case .truncated:
                work.writeImmutableBuffer(
                    bytes.getSlice(at: bytes.readerIndex, length: Int(rng.next() % UInt64(bytes.readableBytes)))!)
            case .flipped:
                work.writeImmutableBuffer(bytes)
                // Mostly in the headers, where the rules are; else anywhere (a BATCH's entry headers).
                work.withUnsafeMutableReadableBytes { bytes in
                    for _ in 0..<(1 + rng.next() % 4) {
                        let span =
                            rng.next() % 4 == 0 ? bytes.count : min(bytes.count, Wire.headerSize + Wire.entryHeaderSize)
                        bytes[Int(rng.next() % UInt64(span))] = UInt8(truncatingIfNeeded: rng.next())
                    }
                }
            case .spliced:
                let other = corpus[Int(rng.next() % UInt64(corpus.count))].bytes
                work.writeImmutableBuffer(
                    bytes.getSlice(at: 0, length: Int(rng.next() % UInt64(bytes.readableBytes + 1)))!)
                let from = Int(rng.next() % UInt64(other.readableBytes + 1))
                work.writeImmutableBuffer(other.getSlice(at: from, length: other.readableBytes - from)!)
            case .garbage:
                // Half of it after a good magic and version, to reach the later checks.
                if rng.next() % 2 == 0 { work.writeImmutableBuffer(magicAndVersion) }
                let count = Int(rng.next() % 129)
                work.writeImmutableBuffer(
                    noise.getSlice(at: Int(rng.next() % UInt64(noise.readableBytes - count)), length: count)!)
            }
            // Sometimes more frames follow, or more bytes than any legal frame holds.
            let followers = rng.next() % 64
            let alone = followers > 7
            if followers < 7 {
                work.writeImmutableBuffer(corpus[Int(rng.next() % UInt64(corpus.count))].bytes)
            } else if followers == 7 {
                work.writeImmutableBuffer(tails[Int(rng.next() % UInt64(tails.count))])
                tail += 1
            }
            let first = Self.drain(&work, parser, reader, &outcomes)
            switch mutation {
            case .intact where first != frame:
                outcomes.fail("an intact \(frame.header) came back as \(first.map { "\($0.header)" } ?? "nothing")")
            case .truncated where alone && (first != nil || work.readerIndex != 0):
                outcomes.fail("a truncated \(frame.header) was taken")
            default: break
            }
            if !outcomes.failures.isEmpty { break }
        }
        let elapsed = clock.now - start
        print(
            "\(reader): \(done) inputs in \(elapsed): \(outcomes.frames) frames, \(outcomes.waits) waits, "
                + "\(outcomes.errors) protocol errors, \(tail) with an oversized tail")
        #expect(outcomes.failures.isEmpty, "\(outcomes.failures.joined(separator: "\n"))")
        if Self.iterations >= 10_000 {
            #expect(outcomes.frames > 0 && outcomes.waits > 0 && outcomes.errors > 0)
        }
    }

    /// Parses `work` until it waits or refuses, checking each outcome; returns the first frame.
    static func drain(_ work: inout ByteBuffer, _ parser: FrameParser, _ reader: Reader, _ outcomes: inout Outcomes)
        -> Frame?
    {
        var first: Frame?
        while true {
            let before = work.readableBytes
            let frame: Frame?
            do {
                frame = try parser.parse(&work)
            } catch {
                outcomes.errors += 1
                return first
            }
            guard let frame else {
                outcomes.waits += 1
                if work.readableBytes != before {
                    outcomes.fail("nil after consuming \(before - work.readableBytes) bytes")
                }
                if before >= largestLegalFrame { outcomes.fail("nil with \(before) bytes buffered") }
                return first
            }
            outcomes.frames += 1
            if before - work.readableBytes != frame.wireSize {
                outcomes.fail("\(frame.header) consumed \(before - work.readableBytes) bytes")
            }
            if let broken = brokenLimit(frame, reader) { outcomes.fail("\(frame.header): \(broken)") }
            if first == nil { first = frame }
            if work.readableBytes == 0 { return first }
        }
    }

    /// The rule of docs/PROTOCOL.md a parsed frame breaks, if any.
    static func brokenLimit(_ frame: Frame, _ reader: Reader) -> String? {
        let header = frame.header
        let limit = reader.maxPayload
        if reader == .hostBeforeAuth, !header.op.isHandshake { return "not a handshake op" }
        if reader != .client {
            if header.status != .ok { return "a status" }
            if !header.flags.isSubset(of: header.op.allowedRequestFlags) { return "flags" }
        } else if header.op.isHandshake {
            return "a request op from the host"
        }
        guard header.op == .batch else {
            if frame.payload.readableBytes > limit || Int(header.length) != frame.payload.readableBytes {
                return "length"
            }
            if header.count != 0 || !frame.entries.isEmpty { return "entries" }
            if header.length == 0, header.checksum != 0 { return "a checksum without a payload" }
            return nil
        }
        if !(1...Wire.maxBatchEntries).contains(frame.entries.count) || frame.entries.count != header.count {
            return "count"
        }
        if header.length != 0 || frame.payload.readableBytes != 0 { return "a BATCH payload" }
        for entry in frame.entries {
            if !entry.op.isBatchable || entry.payload.readableBytes > limit { return "entry \(entry.op)" }
            if !entry.flags.isSubset(of: .compressed) || (reader != .client && entry.status != .ok) {
                return "entry fields"
            }
        }
        return nil
    }

    /// Valid frames for `reader`: mostly small ones (fast to copy, dense in headers), some with whole
    /// pages, and for authenticated readers two of the largest legal BATCHes.
    static func corpus(for reader: Reader, using rng: inout SeededGenerator) -> [(frame: Frame, bytes: ByteBuffer)] {
        var small = RandomFrames(reader, maxPayload: 48)
        small.maxEntries = 6
        var frames = (0..<400).map { _ in small.frame(using: &rng) }
        frames += (0..<40).map { _ in RandomFrames(reader).frame(using: &rng) }
        if reader != .hostBeforeAuth {
            for i in 0..<2 {
                let entries = (0..<Wire.maxBatchEntries).map { j in
                    BatchEntry(
                        op: .put, index: UInt32(j), object: 1, payload: ByteBuffer(bytes: page(UInt8(i * 64 + j))))
                }
                let batch = Frame.batch(FrameHeader(op: .batch, requestID: UInt32(i), pool: 1), entries)
                precondition(batch.wireSize == largestLegalFrame)
                frames.append(batch)
            }
        }
        return frames.map { ($0, $0.encoded) }
    }
}
