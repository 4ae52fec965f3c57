// remote-vs-redis --self-test: checks the hand-written encoders against docs/PROTOCOL.md and RESP
// without any server — header bytes at their documented offsets, decode round trips, the handshake
// payloads, the HMAC proof (RFC 4231's test case 2), tmem32 against the document's pseudocode, and the
// RESP requests and replies the workload uses.
import Crypto
import Tmem
import TmemCompression

enum SelfTest {
    /// Runs every check, printing one line each.
    ///
    /// - Returns: The number of failed checks.
    static func run() -> Int {
        var failures = 0
        func check(_ name: String, _ ok: @autoclosure () throws -> Bool) {
            let passed = (try? ok()) ?? false
            print((passed ? "ok    " : "FAIL  ") + name)
            if !passed { failures += 1 }
        }

        // Header layout, byte by byte.
        var header = FrameHeader(
            op: .put, flags: TmemFlag.quiet, requestID: 0x0403_0201, pool: 0x0807_0605,
            object: 0x100F_0E0D_0C0B_0A09, index: 0x1413_1211)
        header.status = 0x21
        header.count = 0x0201
        header.length = 0x1817_1615
        header.checksum = 0x1C1B_1A19
        var bytes = [UInt8](repeating: 0xEE, count: FrameHeader.size)
        bytes.withUnsafeMutableBytes { header.encode(into: $0) }
        let expected: [UInt8] = [
            0x74, 0x6D, 0x01, 0x12, 0x80, 0x21, 0x01, 0x02, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
            0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
            0x19, 0x1A, 0x1B, 0x1C,
        ]
        check("header encodes to the documented 36 little-endian bytes (magic bytes 't' 'm')", bytes == expected)
        check("header decodes back to itself", try bytes.withUnsafeBytes { try FrameHeader(decoding: $0) } == header)
        var badMagic = bytes
        badMagic[0] = 0x00
        check("a wrong magic is refused", (try? badMagic.withUnsafeBytes { try FrameHeader(decoding: $0) }) == nil)
        var badVersion = bytes
        badVersion[2] = 2
        check("a wrong version is refused", (try? badVersion.withUnsafeBytes { try FrameHeader(decoding: $0) }) == nil)

        // Checksums: the core's tmem32 against the document's pseudocode, written out again here.
        var rng = SeededGenerator(seed: 42)
        let samples: [[UInt8]] = [
            [], [1], Array(0..<31), Array(0..<32), (0..<4096).map { _ in UInt8.random(in: 0...255, using: &rng) },
        ]
        check(
            "tmem32 matches docs/PROTOCOL.md's pseudocode (0, 1, 31, 32, 4096 bytes)",
            samples.allSatisfy { s in s.withUnsafeBytes { tmem32($0) } == documentedChecksum(s) })
        var described = FrameHeader(op: .auth)
        let payload: [UInt8] = Array(repeating: 7, count: 32)
        payload.withUnsafeBytes { described.describe(payload: $0) }
        check(
            "describe sets length and checksum",
            described.length == 32 && described.checksum == documentedChecksum(payload))
        [UInt8]().withUnsafeBytes { described.describe(payload: $0) }
        check("an empty payload has checksum 0", described.length == 0 && described.checksum == 0)

        // Session setup payloads.
        let token = Array(UInt8(100)..<UInt8(116))
        check("HELLO payload: name length, name", TmemHandshake.helloPayload(name: "ab", join: nil) == [2, 97, 98])
        let challengeBytes = Array(repeating: UInt8(9), count: 32) + [0x00, 0x10, 0x00, 0x00, 0x01]
        let challenge = try? TmemHandshake.Challenge(payload: challengeBytes)
        check(
            "CHALLENGE: nonce, page size u32, secret required u8",
            challenge?.nonce == Array(repeating: 9, count: 32) && challenge?.pageSize == 4096
                && challenge?.secretRequired == true)
        check("a short CHALLENGE is refused", (try? TmemHandshake.Challenge(payload: [1, 2, 3])) == nil)
        let welcomeBytes: [UInt8] = [1, 0, 0, 0, 0, 0, 0, 0] + token + [0x00, 0x10, 0, 0, 0x00, 0x01, 0, 0, 64, 0]
        let welcome = try? TmemHandshake.Welcome(payload: welcomeBytes)
        check(
            "WELCOME: session id, token, page size, in flight, batch",
            welcome?.sessionID == 1 && welcome?.token == token && welcome?.pageSize == 4096
                && welcome?.maxInFlight == 256 && welcome?.maxBatch == 64)
        let join = welcome?.joinBytes ?? []
        check("JOIN names the session: id (u64) then token, 24 bytes", join == [1, 0, 0, 0, 0, 0, 0, 0] + token)
        check(
            "HELLO JOIN payload: name length, name, session id, token",
            TmemHandshake.helloPayload(name: "ab", join: join) == [2, 97, 98, 1, 0, 0, 0, 0, 0, 0, 0] + token)
        let rfcKey = Array("Jefe".utf8)
        let rfcMAC = Array(
            HMAC<SHA256>.authenticationCode(
                for: Array("what do ya want for nothing?".utf8), using: SymmetricKey(data: rfcKey)))
        check(
            "HMAC-SHA256 gives RFC 4231 test case 2",
            hex(rfcMAC) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        let nonce = Array(repeating: UInt8(1), count: 32)
        let proof = TmemHandshake.proof(secret: rfcKey, nonce: nonce, name: "n", join: join)
        let manual = Array(
            HMAC<SHA256>.authenticationCode(
                for: Array("tmem-auth-1".utf8) + nonce + Array("n".utf8) + [1, 0, 0, 0, 0, 0, 0, 0] + token,
                using: SymmetricKey(data: rfcKey)))
        check(
            "AUTH proof is HMAC(secret, \"tmem-auth-1\" ‖ nonce ‖ name ‖ session id ‖ token)",
            proof == manual && proof.count == 32)

        // The workload's frames, through the same code the load generator uses.
        wireChecks(check: check)
        return failures
    }

    /// PUT/GET through `TmemWire` and SET/GET through `RedisWire`.
    private static func wireChecks(check: (String, @autoclosure () throws -> Bool) -> Void) {
        let page = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let tmem = try! TmemWire(pool: 5, clientCompression: false)
        let out = IOBuffer(capacity: 1 << 16)
        page.withUnsafeBytes { tmem.appendRequest(.put, index: 77, page: $0, requestID: 9, to: out) }
        let put = try? FrameHeader(decoding: out.readable)
        check(
            "PUT: op 0x12, pool, object 0, index, length 4096, tmem32 of the page, then the page",
            put?.op == 0x12 && put?.pool == 5 && put?.object == 0 && put?.index == 77 && put?.requestID == 9
                && put?.length == 4096 && put?.checksum == documentedChecksum(page)
                && Array(out.readable[36...]) == page)
        // A reply to it, and a GET's reply with the page: what tmemd would send back.
        func reply(_ op: TmemOp, status: UInt8, payload: [UInt8], id: UInt32 = 9) -> [UInt8] {
            var h = FrameHeader(op: op, requestID: id, pool: 5, index: 77)
            h.status = status
            payload.withUnsafeBytes { h.describe(payload: $0) }
            var b = [UInt8](repeating: 0, count: 36)
            b.withUnsafeMutableBytes { h.encode(into: $0) }
            return b + payload
        }
        let putOK = reply(.put, status: 0, payload: [])
        check(
            "a PUT's ok reply parses as stored, 36 bytes",
            putOK.withUnsafeBytes {
                guard let (n, o) = try? tmem.parseReply($0, op: .put, index: 77, requestID: 9), case .stored = o else {
                    return false
                }
                return n == 36
            })
        let getOK = reply(.get, status: 0, payload: page)
        check(
            "a GET's reply parses as the page; a partial one waits",
            try getOK.withUnsafeBytes { raw in
                let partial = try tmem.parseReply(
                    UnsafeRawBufferPointer(rebasing: raw[..<100]), op: .get, index: 77, requestID: 9)
                guard partial == nil, let (n, o) = try? tmem.parseReply(raw, op: .get, index: 77, requestID: 9),
                    case .page(let p) = o
                else { return false }
                return n == 36 + 4096 && Array(p) == page
            })
        var damaged = getOK
        damaged[100] ^= 1
        check(
            "a GET reply failing its checksum is damaged",
            damaged.withUnsafeBytes {
                guard let (_, o) = try? tmem.parseReply($0, op: .get, index: 77, requestID: 9), case .damaged = o else {
                    return false
                }
                return true
            })
        check(
            "a miss parses as a miss",
            reply(.get, status: 1, payload: []).withUnsafeBytes {
                guard let (_, o) = try? tmem.parseReply($0, op: .get, index: 77, requestID: 9), case .miss = o else {
                    return false
                }
                return true
            })
        check(
            "a reply to another request id is an error",
            (try? reply(.get, status: 0, payload: page, id: 10).withUnsafeBytes {
                try tmem.parseReply($0, op: .get, index: 77, requestID: 9)
            }) == nil)

        let lz4 = try! TmemWire(pool: 5, clientCompression: true)
        out.clear()
        page.withUnsafeBytes { lz4.appendRequest(.put, index: 77, page: $0, requestID: 9, to: out) }
        check(
            "a client-compressed PUT: flag COMPRESSED, an LZ4 block shorter than a page that expands to it",
            try {
                let h = try FrameHeader(decoding: out.readable)
                guard h.flags == TmemFlag.compressed, h.length < 4096, out.readableCount == 36 + Int(h.length) else {
                    return false
                }
                var decompressor = try PageCompressor(algorithm: .lz4)
                var back = [UInt8](repeating: 0, count: 4096)
                try back.withUnsafeMutableBytes {
                    try decompressor.decompress(UnsafeRawBufferPointer(rebasing: out.readable[36...]), into: $0)
                }
                return back == page && lz4.compressedRequests == 1
                    && h.checksum == documentedChecksum(Array(out.readable[36...]))
            }())
        out.clear()
        var noise = SeededGenerator(seed: 7)
        let random = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &noise) }
        random.withUnsafeBytes { lz4.appendRequest(.put, index: 78, page: $0, requestID: 10, to: out) }
        check(
            "an incompressible page goes plain even with client compression",
            (try? FrameHeader(decoding: out.readable))?.flags == 0 && out.readableCount == 36 + 4096)

