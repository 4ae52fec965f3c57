/// Parses a size as people write it: plain bytes (`8388608`), or a number with a binary suffix
/// (`64KiB`, `8MiB`, `1GiB`; `K`/`KB`, `M`/`MB`, `G`/`GB` and `T` mean the same powers of 1024).
///
/// - Parameter text: The size.
/// - Returns: The byte count, or nil if `text` is not a size (empty, negative, unknown suffix, overflow).
public func parseByteCount(_ text: String) -> Int? {
    let digits = text.prefix { $0.isASCII && $0.isNumber }
    guard !digits.isEmpty, let value = Int(digits) else { return nil }
    let unit: Int
    switch text.dropFirst(digits.count).lowercased() {
    case "", "b": unit = 1
    case "k", "kb", "kib": unit = 1 << 10
    case "m", "mb", "mib": unit = 1 << 20
    case "g", "gb", "gib": unit = 1 << 30
    case "t", "tb", "tib": unit = 1 << 40
    default: return nil
    }
    let (bytes, overflow) = value.multipliedReportingOverflow(by: unit)
    return overflow ? nil : bytes
}

/// Formats a byte count for people: `512 B`, `4.0 KiB`, `8.0 MiB`, `1.50 GiB`.
///
/// - Parameter bytes: The count.
/// - Returns: A short string with a binary unit.
public func formatByteCount(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while abs(value) >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    if unit == 0 { return "\(bytes) B" }
    let rounded = (value * 100).rounded() / 100
    return "\(rounded) \(units[unit])"
}
