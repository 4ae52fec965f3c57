// remote-vs-redis: the load generator. One piece of code drives both servers: it is generic over a
// `PageWire` (RESP for redis-server, tmem v1 frames for tmemd) that only encodes requests and parses
// replies; the buffers, the syscalls (one `write` per batch of requests, `read` into a per-connection
// buffer, `poll` across connections), the clock and the verification are the same for both.
import Histogram
import Tmem
import TmemReplay

#if canImport(Glibc)
    import Glibc
#endif

/// The two requests of the workload: store a page under its key, fetch it back.
enum PageOp: CustomStringConvertible {
    case put, get
    var description: String { self == .put ? "put" : "get" }
}

/// What one reply says, as the load generator needs to know it.
enum ReplyOutcome {
    /// A put was stored.
    case stored
    /// A get's page; the bytes live in the receive buffer until the reply is consumed.
    case page(UnsafeRawBufferPointer)
    /// A get found nothing under the key.
    case miss
    /// The server declined the request (a refused put, an error reply), with its reason.
    case refused(String)
    /// A get's page failed the payload checksum.
    case damaged
    /// Not a reply to a request (a tmem host notice): skipped.
    case notice
}

/// A wire protocol, reduced to what the workload sends and receives. Implementations encode straight
/// into the send buffer and parse straight from the receive buffer; neither allocates per request.
protocol PageWire: AnyObject {
    /// Appends the request for page `index` (whose bytes, for a put, are `page`) to `out`.
    func appendRequest(_ op: PageOp, index: Int, page: UnsafeRawBufferPointer, requestID: UInt32, to out: IOBuffer)

    /// Parses the reply at the start of `bytes` to the request (`op`, `index`, `requestID`).
    ///
    /// - Returns: Its length and outcome, or nil if `bytes` does not hold all of it yet.
    /// - Throws: `BenchError` if the bytes are not a valid reply to that request.
    func parseReply(
        _ bytes: UnsafeRawBufferPointer, op: PageOp, index: Int, requestID: UInt32
    ) throws -> (consumed: Int, outcome: ReplyOutcome)?

    /// Requests whose payload this wire sent compressed, so far (tmem's `--client-compression`).
    var compressedRequests: Int { get }
}

extension PageWire {
    var compressedRequests: Int { 0 }
}

/// One connection and its state: the pages it still has to send, and the requests in flight, oldest
/// first (both servers answer a connection's requests in order).
final class Lane<Wire: PageWire> {
    let socket: Socket
    let wire: Wire
    let send = IOBuffer(capacity: 1 << 20)
    let receive = IOBuffer(capacity: 1 << 20)
    fileprivate var work: [Int] = []
    fileprivate var nextWork = 0
    fileprivate var inFlightIndex: [Int] = []
    fileprivate var inFlightID: [UInt32] = []
    fileprivate var inFlightSentAt: [UInt64] = []
    fileprivate var inFlightHead = 0
    fileprivate var inFlightCount = 0
    fileprivate var nextRequestID: UInt32 = 1

    init(socket: Socket, wire: Wire) {
        self.socket = socket
        self.wire = wire
    }

    fileprivate func prepare(work: [Int], depth: Int) {
        self.work = work
        nextWork = 0
        inFlightIndex = Array(repeating: 0, count: depth)
        inFlightID = Array(repeating: 0, count: depth)
        inFlightSentAt = Array(repeating: 0, count: depth)
        inFlightHead = 0
        inFlightCount = 0
        send.clear()
        receive.clear()
    }
}

/// One phase's figures.
struct PhaseResult {
    var op: PageOp
    var requests = 0
    var seconds = 0.0
    /// Nanoseconds per request, from the `write` that carried it to the parse of its reply.
    var latency = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    /// Gets that did not return the corpus page byte for byte (misses and damaged pages included).
    var mismatches = 0
    var misses = 0
    var damaged = 0
    var refusals = 0
    var firstRefusal: String?
    /// System calls of the phase: `write`s (one per batch of requests), `read`s, `poll`s.
    var writes = 0
    var reads = 0
    var polls = 0
    /// Requests sent with a compressed payload.
    var compressedRequests = 0

    var opsPerSecond: Double { seconds > 0 ? Double(requests) / seconds : 0 }
    var p50Micros: Double { Double(latency.valueAtPercentile(50)) / 1000 }
    var p99Micros: Double { Double(latency.valueAtPercentile(99)) / 1000 }
}

/// Runs a phase over some connections, each with up to `depth` requests in flight.
///
/// With one connection it blocks in `read`; with several it waits in `poll` for whichever has replies.
/// Requests are encoded into the connection's send buffer and leave in one `write`, whose moment is
/// every one of them's send time; each reply's latency is taken when it is parsed.
struct LoadGenerator<Wire: PageWire> {
    let corpus: PageCorpus
    /// How long a phase may wait for any reply.
    var timeoutMillis: Int32 = 30_000

