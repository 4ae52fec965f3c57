import Glibc
import TmemWire

/// Where one synchronous caller waits for its reply: a request id's slot, a mutex and a condition
/// variable (on CLOCK_MONOTONIC, so a timed wait is not fooled by the wall clock).
///
/// The caller ``arm()``s the slot, sends its request with the returned id, and ``wait(deadline:)``s;
/// the connection's event loop ``complete(_:)``s it with the reply frame (or ``fail(_:)``s every armed
/// slot when the connection dies). A reply that comes after its caller gave up names a stale
/// generation and is dropped, so a late reply never lands in a buffer that is no longer waiting.
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
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Both under `mutex`.
    private var generation: UInt32 = 0
    private var state = State.idle

    static let indexBits: UInt32 = 8
    /// The generation's bits that a request id carries (above the index).
    static let generationMask = UInt32.max >> indexBits

    init(index: UInt32) {
        self.index = index
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

    /// Starts a wait: the request id to send.
    ///
    /// Never 0: the host answers a QUIET request that did not succeed (a quiet flush behind a put that
    /// timed out) with request id 0, which must not complete slot 0's wait when its generation wraps
    /// to a multiple of 2^24.
    func arm() -> UInt32 {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        generation &+= 1
        if generation & Self.generationMask == 0 { generation &+= 1 }
        state = .waiting
        return (generation << Self.indexBits) | index
    }

    /// Waits for the reply until `deadline` (CLOCK_MONOTONIC nanoseconds); the slot is idle again after.
    func wait(deadline: UInt64) -> Outcome {
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while true {
            if case .done(let outcome) = state {
                state = .idle
                return outcome
            }
            if pthread_cond_timedwait(condition, mutex, &time) == ETIMEDOUT {
                if case .done(let outcome) = state {
                    state = .idle
                    return outcome
                }
                state = .idle
                generation &+= 1  // a reply from now on is stale
                return .timedOut
            }
        }
    }

    /// Hands `frame` to the waiter if it is the reply to the slot's current request.
    ///
    /// - Returns: false for a stale or unexpected reply (dropped).
    @discardableResult
    func complete(_ frame: Frame) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard case .waiting = state, frame.header.requestID >> Self.indexBits == generation & Self.generationMask
        else { return false }
        state = .done(.reply(frame))
        pthread_cond_signal(condition)
        return true
    }

    /// Ends a wait in progress with a lost connection.
    func fail(_ reason: String) {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard case .waiting = state else { return }
        state = .done(.connectionLost(reason))
        pthread_cond_signal(condition)
    }
}
