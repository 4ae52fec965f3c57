import Testing
import Tmem

struct PageTests {
    @Test func fnv1a64MatchesPublishedVectors() {
        #expect([UInt8]().withUnsafeBytes { fnv1a64($0) } == 0xcbf2_9ce4_8422_2325)
        #expect(Array("a".utf8).withUnsafeBytes { fnv1a64($0) } == 0xaf63_dc4c_8601_ec8c)
        #expect(Array("foobar".utf8).withUnsafeBytes { fnv1a64($0) } == 0x8594_4171_f739_67e8)
        #expect(hex16(0xab) == "00000000000000ab")
        #expect(hex16(UInt64.max) == "ffffffffffffffff")
    }

    @Test(arguments: [UInt64(0), 1, 0xDEAD_BEEF_0BAD_F00D, .max])
    func sameFilledPagesAreRecognisedAndRebuilt(word: UInt64) {
        var page = [UInt8](repeating: 0, count: pageSize)
        page.withUnsafeMutableBytes { fillPage($0, with: word) }
        #expect(page.withUnsafeBytes { sameFilledWord($0) } == word)
        page[pageSize - 1] ^= 1
        #expect(page.withUnsafeBytes { sameFilledWord($0) } == nil)
        page[pageSize - 1] ^= 1
        page[100] ^= 1
        #expect(page.withUnsafeBytes { sameFilledWord($0) } == nil)
    }
}
