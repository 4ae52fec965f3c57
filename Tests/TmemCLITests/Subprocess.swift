#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Tmem
import TmemSwapFile
import TmemTestKit

/// What a finished `tmem` process left: its exit status and everything it wrote.
struct ToolRun {
    /// The exit code, or nil when a signal ended the process.
    var exitCode: Int32?
    var standardOutput: String
    var standardError: String
}

/// The `tmem` executable of this build: beside the test bundle (`swift test` builds every product of the
/// package into the same directory), or nil when it is not there.
let tmemExecutable: String? = {
    var buffer = [CChar](repeating: 0, count: 4096)
    let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard length > 0 else { return nil }
    let bundle = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let path = String(bundle[..<(bundle.lastIndex(of: "/") ?? bundle.startIndex)]) + "/tmem"
    return access(path, X_OK) == 0 ? path : nil
}()

/// Runs `tmem arguments` to completion with `input` on its standard input, capturing standard output and
/// error in files (no pipes: nothing can fill up and block while we wait).
///
/// - Throws: `Errno` when the process cannot be started or waited for.
///
/// - Parameters:
///   - standardOutput: Where standard output goes instead of a file of its own (such as /dev/full); the
///     run's `standardOutput` is then empty.
///   - environment: `NAME=value` entries set in the tool's environment (the rest is this process's).
func runTool(
    _ executable: String, _ arguments: [String], input: String = "", standardOutput: String? = nil,
    environment: [String] = []
) throws -> ToolRun {
    let directory = TemporaryDirectory(prefix: "tmem-cli-test")
    let (inPath, errPath) = (directory.file("in"), directory.file("err"))
    let outPath = standardOutput ?? directory.file("out")
    try writeFile(inPath, input)

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, inPath, O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for arg in argv { free(arg) } }
    var pid: pid_t = 0
    let envp: [UnsafeMutablePointer<CChar>?] = environmentAdding(environment).map { strdup($0) } + [nil]
    defer { for variable in envp { free(variable) } }
    let spawned = posix_spawn(&pid, executable, &actions, nil, argv, envp)
    guard spawned == 0 else { throw Errno(spawned) }
    var status: Int32 = 0
    if case .failure(let error) = valueOrErrno({ waitpid(pid, &status, 0) }) { throw error }
    // WIFEXITED / WEXITSTATUS, which Glibc's module does not export as functions.
    let exitCode: Int32? = status & 0x7f == 0 ? (status >> 8) & 0xff : nil
    let output = standardOutput == nil ? try readFile(outPath) : ""
    return ToolRun(exitCode: exitCode, standardOutput: output, standardError: try readFile(errPath))
}

/// Writes `text` to a new file at `path`.
func writeFile(_ path: String, _ text: String) throws {
    try writeFile(path, Array(text.utf8))
}

/// Writes `bytes` to a new file at `path`.
func writeFile(_ path: String, _ bytes: [UInt8]) throws { try writeWholeFile(path, bytes) }

/// The whole file at `path` as text.
func readFile(_ path: String) throws -> String { String(decoding: try readWholeFile(path), as: UTF8.self) }

/// This process's environment with `entries` (`NAME=value`) set over it: a child's environment.
func environmentAdding(_ entries: [String]) -> [String] {
    var inherited: [String] = []
    var entry = environ
    while let pointer = entry.pointee {
        inherited.append(String(cString: pointer))
        entry += 1
    }
    let names = Set(entries.map { $0.prefix { $0 != "=" } })
    return inherited.filter { !names.contains($0.prefix { $0 != "=" }) } + entries
}
