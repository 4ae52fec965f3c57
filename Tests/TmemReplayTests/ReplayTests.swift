import Testing
import Tmem
import TmemReplay
import TmemSwapFile
import TmemTestKit

/// `tmem replay`'s answers, line by line, as the issue specifies them.
struct ReplayFormatTests {
    @Test func answersEachOperationInTheSpecifiedForm() throws {
        let f = try ReplayFixture()
        let out = f.run("""
            # a comment, then a blank line

            init 0 8
            store 0 1 5
            load 0 1
            load 0 2
            invalidate 0 1
            load 0 1
            stats
            shrink 0
            """)
        #expect(out == [
            "ok", "tmem", "tmem \(f.hash(5))", "none", "ok", "none",
            "succ_stores=1 failed_stores=0 loads=1 invalidates=1 curr_pages=0", "ok 0",
        ])
    }

    @Test func refusedStoresGoToDiskAndShrinkMovesPages() throws {
        let f = try ReplayFixture()
        let out = f.run("""
            init 0 8
            init 1 8
            store 0 0 1
            store 0 1 2
            store 1 0 3
            load 1 0
            shrink 1
            load 0 0
            load 0 1
            stats
            """, capacity: 2 * pageSize)
        #expect(out == [
            "ok", "ok", "tmem", "tmem", "disk", "disk \(f.hash(3))", "ok 1",
            "disk \(f.hash(1))", "tmem \(f.hash(2))",
            "succ_stores=2 failed_stores=1 loads=1 invalidates=0 curr_pages=1",
        ])
    }

    @Test func invalidateAreaSendsStoresToDiskUntilInit() throws {
        let f = try ReplayFixture()
        let out = f.run("""
            init 0 4
            store 0 0 1
            invalidate-area 0
            load 0 0
            store 0 1 2
            load 0 1
            init 0 4
            store 0 2 3
            load 0 2
            stats
            """)
        #expect(out == [
            "ok", "tmem", "ok", "none", "disk", "disk \(f.hash(2))", "ok", "tmem", "tmem \(f.hash(3))",
            "succ_stores=2 failed_stores=1 loads=1 invalidates=0 curr_pages=1",
        ])
    }

    @Test func exclusiveLoadsLeaveTheSlotEmpty() throws {
        let f = try ReplayFixture()
        let out = f.run("init 0 4\nstore 0 0 1\nload 0 0\nload 0 0\nstats", exclusiveLoads: true)
        #expect(out == ["ok", "tmem", "tmem \(f.hash(1))", "none", "succ_stores=1 failed_stores=0 loads=1 invalidates=0 curr_pages=0"])
    }
}

/// Bad input: every bad line answers `error ...`, and nothing stored is lost.
struct ReplayBadInputTests {
    static let badLines = [
        "bogus 1 2", "store 0 1", "store 0 1 2 3", "load x 1", "load 0 -1", "store 0 99 1", "load 7 0",
        "init 0 9", "init 1 0", "init 99 4", "store 0 0 100000", "invalidate 0 4", "invalidate-area 5",
        "shrink", "shrink -1", "stats now", "load 0 18446744073709551616", "\u{00e9}t\u{00e9} 1",
    ]

    @Test(arguments: badLines)
    func badLineIsAnErrorAndLosesNothing(line: String) throws {
        let f = try ReplayFixture()
        let out = f.run("init 0 4\nstore 0 0 1\nstore 0 1 2\n\(line)\nload 0 0\nload 0 1\nstats", capacity: pageSize)
        try #require(out.count == 7)
        #expect(out[3].hasPrefix("error line 4: "), "\(line) -> \(out[3])")
        #expect(!out[3].contains("\n"))
        #expect(out[4] == "tmem \(f.hash(1))")
        #expect(out[5] == "disk \(f.hash(2))")
        #expect(out[6] == "succ_stores=1 failed_stores=1 loads=1 invalidates=0 curr_pages=1")
    }

    @Test func unreadableCorpusIsAnError() {
        #expect(throws: ReplayError.self) { try PageCorpus(path: "/nonexistent/corpus.bin") }
        #expect(throws: ReplayError.self) { try PageCorpus(path: "/dev/null") }
    }

    @Test func corruptZstandardCorpusIsAnError() throws {
        let dir = TemporaryDirectory()
        try writeFile(dir.file("bad.zst"), [0x28, 0xB5, 0x2F, 0xFD] + [UInt8](repeating: 7, count: 64))
        #expect(throws: ReplayError.self) { try PageCorpus(path: dir.file("bad.zst")) }
    }
}

/// The real dev corpus, Zstandard-compressed as shipped, behind both backends.
struct ReplayCorpusTests {
    @Test(.enabled(if: sharedCorpusPath() != nil, "needs ../shared/corpus/dev-pages.bin.zst"),
          arguments: [BackendKind.ram, .zcache])
    func realCorpusReplaysThroughEitherBackend(kind: BackendKind) throws {
        let corpus = try PageCorpus(path: sharedCorpusPath()!)
        #expect(corpus.pageCount == 16_384)
        #expect(hex16(fnv1a64(corpus.page(0))) == "a9916e272520e521")
        let dir = TemporaryDirectory()
        let replayer = Replayer(
            backend: try BackendConfiguration(kind: kind, capacity: 1 << 20).makeBackend(), corpus: corpus,
            swapFiles: .init(path: dir.file("swap"), removeOnClose: true))
        #expect(replayer.execute(.initArea(area: 0, pages: 2048)) == "ok")
        for k in 0..<2048 { _ = replayer.execute(.store(area: 0, offset: k, corpusPage: k * 8)) }
        for k in stride(from: 0, to: 2048, by: 7) {
            let answer = replayer.execute(.load(area: 0, offset: k))
            #expect(answer.hasSuffix(" " + hex16(fnv1a64(corpus.page(k * 8)))), "\(answer)")
        }
    }
}
