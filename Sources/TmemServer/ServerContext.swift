import Logging
import NIOCore
import Synchronization
import TmemHost
import TmemWire

/// What every connection of one server shares: the host, who may connect, the sessions' connections,
/// metrics and the log.
final class ServerContext: Sendable {
    let host: Host
    let access: AccessPolicy
    let sessions = SessionRegistry()
    let metrics: ServerMetrics
    let logger: Logger

    init(host: Host, access: AccessPolicy, metrics: ServerMetrics, logger: Logger) {
        self.host = host
        self.access = access
        self.metrics = metrics
        self.logger = logger
    }
}

/// The live connections of each session, so the host can send a session its notices, and know when a
/// session's last connection closed (its private pools are then freed).
final class SessionRegistry: Sendable {
    private struct Entry {
        let session: Session
        var channels: [ObjectIdentifier: any Channel]
    }

    private let entries = Mutex<[UInt64: Entry]>([:])

    func add(_ session: Session, _ channel: any Channel) {
        entries.withLock { table in
            table[session.id, default: Entry(session: session, channels: [:])].channels[ObjectIdentifier(channel)] = channel
        }
    }

    /// Removes a closed connection; the session ends with its last one.
    func remove(_ session: Session, _ channel: any Channel) {
        let ended = entries.withLock { table -> Bool in
            guard var entry = table[session.id] else { return false }
            entry.channels[ObjectIdentifier(channel)] = nil
            if entry.channels.isEmpty {
                table[session.id] = nil
                return true
            }
            table[session.id] = entry
            return false
        }
        if ended { sessionEnded(session) }
    }

    /// Set once by the server: what to do when a session's last connection is gone.
    nonisolated(unsafe) var sessionEnded: @Sendable (Session) -> Void = { _ in }

    /// One connection of the session (notices need reach only one), or nil if it has none.
    func channel(of session: Session) -> (any Channel)? {
        entries.withLock { $0[session.id]?.channels.values.first }
    }

    /// Every live connection.
    var allChannels: [any Channel] { entries.withLock { $0.values.flatMap { $0.channels.values } } }

    var count: Int { entries.withLock { $0.count } }
}

extension ByteBuffer {
    /// A SHRINK notice: keep at most `targetPages` persistent pages, within `deadlineMilliseconds`.
    static func shrinkNotice(targetPages: Int, deadlineMilliseconds: UInt32, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: Wire.headerSize)
        buffer.writeFrame(FrameHeader(op: .shrink, object: UInt64(max(0, targetPages)), index: deadlineMilliseconds))
        return buffer
    }

    /// A GO_AWAY notice with its reason.
    static func goAway(_ reason: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: Wire.headerSize + reason.utf8.count)
        var payload = allocator.buffer(string: reason)
        buffer.writeFrame(FrameHeader(op: .goAway), payload: payload)
        payload.clear()
        return buffer
    }
}
