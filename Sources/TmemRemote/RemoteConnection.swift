import NIOCore
import NIOPosix
import Synchronization
import Tmem
import TmemWire

/// A notice the host sent on its own (docs/PROTOCOL.md, "Host notices").
enum HostNotice: Sendable {
    /// Keep at most `targetPages` persistent pages; `deadlineNanoseconds` is on the monotonic clock.
    case shrink(targetPages: Int, deadlineNanoseconds: UInt64)
    case goAway(String)
}

/// One connection to the host: a SwiftNIO channel whose handler only frames (``FrameDecoder``) and
/// hands each reply to the ``ReplySlot`` its request id names; the synchronous callers wait on slots.
///
/// Requests pipeline: up to ``ReplySlot`` table size (256, the host's read-ahead) callers at once.
final class RemoteConnection: Sendable {
    let channel: any Channel
    private let slots: [ReplySlot]
    private let free: Mutex<[UInt32]>
    private let alive = Atomic<Bool>(true)

    /// The table size: at most the host's read-ahead (``Wire/maxInFlight``).
    static let slotCount = 1 << Int(ReplySlot.indexBits)

    private init(channel: any Channel, slots: [ReplySlot]) {
        self.channel = channel
        self.slots = slots
        free = Mutex(Array((0..<UInt32(slots.count)).reversed()))
    }

    /// Connects (blocking the calling thread, which must not be an event loop).
    ///
    /// - Parameters:
    ///   - onNotice: Runs on the event loop for each host notice.
    ///   - onClose: Runs on the event loop once, when the connection is gone.
    /// - Throws: ``TmemError/unavailable(_:)`` when the host cannot be reached in time.
    static func connect(
        to address: HostAddress, group: any EventLoopGroup, timeoutNanoseconds: Int64,
        onNotice: @escaping @Sendable (HostNotice) -> Void, onClose: @escaping @Sendable () -> Void
    ) throws(TmemError) -> RemoteConnection {
        let slots = (0..<UInt32(slotCount)).map { ReplySlot(index: $0) }
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.nanoseconds(timeoutNanoseconds))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        ByteToMessageHandler(FrameDecoder(parser: FrameParser(direction: .toClient))),
                        ReplyHandler(slots: slots, onNotice: onNotice, onClose: onClose))
                }
            }
        do {
            let channel: any Channel
            switch address {
            case .tcp(let host, let port):
                channel = try bootstrap.channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .connect(host: host, port: port).wait()
            case .unix(let path):
                channel = try bootstrap.connect(unixDomainSocketPath: path).wait()
            }
            return RemoteConnection(channel: channel, slots: slots)
        } catch {
            throw .unavailable("cannot connect to the host at \(address): \(error)")
        }
    }

    var isAlive: Bool { alive.load(ordering: .acquiring) && channel.isActive }

    /// Sends one request built by `build` (given its request id) and waits for its reply.
    ///
    /// - Returns: The reply, or why there is none (the connection died, or the deadline passed).
    func request(deadline: UInt64, _ build: (inout ByteBuffer, UInt32) -> Void) -> ReplySlot.Outcome {
        guard let index = free.withLock({ $0.popLast() }) else {
            return .connectionLost("more than \(Self.slotCount) requests in flight on one connection")
        }
        defer { free.withLock { $0.append(index) } }
        let slot = slots[Int(index)]
        let id = slot.arm()
        var buffer = channel.allocator.buffer(capacity: Wire.headerSize + Wire.pageSize)
        build(&buffer, id)
        guard isAlive else {
            slot.fail("the connection is closed")
            return slot.wait(deadline: deadline)
        }
        channel.writeAndFlush(buffer, promise: nil)
        return slot.wait(deadline: deadline)
    }

    /// Sends a frame that gets no reply (a QUIET request that succeeded).
    func send(_ build: (inout ByteBuffer) -> Void) {
        var buffer = channel.allocator.buffer(capacity: Wire.headerSize)
        build(&buffer)
        channel.writeAndFlush(buffer, promise: nil)
    }

    /// Closes the connection (waits are failed by the handler as it goes).
    func close() {
        alive.store(false, ordering: .releasing)
        channel.close(promise: nil)
    }

    func markClosed() { alive.store(false, ordering: .releasing) }
}

/// The connection's only protocol handler: replies to their slots, notices to the backend.
private final class ReplyHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = Frame

    private let slots: [ReplySlot]
    private let onNotice: @Sendable (HostNotice) -> Void
    private let onClose: @Sendable () -> Void
    /// A multi-frame reply (STATS, MORE set) gathered until its last frame; event-loop confined.
    nonisolated(unsafe) private var gathering: (requestID: UInt32, payload: ByteBuffer)?

    init(slots: [ReplySlot], onNotice: @escaping @Sendable (HostNotice) -> Void, onClose: @escaping @Sendable () -> Void) {
        self.slots = slots
        self.onNotice = onNotice
        self.onClose = onClose
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.header.op {
        case .shrink:
            let deadline = monotonicNanoseconds() + UInt64(frame.header.index) * 1_000_000
            onNotice(.shrink(targetPages: Int(clamping: frame.header.object), deadlineNanoseconds: deadline))
        case .goAway:
            onNotice(.goAway(String(buffer: frame.payload)))
        default:
            var frame = frame
            if frame.header.op == .stats, frame.header.status == .ok {
                // Gathered, bounded: a reply larger than 16 MiB is a broken host.
                var part = frame.payload
                if var (id, payload) = gathering, id == frame.header.requestID {
                    payload.writeBuffer(&part)
                    gathering = (id, payload)
                } else {
                    gathering = (frame.header.requestID, part)
                }
                if frame.header.flags.contains(.more) {
                    if gathering!.payload.readableBytes > 16 << 20 { context.close(promise: nil) }
                    return
                }
                frame.payload = gathering!.payload
                gathering = nil
            }
            let index = Int(frame.header.requestID & (UInt32(RemoteConnection.slotCount) - 1))
            slots[index].complete(frame)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The session's epoch first, so that a waiter woken below sees whether its pages are gone.
        onClose()
        for slot in slots { slot.fail("the host closed the connection") }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A frame that breaks the protocol, or a socket error: the connection cannot be trusted further.
        for slot in slots { slot.fail("the connection failed: \(error)") }
        context.close(promise: nil)
    }
}
