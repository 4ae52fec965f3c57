import ArgumentParser
import Tmem
import TmemRemote
import TmemReplay
import TmemWire
#if canImport(Glibc)
import Glibc
#endif

/// `tmem stat`: a host's memory and every client's part of it, as `zramctl` shows zram devices.
///
/// Opens a session named ``clientName`` (no pools: it stores nothing and costs the host nothing but
/// the session), asks for STATS, and prints ``StatTable`` (its own session left out), or with `--json`
/// the host's JSON exactly as received, on one line. Any session may ask for STATS, so on a Unix socket
/// any uid the host allows (`tmemd --allow-uid`) may run it, root or not; on TCP it needs the secret.
///
/// Every failure (a malformed address, a host that is not there, refused credentials, STATS that do not
/// read) is one line on standard error and exit status 1 (64 for a malformed address).
struct StatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stat",
        abstract: "Show a tmemd host's memory and each client's pages, share, refusals and shrinks (like zramctl).",
        discussion: """
            Columns: PAGES and PERSISTENT are the pages a session holds; ORIG is their size as pages, COMPR as \
            stored, USED as the host charges them (stored bytes plus a small metadata charge per page: the unit \
            of capacity, shares and caps); SHARE is the client's weighted share of the capacity now; REFUSED, \
            EVICTED and SHRINKS count refused puts, evicted ephemeral pages and shrink notices. Once a client \
            used ephemeral (cleancache) pools, a cleancache section follows under the kernel's names: the host's \
            counts since it started, then per session its ephemeral pools, SUCC_GETS and FAILED_GETS (gets that \
            returned a page or not), PUTS stored, INVALIDATES (page, file and pool flushes) and EVICTED_PAGES. \
            No root needed: on a Unix socket any uid the host allows may ask.
            """)

    /// The name `tmem stat` gives its session, by which the table recognises (and leaves out) its own row.
    static let clientName = "tmem-stat"

    @Option(help: "The host: unix:PATH, a socket path, or HOST:PORT (default unix:\(HostAddress.defaultUnixPath)).")
    var host: String = HostAddress.defaultUnixPath

    @Flag(help: "Print the host's STATS JSON as it came (one object, one line) instead of the table.")
    var json = false

    @Option(help: "The host's shared secret (TCP needs it; default \(SecretFile.defaultPath) on TCP, none on a Unix socket).")
    var secretFile: String?

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let address: HostAddress
        do throws(EndpointError) {
            address = try HostAddress.parse(host)
        } catch {
            printError("tmem stat: --host: \(error.message)")
            throw ExitCode(64)
        }
        let text: String
        do {
            text = try Self.fetchStatistics(from: address, secretFile: secretFile)
        } catch {
            printError("tmem stat: \(error)")
            throw ExitCode.failure
        }
        let say = LineWriter(fd: 1, flushAt: 0)
        if json {
            say.writeLine(text)
        } else {
            let snapshot: StatsSnapshot
            do throws(StatsFormatError) {
                snapshot = try StatsSnapshot(json: text)
            } catch {
                printError("tmem stat: the host at \(address) answered STATS that do not read: \(error.message)")
                throw ExitCode.failure
            }
            for line in StatTable.lines(snapshot, address: "\(address)", hiding: Self.isOwnSession) { say.writeLine(line) }
        }
        try finishOutput(say, of: "stat")
    }

    /// Whether a row is a `tmem stat` session (this one, or another running now): named
    /// ``clientName`` and without pools.
    static func isOwnSession(_ row: StatsSnapshot.ClientRow) -> Bool { row.name == clientName && row.pools == 0 }

    /// Opens a session, asks for STATS and closes it.
    ///
    /// - Parameters:
    ///   - address: The host.
    ///   - secretFile: The secret's file; nil: the default on TCP, no secret on a Unix socket (the peer's
    ///     uid is what the host checks there, and a stale default secret would only get us refused).
    /// - Returns: The JSON text.
    /// - Throws: ``StatError`` for people: the secret cannot be read, the host cannot be reached or
    ///   refused the session, or it did not answer STATS.
    static func fetchStatistics(from address: HostAddress, secretFile: String?) throws(StatError) -> String {
        var secret: [UInt8]?
        let path: String? = if case .tcp = address { secretFile ?? SecretFile.defaultPath } else { secretFile }
        if let path {
            do throws(EndpointError) {
                secret = try SecretFile.read(path)
            } catch {
                throw StatError(error.message + (secretFile == nil ? " (a TCP host needs its secret: --secret-file)" : ""))
            }
        }
        if case .unix(let socket) = address { try checkSocket(socket) }
        let configuration = RemoteConfiguration(address: address, name: clientName, secret: secret, compressPages: false)
        let remote: RemoteBackend
        do throws(TmemError) {
            remote = try RemoteBackend(configuration: configuration)
        } catch {
            throw StatError(error.message)
        }
        defer { remote.close() }
        do throws(TmemError) {
            return try remote.hostStatisticsJSON()
        } catch {
            throw StatError("the host at \(address) did not answer STATS: \(error.message)")
        }
    }
}

/// Says plainly why a Unix socket cannot be reached, where that is known before connecting: nothing
/// there (no tmemd), something else there, or a socket this user may not open.
///
/// - Throws: ``StatError`` naming the problem and what to do.
private func checkSocket(_ path: String) throws(StatError) {
    var info = stat()
    guard stat(path, &info) == 0 else {
        let code = errno
        if code == ENOENT { throw StatError("no host at unix:\(path): nothing is there (is tmemd running? tmemd --unix \(path))") }
        throw StatError("cannot reach the host at unix:\(path): \(describeErrno(code))")
    }
    guard info.st_mode & S_IFMT == S_IFSOCK else { throw StatError("no host at unix:\(path): it is not a socket") }
    guard access(path, W_OK) == 0 else {
        throw StatError("cannot connect to the host at unix:\(path): \(describeErrno(errno)) (tmemd admits other users with --allow-uid)")
    }
}

/// Why `tmem stat` could not get the statistics, said for people in one line.
struct StatError: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