    /// Sends `op` for every page in `order`, dealt round-robin to `lanes`.
    ///
    /// - Throws: `BenchError` if a connection fails, a server closes one, or a reply is malformed.
    func run(_ op: PageOp, order: [Int], lanes: [Lane<Wire>], depth: Int) throws -> PhaseResult {
        precondition(!lanes.isEmpty && depth >= 1, "a phase needs a connection and a depth")
        for (c, lane) in lanes.enumerated() {
            lane.prepare(work: Array(stride(from: c, to: order.count, by: lanes.count).map { order[$0] }), depth: depth)
        }
        var result = PhaseResult(op: op)
        var pollSet = [pollfd](repeating: pollfd(), count: lanes.count)
        let compressedBefore = lanes.reduce(0) { $0 + $1.wire.compressedRequests }
        let start = monotonicNanos()
        for lane in lanes { try refill(lane, op, depth: depth, into: &result) }
        var busy = lanes.filter { $0.inFlightCount > 0 }.count
        while busy > 0 {
            if lanes.count == 1 {
                try drain(lanes[0], op, into: &result)
            } else {
                for (i, lane) in lanes.enumerated() {
                    pollSet[i] = pollfd(
                        fd: lane.inFlightCount > 0 ? lane.socket.fd : -1, events: Int16(POLLIN), revents: 0)
                }
                let ready = poll(&pollSet, nfds_t(lanes.count), timeoutMillis)
                result.polls += 1
                if ready < 0 && errno == EINTR { continue }
                guard ready > 0 else {
                    throw BenchError(
                        ready == 0 ? "no reply for \(timeoutMillis / 1000) s" : "poll: \(errnoText(errno))")
                }
                for (i, lane) in lanes.enumerated() where pollSet[i].revents != 0 {
                    try drain(lane, op, into: &result)
                }
            }
            busy = 0
            for lane in lanes {
                try refill(lane, op, depth: depth, into: &result)
                if lane.inFlightCount > 0 { busy += 1 }
            }
        }
        result.seconds = Double(monotonicNanos() - start) / 1e9
        result.compressedRequests = lanes.reduce(0) { $0 + $1.wire.compressedRequests } - compressedBefore
        return result
    }

    /// Encodes requests until `depth` are in flight (or the lane's work is done), and writes them at once.
    private func refill(_ lane: Lane<Wire>, _ op: PageOp, depth: Int, into result: inout PhaseResult) throws {
        guard lane.inFlightCount < depth, lane.nextWork < lane.work.count else { return }
        var added = 0
        while lane.inFlightCount + added < depth, lane.nextWork < lane.work.count {
            let index = lane.work[lane.nextWork]
            lane.nextWork += 1
            let slot = (lane.inFlightHead + lane.inFlightCount + added) % depth
            lane.inFlightIndex[slot] = index
            lane.inFlightID[slot] = lane.nextRequestID
            lane.wire.appendRequest(
                op, index: index, page: corpus.page(index), requestID: lane.nextRequestID, to: lane.send)
            lane.nextRequestID &+= 1
            added += 1
        }
        let sentAt = monotonicNanos()
        for k in 0..<added { lane.inFlightSentAt[(lane.inFlightHead + lane.inFlightCount + k) % depth] = sentAt }
        lane.inFlightCount += added
        try lane.socket.writeAll(lane.send.readable)
        result.writes += 1
        lane.send.clear()
    }

    /// Reads once from the lane and handles every complete reply the buffer then holds.
    private func drain(_ lane: Lane<Wire>, _ op: PageOp, into result: inout PhaseResult) throws {
        if lane.receive.freeCount < 16 << 10 { lane.receive.compact() }
        try lane.socket.readSome(into: lane.receive)
        result.reads += 1
        let depth = lane.inFlightIndex.count
        while lane.inFlightCount > 0 {
            let slot = lane.inFlightHead
            let index = lane.inFlightIndex[slot]
            guard
                let (consumed, outcome) = try lane.wire.parseReply(
                    lane.receive.readable, op: op, index: index, requestID: lane.inFlightID[slot])
            else { break }
            if case .notice = outcome {
                lane.receive.consume(consumed)
                continue
            }
            let now = monotonicNanos()
            _ = result.latency.record(now - lane.inFlightSentAt[slot])
            result.requests += 1
            try account(outcome, op: op, index: index, into: &result)
            lane.receive.consume(consumed)
            lane.inFlightHead = (slot + 1) % depth
            lane.inFlightCount -= 1
        }
        if lane.inFlightCount == 0, lane.receive.readableCount > 0 {
            throw BenchError("\(lane.socket.endpoint) sent \(lane.receive.readableCount) bytes no request asked for")
        }
    }

    /// Counts one reply: a get's page is compared byte for byte with the corpus page it was put from.
    private func account(_ outcome: ReplyOutcome, op: PageOp, index: Int, into result: inout PhaseResult) throws {
        switch (op, outcome) {
        case (.put, .stored): break
        case (.get, .page(let bytes)):
            let expected = corpus.page(index)
            if bytes.count != expected.count || memcmp(bytes.baseAddress!, expected.baseAddress!, expected.count) != 0 {
                result.mismatches += 1
            }
        case (.get, .miss):
            result.misses += 1
            result.mismatches += 1
        case (.get, .damaged):
            result.damaged += 1
            result.mismatches += 1
        case (_, .refused(let reason)):
            result.refusals += 1
            if op == .get { result.mismatches += 1 }
            if result.firstRefusal == nil { result.firstRefusal = "\(op) of page \(index): \(reason)" }
        default:
            throw BenchError("unexpected reply to a \(op) of page \(index): \(outcome)")
        }
    }
}

/// Every page number below `count` once, in a random order fixed by `seed`.
func shuffledPages(count: Int, seed: UInt64) -> [Int] {
    var rng = SeededGenerator(seed: seed)
    return Array(0..<count).shuffled(using: &rng)
}
