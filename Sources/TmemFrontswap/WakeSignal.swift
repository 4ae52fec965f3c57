#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A wake-up flag a thread sleeps on, and counts of work begun and finished that others can wait on: a
/// pthread mutex and condition variable.
final class WakeSignal: @unchecked Sendable {
    // @unchecked: the mutex and condition are pthread objects, made for sharing between threads; the
    // flag and counts are only touched with the mutex held.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var raised = false
    private var started = 0
    private var finished = 0

    init() {
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
        condition.deallocate()
        mutex.deallocate()
    }

    func notify() {
        pthread_mutex_lock(mutex)
        raised = true
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    /// The number of ``begin()`` calls so far.
    var begun: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return started
    }

    func begin() {
        pthread_mutex_lock(mutex)
        started += 1
        pthread_mutex_unlock(mutex)
    }

    func finish() {
        pthread_mutex_lock(mutex)
        finished += 1
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Waits until more than `count` pieces of work have finished (work is finished in the order begun,
    /// one at a time), or the timeout passes.
    func awaitFinished(after count: Int, timeoutNanoseconds: Int) -> Bool {
        var deadline = Self.deadline(timeoutNanoseconds)
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while finished <= count {
            if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { return finished > count }
        }
        return true
    }

    private static func deadline(_ timeoutNanoseconds: Int) -> timespec {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let total = Int(deadline.tv_nsec) + timeoutNanoseconds
        deadline.tv_sec += total / 1_000_000_000
        deadline.tv_nsec = total % 1_000_000_000
        return deadline
    }

    /// Sleeps until notified or the timeout passes; consumes the notification.
    func wait(timeoutNanoseconds: Int) {
        var deadline = Self.deadline(timeoutNanoseconds)
        pthread_mutex_lock(mutex)
        while !raised {
            if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
        }
        raised = false
        pthread_mutex_unlock(mutex)
    }
}
