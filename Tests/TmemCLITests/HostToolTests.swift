#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
import Tmem
import TmemCleancache
import TmemRemote
import TmemSwapFile
import TmemTestKit
import TmemWire

@testable import TmemCLI

/// `tmem stat` against a real `tmemd`, and `tmem host-demo` as a user runs it: the table and the JSON
/// name every client session, failures are one line on standard error, and the demo verifies every byte
/// and leaves no process or file behind, interrupted or not.
@Suite(.enabled(if: tmemExecutable != nil && tmemdExecutable != nil, "no tmem and tmemd executables beside the test bundle"))
struct HostToolTests {
    private let tool = tmemExecutable ?? ""
    private let daemon = tmemdExecutable ?? ""

    /// The cells of a table line: columns are two or more spaces apart, sizes have one space inside.
    private func cells(_ line: String) -> [String] {
        var cells: [String] = []
        var current = ""
        var spaces = 0
        for character in line {
            if character == " " {
                spaces += 1
                continue
            }
            if spaces >= 2, !current.isEmpty {
                cells.append(current)
                current = ""
            } else if spaces == 1 {
                current += " "
            }
            spaces = 0
            current.append(character)
        }
        if !current.isEmpty { cells.append(current) }
        return cells
    }

    /// Starts `host-demo-client` against `host` and waits until it stored its pages once.
    private func startClient(_ host: TestHost, name: String, pages: Int, seed: UInt64) throws -> CoProcess {
        let client = try CoProcess(
            tool, ["host-demo-client", "--host", "unix:\(host.socket)", "--name", name, "--pages", "\(pages)", "--seed", "\(seed)",
                   "--directory", host.directory.path])
        while let line = client.receive(within: 30) {
            if line.hasPrefix("filled ") {
                #expect(line == "filled pages=\(pages) tmem=\(pages) disk=0", "a host with room takes every page")
                return client
            }
            #expect(line.hasPrefix("status "), "\(line)")
        }
        Issue.record("the client did not fill its pages: \(client.standardError)")
        return client
    }

    /// Closes the client's input and checks its report: every page back, byte for byte.
    private func finish(_ client: CoProcess, pages: Int) {
        client.closeInput()
        var report: String?
        while report == nil, let line = client.receive(within: 30) {
            if line.hasPrefix("verified ") { report = line }
        }
        #expect(report?.hasPrefix("verified pages=\(pages) mismatched=0 lost=0 ") == true, "\(report ?? "no report"): \(client.standardError)")
        #expect(client.wait() == 0, "\(client.standardError)")
    }

