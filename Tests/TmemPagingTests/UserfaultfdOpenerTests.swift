#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
import Tmem
@testable import TmemPaging

/// How a userfaultfd is obtained when the kernel refuses some ways: tested with attempts that fail on
/// demand, and with the real kernel restricted to user-mode-only faults.
struct UserfaultfdOpenerTests {
    private static func refusing(
        _ refused: Set<UserfaultfdSource>,
        errno code: Int32 = EPERM
    ) -> UserfaultfdOpener {
        UserfaultfdOpener { source in refused.contains(source) ? .failure(Errno(code)) : .success(42) }
    }

    @Test
    func theMostCapableAllowedWayIsUsed() throws {
        #expect(try Self.refusing([]).openFirstAllowed().source == .systemCall)
        #expect(try Self.refusing([.systemCall]).openFirstAllowed().source == .device)
        #expect(try Self.refusing([.systemCall, .device]).openFirstAllowed().source == .userModeOnly)
    }

    @Test
    func whenEveryWayIsRefusedTheErrorSaysWhatToChange() {
        do {
            _ = try Self.refusing(Set(UserfaultfdSource.allCases)).openFirstAllowed()
            Issue.record("opening should have failed")
        } catch {
            #expect(error.isNotPermitted)
            #expect(error.message.contains("vm.unprivileged_userfaultfd"))
            #expect(error.message.contains("CAP_SYS_PTRACE"))
            #expect(error.message.contains("/dev/userfaultfd"))
        }
    }

    @Test
    func aKernelWithoutUserfaultfdIsUnsupported() {
        #expect { try Self.refusing([.systemCall], errno: ENOSYS).openFirstAllowed() } throws: { error in
            (error as? PagingError)?.isUnsupported == true
        }
    }

    @Test(.enabled(if: Kernel.allowsUserfaultfd, refusedReason))
    func aUserModeOnlyRegionPagesButKernelAccessesFail() throws {
        // The real kernel, as an unprivileged process sees it: only UFFD_USER_MODE_ONLY is allowed.
        let opener = UserfaultfdOpener { source in
            source == .userModeOnly ? UserfaultfdOpener.kernel.attempt(source) : .failure(Errno(EPERM))
        }
        let pages = 256
        let region = try PagedRegion(
            size: pages * pageSize,
            backend: RAMPool(capacity: pages * pageSize),
            configuration: .init(residentBudget: 32 * pageSize),
            opener: opener
        )
        let servesKernelFaults = region.servesKernelFaults
        #expect(!servesKernelFaults)
        let exact = region.withUnsafeMutableBytes { bytes in
            Pattern.fillAll(bytes, pages: pages, version: 1)
            return (0..<pages).allSatisfy { Pattern.matches(bytes, page: $0, version: 1) }
        }
        #expect(exact)
        // Page 0 is evicted now: the kernel's copy_to_user cannot wait for it.
        let devZero = open("/dev/zero", O_RDONLY)
        defer { close(devZero) }
        let result = region.withUnsafeMutableBytes { read(devZero, $0.baseAddress!, 16) }
        let code = errno
        #expect(result == -1 && code == EFAULT)
        region.close()
    }
}
