import Testing
import Tmem

/// `.ci/run` builds these tests a second time with `-D TMEM_INTERNAL_CHECKS` (every test then runs the
/// pool's invariant checks through `checkInvariantsIfCompiledIn`) and sets `TMEM_EXPECT_INTERNAL_CHECKS=1`:
/// a build that lost the flag fails here, instead of passing without checking anything.
struct ZPoolInvariantCheckTests {
    @Test(
        .enabled(
            if: environmentValue("TMEM_EXPECT_INTERNAL_CHECKS") == "1",
            "runs only in .ci/run's checks build, which sets TMEM_EXPECT_INTERNAL_CHECKS=1"
        )
    )
    func invariantChecksAreCompiledInWhereExpected() {
        #expect(invariantChecksCompiledIn, "built without -D TMEM_INTERNAL_CHECKS")
    }
}
