import Glibc

/// Where a host listens or a client connects: a TCP address or a Unix-domain socket path.
public enum HostAddress: Sendable, Hashable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    /// Parses `HOST:PORT`, `[IPv6]:PORT`, `unix:PATH`, or a path starting with `/` or `.`.
    ///
    /// - Throws: ``EndpointError`` naming what is wrong.
    public static func parse(_ text: String) throws(EndpointError) -> HostAddress {
        if text.hasPrefix("unix:") {
            guard text.count > 5 else { throw EndpointError("'\(text)' names no socket path") }
            return .unix(path: String(text.dropFirst(5)))
        }
        if text.hasPrefix("/") || text.hasPrefix(".") { return .unix(path: text) }
        guard let colon = text.lastIndex(of: ":") else {
            throw EndpointError("'\(text)' is neither HOST:PORT nor a socket path")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            // Unbracketed, "::1" would be the host "::" and the port 1.
            throw EndpointError("'\(text)': write an IPv6 address in brackets, [ADDRESS]:PORT")
        }
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw EndpointError("'\(text)' has no valid port")
        }
        return .tcp(host: host, port: port)
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): "unix:\(path)"
        }
    }

    /// The host's default Unix socket: `/run/tmem/tmemd.sock` for root, else `$XDG_RUNTIME_DIR/tmemd.sock`
    /// (or `/tmp/tmemd-UID.sock` without one).
    public static var defaultUnixPath: String {
        if getuid() == 0 { return "/run/tmem/tmemd.sock" }
        if let dir = getenv("XDG_RUNTIME_DIR"), dir.pointee != 0 { return String(cString: dir) + "/tmemd.sock" }
        return "/tmp/tmemd-\(getuid()).sock"
    }
}

/// A problem with an address or a secret file, said for people.
public struct EndpointError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The shared secret of TCP sessions (docs/PROTOCOL.md, "Sessions and authentication").
public enum SecretFile {
    /// The bytes of a new secret.
    public static let generatedLength = 32

    /// The default path: `/etc/tmem/secret` for root, else `~/.config/tmem/secret`. Host and clients
    /// read the same default.
    public static var defaultPath: String {
        if getuid() == 0 { return "/etc/tmem/secret" }
        let home = getenv("HOME").map { String(cString: $0) } ?? "/tmp"
        return home + "/.config/tmem/secret"
    }

    /// Reads a secret (a client's side).
    ///
    /// - Throws: ``EndpointError`` if the file cannot be read, is empty or is larger than 4 KiB.
    public static func read(_ path: String) throws(EndpointError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw EndpointError("cannot read the secret file \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // One byte more than a secret may have, to tell a 4 KiB file from a larger one.
        var bytes = [UInt8](repeating: 0, count: 4096 + 1)
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0, errno == EINTR { continue }
            guard n >= 0 else { throw EndpointError("cannot read the secret file \(path): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            count += n
        }
        guard count > 0 else { throw EndpointError("the secret file \(path) is empty") }
        guard count < bytes.count else { throw EndpointError("the secret file \(path) is larger than 4 KiB") }
        return Array(bytes[0..<count])
    }

    /// The host's side: reads the secret, or creates the file (and any missing directory, mode 0700) with mode 0600 and
    /// ``generatedLength`` random bytes if it does not exist.
    ///
    /// - Throws: ``EndpointError`` if it cannot be read or made, or if other users may read it (mode
    ///   bits for group or others), as ssh refuses such a key.
    public static func readOrCreate(_ path: String) throws(EndpointError) -> [UInt8] {
        var info = stat()
        if stat(path, &info) != 0 {
            guard errno == ENOENT else { throw EndpointError("cannot use the secret file \(path): \(String(cString: strerror(errno)))") }
            try create(path)
        } else if info.st_mode & 0o077 != 0 {
            throw EndpointError("the secret file \(path) may be read by other users (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 it")
        }
        return try read(path)
    }

    private static func create(_ path: String) throws(EndpointError) {
        // Every missing directory on the way, as `mkdir -p` does: the default's ~/.config may not exist yet.
        for slash in path.indices where path[slash] == "/" && slash != path.startIndex {
            let dir = String(path[..<slash])
            if mkdir(dir, 0o700) != 0, errno != EEXIST {
                throw EndpointError("cannot make the directory \(dir) for the secret file: \(String(cString: strerror(errno)))")
            }
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw EndpointError("cannot create the secret file \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var rng = SystemRandomNumberGenerator()
        let secret = (0..<generatedLength).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let written = secret.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == secret.count, fsync(fd) == 0 else {
            unlink(path)
            throw EndpointError("cannot write the secret file \(path): \(String(cString: strerror(errno)))")
        }
    }
}
