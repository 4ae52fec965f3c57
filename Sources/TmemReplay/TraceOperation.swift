/// One line of a swap trace, as `tmem replay` reads and the paging layer records them.
///
/// The format, one operation per line (blank lines and lines starting with `#` are skipped):
/// `init TYPE PAGES` · `store TYPE OFFSET K` (store corpus page K) · `load TYPE OFFSET` ·
/// `invalidate TYPE OFFSET` · `invalidate-area TYPE` · `shrink TARGET` · `stats`.
public enum TraceOperation: Hashable, Sendable, CustomStringConvertible {
    /// `init TYPE PAGES`: prepare (or re-enable) an area.
    case initArea(area: Int, pages: Int)
    /// `store TYPE OFFSET K`: store corpus page K in a slot.
    case store(area: Int, offset: Int, corpusPage: Int)
    /// `load TYPE OFFSET`: load a slot's page.
    case load(area: Int, offset: Int)
    /// `invalidate TYPE OFFSET`: free a slot.
    case invalidate(area: Int, offset: Int)
    /// `invalidate-area TYPE`: drop the area's pages from transcendent memory and disable its stores.
    case invalidateArea(area: Int)
    /// `shrink TARGET`: repatriate until at most TARGET pages are held.
    case shrink(target: Int)
    /// `stats`: the frontswap counters.
    case stats

    /// The line that reads back as this operation.
    public var description: String {
        switch self {
        case .initArea(let area, let pages): "init \(area) \(pages)"
        case .store(let area, let offset, let k): "store \(area) \(offset) \(k)"
        case .load(let area, let offset): "load \(area) \(offset)"
        case .invalidate(let area, let offset): "invalidate \(area) \(offset)"
        case .invalidateArea(let area): "invalidate-area \(area)"
        case .shrink(let target): "shrink \(target)"
        case .stats: "stats"
        }
    }

    /// Parses one trace line.
    ///
    /// The line is read as bytes: fields are separated by spaces, tabs and carriage returns; a first field
    /// whose first byte is `#` makes a comment (whatever follows it, a combining mark included); verbs
    /// and numbers are ASCII.
    ///
    /// - Parameter line: The line's bytes, without its newline (a trailing `\r` is ignored).
    /// - Returns: The operation, or nil for a blank or comment line.
    /// - Throws: ``TraceSyntaxError`` naming what is wrong: an unknown operation, a missing, extra,
    ///   non-numeric or too large field. Text of the line that it quotes is cut to 40 bytes, and control
    ///   bytes and invalid UTF-8 in it are escaped (`\x07`), so an error is always one short printable line.
    public static func parse(_ line: some Collection<UInt8>) throws(TraceSyntaxError) -> TraceOperation? {
        let bytes = Array(line)
        var fields: [Range<Int>] = []
        var i = 0
        while i < bytes.count {
            while i < bytes.count && isSeparator(bytes[i]) { i += 1 }
            let start = i
            while i < bytes.count && !isSeparator(bytes[i]) { i += 1 }
            if i > start { fields.append(start..<i) }
        }
        guard let verbRange = fields.first else { return nil }
        if bytes[verbRange.lowerBound] == UInt8(ascii: "#") { return nil }
        let verb = bytes[verbRange]
        let arguments = fields.dropFirst()

        func numbers(_ verb: String, _ names: String...) throws(TraceSyntaxError) -> [Int] {
            guard arguments.count == names.count else {
                let usage = ([verb] + names).joined(separator: " ")
                throw TraceSyntaxError("\(verb) takes \(names.count) argument\(names.count == 1 ? "" : "s"): \(usage)")
            }
            var values: [Int] = []
            for (name, range) in zip(names, arguments) {
                values.append(try number(bytes[range], name: name))
            }
            return values
        }

        switch verb {
        case _ where verb.elementsEqual("init".utf8):
            let v = try numbers("init", "TYPE", "PAGES")
            return .initArea(area: v[0], pages: v[1])
        case _ where verb.elementsEqual("store".utf8):
            let v = try numbers("store", "TYPE", "OFFSET", "K")
            return .store(area: v[0], offset: v[1], corpusPage: v[2])
        case _ where verb.elementsEqual("load".utf8):
            let v = try numbers("load", "TYPE", "OFFSET")
            return .load(area: v[0], offset: v[1])
        case _ where verb.elementsEqual("invalidate".utf8):
            let v = try numbers("invalidate", "TYPE", "OFFSET")
            return .invalidate(area: v[0], offset: v[1])
        case _ where verb.elementsEqual("invalidate-area".utf8):
            return .invalidateArea(area: try numbers("invalidate-area", "TYPE")[0])
        case _ where verb.elementsEqual("shrink".utf8):
            return .shrink(target: try numbers("shrink", "TARGET")[0])
        case _ where verb.elementsEqual("stats".utf8):
            _ = try numbers("stats")
            return .stats
        default:
            throw TraceSyntaxError("unknown operation '\(quoted(verb))'")
        }
    }

    private static func isSeparator(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 || byte == 13 }

    /// A field of ASCII digits as an `Int`.
    private static func number(_ text: ArraySlice<UInt8>, name: String) throws(TraceSyntaxError) -> Int {
        var value = 0
        var tooLarge = false
        for byte in text {
            guard (48...57).contains(byte) else {
                throw TraceSyntaxError("\(name) must be a non-negative integer, not '\(quoted(text))'")
            }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(byte - 48))
            if o1 || o2 { tooLarge = true } else { value = sum }
        }
        if tooLarge {
            let digits = text.count > 40 ? "a \(text.count)-digit number" : String(decoding: text, as: UTF8.self)
            throw TraceSyntaxError("\(name) \(digits) is too large (at most \(Int.max))")
        }
        return value
    }

    /// `bytes` for quoting in a message: at most `limit` bytes (then `...`), printable ASCII and valid
    /// UTF-8 as they are, a backslash doubled, every other byte (controls, DEL, C1 controls, invalid
    /// UTF-8) as `\xNN`.
    ///
    /// - Parameters:
    ///   - bytes: Text from the input.
    ///   - limit: The most input bytes to show.
    /// - Returns: One printable line.
    public static func quoted(_ bytes: some Collection<UInt8>, limit: Int = 40) -> String {
        let shown = Array(bytes.prefix(limit))
        var out = ""
        var i = 0
        func escape(_ byte: UInt8) {
            let hex = String(byte, radix: 16)
            out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
        }
        while i < shown.count {
            let byte = shown[i]
            if byte < 0x80 {
                if byte == UInt8(ascii: "\\") { out += "\\\\" }
                else if (0x20..<0x7f).contains(byte) { out.unicodeScalars.append(Unicode.Scalar(byte)) }
                else { escape(byte) }
                i += 1
                continue
            }
            let length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
            if i + length <= shown.count, length > 1,
                let text = String(validating: shown[i..<i + length], as: UTF8.self),
                let scalar = text.unicodeScalars.first, !(0x80...0x9f).contains(scalar.value)
            {
                out += text
                i += length
            } else {
                escape(byte)
                i += 1
            }
        }
        return bytes.count > limit ? out + "..." : out
    }
}

/// A trace line that does not parse.
public struct TraceSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong with the line.
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
