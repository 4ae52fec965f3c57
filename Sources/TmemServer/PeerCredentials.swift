import Glibc
import NIOCore

/// `struct ucred` of <sys/socket.h> (Glibc's module hides it without _GNU_SOURCE).
struct PeerCredentials: Sendable {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32
}

/// The uid of a Unix-socket peer, from the kernel (SO_PEERCRED), or nil if it cannot be had.
///
/// Runs on the channel's event loop, where the option is read at once.
func peerUID(of channel: any Channel) -> UInt32? {
    guard let provider = channel as? any SocketOptionProvider else { return nil }
    let future: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
        level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
    // Read on the channel's own event loop, the future is already complete (and wait() must not be
    // called there): its value is taken in a callback that runs at once.
    final class Box: @unchecked Sendable { var uid: UInt32? }
    let box = Box()
    future.whenSuccess { box.uid = $0.uid }
    return box.uid
}
