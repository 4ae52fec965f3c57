/// The programs `tmem run`'s real-program tests and the `run-vs-kernel` benchmark run: each builds more
/// memory than its budget will allow and prints checksums of everything it built, so that one wrong byte
/// anywhere changes the output.
public enum Workloads {
    /// Lists of strings and ints, a dict, a bytearray, and numpy arrays when numpy is there; every
    /// structure is read back after everything has been built (so its pages were evicted and come back).
    public static let listsDictsArrays = """
        import hashlib
        n = 250_000
        words = [("%08x" % ((i * 2654435761) & 0xffffffff)) * 3 for i in range(n)]
        table = {w: i * 7 for i, w in enumerate(words)}
        squares = [i * i for i in range(n)]
        blob = bytearray(b"".join((i * 40503 & 0xffff).to_bytes(2, "little") * 8 for i in range(1_000_000)))
        try:
            import numpy
            a = numpy.arange(2_000_000, dtype=numpy.float64)
            b = numpy.sin(a) * 1e6
            c = numpy.cumsum(b.astype(numpy.int64) % 1000)
            arrays = [a, b, c]
        except ImportError:
            arrays = []
        print("words", hashlib.sha256("".join(words).encode()).hexdigest())
        print("table", sum(table.values()), hashlib.sha256(repr(sorted(table.items())[:1000]).encode()).hexdigest())
        print("squares", sum(squares) % 1_000_000_007)
        blob[::4096] = b"x" * len(blob[::4096])
        print("blob", hashlib.sha256(blob).hexdigest())
        for k, array in enumerate(arrays):
            print("array", k, hashlib.sha256(array.tobytes()).hexdigest())
        print("words again", words[12345], words[-1], table[words[4321]])
        """

    /// Four threads (numpy releases the GIL, so they fault in parallel), each rewriting an array of its
    /// own and its interleaved elements of one shared array, reading the whole shared array each round.
    public static let threads = """
        import hashlib, threading
        import numpy
        T = 4
        shared = numpy.zeros(4_000_000, dtype=numpy.float64)
        results = [None] * T
        def work(k):
            own = numpy.arange(1_500_000, dtype=numpy.float64) * (k + 1)
            for r in range(4):
                own = numpy.sqrt(own * own + r)
                view = shared[k::T]
                view[:] = own[: len(view)] + r
                float(shared.sum())
            results[k] = hashlib.sha256(own.tobytes()).hexdigest()
        threads = [threading.Thread(target=work, args=(k,)) for k in range(T)]
        for t in threads: t.start()
        for t in threads: t.join()
        for k, digest in enumerate(results): print("thread", k, digest)
        print("shared", hashlib.sha256(shared.tobytes()).hexdigest())
        """

    /// A fork without exec (the child reads all of its copy of the parent's memory and changes a little of
    /// it; the parent's copy must not change), then subprocesses: fork and exec of sort, and a shell
    /// pipeline. (A child that rewrote all it inherited would double the memory behind the monitor's back:
    /// docs/RUN.md, "Fork".)
    public static let fork = """
        import hashlib, os, subprocess, sys
        blob = bytearray(b"".join((i * 2654435761 & 0xffffffff).to_bytes(4, "little") * 4 for i in range(1_500_000)))
        words = ["%d-%x" % (i, i * i) for i in range(250_000)]
        def digest():
            return hashlib.sha256(blob).hexdigest()[:16] + " " + hashlib.sha256("".join(words).encode()).hexdigest()[:16]
        before = digest()
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            seen = digest()
            blob[::65536] = b"c" * len(blob[::65536])
            words[::97] = ["child"] * len(words[::97])
            os.write(w, ("child saw %s, then %s\\n" % (seen, digest())).encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r) as pipe: line = pipe.read()
        os.waitpid(pid, 0)
        print("parent before", before)
        print(line, end="")
        print("parent after", digest())
        blob[1::4096] = b"p" * len(blob[1::4096])
        print("parent changed", digest())
        sorted_words = subprocess.run(["sort"], input="\\n".join(words[:200_000]), capture_output=True, text=True).stdout
        print("sort", hashlib.sha256(sorted_words.encode()).hexdigest())
        sys.stdout.flush()
        subprocess.run("seq 1 300000 | sort -r | sha256sum", shell=True, check=True)
        print("parent end", digest())
        """

    /// An in-memory database (its pages in SQLite's page cache, on glibc's heap), an index, and queries
    /// over all of it.
    public static let sqlite = """
        CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);
        WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 600000)
        INSERT INTO t SELECT i, (i * 2654435761) % 1000003,
            printf('%d-%x-%s-%s', i, (i * 40503) % 65536, substr('abcdefghijklmnopqrstuvwxyz0123456789', 1 + i % 36),
                   hex(i * i * 7919)) FROM c;
        CREATE INDEX tk ON t(k);
        CREATE INDEX tv ON t(v);
        SELECT count(*), sum(k), sum(length(v)) FROM t;
        SELECT k % 97 AS g, count(*), sum(length(v)) FROM t GROUP BY g ORDER BY g LIMIT 5;
        SELECT id, v FROM t WHERE k BETWEEN 5000 AND 5100 ORDER BY v LIMIT 5;
        SELECT count(*), sum(length(a.v) + b.id) FROM t AS a JOIN t AS b ON a.id = b.k WHERE a.id % 7 = 0;
        SELECT v FROM t ORDER BY v DESC LIMIT 3;
        """

    /// Lines of 24 to 63 random letters and digits (about 44 bytes each), the same for the same seed:
    /// the input of the `sort` workload.
    public static func sortInput(lines: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        func next() -> UInt64 {  // SplitMix64
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(lines * 44)
        for _ in 0..<lines {
            for _ in 0..<(24 + Int(next() % 40)) { text.append(letters[Int(next() % 36)]) }
            text.append(10)
        }
        return text
    }
}
