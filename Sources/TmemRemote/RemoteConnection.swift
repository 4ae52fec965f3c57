import Glibc
import NIOCore
import Synchronization
import Tmem
import TmemWire

/// A notice the host sent on its own (docs/PROTOCOL.md, "Host notices").
enum HostNotice: Sendable {
    /// Keep at most `targetPages` persistent pages; `deadlineNanoseconds` is on the monotonic clock.
    case shrink(targetPages: Int, deadlineNanoseconds: UInt64)
    case goAway(String)
}

/// One connection to the host, driven by its callers' own threads (leader/follower): a caller writes
/// its request itself; then the first caller to wait becomes the connection's *reader*, reads replies
/// and hands each to the ``ReplySlot`` its request id names, until its own reply has come; it then
/// hands the reader role to another waiting caller. With one caller, a round trip is one write, one
/// read and the host's work: no thread of ours is woken in between. (Measured on the 2-vCPU VM, a
/// synchronous get through an event-loop thread took 78 us; see the closing note of issue 9.)
///
/// While nobody waits, a small monitor thread reads every 10 ms, so host notices (shrink, go away)
/// and the host's closing are seen also by an idle client.
///
/// Requests pipeline: up to ``slotCount`` (256, the host's read-ahead) callers at once.
final class RemoteConnection: @unchecked Sendable {
    private let socket: ClientSocket
    private let slots: [ReplySlot]
    private let free: Mutex<[UInt32]>
    private let alive = Atomic<Bool>(true)
    /// Serialises writes, so frames never interleave.
    private let writing = Mutex<Void>(())
    /// Who reads: whether a thread holds the reader role, and the slots whose callers wait to take it.
    private let role = Mutex<(reading: Bool, followers: [UInt32])>((false, []))
    /// The reader's state: touched only by the thread holding the reader role.
    private var reader: Reader
    private let onNotice: @Sendable (HostNotice) -> Void
    private let onClose: @Sendable () -> Void

    /// The table size: at most the host's read-ahead (``Wire/maxInFlight``).
    static let slotCount = 1 << Int(ReplySlot.indexBits)
    /// How often the monitor reads an idle connection.
    static let monitorIntervalMicroseconds: UInt32 = 10_000

    private init(socket: consuming ClientSocket, onNotice: @escaping @Sendable (HostNotice) -> Void, onClose: @escaping @Sendable () -> Void) {
        self.socket = socket
        slots = (0..<UInt32(Self.slotCount)).map { ReplySlot(index: $0) }
        free = Mutex(Array((0..<UInt32(Self.slotCount)).reversed()))
        reader = Reader()
        self.onNotice = onNotice
        self.onClose = onClose
    }

    /// Connects (blocking the calling thread until connected or `timeoutNanoseconds` passed).
    ///
    /// - Parameters:
    ///   - onNotice: Runs on the reading thread for each host notice.
    ///   - onClose: Runs once, when the connection is gone.
    /// - Throws: ``TmemError/unavailable(_:)`` when the host cannot be reached in time.
    static func connect(
        to address: HostAddress, timeoutNanoseconds: UInt64,
        onNotice: @escaping @Sendable (HostNotice) -> Void, onClose: @escaping @Sendable () -> Void
    ) throws(TmemError) -> RemoteConnection {
        let socket = try ClientSocket(connectingTo: address, timeoutNanoseconds: timeoutNanoseconds)
        let connection = RemoteConnection(socket: socket, onNotice: onNotice, onClose: onClose)
        try connection.startMonitor()
        return connection
    }