        let redis = RedisWire()
        out.clear()
        page.withUnsafeBytes { redis.appendRequest(.put, index: 1234, page: $0, requestID: 0, to: out) }
        let setHead = Array("*3\r\n$3\r\nSET\r\n$6\r\np:1234\r\n$4096\r\n".utf8)
        check(
            "SET p:1234 <4096 bytes> in RESP",
            Array(out.readable) == setHead + page + Array("\r\n".utf8))
        out.clear()
        redis.appendRequest(.get, index: 0, page: UnsafeRawBufferPointer(start: nil, count: 0), requestID: 0, to: out)
        check("GET p:0 in RESP", Array(out.readable) == Array("*2\r\n$3\r\nGET\r\n$3\r\np:0\r\n".utf8))
        let bulk = Array("$4096\r\n".utf8) + page + Array("\r\n".utf8)
        check(
            "a bulk reply parses as the page",
            bulk.withUnsafeBytes {
                guard let (n, o) = try? redis.parseReply($0, op: .get, index: 0, requestID: 0), case .page(let p) = o
                else { return false }
                return n == bulk.count && Array(p) == page
            })
        check(
            "$-1 is a miss, +OK stored, -ERR a refusal",
            Array("$-1\r\n+OK\r\n-ERR oom\r\n".utf8).withUnsafeBytes { raw in
                guard let (a, miss) = try? redis.parseReply(raw, op: .get, index: 0, requestID: 0), case .miss = miss,
                    let (b, ok) = try? redis.parseReply(
                        UnsafeRawBufferPointer(rebasing: raw[a...]), op: .put, index: 0, requestID: 0),
                    case .stored = ok,
                    let (_, err) = try? redis.parseReply(
                        UnsafeRawBufferPointer(rebasing: raw[(a + b)...]), op: .put, index: 0, requestID: 0),
                    case .refused(let why) = err
                else { return false }
                return why == "ERR oom"
            })
        check(
            "INFO's used_memory field is read",
            redisInfoField("# Memory\r\nused_memory:123\r\nused_memory_human:1K\r\n", "used_memory") == 123)
        let stats = TmemHostMemory(
            statsJSON: Array(
                #"{"host":{"capacity_bytes":9,"used_bytes":100,"memory_bytes":130,"stored_bytes":80,"#.utf8)
                + Array(#""shared":{"used_bytes":5},"pages":3},"clients":[]}"#.utf8))
        check(
            "STATS host: memory_bytes is the figure, used and stored are read, shared.used_bytes is not the host's",
            stats.memoryBytes == 130 && stats.usedBytes == 100 && stats.storedBytes == 80 && stats.totalBytes == 130)
        let charged = TmemHostMemory(statsJSON: Array(#"{"host":{"capacity":9,"usedBytes":100}}"#.utf8))
        check("STATS host without memory_bytes: the used bytes", charged.totalBytes == 100)
        let split = TmemHostMemory(
            statsJSON: Array(#"{"host":{"capacity":9,"zpoolBytes":100,"meta":{"bytes":20}}}"#.utf8))
        check(
            "STATS host with pool and metadata apart: their sum (nested keys too)",
            split.poolBytes == 100 && split.metadataBytes == 20 && split.totalBytes == 120)
        check("STATS that are not JSON give no figure", TmemHostMemory(statsJSON: Array("nope".utf8)).totalBytes == nil)
    }

    /// docs/PROTOCOL.md's tmem32, transcribed from its pseudocode.
    static func documentedChecksum(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt64 = 0x9E37_79B9_7F4A_7C15, b: UInt64 = 0xC2B2_AE3D_27D4_EB4F
        var c: UInt64 = 0x1656_67B1_9E37_79F9, d: UInt64 = 0x27D4_EB2F_1656_67C5
        let p: UInt64 = 0x100_0000_01B3
        func word(_ k: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[8 * k + $1]) << (8 * UInt64($1)) } }
        func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }
        var i = 0
        while bytes.count - 32 * i >= 32 {
            a = rotl((a ^ word(4 * i)) &* p, 31); b = rotl((b ^ word(4 * i + 1)) &* p, 29)
            c = rotl((c ^ word(4 * i + 2)) &* p, 27); d = rotl((d ^ word(4 * i + 3)) &* p, 25)
            i += 1
        }
        var h = a ^ (b &* 3) ^ (c &* 5) ^ (d &* 7) ^ UInt64(bytes.count)
        for x in bytes[(32 * i)...] { h = (h ^ UInt64(x)) &* p }
        h ^= h >> 29; h &*= 0xBF58_476D_1CE4_E5B9; h ^= h >> 32
        return UInt32(truncatingIfNeeded: h)
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
