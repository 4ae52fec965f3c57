// remote-vs-redis: RESP (the Redis serialization protocol, version 2) — the workload's SET and GET for
// the load generator, and a blocking request/reply for the few setup commands (PING, FLUSHALL, INFO).

/// One RESP value, as far as this benchmark reads them.
enum RESPValue: Equatable {
    case simple(String)
    case error(String)
    case integer(Int)
    case bulk([UInt8]?)
    case array([RESPValue]?)

    /// The value's text (simple and bulk strings, errors), for setup commands.
    var text: String? {
        switch self {
        case .simple(let s), .error(let s): s
        case .bulk(let bytes?): String(decoding: bytes, as: UTF8.self)
        default: nil
        }
    }
}

/// RESP framing: `*N\r\n` then N bulk strings `$len\r\n<bytes>\r\n` for a command; replies by type byte.
enum RESP {
    private static let cr = UInt8(ascii: "\r")

    /// Where the CRLF that ends the line starting at `start` is, or nil if `bytes` does not hold it yet.
    static func lineEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var i = start
        while i + 1 < bytes.count {
            if bytes[i] == cr && bytes[i + 1] == UInt8(ascii: "\n") { return i }
            i += 1
        }
        return nil
    }

    /// A signed decimal in `bytes[start..<end]`.
    static func decimal(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) throws -> Int {
        var i = start
        var negative = false
        if i < end && bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        guard i < end else { throw BenchError("redis-server sent an empty number") }
        var value = 0
        while i < end {
            let digit = Int(bytes[i]) - Int(UInt8(ascii: "0"))
            guard (0...9).contains(digit) else { throw BenchError("redis-server sent a malformed number") }
            value = value * 10 + digit
            i += 1
        }
        return negative ? -value : value
    }

    /// Parses one value at `start`: its end offset and the value, or nil if incomplete.
    ///
    /// Bulk strings are copied; the hot path does not use this (see `RedisWire.parseReply`).
    static func parse(_ bytes: UnsafeRawBufferPointer, from start: Int = 0) throws -> (end: Int, value: RESPValue)? {
        guard start < bytes.count, let eol = lineEnd(bytes, from: start + 1) else { return nil }
        let line = { String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(start + 1)..<eol]), as: UTF8.self) }
        switch bytes[start] {
        case UInt8(ascii: "+"): return (eol + 2, .simple(line()))
        case UInt8(ascii: "-"): return (eol + 2, .error(line()))
        case UInt8(ascii: ":"): return (eol + 2, .integer(try decimal(bytes, start + 1, eol)))
        case UInt8(ascii: "$"):
            let length = try decimal(bytes, start + 1, eol)
            if length < 0 { return (eol + 2, .bulk(nil)) }
            guard bytes.count >= eol + 2 + length + 2 else { return nil }
            return (eol + 2 + length + 2, .bulk(Array(bytes[(eol + 2)..<(eol + 2 + length)])))
        case UInt8(ascii: "*"):
            let count = try decimal(bytes, start + 1, eol)
            if count < 0 { return (eol + 2, .array(nil)) }
            var items: [RESPValue] = []
            var at = eol + 2
            for _ in 0..<count {
                guard let (end, item) = try parse(bytes, from: at) else { return nil }
                items.append(item)
                at = end
            }
            return (at, .array(items))
        default:
            throw BenchError("redis-server sent a reply starting with byte \(bytes[start]), not RESP")
        }
    }

    /// Appends a command as an array of bulk strings.
    static func appendCommand(_ arguments: [[UInt8]], to out: IOBuffer) {
        out.append(byte: UInt8(ascii: "*"))
        out.appendDecimal(arguments.count)
        out.append(crlf)
        for argument in arguments {
            out.append(byte: UInt8(ascii: "$"))
            out.appendDecimal(argument.count)
            out.append(crlf)
            out.append(argument)
            out.append(crlf)
        }
    }

    static let crlf: [UInt8] = [UInt8(ascii: "\r"), UInt8(ascii: "\n")]

    /// Sends one command and waits for its reply (setup only: PING, FLUSHALL, INFO).
    ///
    /// - Throws: `BenchError` if the connection fails.
    static func call(_ words: [String], on socket: Socket) throws -> RESPValue {
        let out = IOBuffer(capacity: 4096)
        appendCommand(words.map { Array($0.utf8) }, to: out)
        try socket.writeAll(out.readable)
        let input = IOBuffer(capacity: 1 << 20)
        while true {
            try socket.readSome(into: input)
            if let (end, value) = try parse(input.readable) {
                guard end == input.readableCount else { throw BenchError("redis-server sent more than one reply") }
                return value
            }
            guard input.freeCount > 0 else { throw BenchError("redis-server's reply exceeds 1 MiB") }
        }
    }
}

/// The workload in RESP: `SET p:<index> <page>` and `GET p:<index>`.
final class RedisWire: PageWire {
    private static let setHead = Array("*3\r\n$3\r\nSET\r\n$".utf8)
    private static let getHead = Array("*2\r\n$3\r\nGET\r\n$".utf8)
    private static let keyPrefix = Array("p:".utf8)

    func appendRequest(_ op: PageOp, index: Int, page: UnsafeRawBufferPointer, requestID: UInt32, to out: IOBuffer) {
        out.append(op == .put ? Self.setHead : Self.getHead)
        out.appendDecimal(Self.keyPrefix.count + decimalDigits(index))
        out.append(RESP.crlf)
        out.append(Self.keyPrefix)
        out.appendDecimal(index)
        out.append(RESP.crlf)
        if op == .put {
            out.append(byte: UInt8(ascii: "$"))
            out.appendDecimal(page.count)
            out.append(RESP.crlf)
            out.append(page)
            out.append(RESP.crlf)
        }
    }

    /// `+OK` for SET; `$4096 <page>` or `$-1` (a miss) for GET; `-ERR …` either way is a refusal.
    func parseReply(
        _ bytes: UnsafeRawBufferPointer, op: PageOp, index: Int, requestID: UInt32
    ) throws -> (consumed: Int, outcome: ReplyOutcome)? {
        guard bytes.count >= 3, let eol = RESP.lineEnd(bytes, from: 1) else { return nil }
        switch (op, bytes[0]) {
        case (.put, UInt8(ascii: "+")):
            return (eol + 2, .stored)
        case (_, UInt8(ascii: "-")):
            return (
                eol + 2, .refused(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[1..<eol]), as: UTF8.self))
            )
        case (.get, UInt8(ascii: "$")):
            let length = try RESP.decimal(bytes, 1, eol)
            if length < 0 { return (eol + 2, .miss) }
            guard bytes.count >= eol + 2 + length + 2 else { return nil }
            return (
                eol + 2 + length + 2, .page(UnsafeRawBufferPointer(rebasing: bytes[(eol + 2)..<(eol + 2 + length)]))
            )
        default:
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<min(eol, 80)]), as: UTF8.self)
            throw BenchError("redis-server answered a \(op == .put ? "SET" : "GET") of p:\(index) with \(text)")
        }
    }
}

/// The number of decimal digits of a non-negative integer.
func decimalDigits(_ value: Int) -> Int {
    var digits = 1
    var rest = value
    while rest >= 10 { rest /= 10; digits += 1 }
    return digits
}
