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
    /// - Parameter line: The line's bytes, without its newline (a trailing `\r` is ignored).
    /// - Returns: The operation, or nil for a blank or comment line.
    /// - Throws: ``TraceSyntaxError`` naming what is wrong: an unknown operation, a missing, extra or
    ///   non-numeric field.
    public static func parse(_ line: some Collection<UInt8>) throws(TraceSyntaxError) -> TraceOperation? {
        var fields: [Substring] = []
        var current: [UInt8] = []
        for byte in line {
            if byte == 32 || byte == 9 || byte == 13 {
                if !current.isEmpty { fields.append(Substring(decoding: current, as: UTF8.self)); current = [] }
            } else {
                current.append(byte)
            }
        }
        if !current.isEmpty { fields.append(Substring(decoding: current, as: UTF8.self)) }
        guard let verb = fields.first else { return nil }
        if verb.hasPrefix("#") { return nil }
        let arguments = fields.dropFirst()

        func numbers(_ names: String...) throws(TraceSyntaxError) -> [Int] {
            guard arguments.count == names.count else {
                let usage = ([String(verb)] + names).joined(separator: " ")
                throw TraceSyntaxError("\(verb) takes \(names.count) argument\(names.count == 1 ? "" : "s"): \(usage)")
            }
            var values: [Int] = []
            for (name, text) in zip(names, arguments) {
                guard text.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(text) else {
                    throw TraceSyntaxError("\(name) must be a non-negative integer, not '\(text)'")
                }
                values.append(value)
            }
            return values
        }

        switch verb {
        case "init":
            let v = try numbers("TYPE", "PAGES")
            return .initArea(area: v[0], pages: v[1])
        case "store":
            let v = try numbers("TYPE", "OFFSET", "K")
            return .store(area: v[0], offset: v[1], corpusPage: v[2])
        case "load":
            let v = try numbers("TYPE", "OFFSET")
            return .load(area: v[0], offset: v[1])
        case "invalidate":
            let v = try numbers("TYPE", "OFFSET")
            return .invalidate(area: v[0], offset: v[1])
        case "invalidate-area":
            return .invalidateArea(area: try numbers("TYPE")[0])
        case "shrink":
            return .shrink(target: try numbers("TARGET")[0])
        case "stats":
            _ = try numbers()
            return .stats
        default:
            let shown = verb.count > 40 ? verb.prefix(40) + "..." : verb
            throw TraceSyntaxError("unknown operation '\(shown)'")
        }
    }
}

/// A trace line that does not parse.
public struct TraceSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong with the line.
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
