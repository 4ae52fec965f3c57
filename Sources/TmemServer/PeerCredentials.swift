import Glibc
import NIOCore

/// The uid of a Unix-socket peer, from the kernel (SO_PEERCRED), or nil if it cannot be had.
///
/// Runs on the channel's event loop, where the option is read at once.
func peerUID(of channel: any Channel) -> UInt32? {
    guard let provider = channel as? any SocketOptionProvider else { return nil }
    let future: EventLoopFuture<ucred> = provider.unsafeGetSocketOption(
        level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
    var uid: UInt32?
    future.whenSuccess { credentials in uid = credentials.uid }
    return uid
}