    @Test func statShowsTheHostAndEveryClientSession() throws {
        let seed = testSeed("statShowsTheHostAndEveryClientSession", default: 11)
        let host = try TestHost(daemon, arguments: ["--capacity", "64MiB", "--client", "c1:weight=3,cap=16MiB"], tcp: true)
        let client = try startClient(host, name: "c1", pages: 64, seed: seed)

        let table = try runTool(tool, ["stat", "--host", "unix:\(host.socket)"])
        #expect(table.exitCode == 0, "\(table.standardError)")
        #expect(table.standardError == "")
        let lines = table.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "two lines on the host, a header, one row: \(table.standardOutput)")
        #expect(lines.first?.hasPrefix("tmemd at unix:\(host.socket): capacity 64.0 MiB (fixed); ") == true, "\(lines)")
        #expect(lines.dropFirst().first?.hasPrefix("64 pages (64 persistent, 0 ephemeral), 0 evicted; not draining") == true)
        let header = lines.count > 2 ? lines[2].split(separator: " ").map(String.init) : []
        #expect(header == ["NAME", "SESSION", "POOLS", "PAGES", "PERSISTENT", "ORIG", "COMPR", "USED", "WEIGHT", "CAP", "SHARE",
                           "REFUSED", "EVICTED", "SHRINKS"])
        let row = lines.count > 3 ? cells(lines[3]) : []
        #expect(row.count == header.count, "\(row)")
        if row.count == header.count {
            #expect(row[0] == "c1")
            #expect(Array(row[2...5]) == ["1", "64", "64", "256.0 KiB"], "pools, pages, persistent, original")
            #expect(Array(row[8...9]) == ["3", "16.0 MiB"], "weight and cap")
            #expect(Array(row[11...]) == ["0", "0", "0"], "nothing refused, evicted or asked back")
        }
        #expect(lines.count == 4 && lines[2].count == lines[3].count, "right-aligned columns end together")
        #expect(!table.standardOutput.contains("tmem-stat"), "stat's own session is left out")

        let json = try runTool(tool, ["stat", "--host", host.socket, "--json"])
        #expect(json.exitCode == 0, "\(json.standardError)")
        #expect(json.standardOutput.filter { $0 == "\n" }.count == 1 && json.standardOutput.hasSuffix("}\n"), "one object, one line")
        let parsed = try JSONValue.parse(json.standardOutput)
        guard case .array(let rows)? = parsed["clients"] else {
            Issue.record("no clients array: \(json.standardOutput)")
            return
        }
        let c1 = rows.first { $0["name"] == .string("c1") }
        #expect(c1?["stored_pages"] == .integer(64))
        #expect(c1?["pools"] == .integer(1))
        #expect(c1?["weight"] == .integer(3))
        #expect(c1?["cap"] == .integer(16 << 20))
        #expect(rows.contains { $0["name"] == .string("tmem-stat") && $0["pools"] == .integer(0) }, "its own session, as received")
        let snapshot = try StatsSnapshot(json: json.standardOutput)
        #expect(snapshot.host.persistentPages == 64)

        finish(client, pages: 64)
        let empty = try runTool(tool, ["stat", "--host", "unix:\(host.socket)"])
        #expect(empty.standardOutput.hasSuffix("\nno client sessions\n"), "\(empty.standardOutput)")

        let port = try #require(host.tcpPort, "tmemd said which port it bound: \(host.log)")
        let overTCP = try runTool(tool, ["stat", "--host", "127.0.0.1:\(port)", "--secret-file", host.secretFile])
        #expect(overTCP.exitCode == 0, "\(overTCP.standardError)")
        #expect(overTCP.standardOutput.hasPrefix("tmemd at 127.0.0.1:\(port): capacity 64.0 MiB"), "\(overTCP.standardOutput)")

        let wrong = host.directory.file("wrong-secret")
        try writeFile(wrong, [UInt8](repeating: 7, count: 32))
        let refused = try runTool(tool, ["stat", "--host", "127.0.0.1:\(port)", "--secret-file", wrong])
        #expect(refused.exitCode == 1)
        #expect(refused.standardOutput == "")
        #expect(refused.standardError == "tmem stat: the host at 127.0.0.1:\(port) refused the client 'tmem-stat': authentication failed\n")
        #expect(host.stop() == 0, "\(host.log)")
    }

    @Test func statShowsTheCleancacheCountersOfSessionsSharingAPool() throws {
        let host = try TestHost(daemon, arguments: ["--capacity", "64MiB"])
        let secret = try SecretFile.read(host.secretFile)
        let uuid = PoolUUID(low: 42, high: 43)
        let caches = try ["reader", "writer"].map { name in
            Cleancache(backend: try RemoteBackend(configuration: RemoteConfiguration(
                address: .unix(path: host.socket), name: name, secret: secret, timeoutNanoseconds: 30_000_000_000)))
        }
        let pools = try caches.map { try $0.initSharedFS(uuid: uuid) }
        var out = [UInt8](repeating: 0, count: pageSize)
        for index: UInt32 in 0..<6 {
            _ = taggedPage(file: 1, index: index, version: 1).withUnsafeBytes { caches[1].put(pools[1], file: 1, index: index, page: $0) }
        }
        for index: UInt32 in 0..<8 { _ = out.withUnsafeMutableBytes { caches[0].get(pools[0], file: 1, index: index, into: $0) } }
        caches[1].invalidatePage(pools[1], file: 1, index: 0)
        caches[1].invalidateFile(pools[1], file: 1)

        let table = try runTool(tool, ["stat", "--host", "unix:\(host.socket)"])
        #expect(table.exitCode == 0 && table.standardError == "", "\(table.standardError)")
        let lines = table.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.contains("cleancache: 1 ephemeral pool; 6 succ_gets, 2 failed_gets (75% hits), 6 puts, 2 invalidates, 0 evicted_pages"),
                "\(table.standardOutput)")
        let header = lines.firstIndex { $0.hasPrefix("NAME") && $0.contains("SUCC_GETS") }
        let rows = header.map { lines[($0 + 1)...].map(cells) } ?? []
        #expect(header.map { lines[$0].split(separator: " ").map(String.init) } == [
            "NAME", "SESSION", "POOLS", "SUCC_GETS", "FAILED_GETS", "HIT%", "PUTS", "INVALIDATES", "EVICTED_PAGES"])
        #expect(rows.map { [$0[0]] + $0[2...] } == [
            ["reader", "1", "6", "2", "75", "0", "0", "0"], ["writer", "1", "0", "0", "-", "6", "2", "0"]], "\(rows)")
        #expect(lines.contains { $0.hasPrefix("(shared)") }, "the shared pool's row in the main table")

        let json = try runTool(tool, ["stat", "--host", host.socket, "--json"])
        let snapshot = try StatsSnapshot(json: json.standardOutput)
        let reader = try #require(snapshot.clients.first { $0.name == "reader" })
        #expect(reader.cleancache?.namedValues.map(\.value) == [6, 2, 0, 0, 0])
        #expect(snapshot.host.cleancache?.namedValues.map(\.value) == [6, 2, 6, 2, 0])
        #expect(reader.cleancache?.namedValues.map(\.value) == Array(caches[0].namedStatistics.map(\.value).prefix(4)) + [0],
                "the host counted what the reader's cleancache did")
        #expect(host.stop() == 0, "\(host.log)")
    }

    @Test func statFailuresAreOneLineOnStandardError() throws {
        let directory = TemporaryDirectory(prefix: "tmem-cli-test")
        let cases: [(arguments: [String], exitCode: Int32, message: String)] = [
            (["--host", "not an address"], 64, "tmem stat: --host: 'not an address' is neither HOST:PORT nor a socket path"),
            (["--host", directory.file("none.sock")], 1,
             "tmem stat: no host at unix:\(directory.file("none.sock")): nothing is there (is tmemd running? tmemd --unix \(directory.file("none.sock")))"),
            (["--host", directory.path], 1, "tmem stat: no host at unix:\(directory.path): it is not a socket"),
            (["--host", "127.0.0.1:9", "--secret-file", directory.file("no-secret")], 1,
             "tmem stat: cannot read the secret file \(directory.file("no-secret")): No such file or directory"),
        ]
        for (arguments, exitCode, message) in cases {
            let run = try runTool(tool, ["stat"] + arguments)
            #expect(run.exitCode == exitCode, "\(arguments)")
            #expect(run.standardOutput == "", "\(arguments)")
            #expect(run.standardError == message + "\n", "\(arguments)")
        }
        // Nothing listens on the port: the connection is refused, said in one line.
        try writeFile(directory.file("secret"), [UInt8](repeating: 1, count: 32))
        let closed = try runTool(tool, ["stat", "--host", "127.0.0.1:9", "--secret-file", directory.file("secret")])
        #expect(closed.exitCode == 1)
        #expect(closed.standardError.hasPrefix("tmem stat: cannot connect to the host at 127.0.0.1:9: "), "\(closed.standardError)")
        #expect(closed.standardError.filter { $0 == "\n" }.count == 1, "\(closed.standardError)")
    }

    @Test(.enabled(if: geteuid() == 0 && access("/usr/bin/setpriv", X_OK) == 0, "running as another user needs root and setpriv"))
    func anAllowedUserWhoIsNotRootMayStat() throws {
        let nobody = "65534"
        let asNobody = ["--reuid=\(nobody)", "--regid=\(nobody)", "--clear-groups", tool, "stat", "--host"]

        let allowing = try TestHost(daemon, arguments: ["--capacity", "16MiB", "--allow-uid", nobody])
        chmod(allowing.directory.path, 0o755)
        let allowed = try runTool("/usr/bin/setpriv", asNobody + ["unix:\(allowing.socket)"])
        #expect(allowed.exitCode == 0, "\(allowed.standardError)")
        #expect(allowed.standardOutput.hasPrefix("tmemd at unix:\(allowing.socket): capacity 16.0 MiB (fixed); "), "\(allowed.standardOutput)")
        #expect(allowed.standardOutput.hasSuffix("\nno client sessions\n"), "its own session is left out")
        #expect(allowing.stop() == 0)

        // Without --allow-uid the socket is 0660, and tmem stat says what to do.
        let closed = try TestHost(daemon, arguments: ["--capacity", "16MiB"])
        chmod(closed.directory.path, 0o755)
        let refused = try runTool("/usr/bin/setpriv", asNobody + [closed.socket])
        #expect(refused.exitCode == 1)
        #expect(refused.standardError == "tmem stat: cannot connect to the host at unix:\(closed.socket): Permission denied "
            + "(tmemd admits other users with --allow-uid)\n")
        #expect(closed.stop() == 0)
    }

    @Test func hostDemoVerifiesEveryByteAndLeavesNothingBehind() throws {
        let seed = testSeed("hostDemoVerifiesEveryByteAndLeavesNothingBehind", default: 2026)
        let scratch = TemporaryDirectory(prefix: "tmem-cli-test")
        let run = try runTool(tool, ["host-demo", "--seconds", "4", "--pages", "256", "--seed", "\(seed)"],
                              environment: ["TMPDIR=\(scratch.path)"])
        #expect(run.exitCode == 0, "\(run.standardOutput)\n\(run.standardError)")
        #expect(run.standardError == "")
        let output = run.standardOutput
        #expect(output.hasPrefix("tmem host-demo: a host with "), "\(output.prefix(200))")
        #expect(output.contains("capacity halved from "), "the capacity is lowered half way")
        for client in ["c1 w1", "c2 w2", "c3 w4"] { #expect(output.contains("\n  \(client)  "), "a bar for \(client)") }
        for client in ["c1 (weight 1)", "c2 (weight 2)", "c3 (weight 4)"] {
            #expect(output.contains("\n  \(client): 256 pages verified byte for byte, 0 mismatched, 0 lost; "), "\(client)")
        }
        #expect(output.hasSuffix("\nevery persistent byte of every client verified: 768 pages, 0 mismatched, 0 lost\n"), "\(output)")
        #expect(try directoryEntries(scratch.path).isEmpty, "the demo's directory is gone")
        #expect(processesMentioning(scratch.path).isEmpty, "no client outlives the demo")
    }

    @Test func anInterruptedHostDemoStopsItsClientsAndRemovesItsDirectory() throws {
        let scratch = TemporaryDirectory(prefix: "tmem-cli-test")
        let demo = try CoProcess(tool, ["host-demo", "--seconds", "60", "--pages", "256"], environment: ["TMPDIR=\(scratch.path)"])
        var lines: [String] = []
        // The first chart comes once the clients run.
        while let line = demo.receive(within: 30) {
            lines.append(line)
            if line.hasPrefix("[ 1s]") { break }
        }
        #expect(lines.last?.hasPrefix("[ 1s]") == true, "\(lines)\n\(demo.standardError)")
        #expect(processesMentioning(scratch.path).count == 3, "three clients run")
        demo.kill(SIGINT)
        while let line = demo.receive(within: 30) { lines.append(line) }
        #expect(demo.wait() == 128 + SIGINT)
        #expect(demo.standardError == "tmem host-demo: interrupted (signal 2): the clients were stopped, the host shut down and its directory removed\n")
        #expect(try directoryEntries(scratch.path).isEmpty, "the demo's directory is gone")
        #expect(processesMentioning(scratch.path).isEmpty, "no client outlives the demo")
    }
}
