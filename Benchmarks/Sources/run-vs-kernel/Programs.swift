#if canImport(Glibc)
import Glibc
#endif
import BenchProcess
import TmemRunWorkloads

/// One program the benchmark runs three times: unpaged, under `tmem run`, and in the kernel's memory
/// cgroup with zram swap.
struct Program {
    var name: String
    var arguments: [String]
}

/// The programs, their scripts and inputs written into `directory`. Those this machine cannot run
/// (no python3, numpy, sqlite3 or perl) are left out with a line saying so.
func programs(in directory: String, only: Set<String>?) throws -> [Program] {
    var list: [Program] = []
    func want(_ name: String) -> Bool { only?.contains(name) ?? true }
    func file(_ name: String, _ text: String) throws -> String {
        let path = directory + "/" + name
        try writeAll(path, Array(text.utf8))
        return path
    }
    if let python = realPython() {
        if want("python") {
            let script = try file("job.py", Workloads.listsDictsArrays)
            list.append(Program(name: "python", arguments: [python.path, script]))
        }
        if want("python-threads") {
            if python.hasNumpy {
                let script = try file("threads.py", Workloads.threads)
                list.append(Program(name: "python-threads", arguments: [python.path, script]))
            } else {
                print("run-vs-kernel: python-threads left out: \(python.path) cannot import numpy")
            }
        }
    } else if want("python") {
        print("run-vs-kernel: python left out: no python3 in PATH")
    }
    if want("sort"), whereIs("sort") != nil {
        let input = directory + "/lines"
        try writeAll(input, Workloads.sortInput(lines: 1_400_000, seed: 0x50_27))
        // The buffer (256 MiB) is far above the budget: the whole input is held and sorted in memory.
        list.append(Program(name: "sort", arguments: ["sort", "-S", "256M", "--parallel=2", input]))
    }
    if want("sqlite3") {
        if whereIs("sqlite3") != nil {
            let script = try file("job.sql", Workloads.sqlite)
            list.append(Program(name: "sqlite3", arguments: ["sqlite3", ":memory:", ".read \(script)"]))
        } else {
            print("run-vs-kernel: sqlite3 left out: not in PATH")
        }
    }
    if want("perl-hash") {
        if whereIs("perl") != nil {
            let script = #"my %h; $h{"key$_"} = ("v" x 40) . $_ for 1 .. 1_500_000; my $t = 0; $t += length($h{$_}) for keys %h; print scalar(keys %h), " $t\n";"#
            let path = try file("hash.pl", script)
            list.append(Program(name: "perl-hash", arguments: ["perl", path]))
        } else {
            print("run-vs-kernel: perl-hash left out: no perl in PATH")
        }
    }
    return list
}

/// The python3 that PATH's `python3` runs (a pyenv shim is a shell script; the preload library must reach
/// the interpreter itself, and a shim's helper processes would only add noise), and whether it has numpy.
func realPython() -> (path: String, hasNumpy: Bool)? {
    guard let shim = whereIs("python3"),
        let printed = try? runCommand(shim, ["-c", "import sys; print(sys.executable)"], capture: true)
    else { return nil }
    let path = printed.split(separator: "\n").first.map(String.init) ?? ""
    guard access(path, X_OK) == 0 else { return nil }
    let numpy = (try? runCommand(path, ["-c", "import numpy"])) != nil
    return (path, numpy)
}
