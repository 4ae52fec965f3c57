#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CTmemRun
import Testing
import TmemTestKit

/// A command run to its end, with the resident memory of its process tree sampled while it ran.
struct SampledRun {
    var end: ProgramEnd
    var output: [UInt8]
    var errors: String
    /// The largest sum of the tree's resident sizes over the samples (below the root with `belowRoot`);
    /// a sum above `exactAbove` is measured again as proportional sizes (see ``runSampled``).
    var peakResidentBytes: Int
    var samples: Int
    var seconds: Double
}

/// Runs `arguments` (found in PATH) with `environment` added to this process's, standard input /dev/null,
/// standard output and error in the files `outputs.stdout` and `outputs.stderr`; every 2 ms until it ends, sums the resident sizes (statm) of its process tree, without
/// the root process itself when `belowRoot` (the monitor of `tmem run`, whose memory is the store).
/// A sum above `exactAbove` is taken again as the sum of proportional set sizes (/proc/PID/smaps_rollup),
/// which counts a page shared copy-on-write by a parent and its forked child once, as the kernel's
/// memory cgroup charges it, not once per process as resident sizes do.
///
/// The sampling clock is a poll on the root's pidfd with a 2 ms timeout: no sleeping, and the loop ends
/// as soon as the root has exited.
func runSampled(
    _ arguments: [String], environment: [String], outputs: String, belowRoot: Bool = false, exactAbove: Int = .max
) throws -> SampledRun {
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
    try #require(rc == 0, "posix_spawnp \(arguments[0]): \(String(cString: strerror(rc)))")
    let pidFD = tmem_run_pidfd_open(pid)
    try #require(pidFD >= 0, "pidfd_open: \(String(cString: strerror(errno)))")
    defer { close(pidFD) }
    var peak = 0
    var samples = 0
    while true {
        var ready = pollfd(fd: pidFD, events: Int16(POLLIN), revents: 0)
        let polled = poll(&ready, 1, 2)
        var tree = treeResidentBytes(root: pid, includingRoot: !belowRoot)
        if tree > exactAbove { tree = treeResidentBytes(root: pid, includingRoot: !belowRoot, proportional: true) }
        peak = max(peak, tree)
        samples += 1
        if polled > 0 { break }
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let end: ProgramEnd = status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
    return SampledRun(
        end: end, output: try readWholeFile(outPath),
        errors: String(decoding: try readWholeFile(errPath), as: UTF8.self),
        peakResidentBytes: peak, samples: samples, seconds: monotonicSeconds() - started)
}

/// The resident bytes of `root`'s descendants (and of `root` itself when `includingRoot`): each process
/// found through /proc/PID/task/TID/children, its resident pages from /proc/PID/statm (its proportional
/// set size from /proc/PID/smaps_rollup with `proportional`). A process that ends while it is read
/// counts as nothing.
func treeResidentBytes(root: pid_t, includingRoot: Bool, proportional: Bool = false) -> Int {
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
    guard let statm = try? readWholeFile("/proc/\(pid)/statm") else { return 0 }
    let fields = String(decoding: statm, as: UTF8.self).split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * 4096 : 0
}

/// The `Pss:` line of /proc/PID/smaps_rollup, in bytes.
private func proportionalBytes(_ pid: pid_t) -> Int {
    guard let rollup = try? readWholeFile("/proc/\(pid)/smaps_rollup") else { return 0 }
    for line in String(decoding: rollup, as: UTF8.self).split(separator: "\n") where line.hasPrefix("Pss:") {
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }
    return 0
}

/// The children of every thread of `pid`.
func childrenOf(_ pid: pid_t) -> [pid_t] {
    guard let tasks = opendir("/proc/\(pid)/task") else { return [] }
    defer { closedir(tasks) }
    var children: [pid_t] = []
    while let entry = readdir(tasks) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        guard let tid = Int32(name),
              let text = try? readWholeFile("/proc/\(pid)/task/\(tid)/children") else { continue }
        children += String(decoding: text, as: UTF8.self).split(separator: " ").compactMap { Int32($0) }
    }
    return children
}

/// The processes on the machine whose environment holds `entry` (`NAME=value`).
func processesCarrying(_ entry: String) -> [pid_t] {
    guard let proc = opendir("/proc") else { return [] }
    defer { closedir(proc) }
    let wanted = Array(entry.utf8)
    var found: [pid_t] = []
    while let item = readdir(proc) {
        let name = withUnsafeBytes(of: item.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        guard let pid = Int32(name), pid != getpid(), let environ = try? readWholeFile("/proc/\(pid)/environ") else { continue }
        if environ.split(separator: 0).contains(where: { $0.elementsEqual(wanted) }) { found.append(pid) }
    }
    return found
}

/// The names in `directory` other than . and ..
func entries(of directory: String) -> [String] {
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
func whereIs(_ program: String) -> String? {
    if program.contains("/") { return access(program, X_OK) == 0 ? program : nil }
    let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") where access("\(directory)/\(program)", X_OK) == 0 {
        return "\(directory)/\(program)"
    }
    return nil
}

/// This process's environment with `entries` (`NAME=value`) set over it.
func environmentWith(_ entries: [String]) -> [String] {
    var inherited: [String] = []
    var entry = environ
    while let pointer = entry.pointee {
        inherited.append(String(cString: pointer))
        entry += 1
    }
    let names = Set(entries.map { $0.prefix { $0 != "=" } })
    return inherited.filter { !names.contains($0.prefix { $0 != "=" }) } + entries
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
