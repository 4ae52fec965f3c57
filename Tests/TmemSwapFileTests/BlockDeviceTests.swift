#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
import Tmem
import TmemSwapFile
import TmemTestKit

/// A real block device as a swap device: a loop device over a 1 MiB file (root only). It is used as it
/// is, and refused at open when it holds fewer slots than asked for (not at the first write past its end).
@Suite(.enabled(if: geteuid() == 0 && access("/usr/sbin/losetup", X_OK) == 0, "loop devices need root and losetup"))
struct BlockDeviceTests {
    @Test func aBlockDeviceTooSmallForItsSlotsIsRefusedAtOpen() throws {
        let loop = try LoopDevice(bytes: 1 << 20)
        defer { withExtendedLifetime(loop) {} }  // attached until the test ends
        let device = loop.path

        let error = #expect(throws: BackingDeviceError.self) { try SwapFile(path: device, slots: 1000) }
        #expect(error?.message == "block device \(device) holds 256 pages, fewer than the 1000 slots asked for")
        let swap = try SwapFile(path: device, slots: 256)
        let page = [UInt8](repeating: 0xA5, count: pageSize)
        try page.withUnsafeBytes { try swap.write(slot: 255, page: $0) }
        var back = [UInt8](repeating: 0, count: pageSize)
        try back.withUnsafeMutableBytes { try swap.read(slot: 255, into: $0) }
        #expect(back == page)
    }

    @Test func aBlockDeviceClaimedByAnotherProgramIsRefused() throws {
        let loop = try LoopDevice(bytes: 1 << 20)
        defer { withExtendedLifetime(loop) {} }  // attached until the test ends
        let device = loop.path
        // Another program holds the device exclusively (as a mounted file system or mkfs would).
        let holder = open(device, O_RDWR | O_EXCL | O_CLOEXEC)
        try #require(holder >= 0, "claim the loop device")
        let error = #expect(throws: BackingDeviceError.self) { try SwapFile(path: device, slots: 16) }
        #expect(error?.message == "block device \(device) is in use (mounted, an active swap area, or claimed by another program)")
        close(holder)
        _ = try SwapFile(path: device, slots: 16)
    }
}

/// A loop device over a new file of `bytes` bytes, detached when released.
private final class LoopDevice {
    let directory = TemporaryDirectory()
    let path: String

    init(bytes: Int) throws {
        let backing = directory.file("disk")
        let fd = open(backing, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        try #require(fd >= 0 && ftruncate(fd, off_t(bytes)) == 0)
        close(fd)
        path = try #require(losetup(["--find", "--show", backing]), "losetup attaches a loop device")
    }

    deinit { _ = losetup(["--detach", path]) }
}

/// Runs losetup with `arguments`; its first line of output, or nil when it failed.
private func losetup(_ arguments: [String]) -> String? {
    let directory = TemporaryDirectory()
    let out = directory.file("out")
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let argv: [UnsafeMutablePointer<CChar>?] = (["/usr/sbin/losetup"] + arguments).map { strdup($0) } + [nil]
    defer { for arg in argv { free(arg) } }
    var pid: pid_t = 0
    guard posix_spawn(&pid, "/usr/sbin/losetup", &actions, nil, argv, environ) == 0 else { return nil }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    guard status == 0, let text = try? contents(of: out) else { return nil }
    return String(decoding: text.prefix { $0 != 10 }, as: UTF8.self)
}
