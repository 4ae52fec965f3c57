#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CTmemRun

/// How a program ended.
public enum ProgramEnd: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signalled(Int32)

    /// From a `waitpid` status.
    public init(status: Int32) {
        self = status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
    }

    public var description: String {
        switch self {
        case .exited(let code): "exit \(code)"
        case .signalled(let signal): "signal \(signal)"
        }
    }
}

/// Why a program could not be run or its output read.
public struct ProgramTreeError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A command run to its end, with the resident memory of its process tree sampled while it ran.
public struct SampledRun: Sendable {
    public var end: ProgramEnd
    public var output: [UInt8]
    public var errors: String
    /// The largest sum of the tree's resident sizes over the samples (below the root with `belowRoot`);
    /// a sum above `exactAbove` is measured again as proportional sizes (see ``runSampled``).
    public var peakResidentBytes: Int
    public var samples: Int
    public var seconds: Double
    /// Whether it was killed for running past its time limit.
    public var timedOut: Bool
}

/// Runs `arguments` (found in PATH) with `environment` added to this process's, standard input /dev/null,
/// standard output and error in the files `outputs.stdout` and `outputs.stderr`, and waits for it.
///
/// Every 2 ms until it ends, it sums the resident sizes (statm) of its process tree, without the root
/// process itself when `belowRoot` (the monitor of `tmem run`, whose memory is the store). A sum above
/// `exactAbove` is taken again as the sum of proportional set sizes (/proc/PID/smaps_rollup), which counts
/// a page shared copy-on-write by a parent and its forked child once, as the kernel's memory cgroup
/// charges it, not once per process as resident sizes do. The sampling clock is a poll on the root's
/// pidfd with a 2 ms timeout: no sleeping, and the loop ends as soon as the root has exited. After
/// `timeLimit` seconds the root is killed (SIGKILL) and the run says it `timedOut`.
public func runSampled(
    _ arguments: [String], environment: [String], outputs: String, belowRoot: Bool = false,
    exactAbove: Int = .max, timeLimit: Double = .infinity
) throws(ProgramTreeError) -> SampledRun {
    let (outPath, errPath) = (outputs + ".stdout", outputs + ".stderr")
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let argv = arguments.map { strdup($0) } + [nil]
    let envp = environmentWith(environment).map { strdup($0) } + [nil]
    defer { (argv + envp).forEach { free($0) } }
    let started = monotonicSeconds()
    var pid: pid_t = 0
    let rc = posix_spawnp(&pid, arguments[0], &actions, nil, argv, envp)
    guard rc == 0 else { throw ProgramTreeError("posix_spawnp \(arguments[0]): \(String(cString: strerror(rc)))") }
    let pidFD = tmem_run_pidfd_open(pid)
    guard pidFD >= 0 else {
        kill(pid, SIGKILL)
        throw ProgramTreeError("pidfd_open: \(String(cString: strerror(errno)))")
    }
    defer { close(pidFD) }
    var peak = 0
    var samples = 0
    var timedOut = false
    while true {
        var ready = pollfd(fd: pidFD, events: Int16(POLLIN), revents: 0)
        let polled = poll(&ready, 1, 2)
        var tree = treeResidentBytes(root: pid, includingRoot: !belowRoot)
        if tree > exactAbove { tree = treeResidentBytes(root: pid, includingRoot: !belowRoot, proportional: true) }
        peak = max(peak, tree)
        samples += 1
        if polled > 0 { break }
        if !timedOut && monotonicSeconds() - started > timeLimit {
            timedOut = true
            kill(pid, SIGKILL)
        }
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let seconds = monotonicSeconds() - started
    return SampledRun(
        end: ProgramEnd(status: status), output: try readAll(outPath), errors: String(decoding: try readAll(errPath), as: UTF8.self),
        peakResidentBytes: peak, samples: samples, seconds: seconds, timedOut: timedOut)
}

/// The resident bytes of `root`'s descendants (and of `root` itself when `includingRoot`): each process
/// found through /proc/PID/task/TID/children, its resident pages from /proc/PID/statm (its proportional
/// set size from /proc/PID/smaps_rollup with `proportional`). A process that ends while it is read
/// counts as nothing.
public func treeResidentBytes(root: pid_t, includingRoot: Bool, proportional: Bool = false) -> Int {
    var total = 0
    var pending = [root]
    while let pid = pending.popLast() {
        if pid != root || includingRoot {
            total += proportional ? proportionalBytes(pid) : residentBytes(pid)
        }
        pending += childrenOf(pid)
    }
    return total
}

private func residentBytes(_ pid: pid_t) -> Int {
    guard let statm = try? readAll("/proc/\(pid)/statm") else { return 0 }
    let fields = String(decoding: statm, as: UTF8.self).split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * 4096 : 0
}

/// The `Pss:` line of /proc/PID/smaps_rollup, in bytes.
private func proportionalBytes(_ pid: pid_t) -> Int {
    guard let rollup = try? readAll("/proc/\(pid)/smaps_rollup") else { return 0 }
    for line in String(decoding: rollup, as: UTF8.self).split(separator: "\n") where line.hasPrefix("Pss:") {
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }
    return 0
}

/// The children of every thread of `pid`.
public func childrenOf(_ pid: pid_t) -> [pid_t] {
    entries(of: "/proc/\(pid)/task").flatMap { tid -> [pid_t] in
        guard let text = try? readAll("/proc/\(pid)/task/\(tid)/children") else { return [] }
        return String(decoding: text, as: UTF8.self).split(separator: " ").compactMap { Int32($0) }
    }
}

/// The processes on the machine (other than this one) whose environment holds `entry` (`NAME=value`).
public func processesCarrying(_ entry: String) -> [pid_t] {
    let wanted = Array(entry.utf8)
    return entries(of: "/proc").compactMap { name -> pid_t? in
        guard let pid = Int32(name), pid != getpid(), let environ = try? readAll("/proc/\(pid)/environ") else { return nil }
        return environ.split(separator: 0).contains(where: { $0.elementsEqual(wanted) }) ? pid : nil
    }
}

/// The names in `directory` other than . and .. (none if it cannot be read).
public func entries(of directory: String) -> [String] {
    guard let handle = opendir(directory) else { return [] }
    defer { closedir(handle) }
    var names: [String] = []
    while let item = readdir(handle) {
        let name = withUnsafeBytes(of: item.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// Where `program` is in PATH (or itself when it names a path), or nil.
public func whereIs(_ program: String) -> String? {
    if program.contains("/") { return access(program, X_OK) == 0 ? program : nil }
    let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") where access("\(directory)/\(program)", X_OK) == 0 {
        return "\(directory)/\(program)"
    }
    return nil
}

/// This process's environment with `entries` (`NAME=value`) set over it.
public func environmentWith(_ entries: [String]) -> [String] {
    var inherited: [String] = []
    var entry = environ
    while let pointer = entry.pointee {
        inherited.append(String(cString: pointer))
        entry += 1
    }
    let names = Set(entries.map { $0.prefix { $0 != "=" } })
    return inherited.filter { !names.contains($0.prefix { $0 != "=" }) } + entries
}

public func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// The whole of a file (a /proc file's size is 0, so it is read to its end).
public func readAll(_ path: String) throws(ProgramTreeError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ProgramTreeError("cannot open \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw ProgramTreeError("cannot read \(path): \(String(cString: strerror(errno)))") }
        if n == 0 { return bytes }
        bytes += chunk[..<n]
    }
}

/// Writes `bytes` to a new file (replacing one there), mode 0644.
public func writeAll(_ path: String, _ bytes: [UInt8]) throws(ProgramTreeError) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw ProgramTreeError("cannot create \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { throw ProgramTreeError("cannot write \(path): \(String(cString: strerror(errno)))") }
        offset += n
    }
}

/// The numbers of one `tmem run --stats` line (a flat JSON object of numbers), by key; fields that are
/// not numbers are left out.
public func statisticsNumbers(_ line: Substring) -> [String: Double] {
    var values: [String: Double] = [:]
    for item in line.dropFirst().dropLast().split(separator: ",") {
        let parts = item.split(separator: ":")
        if parts.count == 2, let number = Double(parts[1]) { values[String(parts[0].dropFirst().dropLast())] = number }
    }
    return values
}
