import Glibc
import NIOCore
import TmemWire

/// Where one synchronous caller waits for its reply: a request id's slot, a mutex and a condition
/// variable (on CLOCK_MONOTONIC, so a timed wait is not fooled by the wall clock), and the slot's own
/// buffers, reused from request to request so that a page's round trip allocates nothing.
///
/// The caller ``arm()``s the slot, builds its request in ``outgoing`` with the returned id, sends it,
/// and waits; the connection's reader ``complete(_:)``s the slot with the reply (or ``fail(_:)``s every
/// armed slot when the connection dies), or ``poke()``s a waiting caller to take over as the reader.
/// A reply that comes after its caller gave up names a stale generation and is dropped, so a late
/// reply never lands where nobody waits.
final class ReplySlot: @unchecked Sendable {
    enum Outcome {
        case reply(Frame)
        case connectionLost(String)
        case timedOut
    }

    private enum State {
        case idle
        case waiting
        case done(Outcome)
    }

    /// The slot's place in its connection's table (the request id's low bits).
    let index: UInt32
    /// The request being sent: touched only by the caller holding the slot.
    var outgoing: ByteBuffer
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // All under `mutex`.
    private var generation: UInt32 = 0
    private var state = State.idle
    private var poked = false
    private var incoming: ByteBuffer

    static let indexBits: UInt32 = 8
    /// The generation's bits that a request id carries (above the index).
    static let generationMask = UInt32.max >> indexBits

    init(index: UInt32) {
        self.index = index
        let allocator = ByteBufferAllocator()
        outgoing = allocator.buffer(capacity: Wire.headerSize + Wire.pageSize)
        incoming = allocator.buffer(capacity: Wire.pageSize)
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    /// Starts a wait: the request id to send.
    ///
    /// Never 0: the host answers a QUIET request that did not succeed (a quiet flush behind a put that
    /// timed out) with request id 0, which must not complete slot 0's wait when its generation wraps
    /// to a multiple of 2^24.
    func arm() -> UInt32 {
        locked {
            generation &+= 1
            if generation & Self.generationMask == 0 { generation &+= 1 }
            state = .waiting
            poked = false
            return (generation << Self.indexBits) | index
        }
    }

    /// The outcome, if there is one now (the slot is idle again after).
    func take() -> Outcome? {
        locked {
            guard case .done(let outcome) = state else { return nil }
            state = .idle
            return outcome
        }
    }

    /// Sleeps until the outcome comes, the slot is poked, or `deadline` (CLOCK_MONOTONIC nanoseconds).
    ///
    /// - Returns: The outcome (the slot is idle after), or nil when poked: the caller is to become the
    ///   connection's reader. A poke wins over the deadline, so a handed-over reader role is never lost.
    func wait(deadline: UInt64) -> Outcome? {
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        return locked {
            while true {
                if case .done(let outcome) = state {
                    state = .idle
                    return outcome
                }
                if poked {
                    poked = false
                    return nil
                }
                if pthread_cond_timedwait(condition, mutex, &time) == ETIMEDOUT, !poked {
                    return expireLocked()
                }
            }
        }
    }

    /// Gives up the wait at its deadline: the outcome if it came just in time, else ``Outcome/timedOut``
    /// (and a reply from now on is stale).
    func expire() -> Outcome { locked { expireLocked() } }

    private func expireLocked() -> Outcome {
        if case .done(let outcome) = state {
            state = .idle
            return outcome
        }
        state = .idle
        generation &+= 1
        return .timedOut
    }

    /// Hands `frame` to the waiter if it is the reply to the slot's current request. A payload is
    /// copied into the slot's own buffer (so the reader's buffer is never shared); a BATCH's entries
    /// keep their views.
    ///
    /// - Returns: false for a stale or unexpected reply (dropped).
    @discardableResult
    func complete(_ frame: Frame) -> Bool {
        locked {
            guard case .waiting = state, frame.header.requestID >> Self.indexBits == generation & Self.generationMask
            else { return false }
            var reply = frame
            if frame.entries.isEmpty {
                incoming.clear()
                incoming.writeImmutableBuffer(frame.payload)
                reply.payload = incoming
            }
            state = .done(.reply(reply))
            pthread_cond_signal(condition)
            return true
        }
    }

    /// Ends a wait in progress with a lost connection.
    func fail(_ reason: String) {
        locked {
            guard case .waiting = state else { return }
            state = .done(.connectionLost(reason))
            pthread_cond_signal(condition)
        }
    }

    /// Wakes the waiter to take over reading the connection.
    ///
    /// - Returns: false when nobody waits on the slot any more (it timed out meanwhile): the caller
    ///   must hand the role to someone else.
    func poke() -> Bool {
        locked {
            guard case .waiting = state else { return false }
            poked = true
            pthread_cond_signal(condition)
            return true
        }
    }
}
