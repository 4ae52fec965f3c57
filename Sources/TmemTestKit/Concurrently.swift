#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// Runs `body(0..<threads)` on that many new OS threads at once and waits for all of them: real threads,
/// not a pool that may run the workers one after another on a 2-core machine. Used by `tmem bench` and
/// by the concurrency tests.
///
/// - Parameters:
///   - threads: How many threads to start.
///   - body: The work of one thread, given its number.
/// - Throws: The first error any thread threw (after all have finished).
public func runConcurrently(threads: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
    final class Job: Sendable {
        let index: Int
        let body: @Sendable (Int) throws -> Void
        init(index: Int, body: @escaping @Sendable (Int) throws -> Void) {
            self.index = index
            self.body = body
        }
    }
    final class Errors: Sendable { let list = Mutex<[any Error]>([]) }
    let errors = Errors()
    var handles: [pthread_t] = []
    for i in 0..<threads {
        let job = Job(index: i, body: { n in
            do { try body(n) } catch { errors.list.withLock { $0.append(error) } }
        })
        var handle = pthread_t()
        let context = Unmanaged.passRetained(job).toOpaque()
        let rc = pthread_create(&handle, nil, { raw in
            let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
            try? job.body(job.index)
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        handles.append(handle)
    }
    for handle in handles { pthread_join(handle, nil) }
    if let first = errors.list.withLock({ $0.first }) { throw first }
}
