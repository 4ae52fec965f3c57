#if canImport(Glibc)
import Glibc
#endif
import CTmemRun
import Synchronization
import Tmem

/// How the program ended.
public struct RunOutcome: Sendable, Equatable {
    /// Its exit status, when it exited.
    public var exitStatus: Int32?
    /// The signal that ended it, when one did.
    public var signal: Int32?
    /// The run's statistics after the whole process tree ended.
    public var statistics: RunStatistics
}

/// `tmem run`: runs a command with the preload library, pages its process tree through a ``RunMonitor``,
/// and waits for every process of the tree (the monitor is their child subreaper) before it returns.
///
/// Signals: SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to `tmem run` are passed on to the program,
/// and so is SIGINT sent by another process (a terminal's SIGINT reaches the program by itself).
public final class RunSession: Sendable {
    private let monitor: RunMonitor
    private let store: PageStore
    private let preloadLibrary: String

    /// Prepares a run.
    ///
    /// - Parameters:
    ///   - configuration: The budget, threshold and swap file.
    ///   - backend: Where evicted pages go first (Zcache, a RAM pool...).
    ///   - backendUsage: The backend's memory, and the bytes it holds before and after compression.
    ///   - preloadLibrary: The path of libTmemRunPreload.so.
    ///   - interval: Statistics every so many nanoseconds (on the monitor's reclaimer thread), or nil.
    ///   - report: Where messages about killed processes go (stderr, in the command).
    /// - Throws: ``RunError`` when the store or the socket cannot be set up.
    public init(
        configuration: RunConfiguration, backend: any Backend,
        backendUsage: @escaping @Sendable () -> (pool: Int, original: Int, compressed: Int),
        preloadLibrary: String,
        interval: (nanoseconds: UInt64, call: @Sendable (RunStatistics) -> Void)? = nil,
        report: @escaping @Sendable (String) -> Void
    ) throws(RunError) {
        guard configuration.budgetBytes >= 1 << 20 else { throw .invalidArgument("the budget must be at least 1 MiB") }
        guard access(preloadLibrary, R_OK) == 0 else {
            throw .setup("cannot read the preload library \(preloadLibrary): \(describeErrno(errno))")
        }
        store = try PageStore(
            backend: backend, slots: configuration.swapSlots, swapFile: configuration.swapFile,
            directory: configuration.swapDirectory)
        self.preloadLibrary = preloadLibrary
        monitor = try RunMonitor(
            configuration: configuration, store: store, interval: interval, backendUsage: backendUsage, report: report)
    }

    /// The statistics so far.
    public func statistics() -> RunStatistics { monitor.statistics() }

    /// Runs `command` (searched in $PATH) and waits for its whole process tree.
    ///
    /// Call it from the main thread before any other thread is started: it blocks the forwarded signals,
    /// and every thread made after inherits that.
    ///
    /// - Returns: How the program ended, and the statistics.
    /// - Throws: ``RunError`` when the command cannot be started.
    public func run(_ command: [String]) throws(RunError) -> RunOutcome {
        guard !command.isEmpty else { throw .invalidArgument("no command to run") }
        var forwarded = sigset_t()
        sigemptyset(&forwarded)
        for s in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2] { sigaddset(&forwarded, s) }
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &forwarded, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        _ = tmem_run_set_child_subreaper()

        try monitor.start()
        let pid: pid_t
        do {
            pid = try spawn(command, defaultSignals: forwarded)
        } catch {
            monitor.stop()
            store.close()
            throw error
        }
        let forwarder = SignalForwarder(pid: pid, signals: forwarded)
        let thread = forwarder.start()

        var outcome = RunOutcome(statistics: RunStatistics())
        while true {
            var status: Int32 = 0
            let reaped = waitpid(-1, &status, 0)
            if reaped < 0 {
                if errno == EINTR { continue }
                break  // ECHILD: the whole tree has ended
            }
            guard reaped == pid else { continue }
            if status & 0x7f == 0 {
                outcome.exitStatus = (status >> 8) & 0xff
            } else {
                outcome.signal = status & 0x7f
            }
        }
        forwarder.stop(thread)
        monitor.stop()
        outcome.statistics = statistics()
        store.close()
        return outcome
    }

    private func spawn(_ command: [String], defaultSignals: sigset_t) throws(RunError) -> pid_t {
        var environment: [String] = []
        var preload = preloadLibrary
        var index = 0
        while let entry = environ[index] {
            let line = String(cString: entry)
            index += 1
            if line.hasPrefix("LD_PRELOAD=") {
                let existing = line.dropFirst("LD_PRELOAD=".count)
                if !existing.isEmpty { preload += ":" + existing }
            } else if !line.hasPrefix(TMEM_RUN_SOCKET_ENV + "=") && !line.hasPrefix(TMEM_RUN_THRESHOLD_ENV + "=") {
                environment.append(line)
            }
        }
        environment.append("LD_PRELOAD=\(preload)")
        environment.append("\(TMEM_RUN_SOCKET_ENV)=\(monitor.socketName)")
        environment.append("\(TMEM_RUN_THRESHOLD_ENV)=\(monitor.configuration.thresholdBytes)")
        // Every symbol bound at load: a lazy binding by the library's helper thread would read the
        // dynamic linker's tables on the heap, whose page may be in the very batch the helper is moving.
        if !environment.contains(where: { $0.hasPrefix("LD_BIND_NOW=") }) { environment.append("LD_BIND_NOW=1") }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var defaults = defaultSignals
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = command.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, command[0], nil, &attributes, argv, envp)
        guard rc == 0 else { throw .setup("cannot run \(command[0]): \(describeErrno(rc))") }
        return pid
    }
}

/// Passes the signals `tmem run` receives on to the program (a thread in `sigtimedwait`).
private final class SignalForwarder: @unchecked Sendable {
    let pid: pid_t
    var signals: sigset_t
    let running = Atomic<Bool>(true)

    init(pid: pid_t, signals: sigset_t) {
        self.pid = pid
        self.signals = signals
    }

    func start() -> pthread_t? {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            let forwarder = Unmanaged<SignalForwarder>.fromOpaque(raw!).takeRetainedValue()
            forwarder.loop()
            return nil
        }, context)
        if rc != 0 {
            Unmanaged<SignalForwarder>.fromOpaque(context).release()
            return nil
        }
        return thread
    }

    func stop(_ thread: pthread_t?) {
        running.store(false, ordering: .releasing)
        if let thread { pthread_join(thread, nil) }
    }

    private func loop() {
        var info = siginfo_t()
        var timeout = timespec(tv_sec: 0, tv_nsec: 100_000_000)
        while running.load(ordering: .acquiring) {
            let s = sigtimedwait(&signals, &info, &timeout)
            guard s > 0 else { continue }
            // A terminal's SIGINT (si_code SI_KERNEL) went to the program's process group already.
            if s == SIGINT && info.si_code == 0x80 { continue }
            kill(pid, s)
        }
    }
}
