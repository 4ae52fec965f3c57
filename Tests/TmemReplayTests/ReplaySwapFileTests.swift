#if canImport(Glibc)
import Glibc
#endif
import Testing
import Tmem
import TmemReplay
import TmemSwapFile
import TmemTestKit

/// What the replayer refuses to use as swap, and what a refusal is: a line's error or the replay's end.
struct ReplaySwapFileTests {
    private func replayer(_ f: ReplayFixture, _ files: Replayer.SwapFiles) throws -> Replayer {
        Replayer(backend: try BackendConfiguration(kind: .ram, capacity: 0).makeBackend(), corpus: f.corpus, swapFiles: files)
    }

    @Test func theCorpusIsNeverASwapFile() throws {
        let f = try ReplayFixture(pageCount: 8)
        let before = try #require(f.pages.first)
        let r = try replayer(f, .init(path: f.corpusPath, removeOnClose: false, allowExistingData: true))
        let error = #expect(throws: ReplayError.self) { try r.checkSwapFiles() }
        #expect(error?.isSwapFile == true)
        #expect(error?.message == "swap file \(f.corpusPath) is the corpus \(f.corpusPath): refusing to write over it")
        #expect(throws: ReplayError.self) { try r.run(.initArea(area: 0, pages: 4)) }
        // Kept alive across the comparison: `page(0)` points into the corpus's own memory.
        let reread = try PageCorpus(path: f.corpusPath)
        let untouched = withExtendedLifetime(reread) { reread.page(0).elementsEqual(before) }
        #expect(untouched, "the corpus is untouched")
    }

    @Test func aSwapFileThatCannotBeOpenedEndsTheReplay() throws {
        let f = try ReplayFixture(pageCount: 8)
        let r = try replayer(f, .init(path: f.directory.file("missing/swap"), removeOnClose: false))
        let error = #expect(throws: ReplayError.self) { try r.replay(line: Array("init 0 4".utf8)) }
        #expect(error?.isSwapFile == true)
        #expect(error?.message.hasPrefix("cannot open swap file \(f.directory.file("missing/swap")): No such file") == true)
    }

    @Test func aCharacterDeviceIsRefusedBeforeAnyAreaFileIsMade() throws {
        let f = try ReplayFixture(pageCount: 8)
        let r = try replayer(f, .init(path: "/dev/null", removeOnClose: false))
        let error = #expect(throws: ReplayError.self) { try r.run(.initArea(area: 1, pages: 4)) }
        #expect(error?.message == "swap file /dev/null is a character device: use a regular file or a block device")
        #expect(PageCorpus.FileIdentity(path: "/dev/null.1") == nil, "no /dev/null.1")
    }

    @Test func moreSlotsThanTheDiskHoldsAreALinesError() throws {
        let f = try ReplayFixture(pageCount: 8)
        let r = try replayer(f, .temporary(in: f.directory.path))
        let answer = try r.replay(line: Array("init 0 4294967295".utf8))
        #expect(answer?.hasPrefix("error line 1: init 0 4294967295: 4294967295 slots at \(f.directory.path) need 16.0 TiB, but its file system has ") == true, "\(answer ?? "")")
        #expect(try r.replay(line: Array("init 0 4".utf8)) == "ok", "nothing was made of the refused init")
    }

    @Test(.enabled(if: geteuid() == 0, "mounting a tmpfs needs root"))
    func areasThatFitAloneButNotTogetherAreRefused() throws {
        let disk = try #require(SmallFileSystem(bytes: 1 << 20))
        defer { disk.unmount() }
        let f = try ReplayFixture(pageCount: 8)
        let r = try replayer(f, .temporary(in: disk.directory.path))
        #expect(try r.replay(line: Array("init 0 200".utf8)) == "ok")
        let answer = try r.replay(line: Array("init 1 200".utf8))
        #expect(answer?.hasPrefix("error line 2: init 1 200: with the 200 slots of the areas before it, 400 slots") == true,
            "\(answer ?? "")")
        #expect(try r.replay(line: Array("init 1 50".utf8)) == "ok", "what still fits is accepted")
    }

    @Test func temporarySwapFilesLeaveNothingBehind() throws {
        let f = try ReplayFixture(pageCount: 8)
        let place = TemporaryDirectory()
        let r = try replayer(f, .temporary(in: place.path))
        for line in ["init 0 4", "init 3 4", "store 0 1 2", "store 3 0 1", "load 3 0"] {
            #expect(try r.replay(line: Array(line.utf8))?.hasPrefix("error") == false, "\(line)")
        }
        #expect(try r.replay(line: Array("load 0 1".utf8)) == "disk \(f.hash(2))")
        #expect(PageCorpus.FileIdentity(path: place.file("swap")) == nil)
        var names: [String] = []
        if let dir = opendir(place.path) {
            while let entry = readdir(dir) {
                names.append(withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) })
            }
            closedir(dir)
        }
        #expect(names.sorted() == [".", ".."])
    }
}
