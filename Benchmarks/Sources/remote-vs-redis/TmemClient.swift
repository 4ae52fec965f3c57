// remote-vs-redis: the tmem side of the load generator — the workload's PUT and GET as a `PageWire`,
// and the blocking exchanges around it: session setup (HELLO → CHALLENGE → AUTH → WELCOME, JOIN for
// further connections), CREATE_POOL, STATS.
import Tmem
import TmemCompression

/// The workload in tmem v1: PUT and GET of (pool, object 0, index = page number).
///
/// With `clientCompression`, a put's payload is the page's LZ4 block (flag COMPRESSED) when that is
/// smaller than a page, else the page; gets always ask for plain pages.
final class TmemWire: PageWire {
    let pool: UInt32
    private var compressor: PageCompressor?
    /// Puts sent as LZ4 blocks (with `clientCompression`).
    private(set) var compressedRequests = 0

    init(pool: UInt32, clientCompression: Bool) throws {
        self.pool = pool
        compressor = clientCompression ? try PageCompressor(algorithm: .lz4) : nil
    }

    func appendRequest(_ op: PageOp, index: Int, page: UnsafeRawBufferPointer, requestID: UInt32, to out: IOBuffer) {
        let headerBytes = out.reserve(FrameHeader.size)
        var header = FrameHeader(op: op == .put ? .put : .get, requestID: requestID, pool: pool, index: UInt32(index))
        if op == .put {
            let payload = out.reserve(page.count)
            var length = page.count
            if compressor != nil,
                let n = compressor!.compress(
                    page, into: UnsafeMutableRawBufferPointer(rebasing: payload[..<(page.count - 1)]))
            {
                header.flags = TmemFlag.compressed
                out.unreserve(page.count - n)
                length = n
                compressedRequests += 1
            } else {
                payload.copyMemory(from: page)
            }
            header.describe(payload: UnsafeRawBufferPointer(rebasing: payload[..<length]))
        }
        header.encode(into: headerBytes)
    }

    func parseReply(
        _ bytes: UnsafeRawBufferPointer, op: PageOp, index: Int, requestID: UInt32
    ) throws -> (consumed: Int, outcome: ReplyOutcome)? {
        guard bytes.count >= FrameHeader.size else { return nil }
        let header = try FrameHeader(decoding: bytes)
        let total = FrameHeader.size + Int(header.length)
        guard bytes.count >= total else { return nil }
        let payload = UnsafeRawBufferPointer(rebasing: bytes[FrameHeader.size..<total])
        if header.op == TmemOp.shrink.rawValue { return (total, .notice) }
        if header.op == TmemOp.goAway.rawValue {
            throw BenchError("tmemd sent GO_AWAY: \(String(decoding: payload, as: UTF8.self))")
        }
        let expectedOp: TmemOp = op == .put ? .put : .get
        guard header.op == expectedOp.rawValue, header.requestID == requestID, header.index == UInt32(index) else {
            throw BenchError(
                "tmemd answered \(expectedOp) #\(requestID) (index \(index)) with \(header.opName) "
                    + "#\(header.requestID) (index \(header.index)), status \(TmemStatus.name(header.status))")
        }
        switch (op, header.status) {
        case (.put, TmemStatus.ok): return (total, .stored)
        case (.get, TmemStatus.ok):
            guard header.flags & TmemFlag.compressed == 0 else {
                throw BenchError("tmemd sent a compressed page to a GET that did not accept one")
            }
            guard header.length == 0 || tmem32(payload) == header.checksum else { return (total, .damaged) }
            return (total, .page(payload))
        case (.get, TmemStatus.miss): return (total, .miss)
        default: return (total, .refused(TmemStatus.name(header.status)))
        }
    }
}

/// Reads whole frames from a socket, one at a time (setup and STATS; not the measured path).
struct FrameReader {
    let socket: Socket
    let buffer = IOBuffer(capacity: 1 << 17)

    /// The next frame that is not a SHRINK notice.
    ///
    /// - Throws: `BenchError` if the connection closes or the frame is malformed.
    func next() throws -> (header: FrameHeader, payload: [UInt8]) {
        while true {
            if buffer.readableCount >= FrameHeader.size {
                let header = try FrameHeader(decoding: buffer.readable)
                let total = FrameHeader.size + Int(header.length)
                guard total <= 1 << 16 else { throw BenchError("tmemd sent a \(header.length)-byte payload") }
                if buffer.readableCount >= total {
                    let payload = Array(buffer.readable[FrameHeader.size..<total])
                    buffer.consume(total)
                    if header.op == TmemOp.shrink.rawValue { continue }
                    if header.length > 0 && payload.withUnsafeBytes({ tmem32($0) }) != header.checksum {
                        throw BenchError("tmemd's \(header.opName) payload fails its checksum")
                    }
                    return (header, payload)
                }
            }
            buffer.compact()
            try socket.readSome(into: buffer)
        }
    }