    var isAlive: Bool { alive.load(ordering: .acquiring) }

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
        slot.outgoing.clear()
        build(&slot.outgoing, id)
        guard isAlive else {
            slot.fail("the connection is closed")
            return slot.expire()
        }
        if let failure = write(slot.outgoing, deadline: deadline) {
            die(failure)
            return slot.expire()
        }
        return waitForReply(slot, deadline: deadline)
    }

    /// Sends a frame that gets no reply (a QUIET request that succeeded).
    func send(_ build: (inout ByteBuffer) -> Void) {
        var buffer = ByteBufferAllocator().buffer(capacity: Wire.headerSize)
        build(&buffer)
        if let failure = write(buffer, deadline: monotonicNanoseconds() + 1_000_000_000) { die(failure) }
    }

    /// Closes the connection: waiting callers get ``ReplySlot/Outcome/connectionLost(_:)``.
    func close() { die("the connection is closed") }

    private func write(_ buffer: ByteBuffer, deadline: UInt64) -> String? {
        writing.withLock { _ in buffer.withUnsafeReadableBytes { socket.writeAll($0, deadline: deadline) } }
    }

    /// The connection is gone: the session's epoch first (so a woken waiter sees whether its pages are
    /// gone), then every waiter fails. Once.
    private func die(_ reason: String) {
        guard alive.exchange(false, ordering: .acquiringAndReleasing) else { return }
        socket.shutdownBoth()
        onClose()
        for slot in slots { slot.fail(reason) }
    }

    // MARK: Reading

    /// Waits for `slot`'s outcome: as the reader, or as a follower until the reader is done or hands
    /// the role over.
    private func waitForReply(_ slot: ReplySlot, deadline: UInt64) -> ReplySlot.Outcome {
        while true {
            if let outcome = slot.take() { return outcome }
            let leads = role.withLock { r -> Bool in
                if !r.reading {
                    r.reading = true
                    return true
                }
                r.followers.append(slot.index)
                return false
            }
            if leads {
                let outcome = read(until: slot, deadline: deadline)
                resign()
                return outcome
            }
            if let outcome = slot.wait(deadline: deadline) {
                role.withLock { r in r.followers.removeAll { $0 == slot.index } }
                return outcome
            }
            // Poked: the reader left and chose this caller (and took it off the followers).
        }
    }

    /// As the reader: reads and dispatches replies until `slot` has its outcome, the deadline passes,
    /// or the connection dies.
    private func read(until slot: ReplySlot, deadline: UInt64) -> ReplySlot.Outcome {
        while true {
            if let outcome = slot.take() { return outcome }
            guard isAlive else { return slot.expire() }
            if !readOnce(deadline: deadline) { return slot.expire() }
        }
    }

    /// One read, and every whole frame in it dispatched. False when the deadline passed first.
    private func readOnce(deadline: UInt64) -> Bool {
        var outcome = ClientSocket.ReadResult.timedOut
        reader.input.writeWithUnsafeMutableBytes(minimumWritableBytes: Reader.readSize) { space in
            outcome = socket.read(into: space, deadline: deadline)
            if case .bytes(let n) = outcome { return n }
            return 0
        }
        switch outcome {
        case .timedOut: return false
        case .closed(let reason):
            die(reason)
            return true
        case .bytes:
            do throws(WireProtocolError) {
                while let frame = try reader.parser.parse(&reader.input) { dispatch(frame) }
            } catch {
                die("the host broke the protocol: \(error.reason)")
            }
            if reader.input.readerIndex > Reader.readSize { reader.input.discardReadBytes() }
            return true
        }
    }

    private func dispatch(_ frame: Frame) {
        switch frame.header.op {
        case .shrink:
            let deadline = monotonicNanoseconds() + UInt64(frame.header.index) * 1_000_000
            onNotice(.shrink(targetPages: Int(clamping: frame.header.object), deadlineNanoseconds: deadline))
        case .goAway:
            onNotice(.goAway(String(buffer: frame.payload)))
        default:
            var frame = frame
            if frame.header.op == .stats, frame.header.status == .ok {
                guard let whole = reader.gather(frame) else {
                    if reader.gatheredTooMuch { die("the host sent a STATS reply over 16 MiB") }
                    return
                }
                frame = whole
            }
            slots[Int(frame.header.requestID & (UInt32(Self.slotCount) - 1))].complete(frame)
        }
    }

    /// Gives up the reader role, handing it to a follower whose reply has not come yet.
    private func resign() {
        // Under the role lock (role, then slot: the one order), so that a follower cannot time out
        // between being chosen and being poked.
        role.withLock { r in
            r.reading = false
            while let index = r.followers.first {
                r.followers.removeFirst()
                if slots[Int(index)].poke() { return }
            }
        }
    }

    private func startMonitor() throws(TmemError) {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            let connection = Unmanaged<RemoteConnection>.fromOpaque(raw!).takeRetainedValue()
            connection.monitor()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<RemoteConnection>.fromOpaque(context).release()
            die("no monitor thread")
            throw .unavailable("cannot start the connection's monitor thread: \(Errno(rc))")
        }
        pthread_detach(thread)
    }

    /// Reads the connection while nobody waits on it, until it dies.
    private func monitor() {
        while isAlive {
            usleep(Self.monitorIntervalMicroseconds)
            let leads = role.withLock { r -> Bool in
                guard !r.reading else { return false }
                r.reading = true
                return true
            }
            guard leads else { continue }
            while isAlive, readOnce(deadline: 0) {}
            resign()
        }
    }
}

/// The reader role's state: the parser, the received bytes not yet parsed, and a multi-frame reply
/// being gathered.
private struct Reader {
    static let readSize = 64 * 1024
    var parser = FrameParser(direction: .toClient)
    var input = ByteBufferAllocator().buffer(capacity: 2 * readSize)
    /// A multi-frame reply (STATS, MORE set) gathered until its last frame.
    var gathering: (requestID: UInt32, payload: ByteBuffer)?
    var gatheredTooMuch = false

    /// Adds a STATS frame: the whole reply once its last frame came, else nil.
    mutating func gather(_ frame: Frame) -> Frame? {
        var part = frame.payload
        if gathering?.requestID == frame.header.requestID {
            gathering!.payload.writeBuffer(&part)
        } else {
            var copy = ByteBufferAllocator().buffer(capacity: part.readableBytes)
            copy.writeBuffer(&part)
            gathering = (frame.header.requestID, copy)
        }
        if frame.header.flags.contains(.more) {
            // Bounded: a reply larger than 16 MiB is a broken host.
            gatheredTooMuch = gathering!.payload.readableBytes > 16 << 20
            return nil
        }
        var whole = frame
        whole.payload = gathering!.payload
        gathering = nil
        return whole
    }
}
