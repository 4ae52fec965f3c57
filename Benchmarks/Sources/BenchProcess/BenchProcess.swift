#if canImport(Glibc)
import Glibc
#endif

// What the benchmarks that drive the kernel (cgroups, swap, child processes of their own) share.

/// A benchmark's failure, for people.
public struct BenchError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Writes `text` to an existing file (a cgroup's or /proc's control file).
public func writeFile(_ path: String, _ text: String) throws {
    let fd = open(path, O_WRONLY)
    guard fd >= 0 else { throw BenchError("cannot open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    let n = text.withCString { write(fd, $0, strlen($0)) }
    guard n == text.utf8.count else { throw BenchError("cannot write \(path): \(String(cString: strerror(errno)))") }
}

/// Runs a program and waits; throws if it fails. With `capture`, returns its standard output.
@discardableResult
public func runCommand(_ path: String, _ arguments: [String], capture: Bool = false) throws -> String {
    var pipeFDs: [Int32] = [-1, -1]
    if capture { guard pipe(&pipeFDs) == 0 else { throw BenchError("pipe failed") } }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if capture {
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
    }
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    var pid = pid_t()
    let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
    guard rc == 0 else { throw BenchError("cannot run \(path): \(String(cString: strerror(rc)))") }
    var output: [UInt8] = []
    if capture {
        close(pipeFDs[1])
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(pipeFDs[0], $0.baseAddress, 4096) }
            if n <= 0 { break }
            output += chunk[0..<n]
        }
        close(pipeFDs[0])
    }
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    guard status == 0 else { throw BenchError("\(path) \(arguments.joined(separator: " ")) failed (status \(status))") }
    return String(decoding: output, as: UTF8.self)
}