    /// Sends one frame.
    func send(_ header: FrameHeader, _ payload: [UInt8] = []) throws {
        var header = header
        let out = IOBuffer(capacity: FrameHeader.size + payload.count)
        payload.withUnsafeBytes { header.describe(payload: $0) }
        header.encode(into: out.reserve(FrameHeader.size))
        out.append(payload)
        try socket.writeAll(out.readable)
    }

    /// Sends a request and returns its reply, which must carry the request's op.
    func exchange(_ header: FrameHeader, _ payload: [UInt8] = []) throws -> (header: FrameHeader, payload: [UInt8]) {
        try send(header, payload)
        let reply = try next()
        if reply.header.op == TmemOp.goAway.rawValue {
            throw BenchError("tmemd sent GO_AWAY: \(String(decoding: reply.payload, as: UTF8.self))")
        }
        return reply
    }
}

/// A tmem session's connection before the workload starts on it.
enum TmemSession {
    /// Connects and authenticates: a new session, or with `join` a further connection of that one.
    ///
    /// On TCP the proof uses `secret`; on a Unix socket (the host says no secret is required) AUTH is empty.
    ///
    /// - Returns: The connected socket and the WELCOME.
    /// - Throws: `BenchError` if tmemd refuses or the exchange is malformed.
    static func connect(
        to endpoint: Endpoint, name: String, secret: [UInt8], join: TmemHandshake.Welcome? = nil
    ) throws -> (Socket, TmemHandshake.Welcome) {
        let socket = try Socket(connectingTo: endpoint)
        let reader = FrameReader(socket: socket)
        let joinBytes = join?.joinBytes
        let hello = try reader.exchange(
            FrameHeader(op: .hello, flags: join == nil ? 0 : TmemFlag.join, requestID: 1),
            TmemHandshake.helloPayload(name: name, join: joinBytes))
        guard hello.header.op == TmemOp.challenge.rawValue else {
            throw BenchError(
                "tmemd answered HELLO with \(hello.header.opName), status \(TmemStatus.name(hello.header.status))")
        }
        let challenge = try TmemHandshake.Challenge(payload: hello.payload)
        let proof =
            challenge.secretRequired
            ? TmemHandshake.proof(secret: secret, nonce: challenge.nonce, name: name, join: joinBytes) : []
        let welcome = try reader.exchange(FrameHeader(op: .auth, requestID: 2), proof)
        guard welcome.header.op == TmemOp.welcome.rawValue, welcome.header.status == TmemStatus.ok else {
            throw BenchError(
                "tmemd refused the session on \(endpoint): \(welcome.header.opName) "
                    + "status \(TmemStatus.name(welcome.header.status))")
        }
        let details = try TmemHandshake.Welcome(payload: welcome.payload)
        guard details.pageSize == 4096 else { throw BenchError("tmemd's page size is \(details.pageSize), not 4096") }
        guard reader.buffer.readableCount == 0 else { throw BenchError("tmemd sent frames nobody asked for") }
        return (socket, details)
    }

    /// Creates a persistent, private pool on the session of `socket`.
    ///
    /// - Returns: Its pool id.
    static func createPool(on socket: Socket) throws -> UInt32 {
        let reply = try FrameReader(socket: socket).exchange(FrameHeader(op: .createPool, requestID: 3))
        guard reply.header.op == TmemOp.createPool.rawValue, reply.header.status == TmemStatus.ok else {
            throw BenchError("tmemd refused CREATE_POOL: \(TmemStatus.name(reply.header.status))")
        }
        return reply.header.pool
    }

    /// Asks for STATS and joins the reply frames' payloads (MORE set on all but the last).
    ///
    /// - Returns: The JSON text's bytes.
    static func stats(on socket: Socket) throws -> [UInt8] {
        let reader = FrameReader(socket: socket)
        try reader.send(FrameHeader(op: .stats, requestID: 0x5747_4154))
        var json: [UInt8] = []
        while true {
            let (header, payload) = try reader.next()
            guard header.op == TmemOp.stats.rawValue, header.status == TmemStatus.ok else {
                throw BenchError("tmemd answered STATS with \(header.opName), status \(TmemStatus.name(header.status))")
            }
            json += payload
            if header.flags & TmemFlag.more == 0 { return json }
            guard json.count < 16 << 20 else { throw BenchError("tmemd's STATS exceed 16 MiB") }
        }
    }
}
